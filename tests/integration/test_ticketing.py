"""Ticketing against the real pipeline: priorities from the CMDB and severities, the human API with its
lifecycle and optimistic concurrency, filters, audit trail, and the events other ITSM tools read."""

import asyncio
import uuid

from services.shared.contracts import IncidentEvent
from services.shared.kafka import INCIDENT_EVENTS

from .kafka_tools import end_offsets, eventually, read_all


def webhook(alerts: list[dict]) -> dict:
    return {
        "version": "4",
        "status": "firing",
        "receiver": "triage",
        "groupKey": "{}:{}",
        "alerts": [
            {
                "status": a.get("status", "firing"),
                "labels": a["labels"],
                "annotations": {"summary": a["summary"]},
                "startsAt": "2026-11-25T06:00:00Z",
                "endsAt": "2026-11-25T06:10:00Z" if a.get("status") == "resolved" else "0001-01-01T00:00:00Z",
            }
            for a in alerts
        ],
    }


def by_title(stack, titles: set[str], **params) -> dict[str, dict]:
    items = stack.client("ticketing").get("/v1/incidents", params={"limit": 500, **params}).json()["items"]
    return {i["title"]: i for i in items if i["title"] in titles}


def load_cmdb(stack, run: str) -> None:
    cis = [
        {"id": f"{run}-shop", "name": f"shop-{run}", "class": "business_service", "criticality": 1},
        {
            "id": f"{run}-db",
            "name": f"db-{run}",
            "class": "database",
            "criticality": 1,
            "support_group": "dba",
            "relationships": [{"kind": "part_of", "target": f"{run}-shop"}],
        },
        {"id": f"{run}-wiki", "name": f"wiki-{run}", "class": "application", "criticality": 3, "support_group": "web"},
        {"id": f"{run}-lab", "name": f"lab-{run}", "class": "host", "criticality": 5, "support_group": "lab"},
    ]
    assert stack.client("correlator").put("/v1/cis", json=cis).status_code == 200


def test_a_storm_becomes_incidents_with_the_matrix_priority_of_each_ci_and_severity(stack):
    run = uuid.uuid4().hex[:8]
    load_cmdb(stack, run)
    cases = {
        # title: (host label, severity, expected impact, urgency, priority, assignment group)
        f"db down {run}": (f"db-{run}", "critical", 1, 1, 1, "dba"),
        f"wiki slow {run}": (f"wiki-{run}", "warning", 2, 2, 3, "web"),
        f"lab info {run}": (f"lab-{run}", "info", 3, 3, 5, "lab"),
        f"nowhere {run}": (f"nowhere-{run}", "info", 2, 3, 4, ""),
    }
    alerts = [
        {"labels": {"alertname": title.split()[0], "host": host, "severity": sev, "run": run}, "summary": title}
        for title, (host, sev, *_) in cases.items()
    ]
    ingest = stack.client("ingest")
    for burst in range(40):  # 160 alerts, 156 of them repeats
        assert (
            ingest.post("/v1/alerts/alertmanager", json=webhook(alerts[burst % 4 :] + alerts[: burst % 4])).status_code
            == 202
        )

    def settled():
        found = by_title(stack, set(cases))
        assert {t: i["alert_count"] for t, i in found.items()} == dict.fromkeys(cases, 40)
        return found

    found = eventually(settled, timeout=30)
    for title, (_, _, impact, urgency, priority, group) in cases.items():
        i = found[title]
        assert (i["impact"], i["urgency"], i["priority"], i["assignment_group"]) == (impact, urgency, priority, group)
    db = found[f"db down {run}"]
    assert (db["ci_id"], db["service"], db["affected_ci_ids"]) == (f"{run}-db", f"{run}-shop", [f"{run}-db"])
    assert db["sla"]["response"]["target_seconds"] == 15 * 60 and db["sla"]["response"]["state"] == "in_progress"
    assert found[f"nowhere {run}"]["ci_id"] == ""
    # Filters: by priority, CI, service, assignment group, status, time range.
    client = stack.client("ticketing")
    assert set(by_title(stack, set(cases), priority=1)) == {f"db down {run}"}
    assert set(by_title(stack, set(cases), ci=f"{run}-wiki")) == {f"wiki slow {run}"}
    assert set(by_title(stack, set(cases), service=f"{run}-shop")) == {f"db down {run}"}
    assert set(by_title(stack, set(cases), assignment_group="lab")) == {f"lab info {run}"}
    assert by_title(stack, set(cases), status="closed") == {}
    opened = found[f"lab info {run}"]["opened_at"]
    assert f"lab info {run}" in by_title(stack, set(cases), opened_after=opened)
    assert f"lab info {run}" not in by_title(stack, set(cases), opened_before=opened)
    assert client.get("/v1/incidents", params={"priority": 9}).status_code == 422


