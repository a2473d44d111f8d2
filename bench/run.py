"""`make bench`: the pipeline measured against the broker's own ceiling on this box.

Self-contained: starts an embedded broker, PostgreSQL and the three services, then runs
1. ceiling: raw aiokafka produce and consume of the same message size on the same broker;
2. throughput: the storm mix through alerts.raw until every effect is committed;
3. latency: a fixed rate through alerts.raw, ingest receive time -> incident event;
4. HTTP ingest: Alertmanager webhooks of 100 alerts at increasing rates;
5. footprint: peak RSS of each service.
Prints a table and writes bench/results/<timestamp>.json. Medians of repeated runs; these boxes are noisy.
"""

import argparse
import asyncio
import json
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from devstack.broker import free_port, start_broker
from devstack.database import EmbeddedPostgres, create_database
from devstack.services import SERVICES, ServiceProcess
from services.ingest.formats import Context, alertmanager
from services.ingest.formats.alertmanager import AlertmanagerWebhook
from services.shared.contracts import IncidentEvent
from services.shared.kafka import CORRELATED, INCIDENT_EVENTS, NORMALIZED, RAW, ensure_topics, new_producer
from services.shared.settings import KafkaSettings

from .storm import StormMix, webhooks

GROUPS = {
    "ingest": ("triage-ingest-raw", RAW),
    "correlator": ("triage-correlator", NORMALIZED),
    "ticketing": ("triage-ticketing", CORRELATED),
}


async def ceiling(settings: KafkaSettings, size: int, count: int) -> tuple[float, float]:
    topic = f"bench.ceiling.{uuid.uuid4().hex[:8]}"
    await ensure_topics(settings, [topic])
    producer = new_producer(settings)
    await producer.start()
    value = b"x" * size
    started = time.perf_counter()
    futures = [await producer.send(topic, value, key=str(i % 20_000).encode()) for i in range(count)]
    await asyncio.gather(*futures)
    produced = count / (time.perf_counter() - started)
    await producer.stop()
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=topic,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    seen, started = 0, time.perf_counter()
    while seen < count:
        batch = await consumer.getmany(timeout_ms=500, max_records=5000)
        seen += sum(len(v) for v in batch.values())
    consumed = count / (time.perf_counter() - started)
    await consumer.stop()
    return produced, consumed


async def lag(db: asyncpg.Pool, raw_group: AIOKafkaConsumer, consumer: AIOKafkaConsumer) -> int:
    """Messages not yet applied by some service, plus incident events not yet published."""
    total = 0
    for service, (_, topic) in GROUPS.items():
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        ends = await consumer.end_offsets(parts)
        if service == "ingest":
            done = {tp: (await raw_group.committed(tp)) or 0 for tp in parts}
        else:
            rows = await db.fetch(
                f"SELECT partition, next_offset FROM {service}.consumer_offsets WHERE topic = $1",  # noqa: S608
                topic,
            )
            done = {TopicPartition(topic, r["partition"]): r["next_offset"] for r in rows}
        total += sum(max(0, end - done.get(tp, 0)) for tp, end in ends.items())
    return total + await db.fetchval("SELECT count(*) FROM ticketing.outbox")


async def drained(settings: KafkaSettings, db: asyncpg.Pool, within: float) -> float:
    # Assigned, never subscribed: reads the ingest group's committed offsets without joining the group.
    raw_group = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, group_id=GROUPS["ingest"][0], enable_auto_commit=False
    )
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    await raw_group.start()
    await consumer.start()
    await consumer.topics()
    try:
        deadline = time.monotonic() + within
        while (remaining := await lag(db, raw_group, consumer)) > 0:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{remaining} messages still unapplied after {within}s")
            await asyncio.sleep(0.05)
        return time.perf_counter()
    finally:
        await consumer.stop()
        await raw_group.stop()


async def publish_raw(settings: KafkaSettings, bodies: list[bytes], rate: float | None = None) -> None:
    producer = new_producer(settings, linger_ms=5)
    await producer.start()
    started, futures = time.perf_counter(), []
    for n, body in enumerate(bodies):
        if rate and n % 10 == 0 and (ahead := n / rate - (time.perf_counter() - started)) > 0:
            await asyncio.sleep(ahead)
        futures.append(await producer.send(RAW, body, headers=[("source", b"alertmanager")]))
    await asyncio.gather(*futures)
    await producer.stop()


