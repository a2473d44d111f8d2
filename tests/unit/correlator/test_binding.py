import pytest

from services.correlator.binding import Binding, BindingRuleError, MatchRules, bind
from services.correlator.cmdb import CI, Cmdb

CMDB = Cmdb.build(
    [
        CI("CI001", "web01", "host", aliases=("web01.prod.example.com",)),
        CI("CI002", "Checkout", "application", aliases=("checkout-svc",)),
        CI("CI003", "db01", "database", aliases=("web01-legacy",)),
        CI("CI004", "orders", "application", attributes={"k8s_cluster": "eu-1", "namespace": "orders"}),
        CI("CI005", "payments", "application", attributes={"k8s_cluster": "eu-1", "namespace": "pay"}),
        CI("CI006", "payments-worker", "application", attributes={"k8s_cluster": "eu-1", "namespace": "pay"}),
        CI("CI007", "dup", "host"),
        CI("CI008", "DUP", "host"),
        CI("CI009", "::1", "host"),
    ],
    [],
)

RULES = MatchRules.parse(
    {
        "attribute_rules": [
            {"cluster": "k8s_cluster", "namespace": "namespace"},
            {"cluster": "k8s_cluster"},
        ],
        "regex_rules": [
            {"label": "pod", "regex": r"(?P<ci>[a-z]+)-[a-z0-9]{5}"},
            {"label": "container_id", "regex": r"(?P<app>[a-z]+)_(?P<n>\d+)", "template": "{app}"},
        ],
    }
)


def test_explicit_ci_label_binds_by_id_first():
    assert bind({"ci": "CI002", "host": "web01"}, CMDB, RULES) == Binding("CI002", "id:ci")
    assert bind({"ci_id": "CI003"}, CMDB, RULES) == Binding("CI003", "id:ci_id")


def test_unknown_ci_id_falls_through_to_later_rules():
    assert bind({"ci": "CI999", "host": "web01"}, CMDB, RULES) == Binding("CI001", "name:host")


def test_name_is_case_insensitive_and_follows_label_order():
    assert bind({"host": "WEB01"}, CMDB, RULES) == Binding("CI001", "name:host")
    both = {"job": "checkout", "hostname": "db01", "ci_name": "orders"}
    assert bind(both, CMDB, RULES) == Binding("CI004", "name:ci_name")
    assert bind({"job": "checkout", "hostname": "db01"}, CMDB, RULES) == Binding("CI003", "name:hostname")


@pytest.mark.parametrize("instance", ["web01:9100", "web01", "WEB01:443"])
def test_instance_port_is_stripped(instance):
    assert bind({"instance": instance}, CMDB, RULES) == Binding("CI001", "name:instance")


def test_bracketed_ipv6_instance_loses_its_port_but_a_bare_address_is_kept():
    assert bind({"instance": "[::1]:9100"}, CMDB, RULES) == Binding("CI009", "name:instance")
    assert bind({"instance": "::1"}, CMDB, RULES) == Binding("CI009", "name:instance")


def test_port_is_only_stripped_from_port_labels():
    assert bind({"host": "web01:9100"}, CMDB, RULES).ci_id is None


def test_alias_match_comes_after_every_name_label():
    assert bind({"service": "checkout-svc"}, CMDB, RULES) == Binding("CI002", "alias:service")
    # "web01-legacy" is an alias of db01, but job=web01 is a name: names win whatever the label order.
    assert bind({"host": "web01-legacy", "job": "web01"}, CMDB, RULES) == Binding("CI001", "name:job")


def test_attribute_rule_needs_every_pair_and_a_single_ci():
    labels = {"cluster": "eu-1", "namespace": "orders"}
    assert bind(labels, CMDB, RULES) == Binding("CI004", "attributes:0")
    # pay matches two CIs, and cluster alone matches three: ambiguous, so not bound by attributes.
    assert bind({"cluster": "eu-1", "namespace": "pay"}, CMDB, RULES) == Binding(None, "unbound")
    assert bind({"namespace": "orders"}, CMDB, RULES) == Binding(None, "unbound")


def test_regex_rule_with_ci_group_and_with_template():
    assert bind({"pod": "orders-7f9zq"}, CMDB, RULES) == Binding("CI004", "regex:0")
    assert bind({"container_id": "payments_12"}, CMDB, RULES) == Binding("CI005", "regex:1")


def test_regex_is_anchored_and_result_can_be_an_id_or_alias():
    assert bind({"pod": "xorders-7f9zq-tail"}, CMDB, RULES).ci_id is None
    rules = MatchRules.parse({"regex_rules": [{"label": "x", "regex": r"id=(?P<ci>\S+)"}]})
    assert bind({"x": "id=CI003"}, CMDB, rules) == Binding("CI003", "regex:0")
    assert bind({"x": "id=checkout-svc"}, CMDB, rules) == Binding("CI002", "regex:0")


def test_earlier_rules_beat_regex_rules():
    assert bind({"pod": "orders-7f9zq", "host": "db01"}, CMDB, RULES) == Binding("CI003", "name:host")


def test_ambiguous_names_do_not_bind():
    assert bind({"host": "dup"}, CMDB, RULES) == Binding(None, "unbound")


def test_unbound_alert_is_reported_not_dropped():
    assert bind({}, CMDB, RULES) == Binding(None, "unbound")
    assert bind({"alertname": "Foo"}, CMDB, MatchRules()) == Binding(None, "unbound")


def test_configured_name_labels_replace_the_default():
    rules = MatchRules.parse({"name_labels": ["node"], "port_labels": ["node"]})
    assert bind({"node": "web01:22", "host": "db01"}, CMDB, rules) == Binding("CI001", "name:node")


@pytest.mark.parametrize(
    ("config", "section", "index", "field"),
    [
        (
            {"regex_rules": [{"label": "a", "regex": "(?P<ci>.+)"}, {"label": "b", "regex": "(?P<ci>"}]},
            "regex_rules",
            1,
            "regex",
        ),
        ({"regex_rules": [{"label": "a", "regex": "(.+)"}]}, "regex_rules", 0, "regex"),
        ({"regex_rules": [{"label": "a", "regex": "(?P<x>.+)", "template": "{y}"}]}, "regex_rules", 0, "template"),
        ({"regex_rules": [{"regex": "(?P<ci>.+)"}]}, "regex_rules", 0, "label"),
        ({"attribute_rules": [{}]}, "attribute_rules", 0, "labels"),
    ],
)
def test_invalid_rules_name_section_index_and_field(config, section, index, field):
    with pytest.raises(BindingRuleError) as err:
        MatchRules.parse(config)
    assert (err.value.section, err.value.index, err.value.field) == (section, index, field)


def test_a_pagerduty_source_binds_by_name_after_every_other_name_label():
    assert bind({"alertname": "availability", "source": "web01.prod.example.com"}, CMDB, RULES).ci_id == "CI001"
    assert bind({"job": "db01", "source": "web01"}, CMDB, RULES).ci_id == "CI003"
