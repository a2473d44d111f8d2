"""Incident events as CloudEvents 1.0 (structured JSON mode) for webhook subscribers, and the signature on each
delivery. Pure: no I/O, the signing time is passed in.

Every delivery is a POST with `content-type: application/cloudevents+json` and two headers:
    X-Triage-Timestamp: 1764052800                      (unix seconds when the attempt was signed)
    X-Triage-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>" keyed with the subscription secret>
A receiver verifies it on the raw bytes, before parsing the JSON:
    expected = "sha256=" + hmac.new(secret, f"{timestamp}.".encode() + raw_body, sha256).hexdigest()
    accept if hmac.compare_digest(expected, signature_header) and abs(now - int(timestamp)) <= 300
Signing the timestamp with the body lets a receiver reject replays of an old delivery. `verify` below is that
check. The CloudEvents `id` is the event id: a retried delivery carries the same id, so receivers deduplicate.
"""

import hashlib
import hmac
from typing import Any

import orjson
from google.protobuf import json_format

from services.shared.contracts import IncidentEvent

SOURCE = "triage/ticketing"
TYPE_PREFIX = "io.triage.incident."
CONTENT_TYPE = "application/cloudevents+json"
SIGNATURE_HEADER = "X-Triage-Signature"
TIMESTAMP_HEADER = "X-Triage-Timestamp"
ALL_TYPES = "*"  # a subscription to every type, present and future
# The incident event types a subscription may ask for.
EVENT_TYPES = (
    "opened",
    "updated",
    "priority_changed",
    "resolved",
    "reopened",
    "acknowledged",
    "assigned",
    "on_hold",
    "resumed",
    "closed",
    "cancelled",
    "commented",
    "sla_warning",
    "sla_breach",
    "escalated",
)


def event_data(event: IncidentEvent) -> dict[str, Any]:
    """The event as plain JSON: proto field names, timestamps in RFC 3339, integers as numbers. Generic over
    the contract, so fields added to IncidentEvent reach subscribers without a change here."""
    return json_format.MessageToDict(
        event,
        always_print_fields_with_no_presence=True,
        preserving_proto_field_name=True,
        unquote_int64_if_possible=True,
    )


def cloudevent(event: IncidentEvent) -> dict[str, Any]:
    envelope: dict[str, Any] = {
        "specversion": "1.0",
        "id": event.event_id,
        "source": SOURCE,
        "type": TYPE_PREFIX + event.type,
        "subject": event.number or event.incident_id,
        "datacontenttype": "application/json",
        "data": event_data(event),
    }
    if event.HasField("occurred_at"):
        envelope["time"] = event.occurred_at.ToJsonString()
    return envelope


def body(event: IncidentEvent) -> bytes:
    return orjson.dumps(cloudevent(event))


def sign(secret: str, timestamp: int, payload: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def signed_headers(secret: str, timestamp: int, payload: bytes) -> dict[str, str]:
    return {
        "content-type": CONTENT_TYPE,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, timestamp, payload),
    }


def verify(secret: str, timestamp: str, signature: str, payload: bytes, now: float, tolerance: float = 300) -> bool:
    """The receiver's check: the signature matches and the timestamp is within `tolerance` seconds of now."""
    if not timestamp.isascii() or not timestamp.isdigit() or abs(now - int(timestamp)) > tolerance:
        return False
    # Bytes, not str: compare_digest refuses non-ASCII text, and a header may carry anything.
    return hmac.compare_digest(sign(secret, int(timestamp), payload).encode(), signature.encode())
