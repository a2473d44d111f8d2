import pytest

from services.correlator.known_errors import KnownErrorCatalog, KnownErrorInvalid


def record(ke_id: str, *matchers: dict, **kw) -> dict:
    return {"id": ke_id, "title": f"title {ke_id}", "matchers": list(matchers), **kw}


def label(name: str, value: str) -> dict:
    return {"type": "label", "label": name, "value": value}


def label_regex(name: str, regex: str) -> dict:
    return {"type": "label_regex", "label": name, "regex": regex}


def ci_class(value: str) -> dict:
    return {"type": "ci_class", "value": value}


def text_regex(regex: str) -> dict:
    return {"type": "text_regex", "regex": regex}


def test_label_equality():
    catalog = KnownErrorCatalog.build([record("KE1", label("alertname", "DiskFull"), workaround="rotate logs")])
    found = catalog.match({"alertname": "DiskFull"}, None, "")
    assert (found.id, found.workaround) == ("KE1", "rotate logs")
    assert catalog.match({"alertname": "DiskFull2"}, None, "") is None


def test_label_regex_matches_the_whole_value():
    catalog = KnownErrorCatalog.build([record("KE1", label_regex("mountpoint", "/var(/.*)?"))])
    assert catalog.match({"mountpoint": "/var/log"}, None, "").id == "KE1"
    assert catalog.match({"mountpoint": "/srv/var"}, None, "") is None
    assert catalog.match({}, None, "") is None


def test_ci_class_equality_needs_a_bound_ci():
    catalog = KnownErrorCatalog.build([record("KE1", ci_class("database"))])
    assert catalog.match({}, "database", "").id == "KE1"
    assert catalog.match({}, "host", "") is None
    assert catalog.match({}, None, "") is None


def test_text_regex_searches_summary_and_description():
    catalog = KnownErrorCatalog.build([record("KE1", text_regex(r"(?i)ora-00600"))])
    assert catalog.match({}, None, "Internal error\nORA-00600: [kcbz]").id == "KE1"
    assert catalog.match({}, None, "ORA-01555") is None


def test_all_matchers_must_match():
    catalog = KnownErrorCatalog.build(
        [record("KE1", label("alertname", "Down"), ci_class("database"), text_regex("replica"))]
    )
    assert catalog.match({"alertname": "Down"}, "database", "replica lag").id == "KE1"
    assert catalog.match({"alertname": "Down"}, "host", "replica lag") is None
    assert catalog.match({"alertname": "Down"}, "database", "primary") is None
    assert catalog.match({"alertname": "Up"}, "database", "replica lag") is None


def test_tie_break_most_matchers_then_lowest_id():
    catalog = KnownErrorCatalog.build(
        [
            record("KE9", label("alertname", "Down")),
            record("KE5", label("alertname", "Down"), ci_class("host")),
            record("KE3", ci_class("host"), text_regex("timeout")),
            record("KE1", text_regex("timeout")),
        ]
    )
    assert catalog.match({"alertname": "Down"}, "host", "").id == "KE5"
    assert catalog.match({"alertname": "Down"}, "host", "timeout").id == "KE3"
    assert catalog.match({"alertname": "Down"}, "database", "").id == "KE9"
    assert catalog.match({}, None, "timeout").id == "KE1"


def test_known_errors_filed_under_another_label_are_still_found():
    catalog = KnownErrorCatalog.build(
        [
            record("KE1", label("job", "node"), label("alertname", "Down")),
            record("KE2", label("alertname", "Down"), label("job", "node"), label("env", "prod")),
        ]
    )
    assert catalog.match({"alertname": "Down", "job": "node", "env": "prod"}, None, "").id == "KE2"
    assert catalog.match({"alertname": "Down", "job": "node"}, None, "").id == "KE1"


@pytest.mark.parametrize(
    ("records", "index", "field"),
    [
        ([record("KE1", label("a", "b")), record("KE2", text_regex("(unclosed"))], 1, "matchers[0].regex"),
        ([record("KE1", label("a", "b"), label_regex("x", "[z-a]"))], 0, "matchers[1].regex"),
        ([record("KE1", {"type": "severity", "value": "x"})], 0, "matchers[0].type"),
        ([record("KE1")], 0, "matchers"),
        ([record("KE1", label("a", "b")), record("KE1", label("a", "c"))], 1, "id"),
        ([{"matchers": [label("a", "b")]}], 0, "id"),
    ],
)
def test_invalid_records_name_index_and_field(records, index, field):
    with pytest.raises(KnownErrorInvalid) as err:
        KnownErrorCatalog.build(records)
    assert (err.value.index, err.value.field) == (index, field)
