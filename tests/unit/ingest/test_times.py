"""Every format's time fields: UTC, zero time as "none", and out-of-range offsets refused as the sender's error."""

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from services.ingest.formats import Context
from services.ingest.sources import SOURCES

from .test_alertmanager import SAMPLE as AM
from .test_grafana import SAMPLE as GRAFANA
from .test_native import ONE as NATIVE
from .test_pagerduty import TRIGGER as PAGERDUTY

CTX = Context(datetime(2026, 11, 25, tzinfo=UTC))


def with_time(source: str, value: str) -> tuple[object, tuple]:
    """The source's sample with its first time field set to `value`, and that field's location."""
    if source in ("alertmanager", "grafana"):
        sample = AM if source == "alertmanager" else GRAFANA
        return {**sample, "alerts": [{**sample["alerts"][0], "startsAt": value}]}, ("alerts", 0, "startsAt")
    if source == "pagerduty":
        return {**PAGERDUTY, "payload": {**PAGERDUTY["payload"], "timestamp": value}}, ("payload", "timestamp")
    return {**NATIVE, "starts_at": value}, (0, "starts_at")


@pytest.mark.parametrize("source", sorted(SOURCES))
@pytest.mark.parametrize("value", ["9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00"])
def test_a_time_out_of_range_in_utc_is_refused_naming_the_field(source, value):
    body, loc = with_time(source, value)
    with pytest.raises(ValidationError) as info:
        SOURCES[source].model.model_validate(body)
    assert loc in [e["loc"] for e in info.value.errors()]


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_offsets_are_converted_and_a_time_without_one_is_utc(source):
    for value, expected in (
        ("2026-11-25T07:30:00+01:30", datetime(2026, 11, 25, 6, 0, tzinfo=UTC)),
        ("2026-11-25T06:00:00", datetime(2026, 11, 25, 6, 0, tzinfo=UTC)),
    ):
        body, _ = with_time(source, value)
        (alert, *_) = SOURCES[source].normalise(SOURCES[source].model.model_validate(body), CTX)
        assert alert.starts_at.ToDatetime(tzinfo=UTC) == expected
