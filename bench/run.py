"""`make bench`: the pipeline measured against the broker's own ceiling on this box.

Self-contained: starts an embedded broker, PostgreSQL and the three services (bench.stack), then runs
1. ceiling: raw aiokafka produce and consume of an alerts.normalized-sized message, the services' client settings;
2. throughput: the storm mix (bench.storm) published to alerts.raw, until every effect is committed (bench.drive);
3. latency: the storm mix at a fixed rate; per alert, its ingest time (the alerts.raw record time, carried as
   cause_received_at) to the time of its first incident event on incidents.events;
4. HTTP ingest: Alertmanager webhooks of 100 alerts at increasing rates;
5. footprint: peak RSS of each service while 100,000 open alerts in 10,000 open incidents are applied.
Ceiling and throughput are medians of --runs runs. Prints a table, writes bench/results/<timestamp>.json.
`--quick` is a smaller run for development; `--attach stack.json` runs against `python -m bench.stack`
(to profile the services by hand); `--only` picks phases.
"""

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from services.ingest.formats import Context, alertmanager
from services.ingest.formats.alertmanager import AlertmanagerWebhook
from services.shared.contracts import Alert, CorrelatedAlert, IncidentEvent
from services.shared.kafka import CORRELATED, INCIDENT_EVENTS, NORMALIZED, client_options, ensure_topics, new_producer

from . import drive, report, stack
from .storm import StormMix, distinct_firing, webhooks

PHASES = ("ceiling", "throughput", "latency", "http", "footprint")


def say(*args: object) -> None:
    print(*args, flush=True)


def compact(value: object) -> str:
    """One line of JSON with floats rounded, for progress output."""

    def rounded(v: object) -> object:
        if isinstance(v, float):
            return round(v, 2)
        if isinstance(v, dict):
            return {k: rounded(x) for k, x in v.items()}
        if isinstance(v, list):
            return [rounded(x) for x in v]
        return v

    return json.dumps(rounded(value))


def load_average() -> float:
    return os.getloadavg()[0]


def cpu_now(s: stack.Stack) -> dict[str, float]:
    """CPU seconds used so far by each part of the stack, and by this process (the load generator)."""
    return s.cpu_seconds() | {"bench": time.process_time()}


def cpu_used(s: stack.Stack, before: dict[str, float]) -> dict[str, float]:
    return {k: round(v - before.get(k, 0.0), 2) for k, v in cpu_now(s).items()}


# --- 1. ceiling ---------------------------------------------------------------------------------------------


async def ceiling(s: stack.Stack, size: int, count: int) -> tuple[float, float]:
    topic = f"bench.ceiling.{uuid.uuid4().hex[:8]}"
    await ensure_topics(s.kafka, [topic])
    producer = new_producer(s.kafka)
    await producer.start()
    value = b"x" * size
    started = time.perf_counter()
    futures = [await producer.send(topic, value, key=str(i % 20_000).encode()) for i in range(count)]
    await asyncio.gather(*futures)
    produced = count / (time.perf_counter() - started)
    await producer.stop()
    consumer = AIOKafkaConsumer(
        topic,
        **client_options(s.kafka),
        group_id=topic,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_partition_fetch_bytes=4 * 1024 * 1024,
        fetch_max_wait_ms=5,
    )
    await consumer.start()
    seen, started = 0, 0.0
    while seen < count:
        batch = await consumer.getmany(timeout_ms=500, max_records=2000)
        if batch and not started:
            started = time.perf_counter()  # from the first fetch: joining the group is not consuming
        seen += sum(len(v) for v in batch.values())
    consumed = count / (time.perf_counter() - started)
    await consumer.stop()
    return produced, consumed


def normalized_size(mix: StormMix) -> int:
    body = AlertmanagerWebhook.model_validate_json(next(webhooks(StormMix(per_webhook=1, prefix=mix.prefix))))
    return len(alertmanager.normalise(body, Context(datetime.now(UTC)))[0].SerializeToString())


