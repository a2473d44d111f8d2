"""CPU cost of each service's per-message work on the storm mix, without broker or database: process time, so
the figures hold on a busy box (unlike wall-clock benchmarks). Used to measure hot-path changes before/after.

  python -m bench.hot_paths [--alerts 40000] [--repeat 5] [--profile ingest|correlator|ticketing]
  python -m bench.hot_paths --incident 5000    # ticketing's incident logic in one incident of that many alerts

ingest:     an alerts.raw record (Alertmanager webhook of 10 alerts) -> validated, normalised, serialised Alerts
correlator: a batch of Alerts -> decode, coalesce per fingerprint, correlate against stored state, emissions,
            the rows the store would write
ticketing:  a CorrelatedAlert -> incident change, SLA tick, IncidentEvents serialised, history and row values
Batches are 2,000 records (BatchConsumer's max_records); state carries over between batches in memory.
"""

import argparse
import cProfile
import hashlib
import pickle
import pstats
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka import ConsumerRecord

from services.correlator import pipeline as correlator_pipeline
from services.correlator import store as correlator_store
from services.correlator.binding import MatchRules
from services.correlator.cmdb import CI, Cmdb, Relationship
from services.correlator.correlation import Snapshot, Tracked
from services.correlator.known_errors import KnownErrorCatalog
from services.correlator.settings import CorrelatorSettings
from services.correlator.store import known_error
from services.correlator.windows import WindowIndex
from services.ingest.raw import normalise_record
from services.ingest.sources import normalized_messages
from services.shared.runner import pace_collector
from services.ticketing import incident as incidents
from services.ticketing import recording
from services.ticketing import store as ticketing_store
from services.ticketing.clocks import SlaRules
from services.ticketing.events import incident_events
from services.ticketing.pipeline import decide
from services.ticketing.pipeline import decode as decode_correlated

from .storm import StormMix, cmdb, known_errors, webhooks

BATCH = 2000
START = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)


def record(topic: str, offset: int, value: bytes, key: bytes | None = None, headers: Any = (), ts: int = 0) -> Any:
    return ConsumerRecord(topic, 0, offset, ts, 0, key, value, None, len(key or b""), len(value), list(headers))


def raw_records(mix: StormMix) -> list[Any]:
    # 1 ms apart in record time, so alert times advance as in a real storm.
    base = int(START.timestamp() * 1000)
    return [
        record("alerts.raw", n, body, headers=[("source", b"alertmanager")], ts=base + n)
        for n, body in enumerate(webhooks(mix))
    ]


def snapshot(mix: StormMix) -> Snapshot:
    rows = cmdb(mix)
    cis = [CI(r["id"], r["id"], r["class"], "", r["criticality"], r.get("support_group", ""), (), {}) for r in rows]
    rels = [Relationship(r["id"], kind, t) for r in rows for kind in ("runs_on", "part_of") for t in r.get(kind, ())]
    records = known_errors(mix)
    return Snapshot(
        1,
        Cmdb.build(cis, rels),
        MatchRules(),
        KnownErrorCatalog.build(records),
        WindowIndex({}),
        known_errors={r["id"]: known_error(r) for r in records},
        repeat_interval=CorrelatorSettings().repeat_interval(),  # the service's default, or the environment's
    )


# --- the three paths -------------------------------------------------------------------------------------------


def ingest_path(raws: list[Any]) -> Callable[[], int]:
    def run() -> int:
        out = 0
        for r in raws:
            out += len(normalized_messages(normalise_record(r, {})))
        return out

    return run


def normalized_records(raws: list[Any]) -> list[Any]:
    out = []
    for r in raws:
        for m in normalized_messages(normalise_record(r, {})):
            out.append(record("alerts.normalized", len(out), m.value, m.key))
    return out


