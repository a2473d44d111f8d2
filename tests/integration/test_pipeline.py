"""The walking skeleton end to end: Alertmanager webhook -> incidents -> incidents.events."""

import asyncio
import uuid

from services.shared.contracts import IncidentEvent
from services.shared.kafka import INCIDENT_EVENTS

from .kafka_tools import eventually, read_all


def webhook(run: str, status: str, *alerts: tuple[str, str]) -> dict:
    return {
        "version": "4",
        "groupKey": f'{{}}:{{run="{run}"}}',
        "status": status,
        "receiver": "triage",
        "groupLabels": {"run": run},
        "commonLabels": {"run": run},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": [
            {
                "status": status,
                "labels": {"alertname": name, "instance": host, "run": run, "severity": "critical"},
                "annotations": {"summary": f"{name} on {host}"},
                "startsAt": "2026-11-25T06:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-11-25T06:10:00Z",
                "generatorURL": "http://prometheus:9090/graph",
            }
            for name, host in alerts
        ],
    }


def incidents_of(client, run: str) -> dict[str, dict]:
    items = client.get("/v1/incidents", params={"limit": 500}).json()["items"]
    return {i["title"]: i for i in items if run in i["group_key"] or i["title"].endswith(run)}


def test_alerts_become_incidents_and_resolve(stack):
    run = uuid.uuid4().hex[:8]
    disk, load = ("DiskFull", f"db-{run}"), ("HighLoad", f"web-{run}")
    ingest, ticketing = stack.client("ingest"), stack.client("ticketing")

    first = ingest.post("/v1/alerts/alertmanager", json=webhook(run, "firing", disk, load))
    assert first.status_code == 202, first.text
    assert first.json()["accepted"] == 2 and len(set(first.json()["fingerprints"])) == 2
    assert ingest.post("/v1/alerts/alertmanager", json=webhook(run, "firing", disk)).status_code == 202

    def two_incidents_with_counts():
        found = {
            i["title"]: i
            for i in ticketing.get("/v1/incidents", params={"limit": 500}).json()["items"]
            if i["title"] in (f"DiskFull on db-{run}", f"HighLoad on web-{run}")
        }
        counts = {t: i["alert_count"] for t, i in found.items()}
        assert counts == {f"DiskFull on db-{run}": 2, f"HighLoad on web-{run}": 1}, counts
        return found

    opened = eventually(two_incidents_with_counts)
    for incident in opened.values():
        assert incident["status"] == "new"
        assert incident["number"].startswith("INC") and len(incident["number"]) == 10
        detail = ticketing.get(f"/v1/incidents/{incident['number']}")
        assert detail.status_code == 200 and detail.json()["id"] == incident["id"]
        assert len(detail.json()["alerts"]) == 1

    resolved = ingest.post("/v1/alerts/alertmanager", json=webhook(run, "resolved", disk, load))
    assert resolved.status_code == 202

    def both_resolved():
        states = {i["id"]: ticketing.get(f"/v1/incidents/{i['id']}").json()["status"] for i in opened.values()}
        assert set(states.values()) == {"resolved"}, states
        return True

    eventually(both_resolved)

    ids = {i["id"] for i in opened.values()}

    def events_complete(records) -> bool:
        types = [e.type for e in map(_event, records) if e.incident_id in ids]
        return types.count("opened") == 2 and types.count("resolved") == 2

    records = asyncio.run(read_all(stack.kafka, INCIDENT_EVENTS, events_complete, seconds=15))
    events = [e for e in map(_event, records) if e.incident_id in ids]
    for incident_id in ids:
        mine = [e for e in events if e.incident_id == incident_id]
        assert [e.sequence for e in mine] == sorted(e.sequence for e in mine)  # ordered per incident
        assert mine[0].type == "opened" and mine[-1].type == "resolved" and mine[-1].status == "resolved"
        assert mine[-1].number.startswith("INC")
        assert all(r.key == incident_id.encode() for r in records if _event(r).incident_id == incident_id)
    disk_events = [e for e in events if e.title == f"DiskFull on db-{run}"]
    assert disk_events[-1].alert_count == 2


def _event(record) -> IncidentEvent:
    event = IncidentEvent()
    event.ParseFromString(record.value)
    return event


def test_every_service_is_ready_and_exposes_metrics(stack):
    for name in ("ingest", "correlator", "ticketing"):
        client = stack.client(name)
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "ready", ready.text
        metrics = client.get("/metrics")
        assert metrics.status_code == 200 and "triage_" in metrics.text
