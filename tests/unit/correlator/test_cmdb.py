import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.correlator.cmdb import CI, Cmdb, CmdbError, Neighbour, Relationship

APPS = [f"app-{i:02}" for i in range(20)]


def ci(ci_id: str, ci_class: str = "application", **kw) -> CI:
    return CI(id=ci_id, name=kw.pop("name", ci_id), ci_class=ci_class, **kw)


def datacentre() -> Cmdb:
    """host-1 runs 20 apps; orders and billing depend on db-1 (itself a managed database, no host)."""
    cis = [ci("host-1", "host", aliases=("h1.example.com",)), ci("db-1", "database")]
    cis += [ci(a) for a in APPS] + [ci("orders", "business_service"), ci("billing", "business_service")]
    rels = [Relationship(a, "runs_on", "host-1") for a in APPS]
    rels += [Relationship("orders", "depends_on", "db-1"), Relationship("billing", "depends_on", "db-1")]
    return Cmdb.build(cis, rels)


def test_lookups_by_id_name_alias_and_attributes():
    cmdb = Cmdb.build(
        [ci("c1", "host", name="Web01", aliases=("WEB01.example.com",), attributes={"k8s_cluster": "prod"})],
        [],
    )
    assert cmdb.get("c1").name == "Web01"
    assert cmdb.get("nope") is None
    assert cmdb.ids_by_name("web01") == ("c1",)
    assert cmdb.ids_by_alias("web01.EXAMPLE.com") == ("c1",)
    assert cmdb.ids_by_attributes(("k8s_cluster",), ("prod",)) == ("c1",)
    assert cmdb.ids_by_attributes(("k8s_cluster",), ("Prod",)) == ()


def test_ci_is_immutable_and_hashable():
    item = ci("c1", attributes={"a": "b"})
    with pytest.raises(TypeError):
        item.attributes["a"] = "c"
    assert hash(item) == hash(ci("c1", attributes={"x": "y"}))


def test_duplicate_names_are_all_returned_so_callers_can_see_ambiguity():
    cmdb = Cmdb.build([ci("a", name="web"), ci("b", name="WEB")], [])
    assert cmdb.ids_by_name("web") == ("a", "b")


def test_unknown_relationship_target_names_row_and_field():
    with pytest.raises(CmdbError) as err:
        Cmdb.build([ci("a"), ci("b")], [Relationship("a", "runs_on", "b"), Relationship("a", "runs_on", "zz")])
    assert (err.value.table, err.value.row, err.value.field) == ("relationship", 1, "target_id")
    assert "zz" in err.value.reason


def test_bad_relationship_kind_is_rejected():
    with pytest.raises(CmdbError) as err:
        Cmdb.build([ci("a"), ci("b")], [Relationship("a", "hosts", "b")])
    assert (err.value.row, err.value.field) == (0, "kind")


@pytest.mark.parametrize(
    ("cis", "field"),
    [([ci("a"), ci("a")], "id"), ([ci("a", criticality=0)], "criticality"), ([ci("")], "id")],
)
def test_invalid_ci_rows_are_rejected(cis, field):
    with pytest.raises(CmdbError) as err:
        Cmdb.build(cis, [])
    assert (err.value.table, err.value.field) == ("ci", field)


def test_neighbours_in_both_directions_with_kind():
    cmdb = datacentre()
    assert cmdb.neighbours("app-00") == (Neighbour("host-1", "runs_on", "out"),)
    assert Neighbour("app-07", "runs_on", "in") in cmdb.neighbours("host-1")
    assert len(cmdb.neighbours("host-1")) == 20


def test_dependents_are_transitive_over_every_kind():
    cmdb = Cmdb.build(
        [ci("rack", "network"), ci("host", "host"), ci("app"), ci("shop", "business_service"), ci("x")],
        [
            Relationship("host", "depends_on", "rack"),
            Relationship("app", "runs_on", "host"),
            Relationship("shop", "part_of", "app"),
        ],
    )
    assert cmdb.dependents("rack") == {"host", "app", "shop"}
    assert cmdb.dependents("app") == {"shop"}
    assert cmdb.dependents("x") == frozenset()
    assert cmdb.dependents("unknown") == frozenset()


def test_root_cause_host_and_its_twenty_apps_is_the_host():
    assert datacentre().root_cause(["app-03", "host-1", *APPS]) == "host-1"


def test_root_cause_database_and_services_depending_on_it_is_the_database():
    assert datacentre().root_cause(["orders", "db-1", "billing"]) == "db-1"


def test_root_cause_of_siblings_is_their_nearest_common_infrastructure():
    assert datacentre().root_cause(["app-01", "app-02"]) == "host-1"


