"""Comparing what a run with faults produced against a clean run of the same input. Pure.

Incident ids and numbers are not deterministic, so an incident is known by its group key and its place among
that group's incidents (in opening order). Events are deduplicated by event id (a copy is a redelivery, which
consumers drop); each incident's stream is the ordered list of (sequence, type, status, alert_count).
"""

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from .outcome import EventRecord, IncidentRecord

IncidentKey = tuple[str, int]  # (group key, 1-based place among the group's incidents)
EventView = tuple[int, str, str, int]  # (sequence, type, status, alert_count)
SHOWN = 10  # differences listed per kind


def keyed(incidents: Iterable[IncidentRecord]) -> dict[IncidentKey, IncidentRecord]:
    by_group: dict[str, list[IncidentRecord]] = defaultdict(list)
    for i in incidents:
        by_group[i.group_key].append(i)
    out = {}
    for group, items in by_group.items():
        for n, i in enumerate(sorted(items, key=lambda i: (_time(i.opened_at), i.number)), start=1):
            out[(group, n)] = i
    return out


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass
class Streams:
    """One run's incidents.events, per incident, deduplicated by event id, with what is wrong inside the run."""

    by_incident: dict[IncidentKey, list[EventView]] = field(default_factory=dict)
    distinct: int = 0
    copies: int = 0  # records repeating an event id already seen (redeliveries)
    doubled: list[str] = field(default_factory=list)  # one incident version under two event ids
    orphans: int = 0  # events of an incident the API does not list
    problems: list[str] = field(default_factory=list)


def streams(incidents: dict[IncidentKey, IncidentRecord], events: Iterable[EventRecord]) -> Streams:
    key_of = {i.id: k for k, i in incidents.items()}
    out = Streams()
    seen: dict[str, EventView] = {}
    versions: dict[tuple[str, int], str] = {}
    for e in events:
        view = (e.sequence, e.type, e.status, e.alert_count)
        if e.event_id in seen:
            out.copies += 1
            if seen[e.event_id] != view:
                out.problems.append(f"event {e.event_id} published twice with different content")
            continue
        seen[e.event_id] = view
        out.distinct += 1
        if (e.incident_id, e.sequence) in versions:
            first = versions[e.incident_id, e.sequence]
            out.doubled.append(f"incident {e.incident_id} version {e.sequence}: events {first} and {e.event_id}")
        versions[e.incident_id, e.sequence] = e.event_id
        key = key_of.get(e.incident_id)
        if key is None:
            out.orphans += 1
            continue
        out.by_incident.setdefault(key, []).append(view)
    for key, incident in incidents.items():
        out.problems += _stream_problems(key, incident, out.by_incident.get(key, []))
    return out


def _stream_problems(key: IncidentKey, incident: IncidentRecord, stream: list[EventView]) -> list[str]:
    """An incident's events must number its versions 1, 2, 3... in order and end in its current version and
    status; repeats of its alerts since the last event are counted, not told, so that event may show fewer."""
    name = f"{key[0]} #{key[1]} ({incident.number})"
    if not stream:
        return [f"{name}: no events at all"]
    problems = []
    sequences = [v[0] for v in stream]
    if sequences != list(range(1, len(stream) + 1)):
        problems.append(f"{name}: event sequences {_short(sequences)} are not 1..{len(stream)} in order")
    last = max(stream)
    if (last[0], last[2]) != (incident.version, incident.status) or last[3] > incident.alert_count:
        problems.append(
            f"{name}: last event says version {last[0]} {last[2]}/{last[3]} alerts,"
            f" the incident version {incident.version} {incident.status}/{incident.alert_count}"
        )
    return problems


def _short(items: list) -> str:
    return str(items) if len(items) <= 12 else f"[{', '.join(map(str, items[:10]))}, ... {len(items)} in all]"


@dataclass
class Comparison:
    incidents_expected: int = 0
    incidents_found: int = 0
    incidents_lost: int = 0
    incidents_duplicated: int = 0
    incidents_differing: int = 0
    events_expected: int = 0
    events_found: int = 0
    events_lost: int = 0
    events_extra: int = 0
    events_doubled: int = 0
    event_copies: int = 0
    streams_differing: int = 0
    lifecycles_differing: int = 0
    differences: list[str] = field(default_factory=list)  # fatal
    notes: list[str] = field(default_factory=list)  # informational

    @property
    def ok(self) -> bool:
        return not self.differences


