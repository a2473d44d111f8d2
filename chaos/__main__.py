"""`make chaos`: the same seeded storm twice through the whole pipeline on embedded parts, once clean and once
while the correlator and ticketing are SIGKILLed at random moments and PostgreSQL is restarted; the incidents
and incidents.events of both runs must be the same. Exit status: 0 same, 1 different, 2 the harness failed."""

import argparse
import asyncio
import json
import logging
import shutil
import sys
from collections import Counter
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from .compare import Comparison, compare
from .faults import plan
from .parts import order_settings
from .run import RunResult, run
from .storm import Storm, StormSpec, storm

log = logging.getLogger("chaos")
SHOWN_DIFFERENCES = 40


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m chaos", description=__doc__)
    p.add_argument(
        "--quick", action="store_true", help="10,000 alerts on 400 CIs at 100 alerts/s, 2 kills of each service"
    )
    p.add_argument("--alerts", type=int, help="alerts in the storm (default 100,000)")
    p.add_argument("--cis", type=int, help="CIs in the CMDB (default 2,000)")
    p.add_argument("--rate", type=float, help="alerts per second sent (default 500): sets how long the storm lasts")
    p.add_argument("--seed", type=int, default=1, help="storm and fault moments (default 1)")
    p.add_argument("--kills", type=int, help="SIGKILLs of each of correlator and ticketing (default 5)")
    p.add_argument("--postgres-restarts", type=int, default=1, help="PostgreSQL restarts (default 1)")
    p.add_argument(
        "--control",
        action="store_true",
        help="no faults in the second run either: two clean runs must agree (checks the harness and determinism)",
    )
    p.add_argument(
        "--events",
        choices=("strict", "lifecycle"),
        default="strict",
        help="strict (default): each incident's events must be the same, updates included; lifecycle: the same"
        " events except the 'updated' ones, whose number follows the correlator's batching",
    )
    p.add_argument("--partitions", type=int, default=6, help="partitions per topic (default 6)")
    p.add_argument(
        "--quiet-timeout", type=float, default=1800, help="seconds to wait for quiescence after sending (default 1800)"
    )
    p.add_argument("--workdir", type=Path, default=Path(".run/chaos"), help="logs and report (default .run/chaos)")
    p.add_argument("--keep", action="store_true", help="keep the PostgreSQL data directories")
    args = p.parse_args(argv)
    # The storm must outlast the faults: each waits for the part before it to be ready again (~10-20 s).
    quick = {"alerts": 10_000, "cis": 400, "rate": 100.0, "kills": 2}
    full = {"alerts": 100_000, "cis": 2_000, "rate": 500.0, "kills": 5}
    for name, value in (quick if args.quick else full).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


async def main(args: argparse.Namespace) -> int:
    # Event time a day ahead of the wall clock: timers (alert expiry, held resolves, SLA clocks) compare event
    # times with the wall clock, and must not fall due in one run and not the other.
    start = (datetime.now(UTC) + timedelta(days=1)).replace(second=0, microsecond=0)
    spec = StormSpec(alerts=args.alerts, cis=args.cis, seed=args.seed, partitions=args.partitions, start=start)
    the_storm = await asyncio.to_thread(storm, spec)
    duration = args.alerts / args.rate
    faults = [] if args.control else plan(args.seed, duration, args.kills, args.postgres_restarts)
    workdir = args.workdir / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    print(header(spec, the_storm, duration), flush=True)
    clean = await run("clean", the_storm, spec.partitions, duration, [], workdir / "clean", args.quiet_timeout)
    print(f"clean run quiet after {clean.quiet_after:.0f}s: {len(clean.incidents):,} incidents", flush=True)
    second = "control" if args.control else "faulty"
    faulty = await run(second, the_storm, spec.partitions, duration, faults, workdir / second, args.quiet_timeout)
    comparison = compare(clean.incidents, clean.events, faulty.incidents, faulty.events, args.events)
    for r in (clean, faulty):
        comparison.differences += [f"{r.name} run: {p}" for p in r.input_problems]
        comparison.differences += [f"{r.name} run: {p}" for p in miscounted(the_storm, r)]
        if r.dead_letters:
            comparison.differences.append(f"{r.name} run: {r.dead_letters} messages on alerts.dlq (the storm has none)")
    text = report(the_storm, clean, faulty, comparison, args.events)
    print(text)
    (workdir / "report.txt").write_text(text + "\n")
    (workdir / "report.json").write_text(json.dumps(summary(clean, faulty, comparison), indent=2, default=str))
    if not args.keep:
        for r in (clean, faulty):
            shutil.rmtree(r.workdir / "pg", ignore_errors=True)
    print(f"\nlogs and report in {workdir}")
    return 0 if comparison.ok else 1


def counted(r: RunResult) -> int:
    return sum(i.alert_count for i in r.incidents)


def miscounted(s, r: RunResult) -> list[str]:
    """Every firing alert sent is counted once in some incident of its group: a check on each run by itself.
    Groups of hosts are known by key ("ci:<host>"); the probe groups (keyed by a label digest) only in total."""
    counted: Counter = Counter()
    for i in r.incidents:
        counted[i.group_key] += i.alert_count
    problems = [
        f"{'ci:' + g}: {sent:,} firing alerts sent, {counted['ci:' + g]:,} counted in its incidents"
        for g, sent in sorted(s.firing_by_group.items())
        if not g.startswith("labels:") and counted["ci:" + g] != sent
    ]
    total, sent = sum(counted.values()), sum(s.firing_by_group.values())
    if total != sent:
        problems.append(f"{sent:,} firing alerts sent in all, {total:,} counted in incidents")
    return problems


