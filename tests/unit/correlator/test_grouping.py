from datetime import UTC, datetime, timedelta

from services.correlator.cmdb import CI, Cmdb, Relationship
from services.correlator.grouping import (
    GroupingPolicy,
    GroupKey,
    OpenGroups,
    continue_or_open,
    group_key_for,
)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
APPS = [f"app-{i:02}" for i in range(20)]
POLICY = GroupingPolicy()

CMDB = Cmdb.build(
    [CI("host-1", "host-1", "host"), CI("host-2", "host-2", "host"), CI("db-1", "db-1", "database")]
    + [CI(a, a, "application") for a in APPS]
    + [CI(s, s, "application") for s in ("orders", "billing", "stock")]
    + [CI("web", "web", "application")],
    [Relationship(a, "runs_on", "host-1") for a in APPS]
    + [Relationship(s, "depends_on", "db-1") for s in ("orders", "billing", "stock")]
    + [Relationship("web", "runs_on", "host-2"), Relationship("web", "depends_on", "db-1")],
)


def assign_all(alerts: list[tuple[str | None, dict, datetime]]) -> list[str]:
    groups, ids = OpenGroups(), []
    for ci_id, labels, at in alerts:
        groups, instance = groups.assign(group_key_for(ci_id, labels, CMDB, POLICY), at, POLICY)
        ids.append(instance.id)
    return ids


def test_host_down_and_its_twenty_apps_form_one_group_on_the_host():
    alerts = [(a, {"alertname": "AppDown"}, T0 + timedelta(seconds=i)) for i, a in enumerate(APPS)]
    alerts.insert(7, ("host-1", {"alertname": "HostDown"}, T0 + timedelta(seconds=7)))
    ids = assign_all(alerts)
    assert set(ids) == {f"ci:host-1@{T0.isoformat()}"}
    assert group_key_for("app-05", {}, CMDB, POLICY) == GroupKey("ci:host-1", "host-1")
    assert CMDB.root_cause(["host-1", *APPS]) == "host-1"


def test_database_and_the_services_depending_on_it_form_one_group_on_the_database():
    alerts = [(s, {}, T0 + timedelta(seconds=i)) for i, s in enumerate(["orders", "db-1", "billing", "stock"])]
    assert len(set(assign_all(alerts))) == 1
    assert group_key_for("billing", {}, CMDB, POLICY) == GroupKey("ci:db-1", "db-1")
    assert CMDB.root_cause(["orders", "db-1", "billing", "stock"]) == "db-1"


def test_a_ci_on_its_own_host_groups_with_the_host_not_its_database():
    assert group_key_for("web", {}, CMDB, POLICY).root_ci_id == "host-2"


def test_unbound_alerts_group_by_labels_with_a_stable_key():
    labels = {"alertname": "HighLatency", "cluster": "eu-1", "service": "api", "pod": "api-1"}
    key = group_key_for(None, labels, CMDB, POLICY)
    assert key.root_ci_id is None and key.key.startswith("labels:") and len(key.key) == len("labels:") + 16
    assert group_key_for(None, {**labels, "pod": "api-2"}, CMDB, POLICY) == key
    assert group_key_for("not-in-cmdb", dict(reversed(labels.items())), CMDB, POLICY) == key
    assert group_key_for(None, {**labels, "service": "web"}, CMDB, POLICY) != key


def test_label_key_is_pinned_so_it_survives_restarts():
    key = group_key_for(None, {"alertname": "A", "cluster": "c", "service": "s"}, CMDB, POLICY)
    assert key.key == "labels:53ac46c02887411f"


def test_missing_label_and_empty_label_group_together_and_order_of_group_by_is_irrelevant():
    a = group_key_for(None, {"alertname": "A"}, CMDB, GroupingPolicy(group_by=("alertname", "cluster")))
    b = group_key_for(None, {"alertname": "A", "cluster": ""}, CMDB, GroupingPolicy(group_by=("cluster", "alertname")))
    assert a == b


def test_label_values_cannot_collide_by_concatenation():
    policy = GroupingPolicy(group_by=("a", "b"))
    assert group_key_for(None, {"a": "x", "b": "yz"}, CMDB, policy) != group_key_for(
        None, {"a": "xy", "b": "z"}, CMDB, policy
    )


def test_group_stays_open_while_alerts_keep_coming_within_the_window():
    times = [T0, T0 + timedelta(minutes=4), T0 + timedelta(minutes=8), T0 + timedelta(minutes=12)]
    assert len(set(assign_all([("app-01", {}, t) for t in times]))) == 1


def test_group_reopens_after_the_window_lapses_with_a_new_instance_id():
    key = GroupKey("ci:host-1", "host-1")
    first = continue_or_open(None, key, T0, POLICY)
    same = continue_or_open(first, key, T0 + timedelta(minutes=5) - timedelta(microseconds=1), POLICY)
    lapsed = T0 + timedelta(minutes=5) - timedelta(microseconds=1) + timedelta(minutes=5)
    reopened = continue_or_open(same, key, lapsed, POLICY)
    assert same.id == first.id == f"ci:host-1@{T0.isoformat()}"
    assert reopened.id == f"ci:host-1@{lapsed.isoformat()}"
    assert reopened.opened_at == lapsed


def test_open_groups_is_a_value_and_expires_lapsed_groups():
    empty = OpenGroups()
    groups, a = empty.assign(GroupKey("ci:a", "a"), T0, POLICY)
    groups, b = groups.assign(GroupKey("labels:x", None), T0 + timedelta(minutes=3), POLICY)
    assert empty.instances == {} and set(groups.instances) == {"ci:a", "labels:x"}
    assert set(groups.expire(T0 + timedelta(minutes=5), POLICY).instances) == {"labels:x"}
    assert groups.expire(T0 + timedelta(minutes=8), POLICY).instances == {}


def test_same_inputs_in_the_same_order_give_the_same_outputs():
    alerts = [
        (APPS[i % 20] if i % 3 else None, {"alertname": f"a{i % 4}"}, T0 + i * timedelta(minutes=2)) for i in range(50)
    ]
    assert assign_all(alerts) == assign_all(alerts)
