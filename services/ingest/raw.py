"""alerts.raw: senders on Kafka publish any supported format, named in the `source` header. Each message is
validated and normalised like an HTTP request; one that cannot be goes to alerts.dlq with the reason."""

import logging
from collections.abc import Mapping
from datetime import UTC, datetime

import orjson
from aiokafka import ConsumerRecord, TopicPartition
from pydantic import ValidationError

from services.shared import kafka
from services.shared.api import ApiError, FieldError, field_errors, refuse_unstorable_json
from services.shared.contracts import Alert

from . import metrics
from .formats import Context, event_ids
from .sources import SOURCES, normalized_messages

log = logging.getLogger(__name__)


class Undecodable(ValueError):
    pass


def normalise_record(record: ConsumerRecord, identifying: Mapping[str, frozenset[str]]) -> list[Alert]:
    """The Alerts a raw message carries. Event ids derive from the message's position, so a message
    delivered twice yields the same event ids and the correlator drops the copies."""
    headers = {k: v for k, v in record.headers or ()}
    name = headers.get("source", b"").decode(errors="replace").strip().lower()
    source = SOURCES.get(name)
    if source is None:
        raise Undecodable(f"header 'source' must be one of {sorted(SOURCES)}, got {name!r}")
    try:
        body = orjson.loads(record.value or b"")
    except orjson.JSONDecodeError as exc:
        raise Undecodable(f"not valid JSON: {exc}") from None
    try:
        # Text PostgreSQL cannot hold would wedge the correlator's partition downstream.
        refuse_unstorable_json(record.value or b"", body)
    except ApiError as exc:
        raise Undecodable(f"invalid {name} body: {_reasons(exc.fields)}") from None
    try:
        payload = source.model.model_validate(body)
    except ValidationError as exc:
        raise Undecodable(f"invalid {name} body: {_reasons(field_errors(exc.errors()))}") from None
    position = f"{record.topic}/{record.partition}/{record.offset}"
    received = datetime.fromtimestamp(record.timestamp / 1000, UTC) if record.timestamp else datetime.now(UTC)
    ctx = Context(
        received_at=received,
        identifying_labels=identifying,
        new_event_id=event_ids(position),
    )
    try:
        return source.normalise(payload, ctx)
    except Exception as exc:  # a normaliser bug must not wedge the partition: the message is dead-lettered
        log.exception("normalising %s from %s failed", name, position)
        raise Undecodable(f"{name} body could not be normalised: {type(exc).__name__}") from None


def _reasons(errors: list[FieldError]) -> str:
    return "; ".join(f"{f.field}: {f.reason}" for f in errors[:10])


class NoStoredOffsets(kafka.OffsetStore):
    """Ingest keeps no database: its position is the consumer group's committed offset."""

    authoritative = False

    async def load(self, partitions: object) -> dict[TopicPartition, int]:
        return {}


class RawIntake:
    """The batch handler: normalise every message, publish alerts and dead letters, then the offsets commit."""

    def __init__(self, publisher: kafka.Publisher, identifying: Mapping[str, frozenset[str]]):
        self._publisher, self._identifying = publisher, identifying

    async def __call__(self, records: list[ConsumerRecord]) -> None:
        outgoing: list[kafka.Outgoing] = []
        counts: dict[tuple[str, str], int] = {}
        for record in records:
            try:
                alerts = normalise_record(record, self._identifying)
            except Undecodable as exc:
                outgoing.append(kafka.dead_letter(record, str(exc)))
                counts["raw", "dead_letter"] = counts.get(("raw", "dead_letter"), 0) + 1
                continue
            outgoing += normalized_messages(alerts)
            for a in alerts:
                counts[a.source, "accepted"] = counts.get((a.source, "accepted"), 0) + 1
        # Published and acknowledged before the batch's offsets are committed: at-least-once.
        await self._publisher.publish(outgoing)
        for (source, outcome), n in counts.items():
            metrics.ALERTS.labels(source, outcome).inc(n)
            if outcome == "dead_letter":
                metrics.DEAD_LETTERS.labels("undecodable").inc(n)
