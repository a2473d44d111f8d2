"""PostgreSQL down under a running correlator: the consumer holds its batch and retries with backoff, /readyz says
why it is not ready, memory stays bounded while alerts pile up on the broker, and once the database is back the
same process applies everything exactly once. Own broker and PostgreSQL, so stopping them disturbs no other test."""

import asyncio
import re
import secrets
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from chaos.parts import RestartablePostgres
from devstack.broker import free_port, start_broker
from devstack.database import create_database
from devstack.services import ServiceProcess
from services.shared.contracts import Alert, AlertStatus, CorrelatedAlert, Severity
from services.shared.kafka import CORRELATED, NORMALIZED, ensure_topics
from services.shared.settings import KafkaSettings

from .kafka_tools import applied_all, eventually, produce, read_all

FINGERPRINTS = 50
BACKLOG = 25_000  # alerts sent while the database is down: ~10 MB on the broker
RSS_GROWTH_LIMIT_MB = 15  # the consumer holds its batch (and at most a fetch per partition), not the backlog


def alerts(run: str, count: int, start: int = 0) -> list[tuple[bytes, bytes, list]]:
    """`count` firing alerts spread over FINGERPRINTS fingerprints, each with its own event id and time."""
    base = datetime.now(UTC) + timedelta(days=1)  # ahead of the wall clock: no expiry sweep touches them
    items = []
    for n in range(start, start + count):
        fp = f"{run}-{n % FINGERPRINTS:03d}"
        a = Alert(
            event_id=str(uuid.uuid4()),
            fingerprint=fp,
            source="alertmanager",
            status=AlertStatus.ALERT_STATUS_FIRING,
            severity=Severity.SEVERITY_MAJOR,
            summary=f"Backpressure probe {fp}",
            sequence=1,
        )
        a.labels.update({"alertname": "BackpressureProbe", "instance": fp})
        a.received_at.FromDatetime(base + timedelta(milliseconds=n))
        items.append((fp.encode(), a.SerializeToString(), []))
    return items


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


@pytest.fixture
def correlator_on_own_parts(tmp_path):
    broker = start_broker(free_port(), tmp_path / "broker.log")
    pg = RestartablePostgres(tmp_path / "pg")
    kafka = KafkaSettings(kafka_bootstrap=broker.bootstrap, kafka_partitions=3)
    asyncio.run(ensure_topics(kafka))
    url = asyncio.run(create_database(pg.url, "backpressure"))
    log = open(tmp_path / "correlator.log", "a")  # noqa: SIM115 - closed below
    env = {
        "KAFKA_BOOTSTRAP": broker.bootstrap,
        "DATABASE_URL": url,
        "TRIAGE_TOKENS": f"t:{secrets.token_urlsafe(24)}:admin",
        "LOG_FORMAT": "text",
        "SHUTDOWN_GRACE_SECONDS": "5",
        # Every repeat told (coalesced per batch): the alerts' times are a day ahead, out of the sweep's reach.
        "CORRELATOR_REPEAT_INTERVAL_SECONDS": "0",
    }
    correlator = ServiceProcess("correlator", free_port(), env, log).start()
    try:
        correlator.wait_healthy(60, "/readyz")
        yield correlator, kafka, pg, url, tmp_path / "correlator.log"
    finally:
        correlator.stop()
        log.close()
        broker.stop()
        pg.stop()


def test_database_outage_holds_the_batch_stays_bounded_and_resumes_exactly_once(correlator_on_own_parts):
    correlator, kafka, pg, url, log_path = correlator_on_own_parts
    run = uuid.uuid4().hex[:8]
    pid = correlator.proc.pid
    asyncio.run(produce(kafka, NORMALIZED, alerts(run, 2_000)))
    eventually(lambda: applied_all(kafka, url, "correlator", NORMALIZED), timeout=30)
    before_mb = rss_mb(pid)

    pg.stop()
    asyncio.run(produce(kafka, NORMALIZED, alerts(run, BACKLOG, start=2_000)))

    def not_ready_saying_why():
        r = httpx.get(correlator.url + "/readyz", timeout=5)
        checks = r.json()["checks"]
        assert r.status_code == 503, r.text
        assert "database unreachable" in checks["database"], checks
        assert checks["consumer"].startswith("batch not applied, retrying"), checks
        return checks

    eventually(not_ready_saying_why, timeout=20)
    time.sleep(1)  # more retries, while the backlog sits on the broker
    growth = rss_mb(pid) - before_mb
    assert growth < RSS_GROWTH_LIMIT_MB, f"RSS grew {growth:.0f} MB with {BACKLOG} alerts waiting"

    retries = [
        (int(size), float(delay))
        for size, delay in re.findall(
            r"batch of (\d+) from alerts\.normalized not applied, retry in ([\d.]+)s", log_path.read_text()
        )
    ]
    assert len(retries) >= 3, retries
    assert len({size for size, _ in retries}) == 1, f"the same batch is held and retried: {retries}"
    delays = [d for _, d in retries]
    assert delays == sorted(delays) and delays[-1] > delays[0], f"backoff grows: {delays}"

    pg.start()
    eventually(lambda: httpx.get(correlator.url + "/readyz", timeout=5).status_code == 200, timeout=30)
    eventually(lambda: applied_all(kafka, url, "correlator", NORMALIZED), timeout=45)
    assert correlator.proc.pid == pid and correlator.proc.poll() is None, "resumed without a restart"

    # Exactly once: each fingerprint's last emission counts every alert sent for it, no more, no less.
    sent = (2_000 + BACKLOG) // FINGERPRINTS
    last = latest_emissions(kafka, run)
    assert len(last) == FINGERPRINTS
    assert {ca.occurrences for ca in last.values()} == {sent}, sorted({ca.occurrences for ca in last.values()})


def latest_emissions(kafka: KafkaSettings, run: str) -> dict[str, CorrelatedAlert]:
    last: dict[str, CorrelatedAlert] = {}
    for r in asyncio.run(read_all(kafka, CORRELATED, lambda rs: False, seconds=5)):
        ca = CorrelatedAlert()
        ca.ParseFromString(r.value)
        if ca.fingerprint.startswith(run) and (
            ca.fingerprint not in last or ca.sequence > last[ca.fingerprint].sequence
        ):
            last[ca.fingerprint] = ca
    return last