def compare(
    expected: list[IncidentRecord],
    expected_events: list[EventRecord],
    found: list[IncidentRecord],
    found_events: list[EventRecord],
    events: str = "strict",
) -> Comparison:
    """events: "strict" compares each incident's whole stream; "lifecycle" leaves out the "updated" events."""
    exp, got = keyed(expected), keyed(found)
    c = Comparison(incidents_expected=len(exp), incidents_found=len(got))
    _compare_incidents(exp, got, c)
    exp_streams, got_streams = streams(exp, expected_events), streams(got, found_events)
    for label, s in (("clean run", exp_streams), ("faulty run", got_streams)):
        c.differences += [f"{label}: {p}" for p in s.problems[:SHOWN]]
        c.differences += [f"{label}: {d}" for d in s.doubled[:SHOWN]]
        if s.orphans:
            c.differences.append(f"{label}: {s.orphans} events of incidents the API does not list")
    c.events_expected, c.events_found = exp_streams.distinct, got_streams.distinct
    c.events_doubled, c.event_copies = len(got_streams.doubled), got_streams.copies
    _compare_streams(exp_streams, got_streams, c, events)
    return c


def _compare_incidents(
    exp: dict[IncidentKey, IncidentRecord], got: dict[IncidentKey, IncidentRecord], c: Comparison
) -> None:
    count_exp = Counter(g for g, _ in exp)
    count_got = Counter(g for g, _ in got)
    for group in sorted(count_exp.keys() | count_got.keys()):
        e, f = count_exp[group], count_got[group]
        if e > f:
            c.incidents_lost += e - f
            c.differences.append(f"group {group}: {e} incidents expected, {f} found (lost {e - f})")
        elif f > e:
            c.incidents_duplicated += f - e
            c.differences.append(f"group {group}: {e} incidents expected, {f} found ({f - e} more)")
    informational: Counter = Counter()
    for key in sorted(exp.keys() & got.keys()):
        a, b = exp[key], got[key]
        if (a.status, a.alert_count) != (b.status, b.alert_count):
            c.incidents_differing += 1
            c.differences.append(
                f"{key[0]} #{key[1]}: expected {a.status} with {a.alert_count} alerts ({a.number}),"
                f" found {b.status} with {b.alert_count} ({b.number})"
            )
        for name in ("priority", "opened_at", "resolved_at"):
            if getattr(a, name) != getattr(b, name):
                informational[name] += 1
    c.notes += [f"{n} incidents differ in {name} (not compared)" for name, n in sorted(informational.items())]


def lifecycle(stream: list[EventView]) -> list[tuple[str, str]]:
    """What happened to an incident, without its "updated" events: how many of those there are, and the counts
    they carry, follow from how the correlator's batches coalesced repeats, which is timing."""
    return [(kind, status) for _, kind, status, _ in stream if kind != "updated"]


def _compare_streams(exp: Streams, got: Streams, c: Comparison, events: str) -> None:
    """Incidents whose lifecycle differs are listed first; those whose "updated" events alone differ only in
    strict mode."""
    lifecycles, updates = [], []
    for key in sorted(exp.by_incident.keys() | got.by_incident.keys()):
        a, b = exp.by_incident.get(key, []), got.by_incident.get(key, [])
        if a == b:
            continue
        c.streams_differing += 1
        lost, extra = Counter(a) - Counter(b), Counter(b) - Counter(a)
        c.events_lost += sum(lost.values())
        c.events_extra += sum(extra.values())
        if lifecycle(a) != lifecycle(b):
            c.lifecycles_differing += 1
            lifecycles.append(
                f"{key[0]} #{key[1]} lifecycle differs: expected {_short(lifecycle(a))}, found {_short(lifecycle(b))}"
            )
        elif events == "strict":
            updates.append(
                f"{key[0]} #{key[1]} updates differ: {len(a)} events expected, {len(b)} found"
                f" (missing {_short(sorted(lost.elements()))}, extra {_short(sorted(extra.elements()))})"
            )
    for lines in (lifecycles, updates):
        c.differences += lines[:SHOWN]
        if len(lines) > SHOWN:
            c.differences.append(f"... and {len(lines) - SHOWN} more like that")
