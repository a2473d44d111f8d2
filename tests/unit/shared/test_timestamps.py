"""The hot-path Timestamp conversions give exactly what protobuf's own give."""

from datetime import UTC, datetime, timedelta, timezone

from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import given
from hypothesis import strategies as st

from services.shared.contracts.timestamps import stamp, utc

ZONES = st.sampled_from([None, UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-11))])


@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=ZONES))
def test_stamp_is_from_datetime(at):
    expected, got = Timestamp(), Timestamp()
    expected.FromDatetime(at)
    stamp(got, at)
    assert (got.seconds, got.nanos) == (expected.seconds, expected.nanos)


@given(st.integers(-62_135_596_800, 253_402_300_799), st.integers(0, 999_999_999))
def test_utc_is_to_datetime(seconds, nanos):
    ts = Timestamp(seconds=seconds, nanos=nanos)
    assert utc(ts) == ts.ToDatetime(tzinfo=UTC)