def test_an_alert_that_fires_again_within_the_window_reopens_its_incident(stack):
    run = uuid.uuid4().hex[:8]
    title = f"flaky link {run}"
    alert = {"labels": {"alertname": "LinkDown", "host": f"sw-{run}", "severity": "major"}, "summary": title}
    ingest = stack.client("ingest")
    assert ingest.post("/v1/alerts/alertmanager", json=webhook([alert])).status_code == 202
    first = eventually(lambda: by_title(stack, {title}).get(title), timeout=30)
    assert ingest.post("/v1/alerts/alertmanager", json=webhook([{**alert, "status": "resolved"}])).status_code == 202
    eventually(lambda: by_title(stack, {title})[title]["status"] == "resolved", timeout=30)
    assert ingest.post("/v1/alerts/alertmanager", json=webhook([alert])).status_code == 202
    again = eventually(lambda: (i := by_title(stack, {title})[title])["status"] == "in_progress" and i, timeout=30)
    assert again["id"] == first["id"] and again["resolved_at"] is None and again["alert_count"] == 2
    history = [h["type"] for h in stack.client("ticketing").get(f"/v1/incidents/{first['id']}").json()["history"]]
    assert history == ["opened", "resolved", "reopened"]


def incident_events(stack, start, incident_id: str, until) -> list[IncidentEvent]:
    def mine(records):
        out = []
        for r in records:
            e = IncidentEvent()
            e.ParseFromString(r.value)
            if e.incident_id == incident_id:
                out.append(e)
        return out

    records = asyncio.run(read_all(stack.kafka, INCIDENT_EVENTS, lambda rs: until(mine(rs)), 20, start=start))
    return mine(records)


def test_people_work_the_incident_through_its_lifecycle_and_every_step_is_an_event(stack):
    run = uuid.uuid4().hex[:8]
    title = f"queue stuck {run}"
    start = asyncio.run(end_offsets(stack.kafka, INCIDENT_EVENTS))
    alert = {"labels": {"alertname": "QueueStuck", "host": f"mq-{run}", "severity": "major"}, "summary": title}
    assert stack.client("ingest").post("/v1/alerts/alertmanager", json=webhook([alert])).status_code == 202
    incident = eventually(lambda: by_title(stack, {title}).get(title), timeout=30)
    client, ref = stack.client("ticketing"), incident["number"]

    assert client.post(f"/v1/incidents/{ref}/hold", json={"reason": "x"}).status_code == 409  # new: not yet
    stale = client.post(f"/v1/incidents/{ref}/acknowledge", json={}, headers={"If-Match": '"999"'})
    assert stale.status_code == 412 and stale.json()["fields"][0]["field"] == "If-Match"
    acked = client.post(f"/v1/incidents/{ref}/acknowledge", headers={"If-Match": f'"{incident["version"]}"'})
    assert acked.status_code == 200, acked.text
    assert acked.json()["status"] == "in_progress" and acked.headers["ETag"] == f'"{acked.json()["version"]}"'
    assert acked.json()["sla"]["response"]["state"] == "achieved"
    steps = [
        ("assign", {"assignee": "kim", "assignment_group": "middleware"}, "in_progress"),
        ("hold", {"reason": "waiting for the vendor"}, "on_hold"),
        ("resume", None, "in_progress"),
        ("comments", {"text": "vendor patch applied"}, "in_progress"),
        ("resolve", {"resolution_code": "fixed", "notes": "patched"}, "resolved"),
        ("close", None, "closed"),
    ]
    for action, body, status in steps:
        r = (
            client.post(f"/v1/incidents/{ref}/{action}", json=body)
            if body
            else client.post(f"/v1/incidents/{ref}/{action}")
        )
        assert r.status_code == 200, (action, r.text)
        assert r.json()["status"] == status
    done = client.get(f"/v1/incidents/{ref}").json()
    assert (done["assignee"], done["assignment_group"], done["resolution_code"]) == ("kim", "middleware", "fixed")
    assert done["work_notes"][0]["text"] == "vendor patch applied" and done["work_notes"][0]["author"] == "test"
    kinds = [h["type"] for h in done["history"]]
    assert kinds == ["opened", "acknowledged", "assigned", "on_hold", "resumed", "commented", "resolved", "closed"]
    assert {h["actor"] for h in done["history"][1:]} == {"test"} and done["history"][0]["actor"] == "triage"
    assert done["history"][2]["changes"]["assignee"] == ["", "kim"]
    refused = client.post(f"/v1/incidents/{ref}/comments", json={"text": "too late"})
    assert refused.status_code == 409 and "closed" in refused.json()["message"]
    # The same story on incidents.events, in order, gap-free, with who did it.
    events = incident_events(stack, start, done["id"], lambda es: len(es) >= len(kinds))
    assert [e.type for e in events] == kinds
    assert [e.sequence for e in events] == list(range(1, len(kinds) + 1))
    assert events[2].actor == "test" and events[2].assignee == "kim" and events[5].note == "vendor patch applied"


def test_actions_need_the_write_scope_and_a_known_incident(stack):
    reader = stack.client("ticketing", stack.read_token)
    assert reader.post("/v1/incidents/INC0000001/acknowledge").status_code == 403
    assert stack.client("ticketing").post("/v1/incidents/INC9999999/acknowledge").status_code == 404
    bad = stack.client("ticketing").post("/v1/incidents/INC0000001/resolve", json={"notes": "no code"})
    assert bad.status_code == 422 and bad.json()["fields"][0]["field"] == "resolution_code"
