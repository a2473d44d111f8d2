"""Bad input gets a 4xx naming the field, nothing reaches the broker, and the service stays up."""

import asyncio
import uuid

import httpx
import pytest

from services.shared.contracts import Alert
from services.shared.kafka import NORMALIZED

from .kafka_tools import end_offsets, read_all

URL = "/v1/alerts/alertmanager"
PROBE = uuid.uuid4().hex  # on every alert of the bad bodies, so anything of them on the broker would be found


@pytest.mark.parametrize(
    ("kwargs", "status", "field"),
    [
        ({"content": b"this is not json", "headers": {"content-type": "application/json"}}, 400, "body"),
        ({"json": {"version": "4", "status": "firing"}}, 422, "alerts"),
        ({"json": {"alerts": [{"status": "firing", "labels": {}}]}}, 422, "alerts[0].labels"),
        ({"json": {"alerts": [{"status": "firing", "annotations": {"a": "b"}}]}}, 422, "alerts[0].labels"),
        (
            {"json": {"alerts": [{"status": "firing", "labels": {"probe": PROBE}}, {"status": "firing"}]}},
            422,
            "alerts[1].labels",
        ),
        (
            {
                "json": {
                    "alerts": [
                        {"status": "firing", "labels": {}},
                        {"status": "firing", "labels": {"probe": PROBE}},
                        {"status": "firing", "labels": {}},
                    ]
                }
            },
            422,
            ["alerts[0].labels", "alerts[2].labels"],  # the whole batch is refused, each bad index named
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
    named = [f["field"] for f in body["fields"]]
    assert (named == field) if isinstance(field, list) else (field in named), body
    assert body["error"] and body["message"]
    # Nothing produced: a good alert sent after it is the first of this test to show up on the topic.
    marker = uuid.uuid4().hex
    sent = stack.client("ingest").post("/v1/alerts", json={"labels": {"alertname": "Marker", "marker": marker}})
    assert sent.status_code == 202 and stack.client("ingest").get("/healthz").status_code == 200

    def seen(records) -> list[str]:
        alerts = [Alert.FromString(r.value) for r in records]
        ours = [a for a in alerts if a.labels.get("probe") == PROBE or a.labels.get("marker") == marker]
        return [a.labels["alertname"] for a in ours]

    records = asyncio.run(read_all(stack.kafka, NORMALIZED, lambda rs: "Marker" in seen(rs), start=before))
    assert seen(records) == ["Marker"]


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
