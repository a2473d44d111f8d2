"""One run: start the parts, load the CMDB, send the storm through alerts.raw (paced by its event time) while
faults are injected, wait until the pipeline is quiet, and collect what it produced."""

import asyncio
import json
import logging
import re
import time
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

from aiokafka import ConsumerRecord

from devstack.services import SERVICES
from services.shared.contracts import Alert, AlertStatus, CorrelatedAlert
from services.shared.kafka import CORRELATED, DEAD_LETTER, NORMALIZED, RAW, new_producer
from services.shared.settings import KafkaSettings

from . import outcome
from .faults import Fault, Injector, Recovery
from .parts import Parts, start_parts
from .progress import ProgressProbe
from .storm import RawMessage, Storm

log = logging.getLogger("chaos")


@dataclass
class RunResult:
    name: str
    workdir: Path
    produced_in: float = 0.0
    quiet_after: float = 0.0  # seconds from the first message until nothing was left to apply or publish
    recoveries: list[Recovery] = field(default_factory=list)
    incidents: list[outcome.IncidentRecord] = field(default_factory=list)
    events: list[outcome.EventRecord] = field(default_factory=list)
    dead_letters: int = 0
    input_problems: list[str] = field(default_factory=list)
    # per time-ordered service: records applied after a later one, and waits given up on a silent partition
    order_given_up: dict[str, tuple[int, int]] = field(default_factory=dict)


async def run(
    name: str,
    storm: Storm,
    partitions: int,
    duration: float,
    faults: list[Fault],
    workdir: Path,
    quiet_timeout: float,
) -> RunResult:
    result = RunResult(name, workdir)
    parts = await start_parts(workdir, partitions)
    probe: ProgressProbe | None = None
    try:
        await load_cmdb(parts, storm.cis)
        probe = await ProgressProbe(parts.kafka, parts.database_url).start()
        started = time.monotonic()
        sending = asyncio.create_task(send(parts.kafka, storm.messages, duration))
        try:
            result.recoveries = await Injector(parts, probe, started).run(faults)
            result.produced_in = await sending
        finally:
            sending.cancel()
        for service in SERVICES:
            await parts.ready(service)
        log.info("%s: storm sent in %.0fs; waiting until the pipeline is quiet", name, result.produced_in)
        progress = await probe.quiet(quiet_timeout)
        result.quiet_after = time.monotonic() - started
        result.dead_letters = sum(progress.ends[DEAD_LETTER].values())
        async with parts.client("ticketing") as client:
            result.incidents = await outcome.incidents(client)
        result.events = await outcome.events(parts.kafka)
        result.input_problems = await check_input(parts.kafka, storm.messages)
        normalized = [_alert(r) for r in await outcome.read_topic(parts.kafka, NORMALIZED)]
        correlated = [_emission(r) for r in await outcome.read_topic(parts.kafka, CORRELATED)]
        await asyncio.to_thread(save_outcome, result, normalized, correlated)
        return result
    finally:
        if probe is not None:
            await probe.stop()
        await asyncio.to_thread(parts.stop)
        result.order_given_up = await asyncio.to_thread(order_given_up, workdir)


LATE = re.compile(r": (\d+) records taken after a record up to")
STALL = "going on without them"


def order_given_up(workdir: Path) -> dict[str, tuple[int, int]]:
    """From the services' warnings: how many records each time-ordered merge took out of time order (they
    reached it past ORDER_GRACE_MS / ORDER_MAX_WAIT_MS), and how often it stopped waiting for a partition."""
    given_up = {}
    for service in ("ingest", "correlator"):
        path = workdir / f"{service}.log"
        lines = path.read_text(errors="replace").splitlines() if path.exists() else []
        late = sum(int(m.group(1)) for line in lines if (m := LATE.search(line)))
        given_up[service] = (late, sum(STALL in line for line in lines))
    return given_up


def save_outcome(result: RunResult, normalized: list[dict], correlated: list[dict]) -> None:
    """What the run produced, and what ticketing was given, for a closer look at any difference."""
    (result.workdir / "incidents.json").write_text(json.dumps([asdict(i) for i in result.incidents], indent=1))
    (result.workdir / "events.json").write_text(json.dumps([asdict(e) for e in result.events], indent=1))
    (result.workdir / "normalized.json").write_text(json.dumps(normalized))
    (result.workdir / "correlated.json").write_text(json.dumps(correlated, indent=1))


