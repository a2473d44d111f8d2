"""Ticketing's Prometheus figures. The SLA figures are read from the database (durable counts written with each
change, open incidents, the outbox), refreshed on a short cadence: right after a restart, and the same from every
instance. Process counters only for what is about this process (dead letters, events published)."""

import asyncio
import contextlib
import json
import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import asyncpg
from prometheus_client import REGISTRY, Counter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from . import ledger, store

log = logging.getLogger(__name__)

CHANGES = Counter("triage_ticketing_incident_changes_total", "Incident events written by this process", ["type"])
DEAD_LETTERS = Counter("triage_ticketing_dead_letters_total", "Undecodable messages sent to the dead-letter topic")
EVENTS_PUBLISHED = Counter("triage_ticketing_events_published_total", "Incident events published to incidents.events")


def count_changes(types: Iterable[str]) -> None:
    for t in types:
        CHANGES.labels(t).inc()


@dataclass
class Figures:
    """One read of the database's figures."""

    counts: list[tuple[str, dict[str, str], float]] = field(default_factory=list)
    open: list[tuple[int, str, str, int]] = field(default_factory=list)
    outbox_pending: int = 0
    outbox_lag_seconds: float = 0.0


_COUNTERS = {
    ledger.OPENED: "Incidents opened",
    ledger.RESOLVED: "Incidents resolved (each resolve of a reopened incident counts)",
    ledger.WARNINGS: "SLA warnings (a share of a target reached)",
    ledger.BREACHES: "SLA breaches (a target missed)",
    ledger.CLOCKS_FINISHED: "SLA clocks of closed incidents, by whether the target was met",
}
_HISTOGRAMS = {
    ledger.ACKNOWLEDGE.name: "Time from opening to the first acknowledgement (MTTA = sum / count)",
    ledger.RESOLVE.name: "Time from opening to resolution (MTTR = sum / count)",
    ledger.ALERTS.name: "Alerts per incident, observed when it resolves",
}


class SlaFigures:
    """A collector exposing the latest Figures; `refresh` reads them, `run` keeps them fresh."""

    def __init__(self, interval: float = 5.0):
        self._figures: Figures | None = None
        self._interval = interval
        self._stopping = asyncio.Event()

    async def refresh(self, pool: asyncpg.Pool) -> None:
        async with pool.acquire() as conn:
            rows = await conn.fetch("SELECT name, labels, value FROM metric_counts")
            open_rows = await store.open_statuses_count(conn)
            outbox = await conn.fetchrow(
                "SELECT count(*) AS n, coalesce(extract(epoch FROM now() - min(created_at)), 0) AS lag FROM outbox"
            )
        self._figures = Figures(
            counts=[(r["name"], dict(json.loads(r["labels"])), r["value"]) for r in rows],
            open=[(r["priority"], r["status"], r["service"], r["n"]) for r in open_rows],
            outbox_pending=outbox["n"],
            outbox_lag_seconds=float(outbox["lag"]),
        )

    async def run(self, pool: asyncpg.Pool) -> None:
        while not self._stopping.is_set():
            try:
                await self.refresh(pool)
            except (asyncpg.PostgresError, OSError) as exc:  # the database is away: keep the last figures
                log.warning("SLA figures not refreshed: %r", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._interval)

    def stop(self) -> None:
        self._stopping.set()

    def describe(self) -> Iterator[Metric]:
        return iter(())  # figures are dynamic; describing nothing keeps registration free of a first collect

    def collect(self) -> Iterator[Metric]:
        f = self._figures
        if f is None:
            return
        yield from _counters(f)
        yield from _histograms(f)
        yield _compliance(f)
        opened = GaugeMetricFamily(
            "triage_incidents_open",
            "Open incidents (new, in progress, on hold)",
            labels=["priority", "status", "service"],
        )
        for priority, status, service, n in f.open:
            opened.add_metric([str(priority), status, service], n)
        yield opened
        yield GaugeMetricFamily("triage_outbox_pending", "Incident events not yet published", value=f.outbox_pending)
        yield GaugeMetricFamily(
            "triage_outbox_lag_seconds", "Age of the oldest unpublished incident event", value=f.outbox_lag_seconds
        )


def _counters(f: Figures) -> Iterator[Metric]:
    for name, doc in _COUNTERS.items():
        samples = [(labels, v) for n, labels, v in f.counts if n == name]
        keys = sorted({k for labels, _ in samples for k in labels}) or ["priority"]
        family = CounterMetricFamily(name.removesuffix("_total"), doc, labels=keys)
        for labels, value in samples:
            family.add_metric([labels.get(k, "") for k in keys], value)
        yield family


def _histograms(f: Figures) -> Iterator[Metric]:
    for name, doc in _HISTOGRAMS.items():
        series: dict[tuple[str, ...], dict] = defaultdict(lambda: {"buckets": {}, "sum": 0.0})
        for sample, labels, value in f.counts:
            if sample == f"{name}_bucket":
                rest = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
                series[rest]["buckets"][labels["le"]] = value
            elif sample == f"{name}_sum":
                series[tuple(sorted(labels.items()))]["sum"] = value
        family = HistogramMetricFamily(name, doc, labels=["priority"])
        for key, s in sorted(series.items()):
            buckets = sorted(s["buckets"].items(), key=lambda b: float(b[0]))
            family.add_metric([dict(key).get("priority", "")], buckets=buckets, sum_value=s["sum"])
        yield family


def _compliance(f: Figures) -> Metric:
    tally: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: {"true": 0.0, "false": 0.0})
    for name, labels, value in f.counts:
        if name == ledger.CLOCKS_FINISHED:
            tally[labels.get("priority", ""), labels.get("clock", "")][labels.get("met", "false")] += value
    family = GaugeMetricFamily(
        "triage_sla_compliance_ratio",
        "Share of the SLA clocks of closed incidents that met their target",
        labels=["priority", "clock"],
    )
    for (priority, clock), t in sorted(tally.items()):
        if t["true"] + t["false"]:
            family.add_metric([priority, clock], t["true"] / (t["true"] + t["false"]))
    return family


def register(figures: SlaFigures) -> None:
    with contextlib.suppress(ValueError):  # already registered (an app built twice in one process)
        REGISTRY.register(figures)
