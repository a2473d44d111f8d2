"""The chaos storm: a seeded CMDB and a seeded stream of Alertmanager webhooks for alerts.raw. Pure.

The same spec always gives the same CIs and the same messages, partitions and timestamps, so two runs get
identical input. Every message carries its event time as the Kafka record timestamp, which ingest takes as the
alerts' received time; all of a group's alerts go through one alerts.raw partition, so each fingerprint's
alerts reach alerts.normalized in their event-time order.

Alerting groups (a host with the applications running on it, or a cluster of probes no CI binds) go through
episodes: some of their alerts fire, repeat (the duplicates), sometimes flap (resolve and fire again), and
resolve; the group is quiet for a while, short (the incident reopens) or longer than an hour (a new incident).
"""

import json
import random
import zlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

HOST_ALERTS = ("NodeDiskFull", "NodeHighCPU", "NodeMemoryPressure", "NodeDown")
APP_ALERTS = ("AppHighLatency", "AppErrorRate", "AppDown", "AppQueueBacklog")
SEVERITIES = ("critical", "major", "warning", "info")


@dataclass(frozen=True)
class StormSpec:
    alerts: int = 100_000
    cis: int = 2_000
    duplicate_share: float = 0.9
    hours: float = 6.0  # event time the storm spans
    partitions: int = 6
    per_webhook: int = 10
    flap_share: float = 0.1  # episode members that resolve and fire again inside the episode
    seed: int = 1
    start: datetime = datetime(2030, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Rule:
    """One alert a sender can raise: one fingerprint."""

    fingerprint: str
    labels: tuple[tuple[str, str], ...]
    group: str  # the alerting group: which episodes it takes part in, which raw partition carries it


@dataclass(frozen=True)
class Sighting:
    at: float  # seconds after spec.start
    rule: Rule
    firing: bool
    started: float  # start of its firing period (Alertmanager startsAt)
    kind: str  # fire | resolve | duplicate


@dataclass(frozen=True)
class RawMessage:
    partition: int
    timestamp_ms: int
    body: bytes
    alerts: int


@dataclass(frozen=True)
class Storm:
    cis: list[dict]
    messages: list[RawMessage]
    mix: Counter = field(default_factory=Counter)
    firing_by_group: Counter = field(default_factory=Counter)  # alerting group -> firing alerts sent
    fingerprints: int = 0
    groups: int = 0


def cmdb(spec: StormSpec, rnd: random.Random) -> list[dict]:
    """Business services, hosts, and applications that run on a host and are part of a service."""
    services = max(1, spec.cis // 20)
    hosts = max(1, spec.cis // 4)
    apps = max(0, spec.cis - services - hosts)
    cis: list[dict] = [
        {"id": f"svc-{i:04d}", "name": f"svc-{i:04d}", "class": "business_service", "criticality": 1 + i % 3}
        for i in range(services)
    ]
    cis += [
        {
            "id": f"host-{i:05d}",
            "name": f"host-{i:05d}",
            "class": "server",
            "environment": "production",
            "criticality": rnd.randint(1, 4),
            "support_group": f"ops-{i % 8}",
        }
        for i in range(hosts)
    ]
    cis += [
        {
            "id": f"app-{i:05d}",
            "name": f"app-{i:05d}",
            "class": "application",
            "environment": "production",
            "criticality": rnd.randint(1, 5),
            "support_group": f"dev-{i % 12}",
            "runs_on": [f"host-{rnd.randrange(hosts):05d}"],
            "part_of": [f"svc-{rnd.randrange(services):04d}"],
        }
        for i in range(apps)
    ]
    return cis


def rules(spec: StormSpec, cis: list[dict], rnd: random.Random) -> dict[str, list[Rule]]:
    """Alert rules per alerting group: each host and app has a few; probes outside the CMDB group by labels."""
    groups: dict[str, list[Rule]] = {}
    for ci in cis:
        if ci["class"] == "server":
            names, port, job, group = HOST_ALERTS, 9100, "node", ci["id"]
        elif ci["class"] == "application":
            names, port, job, group = APP_ALERTS, 8080, "app", ci["runs_on"][0]
        else:
            continue
        for name in rnd.sample(names, rnd.randint(1, 3)):
            labels = {"alertname": name, "instance": f"{ci['name']}:{port}", "job": job}
            labels["severity"] = rnd.choice(SEVERITIES)
            groups.setdefault(group, []).append(_rule(spec, labels, group))
    for i in range(max(4, spec.cis // 50)):
        cluster = f"edge-{i % 2}"
        labels = {"alertname": "BlackboxProbeFailed", "instance": f"probe-{i:04d}.example.net:443", "job": "blackbox"}
        labels |= {"cluster": cluster, "service": "website", "severity": "major"}
        groups.setdefault(f"labels:{cluster}", []).append(_rule(spec, labels, f"labels:{cluster}"))
    return groups


def _rule(spec: StormSpec, labels: dict[str, str], group: str) -> Rule:
    key = f"{spec.seed}/{labels['alertname']}/{labels['instance']}"
    return Rule(f"{zlib.crc32(key.encode()):08x}{zlib.adler32(key.encode()):08x}", tuple(sorted(labels.items())), group)


def episodes(spec: StormSpec, groups: dict[str, list[Rule]], rnd: random.Random) -> list[Sighting]:
    """Fires, re-fires and resolves, until they make up (1 - duplicate_share) of the alerts."""
    span = spec.hours * 3600
    budget = round(spec.alerts * (1 - spec.duplicate_share))
    sightings: list[Sighting] = []
    next_start = {g: rnd.uniform(0, 0.6 * span) for g in sorted(groups)}
    while len(sightings) < budget and next_start:
        for g in rnd.sample(sorted(next_start), len(next_start)):
            start = next_start[g]
            if len(sightings) >= budget or start > 0.95 * span:
                next_start.pop(g)
                continue
            end = start + rnd.uniform(120, 2400)
            size = min(len(groups[g]), 12 if g.startswith("labels:") else 4)
            for rule in rnd.sample(groups[g], rnd.randint(1, size)):
                sightings += _period(spec, rule, start + rnd.uniform(0, 60), end + rnd.uniform(0, 60), span, rnd)
            # Mostly back within the hour (the incident reopens), otherwise after it (a new incident).
            quiet = rnd.uniform(120, 1800) if rnd.random() < 0.6 else rnd.uniform(3900, 7200)
            next_start[g] = end + 60 + quiet
    return sightings


def _period(
    spec: StormSpec, rule: Rule, fire: float, resolve: float, span: float, rnd: random.Random
) -> list[Sighting]:
    out = [Sighting(fire, rule, True, fire, "fire")]
    if rnd.random() < spec.flap_share and resolve - fire > 300:
        down = fire + (resolve - fire) * rnd.uniform(0.2, 0.4)
        up = down + rnd.uniform(30, 120)
        out += [Sighting(down, rule, False, fire, "resolve"), Sighting(up, rule, True, up, "fire")]
    if resolve < span:
        out.append(Sighting(resolve, rule, False, out[-1].started, "resolve"))
    return out


def firing_periods(sightings: list[Sighting], span: float) -> list[tuple[Rule, float, float]]:
    """(rule, from, to) for each period an alert fires: where its repeats can fall."""
    periods, open_at = [], {}
    for s in sorted(sightings, key=lambda s: s.at):
        if s.firing:
            open_at[s.rule] = s.at
        elif s.rule in open_at:
            periods.append((s.rule, open_at.pop(s.rule), s.at))
    periods += [(rule, at, span) for rule, at in open_at.items()]
    return periods


def duplicates(spec: StormSpec, sightings: list[Sighting], rnd: random.Random) -> list[Sighting]:
    """The rest of the alerts: repeats of firing alerts, spread over their firing periods by length."""
    count = spec.alerts - len(sightings)
    periods = firing_periods(sightings, spec.hours * 3600)
    if count <= 0 or not periods:
        return []
    weights = [max(1.0, end - start) for _, start, end in periods]
    out = []
    for rule, start, end in rnd.choices(periods, weights=weights, k=count):
        out.append(Sighting(start + (end - start) * rnd.uniform(0.001, 0.999), rule, True, start, "duplicate"))
    return out


def messages(spec: StormSpec, sightings: list[Sighting]) -> list[RawMessage]:
    """Webhooks of up to per_webhook alerts of one raw partition within 5 s of event time, in event-time order.
    A message's record timestamp is its latest alert's time."""
    pending: dict[int, list[Sighting]] = {}
    out: list[RawMessage] = []
    for s in sorted(sightings, key=lambda s: (s.at, s.rule.fingerprint)):
        partition = zlib.crc32(s.rule.group.encode()) % spec.partitions
        batch = pending.setdefault(partition, [])
        if batch and (len(batch) == spec.per_webhook or s.at - batch[0].at > 5):
            out.append(_webhook(spec, partition, batch))
            batch.clear()
        batch.append(s)
    out += [_webhook(spec, p, batch) for p, batch in sorted(pending.items()) if batch]
    return sorted(out, key=lambda m: (m.timestamp_ms, m.partition))


def _webhook(spec: StormSpec, partition: int, batch: list[Sighting]) -> RawMessage:
    alerts = [_alert(spec, s) for s in batch]
    body = {
        "version": "4",
        "status": "firing" if any(s.firing for s in batch) else "resolved",
        "receiver": "triage",
        "groupKey": f"{{}}:{{group={batch[0].rule.group!r}}}",
        "alerts": alerts,
    }
    at = spec.start + timedelta(seconds=batch[-1].at)
    return RawMessage(partition, int(at.timestamp() * 1000), json.dumps(body).encode(), len(batch))


def _alert(spec: StormSpec, s: Sighting) -> dict:
    labels = dict(s.rule.labels)
    alert = {
        "status": "firing" if s.firing else "resolved",
        "labels": labels,
        "annotations": {"summary": f"{labels['alertname']} on {labels['instance']}"},
        "startsAt": _iso(spec, s.started),
        "fingerprint": s.rule.fingerprint,
    }
    if not s.firing:
        alert["endsAt"] = _iso(spec, s.at)
    return alert


def _iso(spec: StormSpec, seconds: float) -> str:
    return (spec.start + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def storm(spec: StormSpec) -> Storm:
    rnd = random.Random(spec.seed)
    cis = cmdb(spec, rnd)
    groups = rules(spec, cis, rnd)
    skeleton = episodes(spec, groups, rnd)
    every = skeleton + duplicates(spec, skeleton, rnd)
    return Storm(
        cis=cis,
        messages=messages(spec, every),
        mix=mix(every),
        firing_by_group=Counter(s.rule.group for s in every if s.firing),
        fingerprints=sum(len(r) for r in groups.values()),
        groups=len(groups),
    )


def mix(sightings: list[Sighting]) -> Counter:
    """first fires, re-fires (firing again after a resolve), resolves, duplicates (repeats while firing)."""
    seen: set[Rule] = set()
    counts: Counter = Counter()
    for s in sorted(sightings, key=lambda s: s.at):
        if s.kind == "duplicate" or not s.firing:
            counts[s.kind] += 1
        else:
            counts["re-fire" if s.rule in seen else "first fire"] += 1
            seen.add(s.rule)
    return counts