def header(spec: StormSpec, s, duration: float) -> str:
    mix = s.mix
    alerts = sum(mix.values())
    return (
        f"triage chaos: {alerts:,} alerts in {len(s.messages):,} Alertmanager webhooks on alerts.raw, seed {spec.seed},"
        f" sent over {duration:.0f}s per run\n"
        f"  {s.fingerprints:,} alert rules on {len(s.cis):,} CIs ({s.groups} alerting groups),"
        f" event time {spec.hours:g}h from {spec.start:%Y-%m-%d %H:%M}Z\n"
        f"  mix: {mix['first fire']:,} first fires, {mix['re-fire']:,} re-fires, {mix['resolve']:,} resolves,"
        f" {mix['duplicate']:,} duplicates ({mix['duplicate'] / max(1, alerts):.1%})\n"
        f"  time-ordered merges: {', '.join(f'{k}={v}' for k, v in order_settings().items())}"
    )


def report(s: Storm, clean: RunResult, faulty: RunResult, c: Comparison, events: str) -> str:
    lines = ["", f"{'run':<10}{'sent in':>10}{'quiet after':>14}{'incidents':>12}{'events':>10}{'dead letters':>15}"]
    for r in (clean, faulty):
        lines.append(
            f"{r.name:<10}{r.produced_in:>9.0f}s{r.quiet_after:>13.0f}s{len(r.incidents):>12,}"
            f"{len({e.event_id for e in r.events}):>10,}{r.dead_letters:>15,}"
        )
    if faulty.recoveries:
        lines += ["", f"{'fault':<22}{'at':>8}{'down':>8}{'backlog':>10}{'ready after':>13}{'lag zero after':>16}"]
        for rec in faulty.recoveries:
            lines.append(
                f"{rec.fault.what:<22}{rec.injected_at:>7.1f}s{rec.fault.downtime:>7.1f}s{rec.backlog:>10,}"
                f"{_seconds(rec.ready_after):>13}{_seconds(rec.caught_up_after):>16}"
            )
    lines += [
        "",
        f"alerts sent: {sum(s.mix.values()):,} in {len(s.messages):,} messages, the same in both runs",
        f"firing alerts: {sum(s.firing_by_group.values()):,} sent; counted in incidents: {counted(clean):,} (clean),"
        f" {counted(faulty):,} ({faulty.name})",
        f"{'':<24}{'expected':>10}{'found':>10}{'lost':>8}{'extra':>8}{'differing':>11}",
        f"{'incidents':<24}{c.incidents_expected:>10,}{c.incidents_found:>10,}{c.incidents_lost:>8,}"
        f"{c.incidents_duplicated:>8,}{c.incidents_differing:>11,}",
        f"{'incident events':<24}{c.events_expected:>10,}{c.events_found:>10,}{c.events_lost:>8,}"
        f"{c.events_extra:>8,}{c.streams_differing:>11,}",
        f"  incidents whose events differ: {c.streams_differing:,}, of which {c.lifecycles_differing:,} in more than"
        " their 'updated' events",
        f"  (events deduplicated by event id; redelivered copies seen: {c.event_copies:,};"
        f" one incident version under two event ids: {c.events_doubled:,})",
        "records taken out of time order / waits given up on a silent partition: "
        + "; ".join(f"{r.name} {_given_up(r)}" for r in (clean, faulty)),
    ]
    if not c.ok and any(late for late, _ in clean.order_given_up.values()):
        lines.append(
            "note: the clean run itself took records out of time order (they reached a merge past its waits), so"
            " it is no fault-free reference for the events; run again"
        )
    lines += [f"note: {n}" for n in c.notes]
    if c.differences:
        lines += ["", f"differences ({len(c.differences)}):"]
        lines += [f"  {d}" for d in c.differences[:SHOWN_DIFFERENCES]]
        if len(c.differences) > SHOWN_DIFFERENCES:
            lines.append(f"  ... {len(c.differences) - SHOWN_DIFFERENCES} more in report.json")
    same = "same incidents, counts, states and events" + (
        " (but for 'updated' events)" if events == "lifecycle" else ""
    )
    lines += ["", "RESULT: " + (f"PASS - {same}" if c.ok else "FAIL")]
    return "\n".join(lines)


def _given_up(r: RunResult) -> str:
    return ", ".join(f"{service} {late:,} / {stalls:,}" for service, (late, stalls) in r.order_given_up.items())


def _seconds(value: float | None) -> str:
    return "never" if value is None else f"{value:.1f}s"


def summary(clean: RunResult, faulty: RunResult, c: Comparison) -> dict:
    def brief(r: RunResult) -> dict:
        return {
            "produced_in": r.produced_in,
            "quiet_after": r.quiet_after,
            "incidents": len(r.incidents),
            "events": len({e.event_id for e in r.events}),
            "dead_letters": r.dead_letters,
            "recoveries": [asdict(x) for x in r.recoveries],
            "order_given_up": r.order_given_up,
        }

    return {"clean": brief(clean), faulty.name: brief(faulty), "comparison": asdict(replace(c))}


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s chaos | %(message)s", stream=sys.stderr)
    log.setLevel(logging.INFO)
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    try:
        sys.exit(asyncio.run(main(arguments())))
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # the harness itself failed: say where to look
        log.exception("chaos harness failed: %r", exc)
        sys.exit(2)
