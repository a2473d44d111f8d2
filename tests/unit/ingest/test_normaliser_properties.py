"""Arbitrary JSON never makes a normaliser raise anything but pydantic's ValidationError, for every format in
services/ingest/formats (a new module there fails test_every_format_is_covered until it is added here), and
what a normaliser returns is a complete Alert that serialises for the wire."""

import json
import pkgutil
from datetime import UTC, datetime

import pytest
from aiokafka import ConsumerRecord
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from services.ingest import formats
from services.ingest.formats import Context, heartbeat
from services.ingest.formats.native import NativeAlert
from services.ingest.raw import Undecodable, normalise_record
from services.ingest.sources import SOURCES

from .test_alertmanager import SAMPLE as AM
from .test_grafana import SAMPLE as GRAFANA
from .test_native import ONE as NATIVE
from .test_pagerduty import TRIGGER as PAGERDUTY

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
# Besides any code point (NUL and other controls included): the odd shapes formats trip on, such as times
# at the ends of the calendar, numbers as strings, empty and very long strings.
hostile_text = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["", "0", "-1", "1e309", "NaN", "true", "null", "9999-12-31T23:59:59-23:59"]),
    st.sampled_from(["0001-01-01T00:00:00+23:59", "2026-11-25T06:00:00Z", "x" * 5000, "\x00", "\u202e"]),
)
hostile_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | hostile_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(hostile_text, inner, max_size=4),
    max_leaves=20,
)
HEARTBEAT = {"interval_seconds": 300, "ci": "backup-01", "summary": "nightly backup", "labels": {"team": "x"}}
SAMPLES = {"alertmanager": AM, "grafana": GRAFANA, "pagerduty": PAGERDUTY, "native": NATIVE, "heartbeat": HEARTBEAT}
CTX = Context(datetime(2026, 11, 25, tzinfo=UTC))


def normalise(source: str, body, name: str = "nightly-backup") -> list:
    if source == "heartbeat":
        return heartbeat.normalise(name, heartbeat.Heartbeat.model_validate(body), CTX)
    return SOURCES[source].normalise(SOURCES[source].model.model_validate(body), CTX)


def run(source: str, body, name: str = "nightly-backup") -> None:
    try:
        alerts = normalise(source, body, name)
    except ValidationError:
        return
    for alert in alerts:
        assert alert.fingerprint and alert.event_id and alert.source and alert.sequence > 0
        alert.SerializeToString()  # every string valid UTF-8, every time in range


def test_every_format_is_covered():
    modules = {m.name for m in pkgutil.iter_modules(formats.__path__)}
    assert modules == set(SAMPLES), "a format without property tests: add a sample of it to SAMPLES"


@pytest.mark.parametrize("source", sorted(SAMPLES))
@settings(max_examples=150, deadline=None)
@given(body=hostile_values)
def test_arbitrary_json(source, body):
    run(source, body)


def mutate(value, data, values=json_values):
    if isinstance(value, dict) and value:
        key = data.draw(st.sampled_from(sorted(value)))
        action = data.draw(st.sampled_from(["drop", "replace", "descend", "add"]))
        if action == "drop":
            return {k: v for k, v in value.items() if k != key}
        if action == "replace":
            return {**value, key: data.draw(values)}
        if action == "add":
            return {**value, data.draw(st.text(max_size=12)): data.draw(values)}
        return {**value, key: mutate(value[key], data, values)}
    if isinstance(value, list) and value:
        i = data.draw(st.integers(0, len(value) - 1))
        return [*value[:i], mutate(value[i], data, values), *value[i + 1 :]]
    return data.draw(values)


@pytest.mark.parametrize("source", sorted(SAMPLES))
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_mutated_samples(source, data):
    body = SAMPLES[source]
    for _ in range(data.draw(st.integers(1, 2))):
        body = mutate(body, data, hostile_values)
    run(source, body)


@settings(max_examples=50, deadline=None)
@given(name=st.from_regex(heartbeat.NAME, fullmatch=True), data=st.data())
def test_any_valid_heartbeat_name(name, data):
    run("heartbeat", mutate(HEARTBEAT, data, hostile_values), name)


@pytest.mark.parametrize("source", sorted(SAMPLES))
def test_the_samples_themselves_are_valid(source):
    assert normalise(source, SAMPLES[source])


@pytest.mark.parametrize("source", sorted(SOURCES))
@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_alerts_raw_messages_are_normalised_or_dead_lettered(source, data):
    """A message on alerts.raw: any bytes or mutated JSON under any `source` header yields alerts or
    Undecodable (dead-lettered), never another exception that would wedge the partition."""
    body = data.draw(
        st.one_of(st.binary(max_size=200), st.just(json.dumps(mutate(SAMPLES[source], data, hostile_values)).encode()))
    )
    header = data.draw(st.sampled_from([source, source.upper(), "", "nope"]))
    record = ConsumerRecord(
        "alerts.raw", 0, 7, 1_764_050_400_000, 0, b"k", body, None, 0, 0, [("source", header.encode())]
    )
    try:
        alerts = normalise_record(record, {})
    except Undecodable:
        return
    for alert in alerts:
        alert.SerializeToString()


def test_text_postgresql_cannot_store_never_reaches_alerts_normalized():
    body = json.dumps({"labels": {"alertname": "Nul", "host": "a\u0000b"}, "summary": "x"}).encode()
    record = ConsumerRecord("alerts.raw", 0, 8, 1_764_050_400_000, 0, b"k", body, None, 0, 0, [("source", b"native")])
    with pytest.raises(Undecodable):
        normalise_record(record, {})


@pytest.mark.parametrize("when", [-2883, 1_764_050_400, 1.5])
def test_a_number_for_a_time_is_refused_not_read_as_unix_time(when):
    with pytest.raises(ValidationError, match="RFC 3339"):
        NativeAlert.model_validate({"labels": {"alertname": "A"}, "summary": "s", "ends_at": when})
