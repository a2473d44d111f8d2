"""deploy/grafana and deploy/prometheus: the dashboard is current Grafana JSON whose every query runs on the
real Prometheus; the rules pass promtool's checks and unit tests and evaluate cleanly in that Prometheus."""

import json
import re
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from .monitoring import (
    ALERTMANAGER_EXAMPLE,
    AMTOOL,
    DASHBOARD,
    PROMTOOL,
    RULE_TESTS,
    RULES,
    eventually,
    query,
)

PANEL_TYPES = {"timeseries", "stat", "table", "bargauge"}
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
# What Grafana puts in for its built-in variables; any other `$` left in a query is an unknown variable.
GRAFANA_BUILTINS = {"__rate_interval": "1m", "__interval": "30s", "__range": "1h"}
# The dashboard must cover what ops teams look at.
COVERED = (
    "triage_incidents_open",
    "triage_sla_compliance",
    "triage_incident_acknowledge_seconds",
    "triage_incident_resolve_seconds",
    "triage_sla_warnings_total",
    "triage_sla_breaches_total",
    "triage_ingest_alerts_total",
    "triage_correlator_emitted_total",
    "triage_consumer_lag_records",
    "dead_letters_total",
)


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def panels(items: list[dict]) -> Iterator[dict]:
    """Every panel, rows' nested panels included (a collapsed row keeps its panels inside)."""
    for item in items:
        yield item
        yield from panels(item.get("panels", []))


def queries(board: dict) -> list[tuple[str, str]]:
    return [(f"{p['title']} [{t['refId']}]", t["expr"]) for p in panels(board["panels"]) for t in p.get("targets", [])]


def substituted(expr: str, board: dict) -> str:
    """The query as Grafana sends it with every variable at its widest: multi-value `All` is its allValue."""
    values = dict(GRAFANA_BUILTINS)
    for var in board["templating"]["list"]:
        if var["type"] != "datasource":
            values[var["name"]] = var.get("allValue") or ".*"

    def value(match: re.Match) -> str:
        name = match["braced"] or match["plain"]
        assert name in values, f"unknown variable ${name} in {expr}"
        return values[name]

    return re.sub(r"\$(?:\{(?P<braced>\w+)\}|(?P<plain>\w+))", value, expr)


def test_the_dashboard_is_current_grafana_json_with_the_datasource_as_a_variable():
    board = dashboard()
    assert board["schemaVersion"] >= 39 and board["uid"] and board["title"]
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    all_panels = list(panels(board["panels"]))
    ids = [p["id"] for p in all_panels]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    assert any(p["type"] == "row" and p["collapsed"] and p["panels"] for p in all_panels), "a collapsed row nests"
    for p in all_panels:
        grid = p["gridPos"]
        assert grid["x"] + grid["w"] <= 24 and grid["h"] > 0, p["title"]
        if p["type"] == "row":
            continue
        assert p["type"] in PANEL_TYPES, f"{p['title']}: {p['type']}"
        assert p["datasource"] == DATASOURCE and p["targets"], p["title"]
        assert all(t["datasource"] == DATASOURCE and t["expr"].strip() for t in p["targets"]), p["title"]
    exprs = " ".join(e for _, e in queries(board))
    assert [m for m in COVERED if m not in exprs] == []


def test_every_dashboard_query_runs_on_the_real_prometheus(prometheus):
    board = dashboard()
    failures = {}
    for where, expr in queries(board):
        answer = query(prometheus, substituted(expr, board))
        if answer.get("status") != "success":
            failures[where] = f"{answer.get('errorType')}: {answer.get('error')}"
    assert failures == {}
    assert len(queries(board)) >= 25


def promtool() -> str:
    found = shutil.which(PROMTOOL)
    if found is None:
        pytest.skip(f"LOUD SKIP: {PROMTOOL} not installed; install it with `make ops-tools` (root, apt-get)")
    return found


@pytest.mark.parametrize("check", [["check", "rules", str(RULES)], ["test", "rules", str(RULE_TESTS)]])
def test_promtool_accepts_the_rules_and_their_unit_tests(check):
    done = subprocess.run([promtool(), *check], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_amtool_accepts_the_alertmanager_example():
    if shutil.which(AMTOOL) is None:
        pytest.skip(f"LOUD SKIP: {AMTOOL} not installed; install it with `make ops-tools` (root, apt-get)")
    done = subprocess.run([AMTOOL, "check-config", str(ALERTMANAGER_EXAMPLE)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_rules_evaluate_cleanly_in_the_real_prometheus(prometheus):
    def all_healthy() -> dict[str, list[str]]:
        groups = prometheus.http.get("/api/v1/rules").json()["data"]["groups"]
        ours = {g["name"]: g for g in groups if g["file"] == str(RULES)}
        assert set(ours) == {"triage.records", "triage.alerts"}, set(ours)
        unhealthy = {r["name"]: r.get("lastError") for g in ours.values() for r in g["rules"] if r["health"] != "ok"}
        assert unhealthy == {}
        return {name: [r["name"] for r in g["rules"]] for name, g in ours.items()}

    loaded = eventually(all_healthy, 20, "rules.yml loaded and evaluated without error")
    assert "TriageServiceDown" in loaded["triage.alerts"]
    firing = prometheus.http.get("/api/v1/alerts").json()["data"]["alerts"]
    assert [a["labels"] for a in firing if a["labels"]["alertname"] == "TriageServiceDown"] == []
