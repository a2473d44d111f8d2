"""A 202 means the alert is on the broker. Broker down: 503 with Retry-After; back: 202, no restart."""

import asyncio
import secrets
import time

import httpx
import pytest

from devstack.broker import free_port, start_broker
from devstack.services import ServiceProcess
from services.shared.kafka import ensure_topics
from services.shared.settings import KafkaSettings

from .kafka_tools import eventually

BODY = {"alerts": [{"status": "firing", "labels": {"alertname": "OutageProbe", "instance": "x"}}]}


@pytest.fixture
def own_broker_and_ingest(tmp_path):
    port = free_port()
    broker = start_broker(port)
    settings = KafkaSettings(kafka_bootstrap=broker.bootstrap, kafka_partitions=1)
    asyncio.run(ensure_topics(settings))
    token = secrets.token_urlsafe(24)
    log = open(tmp_path / "ingest.log", "a")  # noqa: SIM115
    ingest = ServiceProcess(
        "ingest",
        free_port(),
        {
            "KAFKA_BOOTSTRAP": broker.bootstrap,
            "TRIAGE_TOKENS": f"t:{token}:ingest",
            "LOG_FORMAT": "text",
            "INGEST_PUBLISH_TIMEOUT": "2",
            "INGEST_RETRY_AFTER": "7",
        },
        log,
    ).start()
    ingest.wait_healthy(60)
    state = {"broker": broker}
    yield ingest, token, settings, state, port
    ingest.stop()
    state["broker"].stop()
    log.close()


def post(ingest, token):
    return httpx.post(
        ingest.url + "/v1/alerts/alertmanager", json=BODY, timeout=30, headers={"Authorization": f"Bearer {token}"}
    )


def test_503_while_the_broker_is_down_and_202_once_it_is_back(own_broker_and_ingest, tmp_path):
    ingest, token, settings, state, port = own_broker_and_ingest
    assert post(ingest, token).status_code == 202

    state["broker"].stop()
    down = post(ingest, token)
    assert down.status_code == 503, down.text
    assert down.headers["retry-after"] == "7"
    assert down.json()["error"] == "broker_unavailable"
    # and the log says why (its lines reach the file through a pump thread: soon, not at once)
    eventually(lambda: "answered 503 to 1 alertmanager alerts: broker" in (tmp_path / "ingest.log").read_text())
    assert httpx.get(ingest.url + "/readyz").status_code == 503
    assert httpx.get(ingest.url + "/healthz").status_code == 200

    state["broker"] = start_broker(port)  # a memory broker comes back empty: recreate the topics
    asyncio.run(ensure_topics(settings))
    deadline = time.monotonic() + 60
    while (status := post(ingest, token).status_code) != 202 and time.monotonic() < deadline:
        assert status == 503
        time.sleep(0.5)
    assert status == 202
    assert httpx.get(ingest.url + "/readyz").status_code == 200
