"""Real Alertmanager -> triage: a Prometheus rule fires on a metric the test flips, Alertmanager's webhook
(bearer token) reaches ingest, an incident opens on the CMDB CI the labels name, and clears when the metric does."""

import uuid
from collections.abc import Callable

import httpx

from services.ticketing.priority import DEFAULT_MATRIX, impact_from, priority, urgency_from_severity

from .monitoring import eventually

CRITICALITY, SEVERITY = 1, "critical"


def the_incident(ticketing: httpx.Client, where: Callable[[dict], bool], **params: str) -> dict:
    page = ticketing.get("/v1/incidents", params={"limit": 500, **params})
    assert page.status_code == 200, page.text
    found = [i for i in page.json()["items"] if where(i)]
    assert len(found) == 1, f"matching incidents: {found}"
    return found[0]


def incident_of(ticketing: httpx.Client, ci_id: str) -> dict:
    return the_incident(ticketing, lambda i: i["ci_id"] == ci_id, ci=ci_id)


def test_a_firing_rule_opens_an_incident_on_its_ci_and_the_resolved_notification_resolves_it(
    stack, prometheus, alertmanager, probe
):
    run = uuid.uuid4().hex[:8]
    ci_id, ci_name = f"e2e-{run}-db", f"e2e-orders-db-{run}"
    cmdb = stack.client("correlator").put(
        "/v1/cis", json=[{"id": ci_id, "name": ci_name, "class": "database", "criticality": CRITICALITY}]
    )
    assert cmdb.status_code == 200, cmdb.text
    ticketing = stack.client("ticketing", stack.read_token)
    labels = {"host": ci_name, "severity": SEVERITY, "e2e_run": run}  # `host` binds by CI name

    probe.set(labels, 1)
    opened = eventually(lambda: incident_of(ticketing, ci_id), 45, f"incident on {ci_id} opened via Alertmanager")
    assert opened["status"] in ("new", "in_progress") and opened["title"], opened

    def alertmanager_fingerprint() -> str:
        alerts = alertmanager.http.get("/api/v2/alerts", params={"filter": f'e2e_run="{run}"'}).json()
        assert len(alerts) == 1, alerts
        return alerts[0]["fingerprint"]

    detail = ticketing.get(f"/v1/incidents/{opened['number']}").json()
    assert [a["fingerprint"] for a in detail["alerts"]] == [eventually(alertmanager_fingerprint, 10, "AM alert")]

    probe.set(labels, 0)
    resolved = eventually(
        lambda: _resolved(incident_of(ticketing, ci_id)), 45, f"incident on {ci_id} resolved by AM's resolved notice"
    )
    assert resolved["id"] == opened["id"] and resolved["resolved_at"]

    # Last, so the open/resolve path above is proven even while ticketing's priority work (issue 5) lands:
    # priority is the ITIL matrix over impact (the CI's criticality) and urgency (the alert's severity).
    impact, urgency = impact_from(CRITICALITY, 1, 0), urgency_from_severity(SEVERITY)
    expected = {"priority": priority(impact, urgency, DEFAULT_MATRIX), "impact": int(impact), "urgency": int(urgency)}
    assert expected == {"priority": 1, "impact": 1, "urgency": 1}
    got = {key: opened.get(key) for key in expected}
    assert got == expected, f"priority of {opened['number']} (ticketing contract: impact x urgency matrix)"


def _resolved(incident: dict) -> dict:
    assert incident["status"] == "resolved", incident["status"]
    return incident


def test_alertmanagers_pagerduty_integration_pointed_at_v2_enqueue_opens_and_resolves_an_incident(
    stack, prometheus, probe
):
    """A PagerDuty-style sender: Alertmanager's pagerduty_configs with url = ingest /v2/enqueue and
    routing_key = a triage token; its resolve event (same dedup_key) resolves the incident."""
    run = uuid.uuid4().hex[:8]
    labels = {"host": f"e2e-pd-{run}", "severity": "critical", "e2e_run": run, "e2e_sender": "pagerduty"}
    ticketing = stack.client("ticketing", stack.read_token)

    def ours() -> dict:
        return the_incident(ticketing, lambda i: run in i["title"])

    probe.set(labels, 1)
    opened = eventually(ours, 45, "incident opened through /v2/enqueue")
    assert opened["status"] in ("new", "in_progress") and opened["title"].startswith("e2e probe failing"), opened
    probe.set(labels, 0)
    resolved = eventually(lambda: _resolved(ours()), 45, "incident resolved by the PagerDuty resolve event")
    assert resolved["id"] == opened["id"]
