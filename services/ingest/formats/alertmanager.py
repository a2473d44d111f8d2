"""Prometheus Alertmanager webhook, version 4 (`webhook_configs` receiver)."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from services.shared.contracts import Alert

from .. import severity
from ..fingerprint import fingerprint
from . import Context, Instant, new_alert

SOURCE = "alertmanager"
# Alertmanager writes the zero time for "no end yet".
_NO_TIME_YEAR = 1


class AlertmanagerAlert(BaseModel):
    model_config = ConfigDict(extra="allow")

    status: Literal["firing", "resolved"]
    labels: dict[str, str] = Field(min_length=1, description="Must hold at least one label (e.g. alertname).")
    annotations: dict[str, str] = {}
    startsAt: Instant | None = None
    endsAt: Instant | None = None
    generatorURL: str = ""
    fingerprint: str = ""


class AlertmanagerWebhook(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "example": {
                "version": "4",
                "groupKey": '{}:{alertname="DiskFull"}',
                "status": "firing",
                "receiver": "triage",
                "groupLabels": {"alertname": "DiskFull"},
                "commonLabels": {"alertname": "DiskFull"},
                "commonAnnotations": {},
                "externalURL": "http://alertmanager:9093",
                "truncatedAlerts": 0,
                "alerts": [
                    {
                        "status": "firing",
                        "labels": {"alertname": "DiskFull", "instance": "db01:9100", "severity": "critical"},
                        "annotations": {"summary": "Disk / is 97% full on db01"},
                        "startsAt": "2026-11-25T06:00:00Z",
                        "endsAt": "0001-01-01T00:00:00Z",
                        "generatorURL": "http://prometheus:9090/graph",
                        "fingerprint": "c0ffee1234567890",
                    }
                ],
            }
        },
    )

    version: str = "4"
    groupKey: str = ""
    truncatedAlerts: int = 0
    status: Literal["firing", "resolved"] = "firing"
    receiver: str = ""
    groupLabels: dict[str, str] = {}
    commonLabels: dict[str, str] = {}
    commonAnnotations: dict[str, str] = {}
    externalURL: str = ""
    alerts: list[AlertmanagerAlert] = Field(min_length=1, max_length=10_000)


def _time(at: datetime | None) -> datetime | None:
    return None if at is None or at.year == _NO_TIME_YEAR else at


def normalise(body: AlertmanagerWebhook, ctx: Context) -> list[Alert]:
    return [_alert(body, a, ctx) for a in body.alerts]


def _alert(body: AlertmanagerWebhook, a: AlertmanagerAlert, ctx: Context) -> Alert:
    ann = a.annotations
    return new_alert(
        ctx,
        source=SOURCE,
        firing=a.status == "firing",
        fingerprint=fingerprint(SOURCE, a.labels, ctx.identifying(SOURCE), a.fingerprint),
        severity=severity.from_label(a.labels.get("severity")),
        labels=a.labels,
        annotations=ann,
        summary=ann.get("summary") or ann.get("message") or a.labels.get("alertname", ""),
        description=ann.get("description", ""),
        starts_at=_time(a.startsAt),
        ends_at=_time(a.endsAt),
        generator_url=a.generatorURL,
        sender_group_key=body.groupKey,
        external_url=body.externalURL,
    )
