"""One module per inbound format; each validates the sender's body and normalises it to `Alert`."""

import functools
import itertools
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated

from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import AfterValidator, BeforeValidator

from services.shared.contracts import FIRING, RESOLVED, Alert
from services.shared.contracts.maps import fill
from services.shared.contracts.timestamps import stamp
from services.shared.event_ids import NamedIds


@dataclass(frozen=True, slots=True)
class Context:
    """What a normaliser needs besides the body: when it arrived and how this source is identified."""

    received_at: datetime
    identifying_labels: Mapping[str, Collection[str]] = field(default_factory=dict)
    new_event_id: Callable[[], str] = field(default_factory=lambda: event_ids(f"request/{uuid.uuid4().hex}"))

    def identifying(self, source: str) -> Collection[str] | None:
        return self.identifying_labels.get(source)


_EVENT_NAMESPACE = uuid.UUID("0b7a4a6e-1f44-4f73-b1d6-3c0f7d0c1e55")


def event_ids(origin: str) -> Callable[[], str]:
    """str(uuid5(_EVENT_NAMESPACE, f"{origin}/{n}")) for n = 0, 1, ...: with the hash of the common prefix
    computed once (ingest makes one per alert; a uuid4 each cost twice as much). An alerts.raw record's origin is
    its position, so a redelivery makes the same ids; an HTTP request's is random, so each makes its own."""
    ids, counter = NamedIds(_EVENT_NAMESPACE, f"{origin}/"), itertools.count()
    return lambda: ids(str(next(counter)))


def _in_utc(at: datetime) -> datetime:
    # A time without an offset is UTC. An offset that pushes it past year 1 or 9999 is the sender's error (422),
    # not a conversion that fails later with a 500.
    try:
        return at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)
    except OverflowError:
        raise ValueError("time is out of range (years 1 to 9999 in UTC)") from None


def _text_only(value: object) -> object:
    # pydantic would also read a number as Unix time; senders' formats (and our OpenAPI) say RFC 3339 text, and a
    # number is ambiguous (seconds or milliseconds?), so it is refused rather than guessed.
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError("must be an RFC 3339 date-time string, not a number")
    return value


Instant = Annotated[datetime, BeforeValidator(_text_only), AfterValidator(_in_utc)]
"""A sender's time, in UTC; every format's models use it for their time fields."""


@functools.lru_cache(maxsize=1024)
def _instant(at: datetime) -> tuple[int, int, int]:
    """(seconds, nanos, microseconds) since the epoch. Remembered: the alerts of one request share their receive
    time, and a storm repeats its start times (a Timestamp built per alert per field)."""
    ts = Timestamp()
    stamp(ts, at)
    return ts.seconds, ts.nanos, int(at.timestamp() * 1_000_000)


def new_alert(
    ctx: Context,
    *,
    source: str,
    fingerprint: str,
    firing: bool,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    **fields: object,
) -> Alert:
    """An Alert stamped with its event id, receive time and per-key sequence (receive time in µs). `fields` are
    the Alert's other own fields (summary, ...); None leaves one unset. Built in one constructor call but for
    the maps and times: ingest makes one per alert received, and setting fields one by one cost twice as much."""
    seconds, nanos, micros = _instant(ctx.received_at)
    alert = Alert(
        event_id=ctx.new_event_id(),
        fingerprint=fingerprint,
        source=source,
        status=FIRING if firing else RESOLVED,
        sequence=micros,
        **{name: value for name, value in fields.items() if value is not None},
    )
    fill(alert.labels, labels)
    fill(alert.annotations, annotations)
    _set(alert.received_at, seconds, nanos)
    if starts_at is not None:
        _set(alert.starts_at, *_instant(_in_utc(starts_at))[:2])
    if ends_at is not None:
        _set(alert.ends_at, *_instant(_in_utc(ends_at))[:2])
    return alert


def _set(at: Timestamp, seconds: int, nanos: int) -> None:
    at.seconds = seconds
    at.nanos = nanos