# --- 2. throughput ------------------------------------------------------------------------------------------


async def throughput(s: stack.Stack, mix: StormMix) -> dict:
    await drive.load_reference(s, mix)
    bodies = list(webhooks(mix))
    load = load_average()
    async with drive.Watcher(s.kafka, s.db) as watcher:
        cpu = cpu_now(s)
        started = time.perf_counter()
        await drive.publish_raw(s.kafka, bodies)
        published = time.perf_counter()
        finished = await watcher.drained(within=900)
        used = cpu_used(s, cpu)
        # Counts of alerts still repeating at the end reach their incidents within the repeat interval: their
        # CPU is part of the storm's cost, and the next run starts with none held.
        final = await watcher.told(within=900)
        used_all = cpu_used(s, cpu)
    incidents = await s.db.fetchval(
        "SELECT count(*) FROM ticketing.incidents WHERE group_key LIKE $1", f"ci:{mix.prefix}-%"
    )
    return {
        "alerts_s": mix.alerts / (finished - started),
        "seconds": finished - started,
        "publish_seconds": published - started,
        "incidents": incidents,
        "load_before": load,
        "cpu_seconds": used,
        "counts_final_seconds": final - started,
        "cpu_seconds_with_held_repeats": used_all,
    }


# --- 3. latency ---------------------------------------------------------------------------------------------


async def latency(s: stack.Stack, rate: int, seconds: int, cis: int) -> dict:
    alerts, prefix = rate * seconds, f"lat{uuid.uuid4().hex[:6]}"
    mix = StormMix(alerts=alerts, fingerprints=alerts // 10, cis=cis, prefix=prefix)
    await drive.load_reference(s, mix)
    bodies = list(webhooks(mix))
    trace = HopTrace(time.time() - 1)
    consumer = AIOKafkaConsumer(**client_options(s.kafka), fetch_max_wait_ms=5)
    await consumer.start()
    await consumer.topics()
    parts = [
        TopicPartition(topic, p)
        for topic in (NORMALIZED, CORRELATED, INCIDENT_EVENTS)
        for p in consumer.partitions_for_topic(topic) or ()
    ]
    consumer.assign(parts)
    for tp, end in (await consumer.end_offsets(parts)).items():
        consumer.seek(tp, end)  # ListOffsets may answer short of the end: older records are filtered by time

    async def collect() -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=100, max_records=10_000)
            seen = time.time()
            for records in batches.values():
                for r in records:
                    trace.add(r, seen)

    collector = asyncio.create_task(collect())
    try:
        load = load_average()
        async with drive.Watcher(s.kafka, s.db) as watcher:
            started = time.perf_counter()
            await drive.publish_raw(s.kafka, bodies, rate=rate / mix.per_webhook)
            sent = time.perf_counter() - started
            await watcher.drained(within=600)
        await asyncio.sleep(0.5)  # the collector reads the last events
    finally:
        collector.cancel()
        await asyncio.gather(collector, return_exceptions=True)
        await consumer.stop()
    samples = sorted(trace.first_event.values())
    q = _percentiles(samples)
    return {
        "rate": rate,
        "seconds": seconds,
        "achieved_rate": mix.alerts / sent,
        "alerts": mix.alerts,
        "traced_alerts": len(samples),
        "events": trace.events,
        "p50_ms": q[49] * 1000,
        "p95_ms": q[94] * 1000,
        "p99_ms": q[98] * 1000,
        "max_ms": samples[-1] * 1000 if samples else float("nan"),
        "hops_p50_p99_ms": trace.hops(),
        "load_before": load,
    }


