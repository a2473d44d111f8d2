"""The storm mix the benchmark sends, and the reference data it runs against.

A CMDB of 2,000 CIs with a topology (hosts; applications running on them, part of business services), a
known-error catalogue, and Alertmanager webhooks over it: every fingerprint fires once, then duplicates (90% of
all alerts) and resolves (5% of the duplicates) at random; 10% of the fingerprints match a known error. Alerts
bind to their CI by name (host `instance`, application `service`), so topology grouping puts a host's alerts and
its applications' alerts under one incident. A `prefix` keeps runs apart (their own CIs, fingerprints, groups).
"""

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass

KNOWN_ERROR_ALERT = "KnownDiskFull"
SEVERITIES = ("critical", "warning", "info")


@dataclass(frozen=True)
class StormMix:
    alerts: int = 200_000
    fingerprints: int = 20_000
    cis: int = 2_000
    resolve_share: float = 0.05
    known_error_share: float = 0.10
    per_webhook: int = 10
    seed: int = 7
    prefix: str = "bench"

    @property
    def hosts(self) -> int:
        return max(1, self.cis // 5)

    @property
    def services(self) -> int:
        return max(1, self.cis // 100)

    @property
    def applications(self) -> int:
        return self.cis - self.hosts - self.services

    @property
    def webhooks(self) -> int:
        return -(-self.alerts // self.per_webhook)


def host(mix: StormMix, n: int) -> str:
    return f"{mix.prefix}-host-{n:05d}"


def application(mix: StormMix, n: int) -> str:
    return f"{mix.prefix}-app-{n:05d}"


def business_service(mix: StormMix, n: int) -> str:
    return f"{mix.prefix}-svc-{n:03d}"


def cmdb(mix: StormMix) -> list[dict]:
    """The CIs (JSON body of PUT /v1/cis): hosts, applications running on hosts and part of a business service."""
    cis: list[dict] = [
        {"id": business_service(mix, n), "class": "business_service", "criticality": 1 + n % 3}
        for n in range(mix.services)
    ]
    cis += [
        {"id": host(mix, n), "class": "host", "criticality": 2 + n % 3, "support_group": f"ops-{n % 7}"}
        for n in range(mix.hosts)
    ]
    cis += [
        {
            "id": application(mix, n),
            "class": "application",
            "criticality": 1 + n % 5,
            "support_group": f"app-team-{n % 13}",
            "runs_on": [host(mix, n % mix.hosts)],
            "part_of": [business_service(mix, n % mix.services)],
        }
        for n in range(mix.applications)
    ]
    return cis


def known_errors(mix: StormMix, count: int = 100) -> list[dict]:
    """One known error the storm matches, and others it never does (so matching looks through a catalogue)."""
    records = [
        {
            "id": f"{mix.prefix}-KE-0000",
            "title": "Disk fills up with rotated logs",
            "workaround": "Run logrotate --force",
            "matchers": [{"type": "label", "label": "alertname", "value": KNOWN_ERROR_ALERT}],
        }
    ]
    for n in range(1, count):
        matchers: list[dict] = [{"type": "label", "label": "alertname", "value": f"Check{n % 97:02d}"}]
        matchers.append({"type": "ci_class", "value": "database"})  # the storm has no databases: never matches
        if n % 3 == 0:
            matchers.append({"type": "text_regex", "regex": f"(?i)error code {n}\\b"})
        records.append({"id": f"{mix.prefix}-KE-{n:04d}", "title": f"known error {n}", "matchers": matchers})
    return records


def alert_body(i: int, mix: StormMix, status: str) -> dict:
    """Fingerprint i: on CI i mod cis (hosts first, then applications, then business services)."""
    ci = i % mix.cis
    name = KNOWN_ERROR_ALERT if i % round(1 / mix.known_error_share) == 0 else f"Check{i % 97:02d}"
    if ci < mix.hosts:
        target = {"instance": f"{host(mix, ci)}:9100", "job": "node"}
        summary_on = host(mix, ci)
    elif ci < mix.hosts + mix.applications:
        target = {"service": application(mix, ci - mix.hosts), "job": "app"}
        summary_on = target["service"]
    else:
        target = {"service": business_service(mix, ci - mix.hosts - mix.applications), "job": "probe"}
        summary_on = target["service"]
    return {
        "status": status,
        "labels": {"alertname": name, **target, "severity": SEVERITIES[i % 3], "alert_id": str(i)},
        "annotations": {"summary": f"{name} on {summary_on}"},
        "startsAt": "2026-11-25T06:00:00Z",
        "fingerprint": f"{mix.prefix}{i:011x}",
    }


def _webhook(alerts: list[dict]) -> bytes:
    return json.dumps({"version": "4", "status": "firing", "receiver": "triage", "alerts": alerts}).encode()


def webhooks(mix: StormMix) -> Iterator[bytes]:
    """Alertmanager webhook bodies: every fingerprint fires once, then duplicates and resolves at random."""
    rnd = random.Random(mix.seed)
    order = list(range(mix.fingerprints)) + [
        rnd.randrange(mix.fingerprints) for _ in range(mix.alerts - mix.fingerprints)
    ]
    batch: list[dict] = []
    for n, i in enumerate(order):
        resolve = n >= mix.fingerprints and rnd.random() < mix.resolve_share
        batch.append(alert_body(i, mix, "resolved" if resolve else "firing"))
        if len(batch) == mix.per_webhook:
            yield _webhook(batch)
            batch = []
    if batch:
        yield _webhook(batch)


def distinct_firing(prefix: str, alerts: int, groups: int, per_webhook: int = 100) -> Iterator[bytes]:
    """`alerts` distinct firing alerts bound to no CI, in `groups` label groups (alertname x service): the
    footprint point, where every alert and every incident stays open."""
    batch: list[dict] = []
    for i in range(alerts):
        g = i % groups
        batch.append(
            {
                "status": "firing",
                "labels": {
                    "alertname": f"Footprint{g % 50:02d}",
                    "service": f"{prefix}-unlisted-{g // 50:05d}",
                    "pod": f"pod-{i:07d}",
                    "severity": SEVERITIES[i % 3],
                },
                "annotations": {"summary": f"footprint alert {i}"},
                "startsAt": "2026-11-25T06:00:00Z",
                "fingerprint": f"{prefix}{i:011x}",
            }
        )
        if len(batch) == per_webhook:
            yield _webhook(batch)
            batch = []
    if batch:
        yield _webhook(batch)
