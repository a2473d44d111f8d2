"""The stack a benchmark runs against: an embedded broker, an embedded PostgreSQL and the three services as
child processes, exactly as `make dev` runs them (log level WARNING: no per-alert logging).

`python -m bench.stack` starts one and keeps it up, printing URLs, pids and a token, for profiling by hand
(`py-spy record -p <pid>`); Ctrl-C stops it. `instances` (`--instances correlator=2`) runs more than one of a
consumer service, sharing its consumer group's partitions, as it scales out in production.
"""

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import signal
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from devstack.broker import free_port, start_broker
from devstack.database import EmbeddedPostgres, create_database
from devstack.services import SERVICES, ServiceProcess
from services.shared.kafka import ensure_topics
from services.shared.settings import KafkaSettings

PARTITIONS = 6


@dataclass
class Stack:
    work: Path
    kafka: KafkaSettings
    database_url: str
    token: str
    urls: dict[str, str]
    pids: dict[str, int]  # the services and "broker"
    db: asyncpg.Pool
    more_pids: dict[str, list[int]] = field(default_factory=dict)  # a service's further instances

    def url(self, service: str) -> str:
        return self.urls[service]

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time used so far (user + system) by each service, the broker, and PostgreSQL (all its processes)."""
        out = {name: _cpu(pid) + sum(map(_cpu, self.more_pids.get(name, ()))) for name, pid in self.pids.items()}
        postmaster = self.work / "pg" / "postmaster.pid"
        if postmaster.exists():
            root = int(postmaster.read_text().split()[0])
            out["postgres"] = sum(_cpu(pid) for pid in (root, *_children(root)))
        return out

    def describe(self) -> dict:
        return {
            "work": str(self.work),
            "kafka_bootstrap": self.kafka.kafka_bootstrap,
            "database_url": self.database_url,
            "token": self.token,
            "urls": self.urls,
            "pids": self.pids,
            "more_pids": self.more_pids,
        }


_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str]:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return []
    return text[text.rindex(")") + 2 :].split()  # fields from the 3rd on; the name may hold spaces


def _cpu(pid: int) -> float:
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / _TICKS if fields else 0.0  # utime, stime


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) and int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


@contextlib.asynccontextmanager
async def running(
    extra_env: dict[str, str] | None = None, instances: dict[str, int] | None = None
) -> AsyncIterator[Stack]:
    work = Path(tempfile.mkdtemp(prefix="triage-bench-"))
    broker = start_broker(log_path=work / "broker.log")
    pg = EmbeddedPostgres(work / "pg")
    procs: dict[str, ServiceProcess] = {}
    logs = []
    db = None
    try:
        kafka = KafkaSettings(kafka_bootstrap=broker.bootstrap, kafka_partitions=PARTITIONS)
        await ensure_topics(kafka)
        database_url = await create_database(pg.url, "bench")
        token = secrets.token_urlsafe(24)
        env = {
            "KAFKA_BOOTSTRAP": broker.bootstrap,
            "DATABASE_URL": database_url,
            "LOG_LEVEL": "WARNING",
            "TRIAGE_TOKENS": f"bench:{token}:ingest+read+write+admin",
            **(extra_env or {}),
        }
        for name in SERVICES:
            for n in range(1, (instances or {}).get(name, 1) + 1):
                label = name if n == 1 else f"{name}-{n}"
                logs.append(open(work / f"{label}.log", "a"))  # noqa: SIM115, ASYNC230 - closed below
                procs[label] = ServiceProcess(name, free_port(), env, logs[-1]).start()
        for p in procs.values():
            await asyncio.to_thread(p.wait_healthy, 60, "/readyz")
        db = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
        pids = {name: procs[name].proc.pid for name in SERVICES if procs[name].proc} | {"broker": broker.proc.pid}
        more_pids: dict[str, list[int]] = {}
        for label, p in procs.items():
            if label != p.name and p.proc:
                more_pids.setdefault(p.name, []).append(p.proc.pid)
        yield Stack(work, kafka, database_url, token, {n: procs[n].url for n in SERVICES}, pids, db, more_pids)
    finally:
        if db is not None:
            await db.close()
        for p in procs.values():
            await asyncio.to_thread(p.stop)
        for log in logs:
            log.close()
        broker.stop()
        pg.stop()


@contextlib.asynccontextmanager
async def attached(description: Path) -> AsyncIterator[Stack]:
    """A stack `python -m bench.stack` keeps up (its stack.json), for runs under a profiler."""
    d = json.loads(await asyncio.to_thread(description.read_text))
    db = await asyncpg.create_pool(d["database_url"], min_size=1, max_size=2)
    try:
        kafka = KafkaSettings(kafka_bootstrap=d["kafka_bootstrap"], kafka_partitions=PARTITIONS)
        more = d.get("more_pids", {})
        yield Stack(Path(d["work"]), kafka, d["database_url"], d["token"], d["urls"], d["pids"], db, more)
    finally:
        await db.close()


async def _serve(instances: dict[str, int]) -> None:
    async with running(instances=instances) as stack:
        (stack.work / "stack.json").write_text(json.dumps(stack.describe(), indent=2))
        print(json.dumps(stack.describe(), indent=2))
        print(f"attach with: python -m bench.run --attach {stack.work / 'stack.json'}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()


def instance_counts(text: str) -> dict[str, int]:
    """`correlator=2,ticketing=2` -> {"correlator": 2, "ticketing": 2}."""
    counts = {}
    for item in filter(None, text.split(",")):
        name, _, count = item.partition("=")
        if name not in SERVICES or not count.isdigit() or int(count) < 1:
            raise argparse.ArgumentTypeError(f"expected service=count with a service of {', '.join(SERVICES)}")
        counts[name] = int(count)
    return counts


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--instances", type=instance_counts, default={}, help="e.g. correlator=2,ticketing=2")
    asyncio.run(_serve(parser.parse_args().instances))
