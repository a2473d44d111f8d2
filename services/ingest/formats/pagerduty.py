"""PagerDuty Events API v2 (`POST /v2/enqueue`), so existing PagerDuty integrations can point at triage.

trigger -> firing, resolve -> resolved (same dedup_key, same fingerprint). acknowledge is accepted and answered
as PagerDuty does, but produces no alert: acknowledging is an incident action in ticketing's API. Without a
dedup_key, a trigger's key is the hash of source, component, group, class and summary, so repeats of the same
event deduplicate (PagerDuty would open a new alert each time); the response returns that key for the sender's
later resolve. Bad events are answered as PagerDuty answers them: 400 {"status": "invalid event", ...}."""

from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from services.shared.contracts import Alert

from .. import severity
from ..fingerprint import fingerprint
from . import Context, Instant, new_alert

SOURCE = "pagerduty"
ROUTING_KEY_FIELD = "routing_key"
INVALID_STATUS, INVALID_MESSAGE = "invalid event", "Event object is invalid"

SEVERITIES: dict[str, int] = {
    "critical": severity.CRITICAL,
    "error": severity.MAJOR,
    "warning": severity.WARNING,
    "info": severity.INFO,
}


class Payload(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    summary: str = Field(min_length=1, max_length=1024)
    source: str = Field(min_length=1, max_length=255)
    severity: Literal["critical", "error", "warning", "info"]
    timestamp: Instant | None = None
    component: str = ""
    group: str = ""
    class_: str = Field("", alias="class")
    custom_details: Any = None


class Link(BaseModel):
    href: str
    text: str = ""


class Image(BaseModel):
    src: str
    href: str = ""
    alt: str = ""


class PagerDutyEvent(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "example": {
                "routing_key": "your-triage-token-here",
                "event_action": "trigger",
                "dedup_key": "srv01/mysql",
                "payload": {
                    "summary": "MySQL down on srv01",
                    "source": "srv01",
                    "severity": "critical",
                    "component": "mysql",
                    "group": "prod-db",
                    "class": "availability",
                    "custom_details": {"ping": "timeout"},
                },
                "links": [{"href": "https://runbooks.example/mysql", "text": "runbook"}],
            }
        },
    )

    routing_key: str = Field(min_length=1, max_length=128)
    event_action: Literal["trigger", "acknowledge", "resolve"]
    dedup_key: str | None = Field(None, max_length=255, validate_default=True)
    payload: Payload | None = Field(None, validate_default=True)
    images: list[Image] = []
    links: list[Link] = []
    client: str = ""
    client_url: str = ""

    @field_validator("dedup_key")
    @classmethod
    def _key_for_follow_ups(cls, value: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("event_action") in ("acknowledge", "resolve") and not value:
            raise ValueError("dedup_key is required to acknowledge or resolve")
        return value

    @field_validator("payload")
    @classmethod
    def _payload_for_triggers(cls, value: Payload | None, info: ValidationInfo) -> Payload | None:
        if info.data.get("event_action") == "trigger" and value is None:
            raise ValueError("payload is required to trigger")
        return value


def _labels(p: Payload) -> dict[str, str]:
    # alertname is what unbound alerts group by: the event's class, else its summary (PagerDuty itself opens one
    # alert per event, so unrelated events must not collapse into one incident). `source` (the affected system)
    # is a name label the correlator binds a CI by.
    labels = {
        "alertname": p.class_ or p.summary,
        "source": p.source,
        "component": p.component,
        "group": p.group,
        "class": p.class_,
    }
    return {k: v for k, v in labels.items() if v}


def dedup_key_of(event: PagerDutyEvent, ctx: Context) -> str:
    if event.dedup_key:
        return event.dedup_key
    assert event.payload is not None  # validation guarantees a payload for a trigger without a key
    return fingerprint(SOURCE, {**_labels(event.payload), "summary": event.payload.summary}, ctx.identifying(SOURCE))


def normalise(event: PagerDutyEvent, ctx: Context) -> list[Alert]:
    if event.event_action == "acknowledge":
        return []
    key = dedup_key_of(event, ctx)
    if event.payload is None:  # a resolve needs only its key
        return [
            new_alert(
                ctx,
                source=SOURCE,
                fingerprint=key,
                firing=False,
                labels={"alertname": "pagerduty"},
                severity=severity.INFO,
                summary=f"resolved {key}",
            )
        ]
    p = event.payload
    annotations = {"summary": p.summary, "client": event.client, "client_url": event.client_url}
    if p.custom_details is not None:
        annotations["custom_details"] = orjson.dumps(p.custom_details).decode()
    if event.links:
        annotations["links"] = orjson.dumps([link.model_dump() for link in event.links]).decode()
    if event.images:
        annotations["images"] = orjson.dumps([image.model_dump() for image in event.images]).decode()
    return [
        new_alert(
            ctx,
            source=SOURCE,
            fingerprint=key,
            firing=event.event_action == "trigger",
            labels=_labels(p),
            annotations={k: v for k, v in annotations.items() if v},
            severity=SEVERITIES[p.severity],
            summary=p.summary,
            starts_at=p.timestamp,
        )
    ]
