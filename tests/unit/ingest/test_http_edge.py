"""Ingest's HTTP edge in process, with no broker behind it (a closed port): every kind of bad input is a 4xx
naming the field, whatever the body; a valid body finds the broker down and gets 503 with Retry-After."""

import json
import secrets

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.ingest.app import create_app
from services.ingest.settings import IngestSettings

from .test_normaliser_properties import SAMPLES, json_values, mutate

TOKEN = secrets.token_urlsafe(24)
PATHS = {
    "alertmanager": "/v1/alerts/alertmanager",
    "grafana": "/v1/alerts/grafana",
    "native": "/v1/alerts",
    "pagerduty": "/v2/enqueue",
}


@pytest.fixture(scope="module")
def client():
    ingest = IngestSettings(
        kafka_bootstrap="127.0.0.1:1",  # nothing listens there
        triage_tokens=f"t:{TOKEN}:ingest",
        ingest_max_body_bytes=4096,
        ingest_publish_timeout=0.5,
        ingest_retry_after=9,
    )
    # Not entered as a context manager: the lifespan (the alerts.raw consumer) is not started.
    return TestClient(create_app(ingest), headers={"Authorization": f"Bearer {TOKEN}"})


def test_the_body_limit_is_configurable(client):
    body = {"alerts": [{"status": "firing", "labels": {"a": "x" * 5000}}]}
    response = client.post(PATHS["alertmanager"], json=body)
    assert response.status_code == 413 and response.json()["fields"] == [
        {"field": "body", "reason": "larger than 4096 bytes"}
    ]


def test_a_batch_with_bad_alerts_is_refused_whole_naming_each_bad_index(client):
    good = {"status": "firing", "labels": {"alertname": "A"}}
    body = {"alerts": [{"status": "firing", "labels": {}}, good, {"status": "exploded", "labels": {"a": "b"}}]}
    response = client.post(PATHS["alertmanager"], json=body)
    assert response.status_code == 422
    assert [f["field"] for f in response.json()["fields"]] == ["alerts[0].labels", "alerts[2].status"]
    native = client.post(PATHS["native"], json=[{"labels": {"a": "b"}}, {"labels": {}}, {"labels": {"a": 1}}])
    assert native.status_code == 422
    assert [f["field"] for f in native.json()["fields"]] == ["[1].labels", "[2].labels.a"]


@pytest.mark.parametrize(
    ("content", "field"),
    [(b"{not json", "body"), (b'{"event_action": "resolve", "routing_key": "' + TOKEN.encode() + b'"}', "dedup_key")],
)
def test_pagerduty_bad_events_are_answered_as_pagerduty_does(client, content, field):
    response = client.post(PATHS["pagerduty"], content=content, headers={"content-type": "application/json"})
    assert response.status_code == 400
    body = response.json()
    assert (body["status"], body["message"]) == ("invalid event", "Event object is invalid")
    assert field in [f["field"] for f in body["fields"]] and body["errors"][0].startswith(field)


def test_a_valid_body_with_the_broker_down_is_503_with_retry_after(client):
    response = client.post(PATHS["native"], json={"labels": {"alertname": "A"}})
    assert response.status_code == 503 and response.headers["retry-after"] == "9"


@pytest.mark.parametrize("source", sorted(PATHS))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_no_body_gets_a_5xx_but_the_503_of_the_broker_being_down(client, source, data):
    body = mutate(SAMPLES[source], data) if data.draw(st.booleans()) else data.draw(json_values)
    if source == "pagerduty" and isinstance(body, dict):
        body = {**body, "routing_key": TOKEN}
    response = client.post(PATHS[source], content=json.dumps(body), headers={"content-type": "application/json"})
    assert response.status_code in (400, 422, 503), response.text
    payload = response.json()
    if response.status_code == 422:
        assert payload["fields"] and all(f["field"] and f["reason"] for f in payload["fields"])
