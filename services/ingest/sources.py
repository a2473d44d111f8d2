"""The inbound formats by source name: what HTTP routes and the alerts.raw `source` header choose from."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from services.shared import kafka
from services.shared.contracts import Alert

from .formats import Context, alertmanager, grafana, native, pagerduty


@dataclass(frozen=True, slots=True)
class Source:
    name: str
    model: type[BaseModel]
    normalise: Callable[[Any, Context], list[Alert]]


SOURCES: dict[str, Source] = {
    s.name: s
    for s in (
        Source(alertmanager.SOURCE, alertmanager.AlertmanagerWebhook, alertmanager.normalise),
        Source(grafana.SOURCE, grafana.GrafanaWebhook, grafana.normalise),
        Source(pagerduty.SOURCE, pagerduty.PagerDutyEvent, pagerduty.normalise),
        Source(native.SOURCE, native.NativeAlerts, native.normalise),
    )
}


def normalized_messages(alerts: Sequence[Alert]) -> list[kafka.Outgoing]:
    """alerts.normalized records: keyed by fingerprint so one correlator instance owns each alert."""
    return [
        kafka.Outgoing(
            kafka.NORMALIZED,
            a.fingerprint.encode(),
            a.SerializeToString(),
            [("source", a.source.encode())],
            # The record's time is the alert's receive time: the correlator merges partitions by it.
            a.received_at.seconds * 1000 + a.received_at.nanos // 1_000_000,
        )
        for a in alerts
    ]
