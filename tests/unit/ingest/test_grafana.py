from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from services.ingest.formats import Context
from services.ingest.formats.grafana import GrafanaWebhook, normalise
from services.shared.contracts import AlertStatus, Severity

# As Grafana 11's webhook contact point sends it: one firing, one resolved alert of a rule group.
SAMPLE = {
    "receiver": "triage",
    "status": "firing",
    "orgId": 1,
    "alerts": [
        {
            "status": "firing",
            "labels": {
                "alertname": "HighLatency",
                "grafana_folder": "API",
                "service": "checkout",
                "severity": "critical",
            },
            "annotations": {"summary": "checkout p99 2.4s", "description": "p99 above 2s for 5m"},
            "startsAt": "2026-11-25T05:50:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "https://grafana.example/alerting/grafana/fe2/view?orgId=1",
            "fingerprint": "a1b2c3d4e5f60718",
            "silenceURL": "https://grafana.example/alerting/silence/new?x",
            "dashboardURL": "https://grafana.example/d/abc",
            "panelURL": "https://grafana.example/d/abc?viewPanel=2",
            "values": {"B": 2.4, "C": 1},
            "valueString": "[ var='B' labels={} value=2.4 ]",
        },
        {
            "status": "resolved",
            "labels": {"alertname": "DiskIO", "instance": "db7"},
            "annotations": {},
            "startsAt": "2026-11-25T05:00:00Z",
            "endsAt": "2026-11-25T05:40:00Z",
            "values": None,
            "generatorURL": "",
            "fingerprint": "",
            "silenceURL": "",
            "dashboardURL": "",
            "panelURL": "",
        },
    ],
    "groupLabels": {"alertname": "HighLatency"},
    "commonLabels": {},
    "commonAnnotations": {},
    "externalURL": "https://grafana.example/",
    "version": "1",
    "groupKey": '{}/{}:{alertname="HighLatency"}',
    "truncatedAlerts": 0,
    "title": "[FIRING:1] HighLatency",
    "state": "alerting",
    "message": "**Firing**",
}
RECEIVED = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)


def alerts(body=SAMPLE):
    return normalise(GrafanaWebhook.model_validate(body), Context(RECEIVED))


def test_firing_alert_keeps_links_and_values():
    a = alerts()[0]
    assert (a.source, a.fingerprint, a.status) == ("grafana", "a1b2c3d4e5f60718", AlertStatus.ALERT_STATUS_FIRING)
    assert a.severity == Severity.SEVERITY_CRITICAL
    assert a.summary == "checkout p99 2.4s" and a.description == "p99 above 2s for 5m"
    assert a.annotations["dashboard_url"] == "https://grafana.example/d/abc"
    assert a.annotations["panel_url"].endswith("viewPanel=2")
    assert a.annotations["grafana_values"] == '{"B":2.4,"C":1.0}'
    assert not a.HasField("ends_at") and a.sender_group_key == SAMPLE["groupKey"]


def test_resolved_alert_without_fingerprint_matches_its_firing_twin():
    resolved = alerts()[1]
    firing = alerts({**SAMPLE, "alerts": [{**SAMPLE["alerts"][1], "status": "firing"}]})[0]
    assert resolved.status == AlertStatus.ALERT_STATUS_RESOLVED
    assert resolved.fingerprint == firing.fingerprint and len(resolved.fingerprint) == 32
    assert resolved.summary == "DiskIO" and resolved.severity == Severity.SEVERITY_WARNING


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({}, ("alerts",)),
        ({"alerts": [{"status": "firing", "labels": {}}]}, ("alerts", 0, "labels")),
        ({"alerts": [{"status": "pending", "labels": {"a": "b"}}]}, ("alerts", 0, "status")),
        (
            {"alerts": [{"status": "firing", "labels": {"a": "b"}, "values": {"B": "high"}}]},
            ("alerts", 0, "values", "B"),
        ),
    ],
)
def test_invalid_bodies_name_the_field(body, loc):
    with pytest.raises(ValidationError) as info:
        GrafanaWebhook.model_validate(body)
    assert loc in [e["loc"] for e in info.value.errors()]
