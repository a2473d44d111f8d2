import hashlib
import hmac
from datetime import UTC, datetime

import orjson
from google.protobuf.descriptor import FieldDescriptor

from services.shared.contracts import IncidentEvent
from services.ticketing import cloudevents

NOW = 1_764_052_800
SECRET = "a-subscription-secret"


def event(**fields) -> IncidentEvent:
    e = IncidentEvent(
        event_id="0b4e0c8e-8a43-4d1b-9d55-3c1f3f0d4b10",
        sequence=3,
        type="resolved",
        incident_id="5a0e8d8e-1d1b-4b5e-8f0f-0e6c7d9b1a22",
        number="INC0000042",
        title="Disk / is 97% full on db01",
        status="resolved",
        priority=2,
        alert_count=12,
        **fields,
    )
    e.occurred_at.FromDatetime(datetime(2026, 11, 25, 6, 30, tzinfo=UTC))
    return e


def test_the_envelope_is_a_structured_cloudevent():
    ce = cloudevents.cloudevent(event())
    assert ce["specversion"] == "1.0"
    assert ce["id"] == "0b4e0c8e-8a43-4d1b-9d55-3c1f3f0d4b10"
    assert ce["source"] == "triage/ticketing"
    assert ce["type"] == "io.triage.incident.resolved"
    assert ce["subject"] == "INC0000042"
    assert ce["time"] == "2026-11-25T06:30:00Z"
    assert ce["datacontenttype"] == "application/json"


def test_data_carries_every_field_of_the_contract_under_its_proto_name():
    data = cloudevents.cloudevent(event())["data"]
    scalars = {f.name for f in IncidentEvent.DESCRIPTOR.fields if f.type != FieldDescriptor.TYPE_MESSAGE}
    assert scalars <= set(data)  # unset ones too, so receivers see a stable shape
    assert data["sequence"] == 3 and data["alert_count"] == 12  # int64 as JSON numbers
    assert data["occurred_at"] == "2026-11-25T06:30:00Z"
    assert "opened_at" not in data  # an unset timestamp is left out, not faked


def test_an_event_without_a_number_is_about_its_incident_id():
    e = event()
    e.number = ""
    assert cloudevents.cloudevent(e)["subject"] == e.incident_id


def test_body_is_the_envelope_as_json_bytes():
    e = event()
    assert orjson.loads(cloudevents.body(e)) == cloudevents.cloudevent(e)


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body():
    payload = b'{"id":"x"}'
    expected = hmac.new(SECRET.encode(), b"1764052800." + payload, hashlib.sha256).hexdigest()
    assert cloudevents.sign(SECRET, NOW, payload) == "sha256=" + expected
    headers = cloudevents.signed_headers(SECRET, NOW, payload)
    assert headers == {
        "content-type": "application/cloudevents+json",
        "X-Triage-Timestamp": "1764052800",
        "X-Triage-Signature": "sha256=" + expected,
    }


def test_verify_accepts_what_was_signed():
    payload = cloudevents.body(event())
    signature = cloudevents.sign(SECRET, NOW, payload)
    assert cloudevents.verify(SECRET, str(NOW), signature, payload, now=NOW + 10)


def test_verify_rejects_a_changed_body_another_secret_or_a_changed_timestamp():
    payload = cloudevents.body(event())
    signature = cloudevents.sign(SECRET, NOW, payload)
    assert not cloudevents.verify(SECRET, str(NOW), signature, payload + b" ", now=NOW)
    assert not cloudevents.verify("another-secret-entirely", str(NOW), signature, payload, now=NOW)
    assert not cloudevents.verify(SECRET, str(NOW + 1), signature, payload, now=NOW)


def test_verify_rejects_a_replay_outside_the_tolerance():
    payload = b"{}"
    signature = cloudevents.sign(SECRET, NOW, payload)
    assert cloudevents.verify(SECRET, str(NOW), signature, payload, now=NOW + 300)
    assert not cloudevents.verify(SECRET, str(NOW), signature, payload, now=NOW + 301)
    assert not cloudevents.verify(SECRET, str(NOW), signature, payload, now=NOW - 301)


def test_verify_rejects_garbage_headers_without_raising():
    payload = b"{}"
    assert not cloudevents.verify(SECRET, "", "", payload, now=NOW)
    assert not cloudevents.verify(SECRET, "-5", "sha256=00", payload, now=NOW)
    assert not cloudevents.verify(SECRET, "١٧٦٤٠٥٢٨٠٠", "sha256=00", payload, now=NOW)  # non-ASCII digits
    assert not cloudevents.verify(SECRET, str(NOW), "sha256=é", payload, now=NOW)


def test_every_lifecycle_event_type_can_be_subscribed_to():
    assert len(set(cloudevents.EVENT_TYPES)) == len(cloudevents.EVENT_TYPES) == 15
    assert cloudevents.ALL_TYPES not in cloudevents.EVENT_TYPES