def correlator_path(normalized: list[Any], snap: Snapshot) -> tuple[Callable[[], int], list[bytes]]:
    """The correlator's batch work less its I/O: state lives in a dict between batches."""
    emitted: list[bytes] = []

    def run() -> int:
        emitted.clear()
        states: dict[str, Tracked] = {}
        groups: dict = {}
        for start in range(0, len(normalized), BATCH):
            batch = normalized[start : start + BATCH]
            alerts = [correlator_pipeline.decode(r) for r in batch]
            sightings = [(a.fingerprint, correlator_pipeline.sighting(a)) for a in alerts]
            changed, told = correlator_pipeline.correlate_batch(states, sightings, groups, snap)
            out = [
                correlator_pipeline.emission(t.state, snap, t.group, t.cause.event_id, t.cause.at, t.sequence)
                for t in told
            ]
            for t in changed:
                states[t.alert.fingerprint] = t
            _store_rows(changed)
            emitted.extend(o.value for o in out)
        return len(emitted)

    return run, emitted


def _store_rows(changed: list[Tracked]) -> None:
    """What correlator.store.save computes per row before the statement."""
    for t in changed:
        correlator_store.state_row(t)


def correlated_records(values: list[bytes]) -> list[Any]:
    return [record("alerts.correlated", n, v) for n, v in enumerate(values)]


def ticketing_path(correlated: list[Any]) -> Callable[[], int]:
    policy, rules = incidents.IncidentPolicy(), SlaRules()

    def run() -> int:
        latest: dict[str, incidents.Incident] = {}
        applied: dict[str, int] = {}
        events = 0
        for start in range(0, len(correlated), BATCH):
            batch = [decode_correlated(r) for r in correlated[start : start + BATCH]]
            fresh = []
            for u, cause in batch:
                if u.sequence > applied.get(u.fingerprint, 0):
                    applied[u.fingerprint] = u.sequence
                    fresh.append((u, cause))
            events += _recorded(decide(fresh, latest, policy, rules, lambda: str(uuid.uuid4())), rules)
            for key, i in latest.items():
                if i.number is None:
                    latest[key] = incidents.Incident(**{**_fields(i), "number": "INC0000001"})
        return events

    return run


def _fields(i: incidents.Incident) -> dict:
    return {name: getattr(i, name) for name in incidents.Incident.__dataclass_fields__}


def _recorded(changes: list, rules: SlaRules) -> int:
    """recording.record less its statements: the rows, events and history it builds."""
    numbered = [c for c, _ in changes]
    final = {c.incident.id: c.incident for c in numbered}
    rows = [ticketing_store._row(i, 1) for i in final.values()]
    members = recording._changed_alerts(numbered)
    n = 0
    for change, cause in changes:
        for k, event in enumerate(incident_events(change, rules, cause)):
            event.SerializeToString()
            recording.json.dumps(incidents.differences(change.before, change.incident) if k == 0 else {})
            n += 1
    recording.ledger.increments(numbered, rules)
    return n + 0 * len(rows) * len(members)


def inputs(mix: StormMix) -> tuple[list, list, list]:
    """The records each path consumes; kept in a temporary file, as making them costs more than a run. The file is
    named after the code that makes them, so a change to ingest or the correlator makes them afresh."""
    cache = Path(tempfile.gettempdir()) / f"triage-hot-paths-{mix.alerts}-{mix.seed}-{_source_digest()}.pickle"
    if cache.exists():
        return pickle.loads(cache.read_bytes())  # noqa: S301 - our own file
    raws = raw_records(mix)
    normalized = normalized_records(raws)
    correlate_run, emitted = correlator_path(normalized, snapshot(mix))
    correlate_run()
    made = (raws, normalized, correlated_records(list(emitted)))
    cache.write_bytes(pickle.dumps(made))
    return made


