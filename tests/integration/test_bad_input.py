"""Bad input gets a 4xx naming the field, nothing reaches the broker, and the service stays up."""

import asyncio

import httpx
import pytest

from services.shared.kafka import NORMALIZED

from .kafka_tools import end_offsets

URL = "/v1/alerts/alertmanager"


@pytest.mark.parametrize(
    ("kwargs", "status", "field"),
    [
        ({"content": b"this is not json", "headers": {"content-type": "application/json"}}, 400, "body"),
        ({"json": {"version": "4", "status": "firing"}}, 422, "alerts"),
        ({"json": {"alerts": [{"status": "firing", "labels": {}}]}}, 422, "alerts[0].labels"),
        ({"json": {"alerts": [{"status": "firing", "annotations": {"a": "b"}}]}}, 422, "alerts[0].labels"),
        (
            {"json": {"alerts": [{"status": "firing", "labels": {"a": "b"}}, {"status": "firing", "labels": {}}]}},
            422,
            "alerts[1].labels",
        ),
        (
            {"content": b"alerts=1", "headers": {"content-type": "application/x-www-form-urlencoded"}},
            415,
            "content-type",
        ),
    ],
)
def test_bad_bodies_are_refused_naming_the_field_and_nothing_is_produced(stack, kwargs, status, field):
    before = asyncio.run(end_offsets(stack.kafka, NORMALIZED))
    response = stack.client("ingest").post(URL, **kwargs)
    assert response.status_code == status, response.text
    body = response.json()
    assert field in [f["field"] for f in body["fields"]], body
    assert body["error"] and body["message"]
    assert asyncio.run(end_offsets(stack.kafka, NORMALIZED)) == before
    assert stack.client("ingest").get("/healthz").status_code == 200


def test_body_over_the_limit_is_413(stack):
    huge = b'{"alerts": [' + b'{"status":"firing","labels":{"a":"' + b"x" * (1024 * 1024) + b'"}}]}'
    response = stack.client("ingest").post(URL, content=huge, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["fields"][0]["field"] == "body"


def test_tokens_are_required_with_the_right_scope(stack):
    body = {"alerts": [{"status": "firing", "labels": {"alertname": "AuthCheck"}}]}
    anonymous = httpx.post(stack.url("ingest") + URL, json=body)
    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"].startswith("Bearer")
    assert stack.client("ingest", "not-a-token-at-all").post(URL, json=body).status_code == 401
    wrong_scope = stack.client("ingest", stack.read_token).post(URL, json=body)
    assert wrong_scope.status_code == 403 and "ingest" in wrong_scope.json()["message"]
    assert stack.client("ticketing", stack.ingest_token).get("/v1/incidents").status_code == 403
    assert httpx.get(stack.url("ticketing") + "/v1/incidents").status_code == 401
    assert stack.client("ticketing", stack.read_token).get("/v1/incidents").status_code == 200


def test_unknown_incident_is_404_and_bad_cursor_422(stack):
    client = stack.client("ticketing")
    missing = client.get("/v1/incidents/INC9999999")
    assert missing.status_code == 404 and missing.json()["fields"][0]["field"] == "ref"
    assert client.get("/v1/incidents", params={"cursor": "garbage!"}).status_code == 422
    assert client.get("/v1/incidents", params={"status": "bogus"}).status_code == 422
