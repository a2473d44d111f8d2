"""The webhook delivery worker: sends queued deliveries as signed CloudEvents, one subscription's queue in
order, many subscriptions at once; retries with backoff, then dead-letters. Also the delivery metrics, read
from the database so they are right after a restart and the same on every instance.

A subscription is served by one claim at a time: a claim leases a due prefix of its queue (the head and the
due deliveries after it) while holding the subscription row locked, so two workers never send one queue out
of order. A failed head gets its backoff and the rest of the claim is released behind it; nothing else of
that subscription goes out until the head is delivered or dead. A worker that dies mid-claim leaves leases
that expire, and the deliveries fall due again (at-least-once; the CloudEvents id lets receivers dedupe).
"""

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

import asyncpg
import httpx
from google.protobuf.message import DecodeError
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from services.shared.contracts import IncidentEvent

from . import cloudevents
from .webhook_policy import OUTCOMES, Attempt, RetryPolicy, Verdict, judge
from .webhook_settings import WebhookSettings

log = logging.getLogger(__name__)
USER_AGENT = "triage-webhooks/1"
_READ_AT_MOST = 64 * 1024  # of a receiver's answer body; only its status matters

# Subscriptions whose queue head is due, locked so a concurrent claim of the same queue waits or skips.
_DUE_SUBSCRIPTIONS = (
    "SELECT s.id FROM subscriptions s"
    " CROSS JOIN LATERAL (SELECT d.next_attempt_at FROM webhook_deliveries d"
    "   WHERE d.subscription_id = s.id AND d.status = 'pending' ORDER BY d.id LIMIT 1) head"
    " WHERE head.next_attempt_at <= now() AND s.id <> ALL($1::uuid[])"
    " ORDER BY head.next_attempt_at LIMIT $2"
    " FOR NO KEY UPDATE OF s SKIP LOCKED"  # not blocking the relay's inserts (KEY SHARE)
)
# A fresh statement (fresh snapshot, after the locks): lease each queue's longest due prefix, up to $2 rows.
_CLAIM = (
    "WITH queue AS ("
    "  SELECT q.id, bool_and(q.next_attempt_at <= now()) OVER (PARTITION BY sid ORDER BY q.id) AS due"
    "  FROM unnest($1::uuid[]) AS sid"
    "  CROSS JOIN LATERAL (SELECT d.id, d.next_attempt_at FROM webhook_deliveries d"
    "    WHERE d.subscription_id = sid AND d.status = 'pending' ORDER BY d.id LIMIT $2) q"
    ")"
    " UPDATE webhook_deliveries w"
    " SET attempts = w.attempts + 1, next_attempt_at = now() + make_interval(secs => $3), updated_at = now()"
    " FROM queue, subscriptions s"
    " WHERE w.id = queue.id AND queue.due AND s.id = w.subscription_id AND w.status = 'pending'"
    " RETURNING w.id, w.subscription_id, w.event_id, w.payload, w.attempts, w.next_attempt_at AS lease,"
    "  s.url, s.secret"
)
# Results of one claim, fenced by its lease: if the lease expired and another worker claimed the rows since,
# their next_attempt_at differs and this late result changes nothing. Outcomes are counted in the same
# statement. A released delivery (claimed, not tried) gets its attempt back and is due at once.
_RECORD = (
    "WITH r AS ("
    "  SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::float8[], $5::int[], $6::text[])"
    "  AS r(id, status, outcome, delay, code, error)"
    "), done AS ("
    "  UPDATE webhook_deliveries d SET"
    "   status = r.status,"
    "   attempts = CASE WHEN r.outcome IS NULL THEN d.attempts - 1 ELSE d.attempts END,"
    "   next_attempt_at = now() + make_interval(secs => r.delay),"
    "   last_status_code = CASE WHEN r.outcome IS NULL THEN d.last_status_code ELSE r.code END,"
    "   last_error = CASE WHEN r.outcome IS NULL THEN d.last_error ELSE r.error END,"
    "   delivered_at = CASE WHEN r.status = 'delivered' THEN now() END,"
    "   updated_at = now()"
    "  FROM r WHERE d.id = r.id AND d.status = 'pending' AND d.next_attempt_at = $7"
    "  RETURNING r.outcome"
    ")"
    " UPDATE webhook_outcomes o SET n = o.n + c.n"
    " FROM (SELECT outcome, count(*) AS n FROM done WHERE outcome IS NOT NULL GROUP BY outcome) c"
    " WHERE o.outcome = c.outcome"
)
_PRUNE = (
    "DELETE FROM webhook_deliveries WHERE id IN (SELECT id FROM webhook_deliveries"
    " WHERE status = 'delivered' AND delivered_at < now() - make_interval(secs => $1) LIMIT 5000)"
)


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    subscription_id: UUID
    event_id: UUID
    payload: bytes
    attempts: int  # counting the attempt this claim is for
    lease: datetime
    url: str = field(repr=False)  # may carry credentials
    secret: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Result:
    delivery: Claimed
    verdict: Verdict | None  # None: released untried
    attempt: Attempt | None = None