async def throughput(settings: KafkaSettings, db: asyncpg.Pool, mix: StormMix) -> float:
    bodies = list(webhooks(mix))
    started = time.perf_counter()
    await publish_raw(settings, bodies)
    finished = await drained(settings, db, within=900)
    return mix.alerts / (finished - started)


async def latency(settings: KafkaSettings, db: asyncpg.Pool, rate: int, seconds: int) -> dict[str, float]:
    mix = StormMix(alerts=rate * seconds, fingerprints=rate * seconds // 10, prefix=f"lat{uuid.uuid4().hex[:6]}")
    bodies = list(webhooks(mix))
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    await consumer.start()
    await consumer.topics()
    parts = [TopicPartition(INCIDENT_EVENTS, p) for p in consumer.partitions_for_topic(INCIDENT_EVENTS) or ()]
    consumer.assign(parts)
    for tp, end in (await consumer.end_offsets(parts)).items():
        consumer.seek(tp, end)
    await publish_raw(settings, bodies, rate=rate / mix.per_webhook)
    await drained(settings, db, within=300)
    samples = []
    while batch := await consumer.getmany(timeout_ms=500, max_records=10_000):
        for records in batch.values():
            for r in records:
                event = IncidentEvent()
                event.ParseFromString(r.value)
                if event.HasField("cause_received_at"):
                    samples.append(r.timestamp / 1000 - event.cause_received_at.ToDatetime(UTC).timestamp())
    await consumer.stop()
    q = statistics.quantiles(samples, n=100) if len(samples) > 1 else [0.0] * 99
    return {"events": len(samples), "p50_ms": q[49] * 1000, "p95_ms": q[94] * 1000, "p99_ms": q[98] * 1000}


async def http_ingest(url: str, token: str, rates: list[int], seconds: float) -> list[dict[str, float]]:
    body = json.loads(next(webhooks(StormMix(alerts=100, fingerprints=100, per_webhook=100, prefix="http"))))
    results = []
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30, limits=httpx.Limits(max_connections=64)
    ) as client:
        for rate in rates:
            durations: list[float] = []
            failures = 0

            async def one(durations: list[float] = durations) -> None:
                nonlocal failures
                t = time.perf_counter()
                r = await client.post("/v1/alerts/alertmanager", json=body)
                durations.append(time.perf_counter() - t)
                failures += r.status_code != 202

            started, tasks = time.perf_counter(), []
            for n in range(int(rate * seconds)):
                if (ahead := n / rate - (time.perf_counter() - started)) > 0:
                    await asyncio.sleep(ahead)
                tasks.append(asyncio.create_task(one()))
            await asyncio.gather(*tasks)
            elapsed = time.perf_counter() - started
            q = statistics.quantiles(durations, n=100)
            results.append(
                {
                    "target_rps": rate,
                    "achieved_rps": len(durations) / elapsed,
                    "alerts_per_s": len(durations) * 100 / elapsed,
                    "p99_ms": q[98] * 1000,
                    "failures": failures,
                }
            )
    return results


