"""fill and as_dict copy protobuf maps as update and dict do."""

from hypothesis import given
from hypothesis import strategies as st

from services.shared.contracts import Alert
from services.shared.contracts.maps import as_dict, fill

LABELS = st.dictionaries(st.text(), st.text(), max_size=8)


@given(LABELS, LABELS)
def test_fill_is_update(before, pairs):
    filled, updated = Alert(labels=before), Alert(labels=before)
    fill(filled.labels, pairs)
    updated.labels.update(pairs)
    assert filled == updated


def test_fill_of_nothing_leaves_the_map():
    alert = Alert(labels={"a": "1"})
    fill(alert.labels, None)
    assert dict(alert.labels) == {"a": "1"}


@given(LABELS)
def test_as_dict_is_dict(pairs):
    alert = Alert(labels=pairs)
    assert as_dict(alert.labels) == dict(alert.labels) == pairs
