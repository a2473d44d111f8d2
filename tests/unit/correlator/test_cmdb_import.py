import pytest

from services.correlator.cmdb import Relationship
from services.correlator.cmdb_import import MAX_CIS, ImportInvalid, TooManyCis, cis_from_csv, cis_from_json, validate

HEADER = "id,name,class,environment,criticality,support_group,aliases,attributes,runs_on,depends_on,part_of\n"


def rejected(call) -> str:
    with pytest.raises(ImportInvalid) as caught:
        call()
    return caught.value.field


def test_csv_rows_become_cis_with_aliases_attributes_and_relationships():
    body = HEADER + 'web,Web 1,host,prod,2,ops,w1|web.example,"{""rack"": ""r1""}",,,shop\n'
    body += "app,,application,,,,,tier=front|team=a,web,db|cache,\n"
    cis, rels, origins = cis_from_csv(body.encode())
    web, app = cis
    assert (web.name, web.criticality, web.aliases, dict(web.attributes)) == (
        "Web 1",
        2,
        ("w1", "web.example"),
        {"rack": "r1"},
    )
    assert (app.name, app.criticality, dict(app.attributes)) == ("app", 3, {"tier": "front", "team": "a"})
    assert rels == [
        Relationship("web", "part_of", "shop"),
        Relationship("app", "runs_on", "web"),
        Relationship("app", "depends_on", "db"),
        Relationship("app", "depends_on", "cache"),
    ]
    assert origins == [(0, "part_of"), (1, "runs_on"), (1, "depends_on"), (1, "depends_on")]


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ("x,x,host,,six,,,,,,", "[1].criticality"),
        ("x,x,host,,0,,,,,,", "[1].criticality"),
        (",x,host,,,,,,,,", "[1].id"),
        ("x,x,,,,,,,,,", "[1].class"),
        ("x,x,host,,,,,novalue,,,", "[1].attributes"),
        ("x,x,host,,,,,{bad json,,,", "[1].attributes"),
        ("x,x,host", "[1]"),
    ],
)
def test_a_bad_csv_row_is_named_by_row_and_field(row, field):
    body = HEADER + "ok,ok,host,,,,,,,,\n" + row + "\n"
    assert rejected(lambda: cis_from_csv(body.encode())) == field


def test_unknown_csv_columns_are_rejected():
    assert rejected(lambda: cis_from_csv(b"id,class,colour\nx,host,red\n")) == "header"


def test_relationship_targets_must_exist_in_the_request_or_the_database():
    cis, rels, origins = cis_from_csv((HEADER + "a,a,app,,,,,,h,,\nb,b,app,,,,,,,,x\n").encode())
    assert rejected(lambda: validate(cis, rels, origins, set())) == "[0].runs_on"
    assert rejected(lambda: validate(cis, rels, origins, {"h"})) == "[1].part_of"
    validate(cis, rels, origins, {"h", "x"})


def test_json_items_and_their_errors():
    items = [
        {"id": "h", "class": "host", "aliases": ["h.example"], "attributes": {"rack": 4}},
        {"id": "a", "class": "app", "relationships": [{"kind": "runs_on", "target": "h"}], "depends_on": ["h"]},
    ]
    cis, rels, origins = cis_from_json(items)
    assert dict(cis[0].attributes) == {"rack": "4"}
    validate(cis, rels, origins, set())
    bad_kind = [items[0], {**items[1], "relationships": [{"kind": "hosts", "target": "h"}]}]
    assert rejected(lambda: validate(*cis_from_json(bad_kind), set())) == "[1].relationships[0].kind"
    assert rejected(lambda: validate(*cis_from_json([items[0], items[0]]), set())) == "[1].id"
    assert rejected(lambda: cis_from_json([{"id": "x", "class": "host", "criticality": True}])) == "[0].criticality"
    assert rejected(lambda: cis_from_json([{"id": "x", "class": "host", "colour": "red"}])) == "[0].colour"


def test_blank_csv_lines_do_not_shift_the_row_numbers():
    body = HEADER + "a,a,host,,,,,,,,\n\n\nb,b,host,,,,,,,,\n\nb,b,host,,,,,,,,\n"
    cis, rels, origins = cis_from_csv(body.encode())
    assert [c.id for c in cis] == ["a", "b", "b"]
    assert rejected(lambda: validate(cis, rels, origins, set())) == "[2].id"  # the duplicate: third data row
    assert rejected(lambda: cis_from_csv((HEADER + "a,a,host,,,,,,,,\n\nc,c,host,,7,,,,,,\n").encode())) == (
        "[1].criticality"
    )


def test_more_cis_than_a_call_may_carry_are_refused_before_all_are_parsed():
    body = (HEADER + "a,a,host,,,,,,,,\n\nb,b,host,,,,,,,,\nc,c,host,,,,,,,,\n").encode()
    assert len(cis_from_csv(body, limit=3)[0]) == 3
    with pytest.raises(TooManyCis) as caught:
        cis_from_csv(body, limit=2)
    assert caught.value.field == "body" and "more than 2 CIs" in caught.value.reason
    with pytest.raises(TooManyCis):
        cis_from_json([{"id": "a", "class": "host"}, {"id": "b", "class": "host"}, "never looked at"], limit=2)
    assert MAX_CIS == 100_000


def test_relationships_that_are_not_arrays_are_refused_not_ignored():
    for bad in (False, {}, "db-1"):
        with pytest.raises(ImportInvalid, match="expected an array"):
            cis_from_json([{"id": "a", "class": "host", "depends_on": bad}])
    with pytest.raises(ImportInvalid, match="expected an array"):
        cis_from_json([{"id": "a", "class": "host", "relationships": {}}])


def test_an_id_with_a_slash_is_refused_because_it_could_never_be_fetched():
    with pytest.raises(ImportInvalid, match="contains '/'"):
        cis_from_json([{"id": "k8s/pod", "class": "pod"}])
