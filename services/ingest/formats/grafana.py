"""Grafana unified alerting webhook contact point (Grafana 9+, payload version "1")."""

from datetime import datetime
from typing import Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from services.shared.contracts import Alert

from .. import severity
from ..fingerprint import fingerprint
from . import Context, Instant, new_alert

SOURCE = "grafana"
_NO_TIME_YEAR = 1  # Grafana, like Alertmanager, writes the zero time for "no end yet"


class GrafanaAlert(BaseModel):
    model_config = ConfigDict(extra="allow")

    status: Literal["firing", "resolved"]
    labels: dict[str, str] = Field(min_length=1, description="At least one label (Grafana always sends alertname).")
    annotations: dict[str, str] = {}
    startsAt: Instant | None = None
    endsAt: Instant | None = None
    values: dict[str, float | None] | None = None
    generatorURL: str = ""
    fingerprint: str = ""
    silenceURL: str = ""
    dashboardURL: str = ""
    panelURL: str = ""
    imageURL: str = ""


class GrafanaWebhook(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "example": {
                "receiver": "triage",
                "status": "firing",
                "orgId": 1,
                "title": "[FIRING:1] HighLatency api",
                "state": "alerting",
                "message": "p99 above 2s",
                "version": "1",
                "groupKey": '{}:{alertname="HighLatency"}',
                "externalURL": "https://grafana.example/",
                "truncatedAlerts": 0,
                "groupLabels": {"alertname": "HighLatency"},
                "commonLabels": {"alertname": "HighLatency"},
                "commonAnnotations": {},
                "alerts": [
                    {
                        "status": "firing",
                        "labels": {"alertname": "HighLatency", "service": "api", "severity": "major"},
                        "annotations": {"summary": "api p99 latency 2.4s"},
                        "startsAt": "2026-11-25T06:00:00Z",
                        "endsAt": "0001-01-01T00:00:00Z",
                        "values": {"B": 2.4},
                        "fingerprint": "3f2e1d0c9b8a7654",
                        "generatorURL": "https://grafana.example/alerting/grafana/abc/view",
                        "silenceURL": "https://grafana.example/alerting/silence/new",
                        "dashboardURL": "",
                        "panelURL": "",
                    }
                ],
            }
        },
    )

    receiver: str = ""
    status: Literal["firing", "resolved"] = "firing"
    orgId: int = 0
    alerts: list[GrafanaAlert] = Field(min_length=1, max_length=10_000)
    groupLabels: dict[str, str] = {}
    commonLabels: dict[str, str] = {}
    commonAnnotations: dict[str, str] = {}
    externalURL: str = ""
    version: str = "1"
    groupKey: str = ""
    truncatedAlerts: int = 0
    title: str = ""
    state: str = ""
    message: str = ""


def _time(at: datetime | None) -> datetime | None:
    return None if at is None or at.year == _NO_TIME_YEAR else at


def normalise(body: GrafanaWebhook, ctx: Context) -> list[Alert]:
    return [_alert(body, a, ctx) for a in body.alerts]


def _alert(body: GrafanaWebhook, a: GrafanaAlert, ctx: Context) -> Alert:
    ann = dict(a.annotations)
    # The links and the evaluated values are what an on-call engineer opens first: keep them on the alert.
    links = {
        "dashboard_url": a.dashboardURL,
        "panel_url": a.panelURL,
        "silence_url": a.silenceURL,
        "image_url": a.imageURL,
    }
    ann.update({k: v for k, v in links.items() if v})
    if a.values:
        ann["grafana_values"] = orjson.dumps(a.values).decode()
    return new_alert(
        ctx,
        source=SOURCE,
        firing=a.status == "firing",
        fingerprint=fingerprint(SOURCE, a.labels, ctx.identifying(SOURCE), a.fingerprint),
        severity=severity.from_label(a.labels.get("severity")),
        labels=a.labels,
        annotations=ann,
        summary=a.annotations.get("summary") or a.labels.get("alertname") or body.title,
        description=a.annotations.get("description", ""),
        starts_at=_time(a.startsAt),
        ends_at=_time(a.endsAt),
        generator_url=a.generatorURL,
        sender_group_key=body.groupKey,
        external_url=body.externalURL,
    )
