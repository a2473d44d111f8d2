"""One module per inbound format; each validates the sender's body and normalises it to `Alert`."""

import functools
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated

from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import AfterValidator, BeforeValidator

from services.shared.contracts import FIRING, RESOLVED, Alert
from services.shared.contracts.timestamps import stamp


@dataclass(frozen=True, slots=True)
class Context:
    """What a normaliser needs besides the body: when it arrived and how this source is identified."""

    received_at: datetime
    identifying_labels: Mapping[str, Collection[str]] = field(default_factory=dict)
    new_event_id: Callable[[], str] = lambda: str(uuid.uuid4())

    def identifying(self, source: str) -> Collection[str] | None:
        return self.identifying_labels.get(source)


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


def timestamp(at: datetime | None) -> Timestamp | None:
    if at is None:
        return None
    ts = Timestamp()
    ts.seconds, ts.nanos, _ = _instant(_in_utc(at))
    return ts


@functools.lru_cache(maxsize=1024)
def _instant(at: datetime) -> tuple[int, int, int]:
    """(seconds, nanos, microseconds) since the epoch. Remembered: the alerts of one request share their receive
    time, and a storm repeats its start times (a Timestamp built per alert per field)."""
    ts = Timestamp()
    stamp(ts, at)
    return ts.seconds, ts.nanos, int(at.timestamp() * 1_000_000)


def new_alert(ctx: Context, *, source: str, fingerprint: str, firing: bool, **fields: object) -> Alert:
    """An Alert stamped with its event id, receive time and per-key sequence (receive time in µs)."""
    seconds, nanos, micros = _instant(ctx.received_at)
    alert = Alert(
        event_id=ctx.new_event_id(),
        fingerprint=fingerprint,
        source=source,
        status=FIRING if firing else RESOLVED,
        sequence=micros,
    )
    alert.received_at.seconds, alert.received_at.nanos = seconds, nanos
    for name, value in fields.items():
        if value is None:
            continue
        if name in ("labels", "annotations"):
            getattr(alert, name).update(value)  # type: ignore[call-overload]
        elif isinstance(value, Timestamp):
            getattr(alert, name).CopyFrom(value)
        else:
            setattr(alert, name, value)
    return alert
