"""The test alert is a genuine Alertmanager v4 notification: ingest's own parser accepts it, the fingerprint and
title are the ones the CLI looks for, and the resolved notification ends the same alert."""

from datetime import UTC, datetime

from services.ingest.formats.alertmanager import AlertmanagerWebhook
from triage_cli import sample_alert
from triage_cli.client import path

START = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)


def test_the_firing_notification_parses_as_alertmanager_sends_it():
    body = sample_alert.webhook("abc123", "critical", "db01", START, extra=[("cluster", "eu1"), ("host", "other")])
    parsed = AlertmanagerWebhook.model_validate(body)
    (alert,) = parsed.alerts
    assert alert.status == "firing" and alert.fingerprint == "triage-test-abc123"
    assert alert.labels == {
        "alertname": "TriageTestAlert",
        "host": "db01",
        "severity": "critical",
        "triage_test_id": "abc123",
        "cluster": "eu1",
    }
    assert alert.annotations["summary"] == sample_alert.title_of("abc123") == "triage test alert abc123"
    assert alert.startsAt == START


def test_the_resolved_notification_ends_the_same_alert():
    end = datetime(2026, 11, 25, 6, 5, tzinfo=UTC)
    parsed = AlertmanagerWebhook.model_validate(sample_alert.webhook("abc123", "info", "db01", START, end))
    (alert,) = parsed.alerts
    assert (parsed.status, alert.status, alert.startsAt, alert.endsAt) == ("resolved", "resolved", START, end)
    assert alert.fingerprint == "triage-test-abc123"


def test_test_ids_differ():
    assert len({sample_alert.new_test_id() for _ in range(50)}) == 50


def test_paths_escape_what_a_user_typed():
    assert path("v1", "incidents", "INC0000001", "acknowledge") == "/v1/incidents/INC0000001/acknowledge"
    assert path("v1", "incidents", "../cis/x?y") == "/v1/incidents/..%2Fcis%2Fx%3Fy"
