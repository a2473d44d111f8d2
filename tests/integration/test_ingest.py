"""Ingest endpoints end to end onto alerts.normalized; the OpenAPI contract; metrics."""

import asyncio
import uuid

import httpx

from services.shared.contracts import Alert
from services.shared.kafka import NORMALIZED

from .kafka_tools import end_offsets, read_all


def normalized_since(stack, before, match) -> list[Alert]:
    def decoded(records):
        out = []
        for r in records:
            a = Alert()
            a.ParseFromString(r.value)
            if match(a):
                out.append((r, a))
        return out

    records = asyncio.run(read_all(stack.kafka, NORMALIZED, lambda rs: decoded(rs), start=before))
    found = decoded(records)
    for record, alert in found:
        assert record.key == alert.fingerprint.encode()  # keyed by fingerprint
    return [a for _, a in found]


def test_heartbeat_is_carried_on_alerts_normalized(stack):
    name = f"backup-{uuid.uuid4().hex[:8]}"
    before = asyncio.run(end_offsets(stack.kafka, NORMALIZED))
    response = stack.client("ingest").post(f"/v1/heartbeats/{name}", json={"interval_seconds": 60, "ci": "db01"})
    assert response.status_code == 202, response.text
    assert response.json()["fingerprints"] == [f"heartbeat:{name}"]
    (alert,) = normalized_since(stack, before, lambda a: a.labels.get("heartbeat") == name)
    assert alert.source == "heartbeat" and alert.labels["interval_seconds"] == "60" and alert.labels["ci"] == "db01"
    bad = stack.client("ingest").post("/v1/heartbeats/..%2F..", json={"interval_seconds": 60})
    assert bad.status_code in (404, 422)
    assert (
        stack.client("ingest").post(f"/v1/heartbeats/{name}", json={}).json()["fields"][0]["field"]
        == "interval_seconds"
    )


def test_openapi_lists_every_endpoint_with_request_schema_and_errors(stack):
    client = stack.client("ingest")
    spec = client.get("/openapi.json").json()
    assert client.get("/docs").status_code == 200
    posts = {p: ops["post"] for p, ops in spec["paths"].items() if "post" in ops}
    assert set(posts) == {
        "/v1/alerts/alertmanager",
        "/v1/alerts/grafana",
        "/v1/alerts",
        "/v2/enqueue",
        "/v1/heartbeats/{name}",
    }
    schemas = spec["components"]["schemas"]
    for path, op in posts.items():
        ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        assert ref.split("/")[-1] in schemas, path
        # PagerDuty senders expect PagerDuty's own 400 for any bad event; the others name fields with 422.
        bad_input = ("400",) if path == "/v2/enqueue" else ("400", "422")
        for status in ("401", "403", "413", "415", "503", *bad_input):
            error_ref = op["responses"][status]["content"]["application/json"]["schema"]["$ref"]
            assert error_ref.split("/")[-1] in schemas, (path, status)
        assert op["security"] == [{"bearer": []}]
    assert posts["/v2/enqueue"]["responses"]["400"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/PagerDutyInvalid"
    )
    for ready in ("/healthz", "/readyz", "/metrics"):
        assert ready in spec["paths"] and "security" not in spec["paths"][ready]["get"]


def test_metrics_count_alerts_by_source_and_outcome(stack):
    client = stack.client("ingest")
    client.post("/v1/alerts/alertmanager", json={"alerts": [{"status": "firing", "labels": {}}]})
    assert client.post("/v1/alerts", json={"labels": {"alertname": "MetricsProbe"}}).status_code == 202
    text = client.get("/metrics").text
    assert 'triage_ingest_alerts_total{outcome="rejected",source="alertmanager"}' in text
    assert 'triage_ingest_alerts_total{outcome="accepted",source="native"}' in text
    assert "triage_ingest_request_seconds_bucket" in text and "triage_ingest_produce_seconds_bucket" in text


def test_grafana_native_and_pagerduty_reach_alerts_normalized(stack):
    run = uuid.uuid4().hex[:8]
    client = stack.client("ingest")
    before = asyncio.run(end_offsets(stack.kafka, NORMALIZED))
    grafana = {
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "GrafanaCheck", "run": run},
                "fingerprint": f"g-{run}",
                "dashboardURL": "https://grafana.example/d/x",
            }
        ]
    }
    assert client.post("/v1/alerts/grafana", json=grafana).json()["fingerprints"] == [f"g-{run}"]
    native = [
        {"labels": {"alertname": "NativeCheck", "run": run}, "severity": "minor"},
        {"labels": {"alertname": "NativeCheck2", "run": run}, "fingerprint": f"n-{run}"},
    ]
    assert client.post("/v1/alerts", json=native).json()["accepted"] == 2
    trigger = {
        "routing_key": stack.ingest_token,
        "event_action": "trigger",
        "dedup_key": f"pd-{run}",
        "payload": {
            "summary": f"PagerDutyCheck {run}",
            "source": "srv01",
            "severity": "critical",
            "custom_details": {"run": run},
        },
    }
    # PagerDuty senders carry no header: the routing key is a triage token with the ingest scope.
    pd = httpx.post(stack.url("ingest") + "/v2/enqueue", json=trigger)
    assert pd.status_code == 202, pd.text
    assert pd.json() == {"status": "success", "message": "Event processed", "dedup_key": f"pd-{run}"}
    resolve = httpx.post(
        stack.url("ingest") + "/v2/enqueue",
        json={"routing_key": stack.ingest_token, "event_action": "resolve", "dedup_key": f"pd-{run}"},
    )
    assert resolve.status_code == 202

    def tagged(a: Alert) -> bool:
        return a.labels.get("run") == run or a.fingerprint == f"pd-{run}"

    found = normalized_since(stack, before, tagged)
    by_source = sorted((a.source, a.status) for a in found)
    assert by_source == [("grafana", 1), ("native", 1), ("native", 1), ("pagerduty", 1), ("pagerduty", 2)], by_source


def test_pagerduty_routing_key_must_be_a_token_with_the_ingest_scope(stack):
    body = {"event_action": "trigger", "payload": {"summary": "s", "source": "x", "severity": "info"}}
    url = stack.url("ingest") + "/v2/enqueue"
    assert httpx.post(url, json={**body, "routing_key": "wrong-key-wrong-key"}).status_code == 401
    assert httpx.post(url, json={**body, "routing_key": stack.read_token}).status_code == 403
    # A bad event is answered as PagerDuty answers it (400 "invalid event"), still naming the field.
    invalid = httpx.post(url, json={"routing_key": stack.ingest_token, "event_action": "resolve"})
    assert invalid.status_code == 400, invalid.text
    body = invalid.json()
    assert (body["status"], body["message"]) == ("invalid event", "Event object is invalid")
    assert body["errors"] == ["dedup_key: Value error, dedup_key is required to acknowledge or resolve"]
    assert body["fields"][0]["field"] == "dedup_key"
    malformed = httpx.post(url, content=b"{", headers={"content-type": "application/json"})
    assert malformed.status_code == 400 and malformed.json()["status"] == "invalid event"
