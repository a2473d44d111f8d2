from hypothesis import given
from hypothesis import strategies as st

from services.ingest.fingerprint import fingerprint
from services.ingest.settings import IngestSettings

labels = st.dictionaries(st.text(min_size=1, max_size=20), st.text(max_size=40), min_size=1, max_size=12)


@given(labels, st.randoms())
def test_label_order_never_changes_the_fingerprint(ls, rnd):
    items = list(ls.items())
    rnd.shuffle(items)
    assert fingerprint("alertmanager", dict(items)) == fingerprint("alertmanager", ls)


@given(labels, st.text(min_size=1, max_size=20), st.text(max_size=20))
def test_different_identifying_labels_differ(ls, key, value):
    changed = {**ls, key: value}
    if changed != ls:
        assert fingerprint("grafana", changed) != fingerprint("grafana", ls)


@given(labels)
def test_source_is_part_of_the_identity(ls):
    assert fingerprint("grafana", ls) != fingerprint("alertmanager", ls)


def test_only_identifying_labels_count():
    a = {"alertname": "X", "instance": "h1", "pod": "p-1"}
    b = {"alertname": "X", "instance": "h1", "pod": "p-2"}
    assert fingerprint("native", a, {"alertname", "instance"}) == fingerprint("native", b, {"alertname", "instance"})
    assert fingerprint("native", a) != fingerprint("native", b)


def test_sender_key_is_used_verbatim():
    assert fingerprint("pagerduty", {"a": "b"}, sender_key="srv01/mysql") == "srv01/mysql"


def test_identifying_labels_are_configured_per_source():
    settings = IngestSettings(ingest_identifying_labels=" alertmanager=alertname+instance ; native = alertname,host;")
    assert settings.identifying_labels() == {
        "alertmanager": frozenset({"alertname", "instance"}),
        "native": frozenset({"alertname", "host"}),
    }
    assert IngestSettings().identifying_labels() == {}


@given(labels, st.text(min_size=1, max_size=20))
def test_a_sender_key_is_never_hashed(ls, key):
    assert fingerprint("alertmanager", ls, {"alertname"}, sender_key=key) == key


@given(labels, st.text(max_size=20))
def test_only_a_change_of_an_identifying_label_changes_the_fingerprint(ls, value):
    identifying = set(sorted(ls)[:1])
    (key,) = identifying
    other = {**ls, key: value}
    noise = {**ls, "unidentifying-extra": value}
    assert fingerprint("native", noise, identifying) == fingerprint("native", ls, identifying)
    assert (fingerprint("native", other, identifying) == fingerprint("native", ls, identifying)) == (other == ls)
