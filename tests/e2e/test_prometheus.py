"""Real Prometheus -> triage: it scrapes the three services, promtool accepts each exposition, and the SLA
metrics it stores show the incidents this test creates."""

import subprocess
import uuid

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from .monitoring import JOBS, PROMTOOL, eventually, scalar_sum

TICKETING = JOBS["ticketing"]


@pytest.mark.parametrize("service", sorted(JOBS))
def test_promtool_check_metrics_accepts_each_exposition(ops_binaries, stack, service):
    body = httpx.get(stack.url(service) + "/metrics", timeout=10)
    assert body.status_code == 200 and body.text.strip()
    checked = subprocess.run([PROMTOOL, "check", "metrics"], input=body.content, capture_output=True, timeout=30)
    report = (checked.stdout + checked.stderr).decode()
    assert checked.returncode == 0 and not report.strip(), f"promtool check metrics on {service}:\n{report}"


def test_prometheus_scrapes_every_service(prometheus):
    def all_up() -> None:
        for job in JOBS.values():
            assert scalar_sum(prometheus, f'up{{job="{job}"}}') == 1, f"{job} not up"

    eventually(all_up, 20, "Prometheus scrapes ingest, correlator and ticketing")


@pytest.fixture(scope="module")
def open_incident(stack) -> dict:
    """One incident opened through ingest and left open: on a CI of criticality 2, severity major."""
    run = uuid.uuid4().hex[:8]
    ci_id = f"e2e-{run}-api"
    cmdb = stack.client("correlator").put("/v1/cis", json=[{"id": ci_id, "class": "application", "criticality": 2}])
    assert cmdb.status_code == 200, cmdb.text
    alert = {"severity": "major", "labels": {"alertname": "ApiErrors", "ci": ci_id, "e2e_run": run}}
    sent = stack.client("ingest", stack.ingest_token).post("/v1/alerts", json=alert)
    assert sent.status_code == 202, sent.text
    ticketing = stack.client("ticketing", stack.read_token)

    def opened() -> dict:
        items = ticketing.get("/v1/incidents", params={"limit": 500}).json()["items"]
        found = [i for i in items if i["ci_id"] == ci_id]
        assert len(found) == 1, found
        return found[0]

    return eventually(opened, 30, f"incident on {ci_id}")


def test_prometheus_counts_the_opened_incidents(stack, prometheus, open_incident):
    def exposed_by_ticketing() -> float:
        text = httpx.get(stack.url("ticketing") + "/metrics", timeout=10).text
        opened = sum(
            s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name == "triage_incidents_opened_total"
        )
        assert opened >= 1, "ticketing exposes no opened incident yet"  # figures refresh on a short cadence
        return opened

    opened_now = eventually(exposed_by_ticketing, 20, "ticketing's /metrics counts the opened incident")

    def stored() -> None:
        seen = scalar_sum(prometheus, f'sum(triage_incidents_opened_total{{job="{TICKETING}"}})')
        assert seen >= opened_now, f"Prometheus has {seen}, ticketing exposed {opened_now}"

    eventually(stored, 20, "Prometheus stores triage_incidents_opened_total")


def test_sla_metrics_by_priority_show_the_open_incident(prometheus, open_incident):
    """Against the ticketing metrics contract (issue 5): priority-labelled counters and the open-incident gauge."""
    p = open_incident["priority"]

    def by_priority() -> None:
        opened = scalar_sum(prometheus, f'sum(triage_incidents_opened_total{{job="{TICKETING}",priority="{p}"}})')
        still_open = scalar_sum(prometheus, f'sum(triage_incidents_open{{job="{TICKETING}",priority="{p}"}})')
        assert opened >= 1 and still_open >= 1, f"P{p}: opened_total {opened}, open {still_open}"

    eventually(by_priority, 20, f"triage_incidents_opened_total and triage_incidents_open for priority {p}")
