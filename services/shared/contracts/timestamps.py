"""Reading and writing protobuf Timestamps on the hot path."""

from datetime import UTC, datetime, timedelta

from google.protobuf.timestamp_pb2 import Timestamp

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECONDS_RANGE = range(-62_135_596_800, 253_402_300_800)  # protobuf Timestamp: 0001-01-01 .. 9999-12-31


def utc(ts: Timestamp) -> datetime:
    """ts.ToDatetime(tzinfo=UTC), the same value, at a third of its cost (called several times per alert)."""
    seconds, nanos = ts.seconds, ts.nanos
    if seconds in _SECONDS_RANGE and 0 <= nanos < 1_000_000_000:
        return _EPOCH + timedelta(seconds=seconds, microseconds=nanos // 1000)
    return ts.ToDatetime(tzinfo=UTC)  # out of range: raises as protobuf does


def stamp(ts: Timestamp, at: datetime) -> None:
    """ts.FromDatetime(at), the same value, at a fraction of its cost (it goes through a time tuple and
    calendar.timegm in pure Python; several per emitted message). A naive `at` is taken as UTC, as there."""
    delta = (at if at.tzinfo is not None else at.replace(tzinfo=UTC)) - _EPOCH
    ts.seconds, ts.nanos = delta.days * 86_400 + delta.seconds, delta.microseconds * 1000
