"""Services resume from the offsets stored with their state: nothing lost, nothing doubled across restarts."""

import uuid

from .kafka_tools import eventually
from .test_pipeline import webhook


def test_alerts_sent_while_services_are_down_are_applied_once_after_restart(stack):
    run = uuid.uuid4().hex[:8]
    # Distinct alert names: without a CI, alerts group by alertname, and this test wants five incidents.
    hosts = [(f"Restarted{i}", f"h{i}-{run}") for i in range(5)]
    ingest, ticketing = stack.client("ingest"), stack.client("ticketing")
    assert ingest.post("/v1/alerts/alertmanager", json=webhook(run, "firing", *hosts)).status_code == 202

    def mine():
        items = ticketing.get("/v1/incidents", params={"limit": 500}).json()["items"]
        return {i["title"]: i for i in items if i["title"].endswith(run)}

    eventually(lambda: len(mine()) == 5)
    stack.services["correlator"].kill()  # SIGKILL: no chance to finish anything
    # SIGTERM: the batch in flight finishes; uvicorn re-raises the signal once shut down, hence -15.
    assert stack.services["ticketing"].stop() in (0, -15)
    assert "Application shutdown complete" in (stack.logs / "ticketing.log").read_text()
    for _ in range(3):
        assert ingest.post("/v1/alerts/alertmanager", json=webhook(run, "firing", *hosts)).status_code == 202
    stack.services["correlator"].start().wait_healthy(60, "/readyz")
    stack.services["ticketing"].start().wait_healthy(60, "/readyz")

    def counted():
        found = mine()
        assert sorted(i["alert_count"] for i in found.values()) == [4] * 5, found
        return found

    incidents = eventually(counted, timeout=30)
    assert len({i["number"] for i in incidents.values()}) == 5
