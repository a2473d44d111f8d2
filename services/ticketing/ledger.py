"""The SLA figures behind /metrics, kept as durable counts: what each incident change adds to the counters and
histograms. Pure. The store adds these increments in the change's own transaction, so the figures are exact,
survive restarts, and agree across instances (each process exposes the database's totals, not its own)."""

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .clocks import SlaRules, met
from .incident import Change

# Seconds: 1 min .. 3 days, enough resolution around the default P1..P5 targets.
DURATION_BUCKETS = (60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 259200)
ALERT_BUCKETS = (1, 2, 5, 10, 50, 100, 500, 1000, 10000)

Labels = tuple[tuple[str, str], ...]
Key = tuple[str, Labels]  # (sample name, labels)


@dataclass(frozen=True)
class Histogram:
    name: str
    buckets: Sequence[float]

    def observe(self, labels: Labels, value: float) -> Counter[Key]:
        out: Counter[Key] = Counter()
        for le in (*self.buckets, float("inf")):
            if value <= le:
                out[f"{self.name}_bucket", (*labels, ("le", _le(le)))] += 1
        out[f"{self.name}_sum", labels] += value
        out[f"{self.name}_count", labels] += 1
        return out


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(float(bound))


OPENED = "triage_incidents_opened_total"
RESOLVED = "triage_incidents_resolved_total"
WARNINGS = "triage_sla_warnings_total"
BREACHES = "triage_sla_breaches_total"
CLOCKS_FINISHED = "triage_sla_clocks_closed_total"  # labels priority, clock, met=true|false
ACKNOWLEDGE = Histogram("triage_incident_acknowledge_seconds", DURATION_BUCKETS)
RESOLVE = Histogram("triage_incident_resolve_seconds", DURATION_BUCKETS)
ALERTS = Histogram("triage_incident_alerts", ALERT_BUCKETS)


def increments(changes: Iterable[Change], rules: SlaRules) -> Counter[Key]:
    out: Counter[Key] = Counter()
    for change in changes:
        out.update(_of(change, rules))
    return out


def _of(change: Change, rules: SlaRules) -> Counter[Key]:
    i, before = change.incident, change.before
    p = (("priority", str(i.priority)),)
    out: Counter[Key] = Counter()
    for event in change.events:
        if event.type == "opened":
            out[OPENED, p] += 1
        elif event.type == "resolved":
            out[RESOLVED, p] += 1
            if i.resolved_at is not None:
                out.update(RESOLVE.observe(p, (i.resolved_at - i.opened_at).total_seconds()))
            out.update(ALERTS.observe(p, i.alert_count))
        elif event.type in ("sla_warning", "sla_breach"):
            name = WARNINGS if event.type == "sla_warning" else BREACHES
            out[name, (*p, ("clock", event.sla_clock))] += 1
        elif event.type == "closed":
            for clock, ok in met(i, rules).items():
                out[CLOCKS_FINISHED, (*p, ("clock", clock), ("met", str(ok).lower()))] += 1
    if i.acknowledged_at is not None and (before is None or before.acknowledged_at is None):
        out.update(ACKNOWLEDGE.observe(p, (i.acknowledged_at - i.opened_at).total_seconds()))
    return out