def test_root_cause_prefers_an_alerting_ci_over_ones_further_up():
    cmdb = Cmdb.build(
        [ci("hv", "host"), ci("vm", "host"), ci("app")],
        [Relationship("vm", "runs_on", "hv"), Relationship("app", "runs_on", "vm")],
    )
    assert cmdb.root_cause(["app", "vm"]) == "vm"
    assert cmdb.root_cause(["app", "vm", "hv"]) == "hv"


def test_root_cause_ignores_part_of_and_unknown_ids_and_may_find_nothing():
    cmdb = Cmdb.build([ci("app"), ci("shop", "business_service")], [Relationship("app", "part_of", "shop")])
    assert cmdb.root_cause(["app", "shop"]) is None
    assert cmdb.root_cause(["app", "ghost"]) == "app"
    assert cmdb.root_cause([]) is None


def test_infrastructure_root_follows_runs_on_before_depends_on():
    cmdb = Cmdb.build(
        [ci("host", "host"), ci("db", "database"), ci("app"), ci("svc")],
        [
            Relationship("app", "depends_on", "db"),
            Relationship("app", "runs_on", "host"),
            Relationship("svc", "depends_on", "db"),
        ],
    )
    assert cmdb.infrastructure_root("app") == "host"
    assert cmdb.infrastructure_root("svc") == "db"
    assert cmdb.infrastructure_root("db") == "db"
    assert cmdb.infrastructure_root("ghost") is None


def test_cycles_terminate_and_resolve_to_the_lowest_id_of_the_cycle():
    cmdb = Cmdb.build(
        [ci("a"), ci("b"), ci("c"), ci("edge")],
        [
            Relationship("a", "depends_on", "b"),
            Relationship("b", "depends_on", "c"),
            Relationship("c", "depends_on", "a"),
            Relationship("edge", "runs_on", "b"),
        ],
    )
    assert cmdb.dependents("a") == {"b", "c", "edge"}
    assert {cmdb.infrastructure_root(x) for x in ("a", "b", "c", "edge")} == {"a"}
    assert cmdb.root_cause(["c", "b", "a"]) == "a"
    assert cmdb.root_cause(["edge", "c"]) == "c"


def test_self_loop_does_not_hang():
    cmdb = Cmdb.build([ci("a")], [Relationship("a", "depends_on", "a")])
    assert cmdb.dependents("a") == frozenset()
    assert cmdb.infrastructure_root("a") == "a"
    assert cmdb.root_cause(["a"]) == "a"


_KINDS = ("runs_on", "depends_on", "part_of")


@settings(max_examples=60, deadline=None)
@given(
    size=st.integers(1, 12),
    edges=st.lists(st.tuples(st.integers(0, 11), st.sampled_from(_KINDS), st.integers(0, 11)), max_size=40),
    seed=st.integers(0, 1000),
)
def test_random_graphs_with_cycles_are_consistent_and_order_independent(size, edges, seed):
    cis = [ci(f"n{i}") for i in range(size)]
    rels = [Relationship(f"n{s}", k, f"n{t}") for s, k, t in edges if s < size and t < size]
    cmdb = Cmdb.build(cis, rels)
    shuffled = random.Random(seed)
    cis2, rels2 = cis[:], rels[:]
    shuffled.shuffle(cis2)
    shuffled.shuffle(rels2)
    other = Cmdb.build(cis2, rels2)
    for item in cis:
        root = cmdb.infrastructure_root(item.id)
        assert cmdb.infrastructure_root(root) == root
        assert other.infrastructure_root(item.id) == root
        assert item.id not in cmdb.dependents(item.id)
        assert root == item.id or item.id in cmdb.dependents(root)  # the root is something it relies on
    ids = [c.id for c in cis]
    assert cmdb.root_cause(ids) == other.root_cause(reversed(ids))


def test_business_service_of_a_ci_or_else_of_its_infrastructure_root():
    cmdb = Cmdb.build(
        [ci("host", "host"), ci("app"), ci("batch"), ci("team", "group"), ci("shop", "business_service"), ci("lone")],
        [
            Relationship("app", "runs_on", "host"),
            Relationship("app", "part_of", "team"),  # not a service: a service wins over it
            Relationship("app", "part_of", "shop"),
            Relationship("batch", "runs_on", "host"),
            Relationship("host", "part_of", "team"),
        ],
    )
    assert cmdb.business_service("app") == "shop"
    assert cmdb.business_service("batch") == "team"  # none of its own: its host's, service or not
    assert cmdb.business_service("lone") == ""
    assert cmdb.business_service("app") == "shop"  # asked again: the same answer