class HopTrace:
    """Per alert that changed an incident: its ingest time (the alerts.raw record time, carried as
    cause_received_at) to its first incident event (the record's time), and where that went: when this reader
    saw its Alert on alerts.normalized, its first CorrelatedAlert, and the event (each within ~5 ms of the
    write: the reader long-polls like the services)."""

    def __init__(self, since: float):
        self._since = since
        self.events = 0
        self.first_event: dict[str, float] = {}  # cause event id -> ingest to first incident event (s)
        self._normalized: dict[str, float] = {}  # alert event id -> seen on alerts.normalized
        self._correlated: dict[str, float] = {}  # cause event id -> first CorrelatedAlert seen
        self._cause_at: dict[str, float] = {}
        self._event_seen: dict[str, float] = {}

    def add(self, r: ConsumerRecord, seen: float) -> None:
        if r.topic == NORMALIZED:
            alert = Alert()
            alert.ParseFromString(r.value)
            self._normalized.setdefault(alert.event_id, seen)
        elif r.topic == CORRELATED:
            ca = CorrelatedAlert()
            ca.ParseFromString(r.value)
            self._correlated.setdefault(ca.cause_event_id, seen)
        else:
            event = IncidentEvent()
            event.ParseFromString(r.value)
            if not event.cause_event_id or not event.HasField("cause_received_at"):
                return
            cause_at = event.cause_received_at.ToNanoseconds() / 1e9
            if cause_at < self._since:
                return
            self.events += 1
            lag = r.timestamp / 1000 - cause_at
            if lag < self.first_event.get(event.cause_event_id, float("inf")):
                self.first_event[event.cause_event_id] = lag
                self._cause_at[event.cause_event_id] = cause_at
                self._event_seen[event.cause_event_id] = seen

    def hops(self) -> dict[str, list[float]]:
        """p50 and p99 of each hop: to alerts.normalized (ingest), to alerts.correlated (correlator), to
        incidents.events (ticketing and its outbox relay)."""
        hops: dict[str, list[float]] = {"ingest": [], "correlator": [], "ticketing": []}
        for cause, at in self._cause_at.items():
            normalized, correlated = self._normalized.get(cause), self._correlated.get(cause)
            if normalized is None or correlated is None:
                continue
            hops["ingest"].append(normalized - at)
            hops["correlator"].append(correlated - normalized)
            hops["ticketing"].append(self._event_seen[cause] - correlated)
        quantiles = {hop: _percentiles(sorted(samples)) for hop, samples in hops.items()}
        return {hop: [round(q[49] * 1000, 1), round(q[98] * 1000, 1)] for hop, q in quantiles.items()}


def _percentiles(samples: list[float]) -> list[float]:
    return statistics.quantiles(samples, n=100) if len(samples) > 1 else [float("nan")] * 99


# --- 4. HTTP ingest -----------------------------------------------------------------------------------------


async def http_rate(client: aiohttp.ClientSession, bodies: list[bytes], rate: int, seconds: float) -> dict:
    durations: list[float] = []
    failures = 0

    async def one(body: bytes) -> None:
        nonlocal failures
        t = time.perf_counter()
        try:
            async with client.post("/v1/alerts/alertmanager", data=body) as r:
                await r.read()
                ok = r.status == 202
        except (aiohttp.ClientError, TimeoutError):
            ok = False
        durations.append(time.perf_counter() - t)
        failures += not ok

    load = load_average()
    started, tasks = time.perf_counter(), []
    for n in range(int(rate * seconds)):
        if (ahead := n / rate - (time.perf_counter() - started)) > 0:
            await asyncio.sleep(ahead)
        tasks.append(asyncio.create_task(one(bodies[n % len(bodies)])))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - started
    q = statistics.quantiles(durations, n=100)
    return {
        "target_rps": rate,
        "achieved_rps": len(durations) / elapsed,
        "alerts_s": (len(durations) - failures) * 100 / elapsed,
        "p50_ms": q[49] * 1000,
        "p99_ms": q[98] * 1000,
        "failures": failures,
        "load_before": load,
    }