class DeliveryMetrics(Collector):
    """triage_webhook_deliveries_total{outcome} and the current queue sizes, as last read from the database.
    Nothing is exposed before the first read: a zero would look like a counter reset."""

    def __init__(self) -> None:
        self.outcomes: dict[str, int] | None = None
        self.queued: dict[str, int] = {}

    def collect(self) -> Iterator[Metric]:
        if self.outcomes is None:
            return
        total = CounterMetricFamily(
            "triage_webhook_deliveries", "Webhook delivery attempts by outcome (all instances)", labels=["outcome"]
        )
        for outcome in OUTCOMES:
            total.add_metric([outcome], self.outcomes.get(outcome, 0))
        yield total
        for status in ("pending", "dead"):
            gauge = GaugeMetricFamily(f"triage_webhook_deliveries_{status}", f"Webhook deliveries now {status}")
            gauge.add_metric([], self.queued.get(status, 0))
            yield gauge

    async def refresh(self, pool: asyncpg.Pool) -> None:
        async with pool.acquire() as conn:
            outcomes = {r["outcome"]: r["n"] for r in await conn.fetch("SELECT outcome, n FROM webhook_outcomes")}
            self.queued = {
                r["status"]: r["n"]
                for r in await conn.fetch(
                    "SELECT status, count(*) AS n FROM webhook_deliveries WHERE status IN ('pending', 'dead')"
                    " GROUP BY status"
                )
            }
        self.outcomes = outcomes


METRICS = DeliveryMetrics()
_registered: set[int] = set()


def register_metrics(registry: CollectorRegistry = REGISTRY) -> DeliveryMetrics:
    """Expose the delivery metrics on `registry` (once); the worker keeps them fresh."""
    if id(registry) not in _registered:
        registry.register(METRICS)
        _registered.add(id(registry))
    return METRICS


def retry_policy(settings: WebhookSettings) -> RetryPolicy:
    return RetryPolicy(
        settings.webhook_retry_base_seconds,
        settings.webhook_retry_cap_seconds,
        settings.webhook_max_attempts,
        settings.webhook_retry_jitter,
    )


