"""The stable identity of an alert across repeats, resolves and re-fires."""

import hashlib
import json
from collections.abc import Collection, Mapping


def fingerprint(
    source: str,
    labels: Mapping[str, str],
    identifying: Collection[str] | None = None,
    sender_key: str | None = None,
) -> str:
    """The sender's own key verbatim when it gave one (Alertmanager/Grafana fingerprint, PagerDuty
    dedup_key); otherwise a hash of the source and the sorted identifying labels (all labels when
    `identifying` is None), so label order never matters and another source never collides."""
    if sender_key:
        return sender_key
    chosen = sorted((k, v) for k, v in labels.items() if identifying is None or k in identifying)
    canonical = json.dumps([source, chosen], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]