def _alert(record: ConsumerRecord) -> dict:
    a = Alert()
    a.ParseFromString(record.value or b"")
    return {
        "partition": record.partition,
        "offset": record.offset,
        "written": record.timestamp,
        "event_id": a.event_id,
        "fingerprint": a.fingerprint,
        "firing": a.status == AlertStatus.ALERT_STATUS_FIRING,
        "received_at": a.received_at.ToJsonString(),
    }


def _emission(record: ConsumerRecord) -> dict:
    ca = CorrelatedAlert()
    ca.ParseFromString(record.value or b"")
    return {
        "partition": record.partition,
        "offset": record.offset,
        "written": record.timestamp,
        "event_id": ca.event_id,
        "fingerprint": ca.fingerprint,
        "group_key": ca.group_key,
        "sequence": ca.sequence,
        "firing": ca.status == AlertStatus.ALERT_STATUS_FIRING,
        "occurrences": ca.occurrences,
        "last_seen": ca.last_seen.ToJsonString(),
    }


async def load_cmdb(parts: Parts, cis: list[dict]) -> None:
    """Through the correlator's admin API, as an operator would; it answers once its snapshot has the CIs."""
    async with parts.client("correlator", timeout=120) as client:
        response = await client.put("/v1/cis", json=cis)
    if response.status_code != 200:
        raise RuntimeError(f"CMDB load failed: {response.status_code} {response.text[:500]}")


async def send(kafka: KafkaSettings, messages: list[RawMessage], duration: float) -> float:
    """Each message to its partition with its event time as timestamp, spread over `duration` seconds as its
    event time is spread over the storm (a compressed replay)."""
    producer = new_producer(kafka, linger_ms=5)
    await producer.start()
    try:
        first, span = messages[0].timestamp_ms, max(1, messages[-1].timestamp_ms - messages[0].timestamp_ms)
        started, pending = time.monotonic(), []
        slowest: dict[int, tuple[float, float]] = {}  # partition -> (longest send-to-ack seconds, when sent)
        for m in messages:
            ahead = (m.timestamp_ms - first) / span * duration - (time.monotonic() - started)
            if ahead > 0:
                await asyncio.sleep(ahead)
            sent = time.monotonic()
            future = await producer.send(
                RAW, m.body, partition=m.partition, timestamp_ms=m.timestamp_ms, headers=[("source", b"alertmanager")]
            )
            future.add_done_callback(lambda _, p=m.partition, t=sent: _slowest(slowest, p, t, started))
            pending.append(future)
            if len(pending) >= 500:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
        # A partition acknowledged late reaches ingest late: beyond the merges' waits, that input is out of order.
        for partition, (delay, at) in sorted(slowest.items()):
            if delay > 0.5:
                log.info("alerts.raw partition %d: a send acknowledged after %.1fs (at %.0fs)", partition, delay, at)
        return time.monotonic() - started
    finally:
        await producer.stop()


def _slowest(slowest: dict[int, tuple[float, float]], partition: int, sent: float, started: float) -> None:
    delay = time.monotonic() - sent
    if delay > slowest.get(partition, (0.0, 0.0))[0]:
        slowest[partition] = (delay, sent - started)


async def check_input(kafka: KafkaSettings, messages: list[RawMessage]) -> list[str]:
    """The harness checks itself: alerts.raw holds exactly the storm, each partition in order."""
    expected: dict[int, list[tuple[int, int]]] = {}
    for m in messages:
        expected.setdefault(m.partition, []).append((m.timestamp_ms, zlib.crc32(m.body)))
    found: dict[int, list[tuple[int, int]]] = {}
    for r in await outcome.read_topic(kafka, RAW):
        found.setdefault(r.partition, []).append((r.timestamp, zlib.crc32(r.value or b"")))
    return [
        f"alerts.raw partition {p}: {len(found.get(p, []))} messages, not the storm's"
        f" {len(expected.get(p, []))} in order"
        for p in sorted(expected.keys() | found.keys())
        if found.get(p, []) != expected.get(p, [])
    ]
