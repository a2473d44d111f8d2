from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from services.ingest.formats import Context
from services.ingest.formats.pagerduty import SEVERITIES, PagerDutyEvent, dedup_key_of, normalise
from services.shared.contracts import AlertStatus, Severity

TRIGGER = {
    "routing_key": "R0UT1NGKEY0123456789abcdefabcdef",
    "event_action": "trigger",
    "dedup_key": "srv01/mysql",
    "payload": {
        "summary": "MySQL unreachable on srv01",
        "source": "srv01.prod",
        "severity": "error",
        "timestamp": "2026-11-25T05:59:00.000+0000",
        "component": "mysql",
        "group": "prod-datapipe",
        "class": "availability",
        "custom_details": {"ping_ms": None, "attempts": 3},
    },
    "links": [{"href": "https://runbooks.example/mysql", "text": "Runbook"}],
    "images": [{"src": "https://charts.example/cpu.png", "href": "https://charts.example", "alt": "cpu"}],
    "client": "Sample Monitoring Service",
    "client_url": "https://monitoring.example",
}
CTX = Context(datetime(2026, 11, 25, 6, 0, tzinfo=UTC))


def event(**changes):
    return PagerDutyEvent.model_validate({**TRIGGER, **changes})


def test_trigger_becomes_a_firing_alert():
    (a,) = normalise(event(), CTX)
    assert (a.source, a.fingerprint, a.status) == ("pagerduty", "srv01/mysql", AlertStatus.ALERT_STATUS_FIRING)
    assert a.severity == Severity.SEVERITY_MAJOR and a.summary == "MySQL unreachable on srv01"
    assert dict(a.labels) == {
        "alertname": "availability",
        "source": "srv01.prod",
        "component": "mysql",
        "group": "prod-datapipe",
        "class": "availability",
    }
    assert a.annotations["custom_details"] == '{"ping_ms":null,"attempts":3}'
    assert "runbooks.example" in a.annotations["links"] and a.annotations["client"] == "Sample Monitoring Service"
    assert a.starts_at.ToDatetime(tzinfo=UTC) == datetime(2026, 11, 25, 5, 59, tzinfo=UTC)


def test_resolve_needs_only_the_key_and_matches_the_trigger():
    (a,) = normalise(
        PagerDutyEvent.model_validate({"routing_key": "k", "event_action": "resolve", "dedup_key": "srv01/mysql"}), CTX
    )
    assert a.fingerprint == "srv01/mysql" and a.status == AlertStatus.ALERT_STATUS_RESOLVED


def test_acknowledge_is_accepted_but_produces_no_alert():
    assert normalise(event(event_action="acknowledge"), CTX) == []


def test_without_dedup_key_the_key_is_stable_and_returned():
    first, second = event(dedup_key=None), event(dedup_key=None)
    assert dedup_key_of(first, CTX) == dedup_key_of(second, CTX) == normalise(first, CTX)[0].fingerprint
    other = event(dedup_key=None, payload={**TRIGGER["payload"], "summary": "other"})
    assert dedup_key_of(other, CTX) != dedup_key_of(first, CTX)


def test_severity_table():
    assert {k: Severity.Name(v) for k, v in SEVERITIES.items()} == {
        "critical": "SEVERITY_CRITICAL",
        "error": "SEVERITY_MAJOR",
        "warning": "SEVERITY_WARNING",
        "info": "SEVERITY_INFO",
    }


@pytest.mark.parametrize(
    ("changes", "loc"),
    [
        ({"event_action": "resolve", "dedup_key": None}, ("dedup_key",)),
        ({"event_action": "acknowledge", "dedup_key": ""}, ("dedup_key",)),
        ({"payload": None}, ("payload",)),
        ({"event_action": "explode"}, ("event_action",)),
        ({"routing_key": ""}, ("routing_key",)),
        ({"payload": {**TRIGGER["payload"], "severity": "high"}}, ("payload", "severity")),
        ({"payload": {**TRIGGER["payload"], "summary": "x" * 1025}}, ("payload", "summary")),
        ({"dedup_key": "k" * 256}, ("dedup_key",)),
    ],
)
def test_invalid_events_name_the_field(changes, loc):
    with pytest.raises(ValidationError) as info:
        event(**changes)
    assert loc in [e["loc"] for e in info.value.errors()]


def test_images_are_kept_and_a_trigger_without_class_is_named_by_its_summary():
    (a,) = normalise(event(payload={k: v for k, v in TRIGGER["payload"].items() if k != "class"}), CTX)
    assert a.labels["alertname"] == "MySQL unreachable on srv01" and "class" not in a.labels
    assert '"src":"https://charts.example/cpu.png"' in a.annotations["images"]
