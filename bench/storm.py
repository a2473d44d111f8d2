"""The storm mix used by the benchmark: many duplicates, some resolves, over a CMDB-like host/app spread."""

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass


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


def alert_body(i: int, mix: StormMix, status: str) -> dict:
    host = f"host-{i % mix.cis:05d}"
    name = "KnownDiskFull" if i % int(1 / mix.known_error_share) == 0 else f"Check{i % 97:02d}"
    return {
        "status": status,
        "labels": {
            "alertname": name,
            "instance": f"{host}:9100",
            "job": "node",
            "severity": ("critical", "warning", "info")[i % 3],
            "alert_id": str(i),
        },
        "annotations": {"summary": f"{name} on {host}"},
        "startsAt": "2026-11-25T06:00:00Z",
        "fingerprint": f"{mix.prefix}{i:011x}",
    }


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
            yield json.dumps({"version": "4", "status": "firing", "receiver": "triage", "alerts": batch}).encode()
            batch = []
    if batch:
        yield json.dumps({"version": "4", "status": "firing", "receiver": "triage", "alerts": batch}).encode()