async def http_ingest(s: stack.Stack, rates: list[int], seconds: float) -> list[dict]:
    mix = StormMix(alerts=20_000, fingerprints=20_000, per_webhook=100, prefix=f"http{uuid.uuid4().hex[:6]}")
    bodies = list(webhooks(mix))
    headers = {"Authorization": f"Bearer {s.token}", "content-type": "application/json"}
    results = []
    # aiohttp, not httpx: the load shares the box with what it measures, and httpx with hundreds of requests in
    # flight used ~17 ms of CPU per request (a core at 60 requests/s), aiohttp ~1.
    async with aiohttp.ClientSession(
        base_url=s.url("ingest"),
        headers=headers,
        timeout=aiohttp.ClientTimeout(total=30),
        connector=aiohttp.TCPConnector(limit=256),
    ) as client:
        for rate in rates:
            results.append(await http_rate(client, bodies, rate, seconds))
            say(f"http {compact(results[-1])}")
            await settle(s)
            if not report.sustained(results[-1]) and rate >= 200:
                break
    return results


async def settle(s: stack.Stack, within: float = 600) -> None:
    """Wait until the pipeline has applied everything so far: one phase's backlog never slows the next."""
    async with drive.Watcher(s.kafka, s.db) as watcher:
        await watcher.drained(within=within)


# --- 5. footprint -------------------------------------------------------------------------------------------


def rss_mb(pid: int) -> dict[str, float]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            out[key] = int(value.split()[0]) / 1024
    return out


def reset_peak(pid: int) -> None:
    # Linux: writing 5 to clear_refs resets the peak RSS (VmHWM) to the current RSS.
    Path(f"/proc/{pid}/clear_refs").write_text("5")


async def footprint(s: stack.Stack, alerts: int, groups: int) -> dict:
    await settle(s)
    services = ("ingest", "correlator", "ticketing")
    before = {name: rss_mb(s.pids[name]) for name in services}
    for name in services:
        reset_peak(s.pids[name])
    prefix = f"fp{uuid.uuid4().hex[:6]}"
    await drive.publish_raw(s.kafka, distinct_firing(prefix, alerts, groups))
    async with drive.Watcher(s.kafka, s.db) as watcher:
        await watcher.drained(within=900)
    after = {name: rss_mb(s.pids[name]) for name in services}
    counts = await s.db.fetchrow(
        "SELECT (SELECT count(*) FROM correlator.alerts WHERE firing) AS open_alerts,"
        " (SELECT count(*) FROM ticketing.incidents WHERE status IN ('new','in_progress','on_hold')) AS open_incidents,"
        " (SELECT count(*) FROM correlator.alerts WHERE firing AND fingerprint LIKE $1) AS phase_alerts,"
        " (SELECT count(*) FROM ticketing.incidents WHERE status IN ('new','in_progress','on_hold')"
        "   AND group_key LIKE 'labels:%' AND id IN (SELECT incident_id FROM ticketing.incident_alerts"
        "   WHERE fingerprint LIKE $1)) AS phase_incidents",
        f"{prefix}%",
    )
    return {
        "peak_rss_mb": {name: after[name]["VmHWM"] for name in services},
        "rss_mb": {name: after[name]["VmRSS"] for name in services},
        "rss_before_mb": {name: before[name]["VmRSS"] for name in services},
        "lifetime_peak_before_mb": {name: before[name]["VmHWM"] for name in services},
        "broker_rss_mb": rss_mb(s.pids["broker"])["VmRSS"],
        **dict(counts),
    }


# --- the run ------------------------------------------------------------------------------------------------


