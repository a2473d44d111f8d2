"""Webhook subscriptions and signed deliveries on real PostgreSQL, the real broker and real HTTP receivers on
loopback ports: order, signatures, filters, retries, dead letters, re-queue, lease expiry, metrics."""

import asyncio
import time
import uuid
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry, generate_latest

from services.shared import kafka
from services.shared.api import bearer_auth, install_error_handlers
from services.shared.auth import TokenRegistry
from services.shared.contracts import IncidentEvent
from services.ticketing import subscriptions_api
from services.ticketing.relay import OutboxRelay
from services.ticketing.webhook_policy import Attempt, Verdict
from services.ticketing.webhook_settings import WebhookSettings
from services.ticketing.webhooks import DeliveryMetrics, Result, WebhookWorker

from .databases import migrated_pool
from .kafka_tools import read_all
from .webhook_receiver import Receiver

ADMIN, READER = "admin-secret-0123456789", "reader-secret-0123456789"
# Tiny timings: three attempts 50 ms and 100 ms apart, a 0.5 s timeout and a 1 s lease.
FAST = WebhookSettings(
    webhook_timeout_seconds=0.5,
    webhook_retry_base_seconds=0.05,
    webhook_retry_cap_seconds=0.2,
    webhook_retry_jitter=0,
    webhook_max_attempts=3,
    webhook_batch=5,
    webhook_lease_seconds=1.0,
    webhook_poll_seconds=0.05,
    webhook_metrics_seconds=0.2,
)
LIFECYCLE = ("opened", "acknowledged", "commented", "resolved", "closed")


async def until(check, seconds: float = 20.0, interval: float = 0.05):
    """Poll `check` (sync or async) until truthy; fail with its last value."""
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"still {result!r} after {seconds}s")
        await asyncio.sleep(interval)


@pytest.fixture(scope="module")
async def pool(postgres_server_url):
    async with migrated_pool(postgres_server_url, "ticketing", "webhooks") as pool:
        yield pool


@pytest.fixture(scope="module")
async def api(pool):
    app = FastAPI()
    install_error_handlers(app)
    tokens = TokenRegistry.load(f"admin:{ADMIN}:admin,reader:{READER}:read+write", None)
    app.include_router(subscriptions_api.router(lambda: pool, bearer_auth(tokens)))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="http://ticketing", headers={"authorization": f"Bearer {ADMIN}"}
    ) as client:
        yield client


class Harness:
    """The relay and delivery workers as ticketing runs them, plus the receivers of one test."""

    def __init__(self, pool, kafka_settings):
        self.pool = pool
        self.publisher = kafka.Publisher(kafka_settings, timeout=10.0)
        self.outbox_ready, self.deliveries_ready = asyncio.Event(), asyncio.Event()
        self.relay = OutboxRelay(pool, self.publisher, self.outbox_ready, 0.05, self.deliveries_ready)
        self.workers: list[WebhookWorker] = []
        self.receivers: list[Receiver] = []
        self.tasks = [asyncio.create_task(self.relay.run())]

    def start_workers(self, count: int) -> None:
        for _ in range(count):
            worker = WebhookWorker(self.pool, FAST, self.deliveries_ready, DeliveryMetrics())
            self.workers.append(worker)
            self.tasks.append(asyncio.create_task(worker.run()))

    async def receiver(self, **kwargs) -> Receiver:
        self.receivers.append(await Receiver(**kwargs).start())
        return self.receivers[-1]

    async def publish(self, events: list[IncidentEvent]) -> None:
        """Outbox rows exactly as the pipeline writes them."""
        await self.pool.executemany(
            "INSERT INTO outbox (event_id, incident_id, sequence, type, payload) VALUES ($1, $2, $3, $4, $5)",
            [(e.event_id, e.incident_id, e.sequence, e.type, e.SerializeToString()) for e in events],
        )
        self.outbox_ready.set()

    async def close(self) -> None:
        self.relay.stop()
        for worker in self.workers:
            worker.stop()
        for receiver in self.receivers:
            await receiver.stop()
        await asyncio.wait_for(asyncio.gather(*self.tasks), 10)
        await self.publisher.stop()
        await self.pool.execute("DELETE FROM subscriptions")


