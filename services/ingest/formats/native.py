"""triage's own alert JSON (`POST /v1/alerts`): one object, or an array of 1 to 1,000."""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, model_validator

from services.shared.contracts import Alert

from .. import severity
from ..fingerprint import fingerprint
from . import Context, Instant, new_alert

SOURCE = "native"
MAX_ALERTS = 1000
SEVERITIES: dict[str, int] = {name: value for value, name in severity.NAMES.items()}


class NativeAlert(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fingerprint: str = Field("", max_length=256, description="Your key for this alert; used verbatim when given.")
    status: Literal["firing", "resolved"] = "firing"
    severity: Literal["critical", "major", "minor", "warning", "info"] = "warning"
    labels: dict[str, str] = Field(min_length=1)
    annotations: dict[str, str] = {}
    summary: str = Field("", max_length=1024)
    description: str = Field("", max_length=16_384)
    starts_at: Instant | None = None
    ends_at: Instant | None = None
    generator_url: str = ""


_EXAMPLE = {
    "fingerprint": "billing-db-replication",
    "status": "firing",
    "severity": "major",
    "labels": {"alertname": "ReplicationBroken", "host": "billing-db-02"},
    "summary": "Replication stopped on billing-db-02",
}


def _one_or_many_schema(schema: dict[str, Any]) -> None:
    """The documented body is what is accepted: one alert object, or an array of them."""
    many = {k: v for k, v in schema.items() if k in ("type", "items", "minItems", "maxItems")}
    for key in many:
        del schema[key]
    schema["anyOf"] = [dict(many["items"]), many]
    schema["example"] = [_EXAMPLE]


class NativeAlerts(RootModel[list[NativeAlert]]):
    """One alert object, or an array of 1 to 1,000. Errors name the index: `[3].labels` (a single object is
    index 0)."""

    model_config = ConfigDict(json_schema_extra=_one_or_many_schema)

    root: list[NativeAlert] = Field(min_length=1, max_length=MAX_ALERTS)

    @model_validator(mode="before")
    @classmethod
    def _one_or_many(cls, data: Any) -> Any:
        return [data] if isinstance(data, dict) else data


def normalise(body: NativeAlerts, ctx: Context) -> list[Alert]:
    return [
        new_alert(
            ctx,
            source=SOURCE,
            firing=a.status == "firing",
            fingerprint=fingerprint(SOURCE, a.labels, ctx.identifying(SOURCE), a.fingerprint),
            severity=SEVERITIES[a.severity],
            labels=a.labels,
            annotations=a.annotations,
            summary=a.summary or a.labels.get("alertname", ""),
            description=a.description,
            starts_at=a.starts_at,
            ends_at=a.ends_at,
            generator_url=a.generator_url,
        )
        for a in body.root
    ]