def normalized_size() -> int:
    body = AlertmanagerWebhook.model_validate_json(next(webhooks(StormMix(per_webhook=1))))
    return len(alertmanager.normalise(body, Context(datetime.now(UTC)))[0].SerializeToString())


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def main(args: argparse.Namespace) -> dict:
    work = Path(tempfile.mkdtemp(prefix="triage-bench-"))
    broker = start_broker(log_path=work / "broker.log")
    pg = EmbeddedPostgres(work / "pg")
    procs: dict[str, ServiceProcess] = {}
    try:
        settings = KafkaSettings(kafka_bootstrap=broker.bootstrap, kafka_partitions=6)
        await ensure_topics(settings)
        db_url = await create_database(pg.url, "bench")
        token = secrets.token_urlsafe(24)
        env = {
            "KAFKA_BOOTSTRAP": broker.bootstrap,
            "DATABASE_URL": db_url,
            "LOG_LEVEL": "WARNING",
            "TRIAGE_TOKENS": f"bench:{token}:ingest+read+write+admin",
        }
        for name in SERVICES:
            procs[name] = ServiceProcess(name, free_port(), env, open(work / f"{name}.log", "a")).start()  # noqa: SIM115, ASYNC230
        for p in procs.values():
            p.wait_healthy(60, "/readyz")
        db = await asyncpg.create_pool(db_url, min_size=1, max_size=2)
        # Every alert crosses the pipeline as at least one alerts.normalized record: that is the unit of the ceiling.
        size = normalized_size()
        report: dict = {"when": datetime.now(UTC).isoformat(), "message_bytes": size, "runs": args.runs}
        say = print
        ceilings = [await ceiling(settings, size, args.ceiling_messages) for _ in range(args.runs)]
        report["ceiling_produce_msgs_s"] = statistics.median(c[0] for c in ceilings)
        report["ceiling_consume_msgs_s"] = statistics.median(c[1] for c in ceilings)
        say(
            f"ceiling: produce {report['ceiling_produce_msgs_s']:,.0f} msg/s, "
            f"consume {report['ceiling_consume_msgs_s']:,.0f} msg/s ({size} B)"
        )
        rates = []
        for run in range(args.runs):
            mix = StormMix(alerts=args.alerts, fingerprints=args.alerts // 10, prefix=f"r{run}x")
            rates.append(await throughput(settings, db, mix))
            say(f"throughput run {run + 1}: {rates[-1]:,.0f} alerts/s")
        report["throughput_alerts_s"] = statistics.median(rates)
        ceiling_msgs = min(report["ceiling_produce_msgs_s"], report["ceiling_consume_msgs_s"])
        report["throughput_ratio_to_ceiling"] = report["throughput_alerts_s"] / ceiling_msgs
        report["latency"] = await latency(settings, db, args.latency_rate, args.latency_seconds)
        say(f"latency at {args.latency_rate}/s: {report['latency']}")
        report["http"] = await http_ingest(procs["ingest"].url, token, args.http_rates, args.http_seconds)
        for row in report["http"]:
            say(f"http {row}")
        report["peak_rss_mb"] = {name: peak_rss_mb(p.proc.pid) for name, p in procs.items() if p.proc}
        report["open_alerts"] = await db.fetchval("SELECT count(*) FROM correlator.alerts WHERE firing")
        report["open_incidents"] = await db.fetchval(
            "SELECT count(*) FROM ticketing.incidents WHERE status IN ('new','in_progress','on_hold')"
        )
        await db.close()
        return report
    finally:
        for p in procs.values():
            p.stop()
        broker.stop()
        pg.stop()


def table(r: dict) -> str:
    sustained = [row for row in r["http"] if row["failures"] == 0 and row["achieved_rps"] >= 0.95 * row["target_rps"]]
    at_200 = next((row for row in r["http"] if row["target_rps"] == 200), None)
    lines = [
        (
            "ceiling produce / consume (msg/s)",
            f"{r['ceiling_produce_msgs_s']:,.0f} / {r['ceiling_consume_msgs_s']:,.0f}",
        ),
        ("end-to-end storm (alerts/s)", f"{r['throughput_alerts_s']:,.0f}  (target >= 20,000)"),
        ("ratio to ceiling", f"{r['throughput_ratio_to_ceiling']:.2f}"),
        (
            "ingest->incident event p50/p95/p99 (ms)",
            " / ".join(f"{r['latency'][k]:.0f}" for k in ("p50_ms", "p95_ms", "p99_ms")) + "  (p99 target <= 250)",
        ),
        (
            "HTTP ingest max sustained (alerts/s)",
            f"{max((row['alerts_per_s'] for row in sustained), default=0):,.0f}  (target >= 5,000)",
        ),
        ("HTTP request p99 at 200 req/s (ms)", f"{at_200['p99_ms']:.0f}  (target <= 50)" if at_200 else "n/a"),
        (
            "peak RSS ingest/correlator/ticketing (MB)",
            " / ".join(f"{r['peak_rss_mb'][s]:.0f}" for s in SERVICES) + "  (target <= 300)",
        ),
        ("state at the end", f"{r['open_alerts']:,} open alerts, {r['open_incidents']:,} open incidents"),
    ]
    width = max(len(k) for k, _ in lines)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--alerts", type=int, default=200_000)
    parser.add_argument("--ceiling-messages", type=int, default=100_000)
    parser.add_argument("--latency-rate", type=int, default=2000)
    parser.add_argument("--latency-seconds", type=int, default=60)
    parser.add_argument("--http-rates", type=lambda s: [int(x) for x in s.split(",")], default=[50, 100, 200, 400])
    parser.add_argument("--http-seconds", type=float, default=5)
    arguments = parser.parse_args()
    result = asyncio.run(main(arguments))
    print()
    print(table(result))
    out = Path("bench/results") / f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"\nwritten to {out}", file=sys.stderr)