def _source_digest() -> str:
    root = Path(__file__).resolve().parents[1] / "services"
    digest = hashlib.sha256()
    for path in sorted(p for d in ("ingest", "correlator", "shared") for p in (root / d).rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def one_incident(size: int, reports: int = 200) -> dict[str, float]:
    """Ticketing's incident logic in an incident of `size` alerts on `size` CIs, each report carrying the group's
    CIs as the correlator sends them: µs per alert joining (the last tenth), per repeat, per change of severity."""
    policy, cis = incidents.IncidentPolicy(), [f"host-{n:05d}" for n in range(size)]

    def update(n: int, sequence: int, affected: tuple[str, ...], severity: int = 2) -> incidents.AlertUpdate:
        return incidents.AlertUpdate(
            fingerprint=f"fp{n}", group_key="ci:root", sequence=sequence, firing=True, occurrences=sequence,
            severity=severity, title=f"HostDown {cis[n]}", description="", at=START + timedelta(seconds=sequence),
            first_seen=START, ci_id=cis[n], root_ci_id="root", ci_criticality=2, service="shop",
            affected_ci_ids=affected, group_occurrences=size + sequence,
        )  # fmt: skip

    def timed(current: incidents.Incident | None, u: incidents.AlertUpdate) -> tuple[float, incidents.Change]:
        started = time.process_time()
        change = incidents.on_alert(current, u, policy, lambda: str(uuid.uuid4()))
        assert change is not None
        return time.process_time() - started, change

    incident, joins = None, []
    for n in range(size):
        spent, change = timed(incident, update(n, 1, tuple(cis[: n + 1])))
        incident = change.incident
        joins.append(spent)
    assert incident is not None
    every, repeats, changes = tuple(cis), [], []
    for r in range(reports):  # each report applied to the incident the one before left, as the pipeline does
        spent, change = timed(incident, update(r % size, 2 + r, every))
        incident = change.incident
        repeats.append(spent)
    for r in range(reports):  # severity 1, 2, 1, ... for each alert: a change every time
        spent, change = timed(incident, update(r % size, 2 + reports + r, every, severity=1 + (r // size) % 2))
        incident = change.incident
        changes.append(spent)
    us = 1e6
    return {
        "join": statistics.median(joins[-max(1, size // 10) :]) * us,
        "repeat": statistics.median(repeats) * us,
        "change": statistics.median(changes) * us,
    }


# --- measuring -------------------------------------------------------------------------------------------------


def measure(name: str, run: Callable[[], int], units: int, repeat: int) -> dict:
    times = []
    for _ in range(repeat):
        started = time.process_time()
        run()
        times.append(time.process_time() - started)
    best, median = min(times), statistics.median(times)
    return {"path": name, "units": units, "median_s": median, "us_per_unit": median / units * 1e6, "best_s": best}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alerts", type=int, default=40_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--profile", choices=("ingest", "correlator", "ticketing"))
    parser.add_argument("--only", choices=("ingest", "correlator", "ticketing"))
    parser.add_argument("--incident", type=int, metavar="N", help="ticketing in one incident of N alerts instead")
    args = parser.parse_args()
    if args.incident:
        figures = one_incident(args.incident)
        per = ", ".join(f"{kind} {us:.1f}" for kind, us in figures.items())
        print(f"one incident of {args.incident:,} alerts: µs per {per}")
        return
    mix = StormMix(alerts=args.alerts, fingerprints=args.alerts // 10, prefix="hot")
    raws, normalized, correlated = inputs(mix)
    correlate_run, _ = correlator_path(normalized, snapshot(mix))
    paths = {
        "ingest": (ingest_path(raws), len(normalized), "alert"),
        "correlator": (correlate_run, len(normalized), "alert"),
        "ticketing": (ticketing_path(correlated), len(correlated), "correlated alert"),
    }
    pace_collector()  # as a service process runs (its inputs, built above, out of the collector's way)
    if args.profile:
        run = paths[args.profile][0]
        profiler = cProfile.Profile()
        profiler.runcall(run)
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
        return
    for name, (run, units, unit) in paths.items():
        if args.only and name != args.only:
            continue
        m = measure(name, run, units, args.repeat)
        print(f"{name:<10} {m['us_per_unit']:7.1f} µs per {unit:<16} ({units:,} in {m['median_s']:.2f}s CPU, median)")


if __name__ == "__main__":
    main()