@pytest.fixture
async def harness(pool, kafka_settings):
    h = Harness(pool, kafka_settings)
    yield h
    await h.close()


def storm(incidents: int, types=LIFECYCLE) -> list[IncidentEvent]:
    """Each incident's events in order, incidents interleaved as concurrent changes would be."""
    ids = [str(uuid.uuid4()) for _ in range(incidents)]
    events = []
    for sequence, kind in enumerate(types, 1):
        for n, incident_id in enumerate(ids):
            e = IncidentEvent(
                event_id=str(uuid.uuid4()),
                sequence=sequence,
                type=kind,
                incident_id=incident_id,
                number=f"INC{n + 1:07d}",
                title=f"Disk full on db{n}",
                status="new",
                priority=2,
                alert_count=sequence,
            )
            e.occurred_at.FromDatetime(datetime.now(UTC))
            events.append(e)
    return events


async def subscribe(api, receiver: Receiver, **fields) -> dict:
    body = {"url": receiver.url, **fields}
    response = await api.post("/v1/subscriptions", json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    receiver.secret = fields.get("secret") or created["secret"]
    return created


async def deliveries(api, subscription: dict, status: str | None = None) -> list[dict]:
    params = {"limit": 500} | ({"status": status} if status else {})
    response = await api.get(f"/v1/subscriptions/{subscription['id']}/deliveries", params=params)
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def outcomes(pool) -> dict[str, int]:
    return {r["outcome"]: r["n"] for r in await pool.fetch("SELECT outcome, n FROM webhook_outcomes")}


async def test_every_event_reaches_a_good_receiver_in_order_while_failing_ones_retry_and_die(
    api, pool, harness, kafka_settings
):
    before = await outcomes(pool)
    good, opened_only = await harness.receiver(), await harness.receiver()
    failing, hanging = await harness.receiver(status=500), await harness.receiver(hang=True)
    await subscribe(api, good, secret="good-receiver-secret-0001", description="all events")
    await subscribe(api, opened_only, event_types=["opened"])
    failing_sub = await subscribe(api, failing, event_types=["opened", "resolved"])
    hanging_sub = await subscribe(api, hanging, event_types=["opened"])
    harness.start_workers(2)  # two instances share the queues

    events = storm(3)
    await harness.publish(events)
    expected = [e.event_id for e in events]

    await until(lambda: len(good.ids()) == len(expected))
    # The hanging subscriber is still on its first delivery: it blocked nobody.
    assert [d for d in await deliveries(api, hanging_sub) if d["status"] == "pending"]
    assert good.ids() == expected  # outbox order, so each incident's events in order
    assert good.bad_signatures == 0 and good.content_types == {"application/cloudevents+json"}
    first = good.events[0]
    assert first["specversion"] == "1.0" and first["type"] == "io.triage.incident.opened"
    assert first["subject"] == "INC0000001" and first["data"]["sequence"] == 1
    assert first["data"]["incident_id"] == events[0].incident_id

    opened = [e.event_id for e in events if e.type == "opened"]
    await until(lambda: opened_only.ids() == opened)

    dead = await until(lambda: _all_dead(api, failing_sub, 6))
    assert {(d["attempts"], d["last_status_code"], d["last_error"]) for d in dead} == {(3, 500, "HTTP 500")}
    assert failing.requests == 18 and not failing.events
    timed_out = await until(lambda: _tried_twice(api, hanging_sub))
    assert "Timeout" in timed_out["last_error"]

    published = await read_all(
        kafka_settings,
        kafka.INCIDENT_EVENTS,
        until=lambda records: set(expected) <= {IncidentEvent.FromString(r.value).event_id for r in records},
    )
    assert set(expected) <= {IncidentEvent.FromString(r.value).event_id for r in published}

    after = await outcomes(pool)
    assert after["delivered"] - before["delivered"] >= 15 + 3
    assert after["dead"] - before["dead"] >= 6 and after["retried"] - before["retried"] >= 12 + 1


async def test_a_flaky_receiver_still_gets_each_event_once_in_order(api, pool, harness):
    flaky = await harness.receiver(fail_every=3)  # every third request answers 503
    subscription = await subscribe(api, flaky)
    harness.start_workers(2)
    events = storm(12)
    await harness.publish(events)
    await until(lambda: len(flaky.ids()) == len(events))
    assert flaky.ids() == [e.event_id for e in events]
    assert len(flaky.events) == len(events)  # nothing accepted twice: no claim was lost or doubled
    assert not await deliveries(api, subscription, "dead")


async def _all_dead(api, subscription: dict, count: int) -> list[dict] | None:
    dead = await deliveries(api, subscription, "dead")
    return dead if len(dead) == count else None


async def _tried_twice(api, subscription: dict) -> dict | None:
    return next((d for d in await deliveries(api, subscription) if d["attempts"] >= 2 and d["last_error"]), None)


async def test_a_dead_delivery_requeued_through_the_api_is_delivered(api, pool, harness):
    receiver = await harness.receiver(status=500)
    subscription = await subscribe(api, receiver)
    harness.start_workers(1)
    events = storm(1, ("opened", "resolved"))
    await harness.publish(events)
    dead = await until(lambda: _all_dead(api, subscription, 2))

    receiver.status = 200
    oldest = dead[-1]
    path = f"/v1/subscriptions/{subscription['id']}/deliveries/{oldest['id']}/retry"
    response = await api.post(path)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "pending" and response.json()["attempts"] == 0
    await until(lambda: receiver.ids() == [events[0].event_id])
    delivered = await until(lambda: deliveries(api, subscription, "delivered"))
    assert [d["event_id"] for d in delivered] == [events[0].event_id]
    assert delivered[0]["delivered_at"] and delivered[0]["next_attempt_at"] is None

    again = await api.post(path)
    assert again.status_code == 409 and again.json()["fields"] == [
        {"field": "delivery_id", "reason": "status is delivered"}
    ]
    unknown = await api.post(f"/v1/subscriptions/{subscription['id']}/deliveries/999999999/retry")
    assert unknown.status_code == 404
    too_big = await api.post(f"/v1/subscriptions/{subscription['id']}/deliveries/{'9' * 30}/retry")
    assert too_big.status_code == 422 and too_big.json()["fields"][0]["field"] == "delivery_id"


async def test_a_claim_left_by_a_crashed_worker_goes_out_after_its_lease(api, pool, harness):
    receiver = await harness.receiver()
    subscription = await subscribe(api, receiver)
    [event] = storm(1, ("opened",))
    await harness.publish([event])
    await until(lambda: deliveries(api, subscription, "pending"))

    crashed = WebhookWorker(pool, FAST)  # claims, then dies before sending
    claimed = await crashed.claim(10)
    assert [c.event_id for c in claimed] == [uuid.UUID(event.event_id)]
    claimed_at = time.monotonic()
    harness.start_workers(1)
    await asyncio.sleep(0.4)
    assert receiver.requests == 0  # leased: nobody else sends it

    await until(lambda: receiver.ids() == [event.event_id])
    assert time.monotonic() - claimed_at >= 0.8 * FAST.webhook_lease_seconds
    # The receiver has it before the worker records the verdict: wait for the record, not the request.
    [delivery] = await until(lambda: deliveries(api, subscription, "delivered"))
    assert delivery["attempts"] == 2  # the crashed claim counted as an attempt

    # The dead worker's late verdict is fenced off by its expired lease: it changes nothing.
    counts = await outcomes(pool)
    await crashed.record([Result(claimed[0], Verdict("retried", "pending", 0.1), Attempt(500, "HTTP 500"))])
    [still] = await deliveries(api, subscription)
    assert still["status"] == "delivered" and await outcomes(pool) == counts


async def test_the_api_validates_and_never_shows_secrets(api, pool):
    no_token = await api.post("/v1/subscriptions", json={"url": "http://x"}, headers={"authorization": ""})
    assert no_token.status_code == 401
    reader = await api.get("/v1/subscriptions", headers={"authorization": f"Bearer {READER}"})
    assert reader.status_code == 403

    async def rejected(body, field: str) -> str:
        response = await api.post("/v1/subscriptions", json=body)
        assert response.status_code == 422, response.text
        fields = {f["field"]: f["reason"] for f in response.json()["fields"]}
        assert field in fields, fields
        return fields[field]

    assert "http" in await rejected({"url": "ftp://example.com/hook"}, "url")
    assert "host" in await rejected({"url": "http:///hook"}, "url")
    await rejected({"url": "http://example.com", "event_types": ["opened", "nope"]}, "event_types[1]")
    await rejected({"url": "http://example.com", "event_types": []}, "event_types")
    assert "16" in await rejected({"url": "http://example.com", "secret": "short"}, "secret")
    await rejected({"url": "http://example.com", "colour": "blue"}, "colour")
    await rejected({"event_types": ["opened"]}, "url")
    malformed = await api.post("/v1/subscriptions", content=b"{", headers={"content-type": "application/json"})
    assert malformed.status_code == 400
    form = await api.post("/v1/subscriptions", content=b"url=x", headers={"content-type": "text/plain"})
    assert form.status_code == 415

    created = (
        await api.post(
            "/v1/subscriptions",
            json={"url": "https://bot:pa55word@itsm.example.com/hook", "event_types": ["opened", "*"]},
        )
    ).json()
    secret = created["secret"]
    assert len(secret) >= 32 and created["event_types"] == ["*"]
    assert created["url"] == "https://bot:***@itsm.example.com/hook"
    given = await api.post("/v1/subscriptions", json={"url": "http://example.com", "secret": "x" * 16})
    assert given.status_code == 201 and given.json()["secret"] is None

    listed = await api.get("/v1/subscriptions")
    one = await api.get(f"/v1/subscriptions/{created['id']}")
    for response in (listed, one):
        assert response.status_code == 200
        assert secret not in response.text and "x" * 16 not in response.text and "pa55word" not in response.text
    assert one.json()["pending"] == 0 and one.json()["dead"] == 0

    bad_id = await api.get("/v1/subscriptions/not-a-uuid")
    assert bad_id.status_code == 422 and bad_id.json()["fields"][0]["field"] == "subscription_id"
    assert (await api.delete(f"/v1/subscriptions/{created['id']}")).status_code == 204
    assert (await api.delete(f"/v1/subscriptions/{created['id']}")).status_code == 404
    assert (await api.get(f"/v1/subscriptions/{created['id']}")).status_code == 404
    await pool.execute("DELETE FROM subscriptions")


async def test_deliveries_page_newest_first_by_status(api, pool):
    created = (await api.post("/v1/subscriptions", json={"url": "http://example.com"})).json()
    sid = uuid.UUID(created["id"])
    await pool.executemany(
        "INSERT INTO webhook_deliveries (subscription_id, event_id, incident_id, type, payload, status)"
        " VALUES ($1, $2, $3, 'opened', '', $4)",
        [(sid, uuid.uuid4(), uuid.uuid4(), "dead" if n % 2 else "delivered") for n in range(5)],
    )
    path = f"/v1/subscriptions/{created['id']}/deliveries"
    seen, cursor = [], None
    while True:
        page = (await api.get(path, params={"limit": 2} | ({"cursor": cursor} if cursor else {}))).json()
        seen += [d["id"] for d in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert len(seen) == 5 and seen == sorted(seen, reverse=True)
    dead = (await api.get(path, params={"status": "dead"})).json()["items"]
    assert len(dead) == 2 and {d["status"] for d in dead} == {"dead"}
    assert (await api.get(f"/v1/subscriptions/{created['id']}")).json()["dead"] == 2

    for params, field in (
        ({"status": "lost"}, "status"),
        ({"cursor": "zz"}, "cursor"),
        ({"cursor": "9" * 30}, "cursor"),
        ({"limit": 0}, "limit"),
    ):
        response = await api.get(path, params=params)
        assert response.status_code == 422 and response.json()["fields"][0]["field"] == field
    assert (await api.get(f"/v1/subscriptions/{uuid.uuid4()}/deliveries")).status_code == 404
    await pool.execute("DELETE FROM subscriptions")


async def test_delivery_counts_are_read_back_after_a_restart(pool):
    await pool.execute("UPDATE webhook_outcomes SET n = n + 7 WHERE outcome = 'dead'")
    counts = await outcomes(pool)
    registry = CollectorRegistry()
    restarted = DeliveryMetrics()  # a fresh process: nothing in memory
    registry.register(restarted)
    assert b"triage_webhook_deliveries_total" not in generate_latest(registry)  # no false reset to zero
    await restarted.refresh(pool)
    text = generate_latest(registry).decode()
    for outcome, n in counts.items():
        assert f'triage_webhook_deliveries_total{{outcome="{outcome}"}} {float(n)}' in text
    assert "triage_webhook_deliveries_pending " in text and "triage_webhook_deliveries_dead " in text


def alertmanager(run: str, status: str) -> dict:
    return {
        "version": "4",
        "groupKey": f'{{}}:{{run="{run}"}}',
        "status": status,
        "receiver": "triage",
        "alerts": [
            {
                "status": status,
                # its own alertname: unbound alerts group by alertname, and an earlier test's open
                # DiskFull incident would absorb this one (an update, not an "opened" event)
                "labels": {"alertname": f"DiskFull{run}", "instance": f"db-{run}", "severity": "critical"},
                "annotations": {"summary": f"Disk full on db-{run}"},
                "startsAt": "2026-11-25T06:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-11-25T06:10:00Z",
            }
        ],
    }


async def test_the_running_service_sends_a_subscriber_its_incident_events(stack):
    receiver = await Receiver().start()
    auth = {"authorization": f"Bearer {stack.token}"}
    async with (
        httpx.AsyncClient(base_url=stack.url("ticketing"), headers=auth, timeout=15) as ticketing,
        httpx.AsyncClient(base_url=stack.url("ingest"), headers=auth, timeout=15) as ingest,
    ):
        created = await ticketing.post("/v1/subscriptions", json={"url": receiver.url, "event_types": ["opened"]})
        assert created.status_code == 201, created.text
        receiver.secret = created.json()["secret"]
        try:
            run = uuid.uuid4().hex[:8]
            assert (await ingest.post("/v1/alerts/alertmanager", json=alertmanager(run, "firing"))).status_code == 202
            [opened] = await until(lambda: [e for e in receiver.events if run in str(e["data"])])
            assert opened["type"] == "io.triage.incident.opened" and receiver.bad_signatures == 0
            metrics = await until(lambda: _metrics_with_deliveries(ticketing))
            assert 'triage_webhook_deliveries_total{outcome="delivered"}' in metrics
        finally:
            await ticketing.delete(f"/v1/subscriptions/{created.json()['id']}")
            await receiver.stop()


async def _metrics_with_deliveries(client: httpx.AsyncClient) -> str | None:
    text = (await client.get("/metrics")).text
    delivered = [
        ln for ln in text.splitlines() if ln.startswith('triage_webhook_deliveries_total{outcome="delivered"}')
    ]
    return text if delivered and float(delivered[0].split()[-1]) > 0 else None
