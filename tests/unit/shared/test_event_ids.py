"""NamedIds makes exactly uuid5's ids."""

import uuid

from hypothesis import given
from hypothesis import strategies as st

from services.shared.event_ids import NamedIds

NAMESPACE = uuid.UUID("6f1c2a8e-6f0e-4c38-9a57-2f1c5b9d7a10")


@given(st.text(), st.text())
def test_named_ids_are_uuid5(prefix, name):
    assert NamedIds(NAMESPACE, prefix)(name) == str(uuid.uuid5(NAMESPACE, prefix + name))


def test_every_variant_digit_is_written_as_uuid5_writes_it():
    ids = NamedIds(NAMESPACE, "record/")
    made = [ids(str(n)) for n in range(2_000)]
    assert made == [str(uuid.uuid5(NAMESPACE, f"record/{n}")) for n in range(2_000)]
    assert {i[19] for i in made} == set("89ab")  # the variant digit takes each of its values
