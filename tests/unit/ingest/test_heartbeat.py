from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from services.ingest.formats import Context
from services.ingest.formats.heartbeat import NAME, Heartbeat, normalise
from services.shared.contracts import AlertStatus


def test_a_beat_becomes_a_heartbeat_alert():
    (alert,) = normalise(
        "nightly-backup",
        Heartbeat(interval_seconds=300, ci="backup01", labels={"team": "storage"}),
        Context(datetime(2026, 11, 25, tzinfo=UTC)),
    )
    assert alert.source == "heartbeat" and alert.fingerprint == "heartbeat:nightly-backup"
    assert alert.status == AlertStatus.ALERT_STATUS_FIRING
    assert dict(alert.labels) == {
        "team": "storage",
        "heartbeat": "nightly-backup",
        "interval_seconds": "300",
        "ci": "backup01",
    }
    assert alert.summary == "Heartbeat nightly-backup missed"


@pytest.mark.parametrize("body", [{}, {"interval_seconds": 1}, {"interval_seconds": 60, "bogus": 1}])
def test_bad_beats_are_refused(body):
    with pytest.raises(ValidationError):
        Heartbeat.model_validate(body)


@pytest.mark.parametrize(
    ("name", "ok"), [("backup", True), ("a.b:c-d_e", True), ("", False), ("../x", False), ("x" * 129, False)]
)
def test_names(name, ok):
    assert bool(NAME.match(name)) is ok
