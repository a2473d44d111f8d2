import uuid
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from services.ingest.formats import Context
from services.ingest.formats.alertmanager import AlertmanagerWebhook, normalise
from services.shared.contracts import AlertStatus, Severity

RECEIVED = datetime(2026, 11, 25, 6, 0, 1, tzinfo=UTC)

# A body as Alertmanager 0.27 sends it for a group with one firing and one resolved alert.
SAMPLE = {
    "receiver": "triage",
    "status": "firing",
    "alerts": [
        {
            "status": "firing",
            "labels": {
                "alertname": "MySQLReplicationLag",
                "instance": "db01:9104",
                "job": "mysqld",
                "severity": "critical",
                "team": "dba",
            },
            "annotations": {
                "summary": "Replication lag 320s on db01",
                "description": "Replica is behind the primary.",
                "runbook_url": "https://runbooks/mysql-lag",
            },
            "startsAt": "2026-11-25T05:58:30.123Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph?g0.expr=mysql_slave_lag_seconds+%3E+300",
            "fingerprint": "8f2c1a0b9d3e4f51",
        },
        {
            "status": "resolved",
            "labels": {
                "alertname": "MySQLReplicationLag",
                "instance": "db02:9104",
                "job": "mysqld",
                "severity": "critical",
            },
            "annotations": {"summary": "Replication lag on db02"},
            "startsAt": "2026-11-25T05:40:00Z",
            "endsAt": "2026-11-25T05:55:00Z",
            "generatorURL": "",
            "fingerprint": "",
        },
    ],
    "groupLabels": {"alertname": "MySQLReplicationLag"},
    "commonLabels": {"alertname": "MySQLReplicationLag", "job": "mysqld", "severity": "critical"},
    "commonAnnotations": {},
    "externalURL": "http://alertmanager:9093",
    "version": "4",
    "groupKey": '{}/{severity="critical"}:{alertname="MySQLReplicationLag"}',
    "truncatedAlerts": 0,
}


def alerts(body=SAMPLE, **ctx):
    ids = iter(f"event-{i}" for i in range(100))
    return normalise(AlertmanagerWebhook.model_validate(body), Context(RECEIVED, new_event_id=lambda: next(ids), **ctx))


def test_firing_alert_is_normalised():
    a = alerts()[0]
    assert a.event_id == "event-0"
    assert a.fingerprint == "8f2c1a0b9d3e4f51"  # the sender's key, verbatim
    assert a.source == "alertmanager"
    assert a.status == AlertStatus.ALERT_STATUS_FIRING
    assert a.severity == Severity.SEVERITY_CRITICAL
    assert a.summary == "Replication lag 320s on db01"
    assert a.description == "Replica is behind the primary."
    assert dict(a.labels)["team"] == "dba"
    assert a.annotations["runbook_url"] == "https://runbooks/mysql-lag"
    assert a.starts_at.ToDatetime(tzinfo=UTC) == datetime(2026, 11, 25, 5, 58, 30, 123000, tzinfo=UTC)
    assert not a.HasField("ends_at")  # Alertmanager's zero time means "no end yet"
    assert a.received_at.ToDatetime(tzinfo=UTC) == RECEIVED
    assert a.sequence == int(RECEIVED.timestamp() * 1_000_000)
    assert a.sender_group_key == SAMPLE["groupKey"]
    assert a.external_url == "http://alertmanager:9093"


def test_resolved_alert_without_sender_fingerprint_gets_a_computed_one():
    a = alerts()[1]
    assert a.status == AlertStatus.ALERT_STATUS_RESOLVED
    assert a.ends_at.ToDatetime(tzinfo=UTC) == datetime(2026, 11, 25, 5, 55, tzinfo=UTC)
    assert len(a.fingerprint) == 32
    firing = {**SAMPLE["alerts"][1], "status": "firing"}
    assert alerts({**SAMPLE, "alerts": [firing]})[0].fingerprint == a.fingerprint


def test_identifying_labels_are_configurable_per_source():
    base = {**SAMPLE["alerts"][1], "fingerprint": ""}
    other_job = {**base, "labels": {**base["labels"], "job": "other"}}
    ctx = {"identifying_labels": {"alertmanager": {"alertname", "instance"}}}
    assert (
        alerts({**SAMPLE, "alerts": [base, other_job]}, **ctx)[0].fingerprint
        == alerts({**SAMPLE, "alerts": [base, other_job]}, **ctx)[1].fingerprint
    )


def test_summary_falls_back_to_alertname_and_severity_to_warning():
    bare = {"status": "firing", "labels": {"alertname": "Watchdog"}}
    a = alerts({"alerts": [bare]})[0]
    assert a.summary == "Watchdog"
    assert a.severity == Severity.SEVERITY_WARNING


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, ("alerts",)),
        ({"alerts": []}, ("alerts",)),
        ({"alerts": [{"status": "firing", "labels": {}}]}, ("alerts", 0, "labels")),
        ({"alerts": [{"status": "firing"}]}, ("alerts", 0, "labels")),
        ({"alerts": [{"status": "exploded", "labels": {"a": "b"}}]}, ("alerts", 0, "status")),
        ({"alerts": [{"status": "firing", "labels": {"a": 1}}]}, ("alerts", 0, "labels", "a")),
    ],
)
def test_invalid_bodies_name_the_field(body, field):
    with pytest.raises(ValidationError) as info:
        AlertmanagerWebhook.model_validate(body)
    assert field in [e["loc"] for e in info.value.errors()]


def test_each_alert_of_each_request_gets_its_own_event_id():
    body = {**SAMPLE, "alerts": SAMPLE["alerts"] * 3}
    requests = [normalise(AlertmanagerWebhook.model_validate(body), Context(RECEIVED)) for _ in range(2)]
    ids = [a.event_id for alerts in requests for a in alerts]
    assert len(set(ids)) == len(ids) == 2 * 3 * len(SAMPLE["alerts"])
    assert all(str(uuid.UUID(i)) == i for i in ids)
