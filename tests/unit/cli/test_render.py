"""Incidents as text: times, SLA clocks, the list table, one incident's page."""

from datetime import UTC, datetime

from triage_cli import render

NOW = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)


def clock(state: str, due: str | None = None, breached: bool = False) -> dict:
    return {"target_seconds": 900, "due_at": due, "state": state, "breached": breached}


def incident(**over) -> dict:
    base = {
        "id": "5a0e8d8e-0000-0000-0000-000000000001", "number": "INC0000042", "title": "Disk / is 97% full on db01",
        "status": "new", "priority": 2, "impact": 1, "urgency": 2, "ci_id": "ci-db01", "ci_name": "db01",
        "service": "shop", "assignment_group": "dba", "assignee": "", "alert_count": 3, "flapping": False,
        "known_error_id": "", "workaround": "", "change_id": "", "during_change": False, "resolution_code": "",
        "resolution_notes": "", "opened_at": "2026-11-25T05:50:00Z", "acknowledged_at": None, "resolved_at": None,
        "closed_at": None, "previous_incident_id": None, "version": 4,
        "sla": {"response": clock("in_progress", "2026-11-25T06:05:00Z"),
                "resolution": clock("in_progress", "2026-11-25T09:50:00Z")},
    }  # fmt: skip
    return base | over


def entry(version: int, at: str, actor: str, kind: str, changes: dict) -> dict:
    return {
        "version": version,
        "at": f"2026-11-25T{at}:00Z",
        "actor": actor,
        "type": kind,
        "changes": changes,
        "note": "",
    }


def test_spans_and_relative_times():
    assert [render.span(s) for s in (5, 59, 60, 3725, 86400 * 2 + 3600)] == ["5s", "59s", "1m", "1h02m", "2d01h"]
    assert render.relative("2026-11-25T06:12:00Z", NOW) == "in 12m"
    assert render.relative("2026-11-25T05:00:00+00:00", NOW) == "1h00m ago"
    assert render.when("2026-11-25T05:50:00.123456+00:00") == "2026-11-25 05:50Z" and render.when(None) == "-"


def test_the_sla_cell_shows_the_clock_that_runs():
    assert render.sla_cell(incident()["sla"], NOW) == "response in 5m"
    acked = {"response": clock("achieved"), "resolution": clock("warning", "2026-11-25T07:00:00Z")}
    assert render.sla_cell(acked, NOW) == "resolution in 1h00m"
    late = {"response": clock("breached", "2026-11-25T05:45:00Z", True), "resolution": clock("in_progress", "x")}
    assert render.sla_cell(late, NOW) == "!response 15m ago"
    held = {"response": clock("achieved"), "resolution": clock("paused")}
    assert render.sla_cell(held, NOW) == "resolution paused"
    assert render.clock("response", clock("breached", "2026-11-25T05:45:00Z", True), NOW) == (
        "response due 2026-11-25 05:45Z (15m ago) BREACHED"
    )


def test_table_pads_columns_and_cuts_titles_only_to_a_terminal_width():
    items = [incident(), incident(number="INC0000043", ci_id="", ci_name="", priority=4, title="x" * 200)]
    table = render.incident_table(items, NOW).splitlines()
    assert table[0].split() == ["NUMBER", "PRI", "STATUS", "CI", "GROUP", "OPENED", "SLA", "TITLE"]
    assert table[1].startswith("INC0000042  P2   new     db01") and table[2].endswith("x" * 200)
    narrow = render.incident_table(items, NOW, width=100).splitlines()
    assert all(len(line) <= 100 for line in narrow) and narrow[2].endswith("…")
    assert render.incident_table([], NOW) == "no incidents"


def test_incident_line_and_page():
    assert render.incident_line(incident(), NOW) == (
        "INC0000042  P2  new  CI db01  SLA response in 5m  Disk / is 97% full on db01"
    )
    detail = incident(
        alerts=[{"fingerprint": "abcdef0123456789abcdef", "firing": True, "occurrences": 3, "severity": 1,
                 "title": "Disk full", "ci_id": "ci-db01"}],
        work_notes=[{"at": "2026-11-25T05:55:00Z", "author": "alice", "text": "looking"}],
        history=[entry(1, "05:50", "triage", "opened", {"status": [None, "new"]}),
                 entry(2, "05:55", "alice", "acknowledged", {"status": ["new", "in_progress"]})],
    )  # fmt: skip
    page = render.incident_page(detail, NOW)
    assert page.startswith("INC0000042  Disk / is 97% full on db01\n")
    for expected in (
        "  priority      P2 (impact 1, urgency 2)",
        "  CI            db01 (ci-db01)",
        "  SLA           response due 2026-11-25 06:05Z (in 5m); resolution due 2026-11-25 09:50Z (in 3h50m)",
        "alerts (1):\n  firing    x3    abcdef0123456789  Disk full",
        "work notes:\n  2026-11-25 05:55Z  alice: looking",
        "v1   triage       opened\n",
        "v2   alice        acknowledged  (status: new -> in_progress)",
    ):
        assert expected in page
    assert "known error" not in page  # empty facts are left out
    assert "CI            unbound" in render.incident_page(incident(ci_id="", ci_name=""), NOW)


def test_json_output_keeps_unicode():
    assert render.as_json({"title": "Ü"}) == '{\n  "title": "Ü"\n}'
