"""Arbitrary JSON never makes a normaliser raise anything but pydantic's ValidationError."""

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from services.ingest.formats import Context
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
SAMPLES = {"alertmanager": AM, "grafana": GRAFANA, "pagerduty": PAGERDUTY, "native": NATIVE}
CTX = Context(datetime(2026, 11, 25, tzinfo=UTC))


def run(source: str, body) -> None:
    try:
        payload = SOURCES[source].model.model_validate(body)
    except ValidationError:
        return
    for alert in SOURCES[source].normalise(payload, CTX):
        assert alert.fingerprint and alert.event_id


@pytest.mark.parametrize("source", sorted(SAMPLES))
@settings(max_examples=150, deadline=None)
@given(body=json_values)
def test_arbitrary_json(source, body):
    run(source, body)


def mutate(value, data):
    if isinstance(value, dict) and value:
        key = data.draw(st.sampled_from(sorted(value)))
        action = data.draw(st.sampled_from(["drop", "replace", "descend"]))
        if action == "drop":
            return {k: v for k, v in value.items() if k != key}
        if action == "replace":
            return {**value, key: data.draw(json_values)}
        return {**value, key: mutate(value[key], data)}
    if isinstance(value, list) and value:
        i = data.draw(st.integers(0, len(value) - 1))
        return [*value[:i], mutate(value[i], data), *value[i + 1 :]]
    return data.draw(json_values)


@pytest.mark.parametrize("source", sorted(SAMPLES))
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_mutated_samples(source, data):
    run(source, mutate(SAMPLES[source], data))


@pytest.mark.parametrize("source", sorted(SAMPLES))
def test_the_samples_themselves_are_valid(source):
    payload = SOURCES[source].model.model_validate(SAMPLES[source])
    assert SOURCES[source].normalise(payload, CTX)
