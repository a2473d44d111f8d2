"""Heartbeats (dead-man switch): a sender says "I am alive, expect me again within N seconds".

Carried on alerts.normalized as an Alert with source "heartbeat", fingerprint "heartbeat:<name>" and labels
heartbeat=<name>, interval_seconds=<n>, ci=<CI id or name> (when given); the correlator tracks it and raises
a synthetic alert on the CI when a heartbeat is overdue."""

import re

from pydantic import BaseModel, ConfigDict, Field

from services.shared.contracts import Alert

from .. import severity
from . import Context, new_alert

SOURCE = "heartbeat"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")


class Heartbeat(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {"interval_seconds": 300, "ci": "backup-server-01", "labels": {"team": "storage"}}
        },
    )

    interval_seconds: int = Field(ge=10, le=7 * 24 * 3600, description="The next beat is due within this many seconds.")
    ci: str = Field("", max_length=256, description="CI the synthetic alert is raised on when the beat is late.")
    summary: str = Field("", max_length=1024, description="Title of the synthetic alert; default names the heartbeat.")
    labels: dict[str, str] = Field(default_factory=dict, description="Extra labels copied onto the synthetic alert.")


def normalise(name: str, beat: Heartbeat, ctx: Context) -> list[Alert]:
    labels = {**beat.labels, "heartbeat": name, "interval_seconds": str(beat.interval_seconds)}
    if beat.ci:
        labels["ci"] = beat.ci
    return [
        new_alert(
            ctx,
            source=SOURCE,
            fingerprint=f"heartbeat:{name}",
            firing=True,
            labels=labels,
            severity=severity.MAJOR,
            summary=beat.summary or f"Heartbeat {name} missed",
        )
    ]