async def main(args: argparse.Namespace) -> dict:
    phases = args.only or PHASES
    source: AbstractAsyncContextManager[stack.Stack] = (
        stack.attached(Path(args.attach)) if args.attach else stack.running(instances=args.instances)
    )
    results: dict = {
        "when": datetime.now(UTC).isoformat(),
        "cpus": os.cpu_count(),
        "load_at_start": load_average(),
        "quick": args.quick,
        "runs": args.runs,
        "instances": args.instances,
    }
    async with source as s:
        if "ceiling" in phases:
            size = normalized_size(StormMix())
            ceilings = [await ceiling(s, size, args.ceiling_messages) for _ in range(args.runs)]
            results["ceiling"] = {
                "message_bytes": size,
                "produce_msgs_s": statistics.median(c[0] for c in ceilings),
                "consume_msgs_s": statistics.median(c[1] for c in ceilings),
                "runs": ceilings,
            }
            say(f"ceiling: {compact(results['ceiling'])}")
        if "throughput" in phases:
            runs = []
            for run in range(args.runs):
                mix = StormMix(
                    alerts=args.alerts, fingerprints=args.alerts // 10, cis=args.cis, prefix=f"r{uuid.uuid4().hex[:5]}"
                )
                runs.append(await throughput(s, mix))
                say(f"throughput run {run + 1}: {compact(runs[-1])}")
            results["throughput"] = {
                "alerts": args.alerts,
                "fingerprints": args.alerts // 10,
                "cis": args.cis,
                "alerts_s": statistics.median(r["alerts_s"] for r in runs),
                "runs": runs,
            }
        if "latency" in phases:
            results["latency"] = await latency(s, args.latency_rate, args.latency_seconds, args.cis)
            say(f"latency: {compact(results['latency'])}")
        if "http" in phases:
            await settle(s)
            results["http"] = await http_ingest(s, args.http_rates, args.http_seconds)
        if "footprint" in phases:
            results["footprint"] = await footprint(s, args.footprint_alerts, args.footprint_incidents)
            say(f"footprint: {compact(results['footprint'])}")
    results["load_at_end"] = load_average()
    return results


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a smaller run for development (~2 minutes)")
    parser.add_argument("--runs", type=int, default=None, help="repeats of ceiling and throughput (3; quick 1)")
    parser.add_argument("--alerts", type=int, default=None, help="alerts per throughput run (200,000; quick 40,000)")
    parser.add_argument("--cis", type=int, default=2_000)
    parser.add_argument("--ceiling-messages", type=int, default=None)
    parser.add_argument("--latency-rate", type=int, default=2000)
    parser.add_argument("--latency-seconds", type=int, default=None)
    parser.add_argument("--http-rates", type=lambda s: [int(x) for x in s.split(",")], default=None)
    parser.add_argument("--http-seconds", type=float, default=None)
    parser.add_argument("--footprint-alerts", type=int, default=None)
    parser.add_argument("--footprint-incidents", type=int, default=None)
    parser.add_argument("--only", type=lambda s: s.split(","), default=None, help=f"some of {','.join(PHASES)}")
    parser.add_argument(
        "--instances",
        type=stack.instance_counts,
        default={},
        help="more than one of a service, e.g. correlator=2 (scale-out; the default is one of each)",
    )
    parser.add_argument("--attach", default=None, help="stack.json of a running `python -m bench.stack`")
    parser.add_argument("--no-save", action="store_true", help="print only, write no results file")
    args = parser.parse_args()
    full = {
        "runs": 3,
        "alerts": 200_000,
        "ceiling_messages": 100_000,
        "latency_seconds": 60,
        "http_rates": [50, 60, 75, 100, 200, 300, 400, 600],
        "http_seconds": 5.0,
        "footprint_alerts": 100_000,
        "footprint_incidents": 10_000,
    }
    quick = full | {
        "runs": 1,
        "alerts": 40_000,
        "ceiling_messages": 30_000,
        "latency_seconds": 15,
        "http_rates": [50, 200],
        "http_seconds": 3.0,
        "footprint_alerts": 20_000,
        "footprint_incidents": 2_000,
    }
    for key, value in (quick if args.quick else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


if __name__ == "__main__":
    arguments_ = arguments()
    result = asyncio.run(main(arguments_))
    print()
    print(report.table(result))
    if not arguments_.no_save:
        out = Path("bench/results") / f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2))
        print(f"\nwritten to {out}", file=sys.stderr)
