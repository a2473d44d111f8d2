from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from services.ingest.formats import Context
from services.ingest.formats.native import MAX_ALERTS, NativeAlerts, normalise
from services.shared.contracts import AlertStatus, Severity

CTX = Context(datetime(2026, 11, 25, 6, 0, tzinfo=UTC))
ONE = {
    "fingerprint": "billing-db-replication",
    "status": "firing",
    "severity": "major",
    "labels": {"alertname": "ReplicationBroken", "host": "billing-db-02"},
    "annotations": {"runbook": "r"},
    "summary": "Replication stopped",
    "description": "IO thread stopped",
    "starts_at": "2026-11-25T05:00:00Z",
    "generator_url": "https://monitor.example/q",
}


def test_single_object_and_array_are_both_accepted():
    (single,) = normalise(NativeAlerts.model_validate(ONE), CTX)
    assert (single.fingerprint, single.source, single.severity) == (
        "billing-db-replication",
        "native",
        Severity.SEVERITY_MAJOR,
    )
    assert single.summary == "Replication stopped" and single.annotations["runbook"] == "r"
    many = normalise(NativeAlerts.model_validate([ONE, {"labels": {"alertname": "X"}, "status": "resolved"}]), CTX)
    assert len(many) == 2 and many[1].status == AlertStatus.ALERT_STATUS_RESOLVED
    assert many[1].severity == Severity.SEVERITY_WARNING and many[1].summary == "X" and len(many[1].fingerprint) == 32


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"labels": {}}, (0, "labels")),
        ([ONE, {**ONE, "severity": "sev0"}], (1, "severity")),
        ([ONE, {**ONE, "unknown_field": 1}], (1, "unknown_field")),
        ([], ()),
        ([ONE] * (MAX_ALERTS + 1), ()),
        ("text", ()),
    ],
)
def test_invalid_bodies_name_the_index_and_field(body, loc):
    with pytest.raises(ValidationError) as info:
        NativeAlerts.model_validate(body)
    assert loc in [e["loc"] for e in info.value.errors()]
