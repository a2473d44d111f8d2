"""`python -m chaos.reproduce`: the same alerts delivered with different timing, and what that changes.

1. Batching changes nothing. One alert repeated five times: delivered together, the correlator coalesces the
   repeats into one emission; delivered one by one, ticketing hears of each. Either way the incident tells
   `opened` with 1 alert and counts the repeats without an event (its count ends at 5).
2. Late arrival is the limit. Two alerts of one host (so one group, one incident) have different fingerprints, hence
   different alerts.normalized partitions. Event time: A fires, B fires, A resolves, B resolves. The correlator
   merges its partitions by time, so however its fetches fall it reads them in that order and the incident
   resolves once; but when B reaches the broker only after A fired and resolved there (a sender or ingest far
   behind on B, longer than ORDER_GRACE_MS), the incident resolves, reopens and resolves again: nothing can
   wait for data not yet written.

Exit status 1 if batching changed the events (a regression); the late arrival differs by design.

Alerts go straight onto alerts.normalized, so the order the correlator reads them in is the order they are sent.
"""

import asyncio
import sys
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from services.shared.contracts import Alert, AlertStatus, Severity
from services.shared.kafka import NORMALIZED, new_producer

from . import outcome
from .compare import keyed, streams
from .parts import Parts, start_parts
from .progress import ProgressProbe
from .run import load_cmdb

START = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)  # ahead of the wall clock: no timer fires


def alert(host: str, name: str, severity: int, firing: bool, second: int) -> Alert:
    fingerprint = f"repro-{host}-{name}"
    a = Alert(
        event_id=str(uuid.uuid4()),
        fingerprint=fingerprint,
        source="alertmanager",
        status=AlertStatus.ALERT_STATUS_FIRING if firing else AlertStatus.ALERT_STATUS_RESOLVED,
        severity=severity,
        summary=f"{name} on {host}",
    )
    a.labels.update({"alertname": name, "instance": f"{host}:9100"})
    a.received_at.FromDatetime(START + timedelta(seconds=second))
    return a


async def send(parts: Parts, probe: ProgressProbe, *groups: list[Alert]) -> None:
    """Each group of alerts in one go, the pipeline quiet before the next."""
    producer = new_producer(parts.kafka)
    await producer.start()
    try:
        for group in groups:
            await asyncio.gather(
                *[await producer.send(NORMALIZED, a.SerializeToString(), key=a.fingerprint.encode()) for a in group]
            )
            await probe.quiet(60, settle=0.5)
    finally:
        await producer.stop()


async def incident_events(parts: Parts, host: str) -> list[str]:
    async with parts.client("ticketing") as client:
        incidents = keyed(await outcome.incidents(client))
    by_incident = streams(incidents, await outcome.events(parts.kafka)).by_incident
    return [
        ", ".join(f"{kind}/{status}/{count}" for _, kind, status, count in by_incident.get(key, []))
        for key in sorted(k for k in incidents if k[0] == f"ci:{host}")
    ]


async def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="triage-reproduce-"))
    parts = await start_parts(workdir, partitions=6)
    probe = await ProgressProbe(parts.kafka, parts.database_url).start()
    try:
        hosts = ["together", "one-by-one", "in-order", "a-ahead"]
        await load_cmdb(parts, [{"id": h, "name": h, "class": "server", "criticality": 2} for h in hosts])
        repeats = {h: [alert(h, "NodeHighCPU", Severity.SEVERITY_MAJOR, True, n) for n in range(5)] for h in hosts[:2]}
        await send(parts, probe, repeats["together"])
        await send(parts, probe, *[[a] for a in repeats["one-by-one"]])

        def story(host: str) -> dict[str, Alert]:
            return {
                "A fires": alert(host, "NodeDown", Severity.SEVERITY_CRITICAL, True, 0),
                "B fires": alert(host, "NodeDiskFull", Severity.SEVERITY_WARNING, True, 10),
                "A resolves": alert(host, "NodeDown", Severity.SEVERITY_CRITICAL, False, 20),
                "B resolves": alert(host, "NodeDiskFull", Severity.SEVERITY_WARNING, False, 30),
            }

        ordered, ahead = story("in-order"), story("a-ahead")
        await send(parts, probe, *[[a] for a in ordered.values()])
        await send(parts, probe, [ahead["A fires"], ahead["A resolves"]], [ahead["B fires"], ahead["B resolves"]])

        cases = [
            ("1. one alert repeated 5 times, delivered together", "together"),
            ("   the same, delivered one by one", "one-by-one"),
            ("2. A fires, B fires, A resolves, B resolves, read in that order", "in-order"),
            ("   the same, A's partition read ahead of B's", "a-ahead"),
        ]
        found = {}
        for title, host in cases:
            found[host] = await incident_events(parts, host)
            print(title)
            for n, line in enumerate(found[host], start=1):
                print(f"     incident {n}: {line}")
        batching = found["together"] != found["one-by-one"]
        late = found["in-order"] != found["a-ahead"]
        print(f"\n1. batching: {'different incident events (a regression)' if batching else 'the same events'}")
        print(f"2. late arrival: {'different incident events (the known limit)' if late else 'the same events'}")
        return 1 if batching else 0
    finally:
        await probe.stop()
        await asyncio.to_thread(parts.stop)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