class WebhookWorker:
    def __init__(
        self,
        pool: asyncpg.Pool,
        settings: WebhookSettings,
        ready: asyncio.Event | None = None,
        metrics: DeliveryMetrics = METRICS,
    ):
        self._pool, self._settings, self._metrics = pool, settings, metrics
        self._policy = retry_policy(settings)
        self._ready = ready or asyncio.Event()  # set by the relay when it queued deliveries
        self._stopping = asyncio.Event()
        self._in_flight: dict[UUID, asyncio.Task[None]] = {}
        self._client: httpx.AsyncClient | None = None

    def wake(self) -> None:
        self._ready.set()

    def stop(self) -> None:
        self._stopping.set()
        self._ready.set()

    async def run(self) -> None:
        timeout = self._settings.webhook_timeout_seconds
        limits = httpx.Limits(max_connections=self._settings.webhook_concurrency * 2)
        async with httpx.AsyncClient(
            timeout=timeout, limits=limits, follow_redirects=False, headers={"user-agent": USER_AGENT}
        ) as client:
            self._client = client
            housekeeping = asyncio.create_task(self._housekeeping(), name="webhook-housekeeping")
            try:
                await self._dispatch()
            finally:
                housekeeping.cancel()
                # Claims in flight finish their current attempt (bounded by the timeout) and record it.
                await asyncio.gather(housekeeping, *self._in_flight.values(), return_exceptions=True)

    async def _dispatch(self) -> None:
        delay = 0.1
        while not self._stopping.is_set():
            self._ready.clear()
            try:
                free = self._settings.webhook_concurrency - len(self._in_flight)
                if free > 0:
                    # Measured from before the claim is asked for, so this side never outlives the leases; a
                    # tenth of them is kept for recording the results.
                    deadline = time.monotonic() + 0.9 * self._settings.webhook_lease_seconds
                    self._start(await self.claim(free), deadline)
                delay = 0.1
            except Exception as exc:  # database away: what is claimed stays leased, and falls due again
                log.warning("webhook claim failed, retry in %.1fs: %r", delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), self._settings.webhook_poll_seconds)

    async def claim(self, subscriptions: int) -> list[Claimed]:
        """Lease the due prefix of the queues of up to `subscriptions` subscriptions not served here now."""
        async with self._pool.acquire() as conn, conn.transaction():
            due = [r["id"] for r in await conn.fetch(_DUE_SUBSCRIPTIONS, list(self._in_flight), subscriptions)]
            if not due:
                return []
            rows = await conn.fetch(_CLAIM, due, self._settings.webhook_batch, self._settings.webhook_lease_seconds)
        return [Claimed(**dict(r)) for r in rows]

    def _start(self, claimed: list[Claimed], deadline: float) -> None:
        for subscription_id, queue in _by_subscription(claimed):
            task = asyncio.create_task(self._serve(queue, deadline), name=f"webhook-{subscription_id}")
            self._in_flight[subscription_id] = task
            task.add_done_callback(lambda _, sid=subscription_id: self._done(sid))

    def _done(self, subscription_id: UUID) -> None:
        self._in_flight.pop(subscription_id, None)
        self._ready.set()  # a slot is free

    async def _serve(self, queue: list[Claimed], deadline: float) -> None:
        """Send one subscription's claimed deliveries in order until one fails, then record them all."""
        results: list[Result] = []
        for delivery in queue:
            enough_time = time.monotonic() + self._settings.webhook_timeout_seconds < deadline
            if results and (self._stopping.is_set() or not enough_time):
                break
            attempt = await self._send(delivery)
            verdict = judge(self._policy, delivery.attempts, attempt, random.random())
            results.append(Result(delivery, verdict, attempt))
            if verdict.outcome != "delivered":
                if verdict.outcome == "retried":
                    asyncio.get_running_loop().call_later(verdict.delay, self._ready.set)
                log.info(
                    "webhook delivery %s to subscription %s %s after attempt %d: %s",
                    delivery.id,
                    delivery.subscription_id,
                    verdict.outcome,
                    delivery.attempts,
                    attempt.error,
                )
                break
        results += [Result(d, None) for d in queue[len(results) :]]
        try:
            await self.record(results)
        except Exception as exc:  # the leases expire and the deliveries go out again
            log.warning("recording webhook results failed: %r", exc)

    async def _send(self, delivery: Claimed) -> Attempt:
        try:
            event = IncidentEvent.FromString(delivery.payload)
        except DecodeError:
            return Attempt(None, "the stored event does not decode", permanent=True)
        body = cloudevents.body(event)
        headers = cloudevents.signed_headers(delivery.secret, int(time.time()), body)
        assert self._client is not None
        try:
            async with asyncio.timeout(self._settings.webhook_timeout_seconds):
                async with self._client.stream("POST", delivery.url, content=body, headers=headers) as response:
                    await _drain(response)
        except Exception as exc:  # refused, reset, timed out, bad URL: the receiver did not take it
            return Attempt(None, _describe(exc, delivery.url))
        code = response.status_code
        return Attempt(code, None if 200 <= code < 300 else f"HTTP {code}")

    async def record(self, results: list[Result]) -> None:
        """Store the results of one claim (fenced by its lease) and count their outcomes."""
        lease = results[0].delivery.lease
        await self._pool.execute(
            _RECORD,
            [r.delivery.id for r in results],
            [r.verdict.status if r.verdict else "pending" for r in results],
            [r.verdict.outcome if r.verdict else None for r in results],
            [r.verdict.delay if r.verdict else 0.0 for r in results],
            [r.attempt.status_code if r.attempt else None for r in results],
            [r.attempt.error if r.attempt else None for r in results],
            lease,
        )

    async def _housekeeping(self) -> None:
        keep = self._settings.webhook_keep_delivered_hours * 3600
        while True:
            try:
                await self._metrics.refresh(self._pool)
                await self._pool.execute(_PRUNE, keep)
            except Exception as exc:
                log.warning("webhook metrics refresh failed: %r", exc)
            await asyncio.sleep(self._settings.webhook_metrics_seconds)


def _by_subscription(claimed: Iterable[Claimed]) -> list[tuple[UUID, list[Claimed]]]:
    queues: dict[UUID, list[Claimed]] = {}
    for delivery in claimed:
        queues.setdefault(delivery.subscription_id, []).append(delivery)
    return [(sid, sorted(queue, key=lambda d: d.id)) for sid, queue in queues.items()]


def _describe(exc: Exception, url: str) -> str:
    # The URL may carry credentials: it never goes into a stored error or a log line.
    text = str(exc).replace(url, "<url>")
    return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__


async def _drain(response: httpx.Response) -> None:
    """Read a little of the answer so the connection can be reused; a huge answer just closes it."""
    read = 0
    async for chunk in response.aiter_raw():
        read += len(chunk)
        if read > _READ_AT_MOST:
            return
