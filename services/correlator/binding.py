"""Bind an alert to the configuration item it is about, from its labels.

Rules are tried in this order; the first that names exactly one CI wins:
  1. label `ci`, then `ci_id`, equal to a CI id                         -> rule "id:<label>"
  2. a name label's value equal to a CI name (case-insensitive)         -> rule "name:<label>"
  3. a name label's value equal to a CI alias (case-insensitive)        -> rule "alias:<label>"
  4. attribute rules: every listed label equals its CI attribute        -> rule "attributes:<index>"
  5. regex rules: a label's value, matched in full, yields a CI name    -> rule "regex:<index>"
A lookup that names several CIs (duplicate names, a broad attribute rule) is ambiguous and does not
bind: no CI is better than a guessed one. Alerts that bind nowhere keep rule "unbound".
"""

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass

from services.correlator.cmdb import Cmdb

ID_LABELS = ("ci", "ci_id")
# `source`: PagerDuty events name the affected system there (payload.source).
DEFAULT_NAME_LABELS = ("ci_name", "host", "hostname", "instance", "service", "job", "source")
DEFAULT_PORT_LABELS = ("instance",)
UNBOUND = "unbound"

# Prometheus `instance` is host:port; also [v6-address]:port. A bare IPv6 address has no port to strip.
_PORT_SUFFIX = re.compile(r"^(?:\[(?P<v6>[^\]]+)\]|(?P<host>[^:]+)):\d+$")


class BindingRuleError(ValueError):
    def __init__(self, section: str, index: int, field: str, reason: str) -> None:
        super().__init__(f"{section}[{index}].{field}: {reason}")
        self.section, self.index, self.field, self.reason = section, index, field, reason


@dataclass(frozen=True, slots=True)
class AttributeRule:
    labels: tuple[str, ...]
    attributes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RegexRule:
    label: str
    pattern: re.Pattern[str]
    template: str | None  # None: the named group `ci` is the CI name


@dataclass(frozen=True, slots=True)
class MatchRules:
    name_labels: tuple[str, ...] = DEFAULT_NAME_LABELS
    port_labels: frozenset[str] = frozenset(DEFAULT_PORT_LABELS)
    attribute_rules: tuple[AttributeRule, ...] = ()
    regex_rules: tuple[RegexRule, ...] = ()

    @classmethod
    def parse(cls, config: Mapping) -> "MatchRules":
        """From plain data:
        {"name_labels": [...], "port_labels": [...],
         "attribute_rules": [{"cluster": "k8s_cluster", "namespace": "namespace"}, ...],
         "regex_rules": [{"label": "pod", "regex": "(?P<ci>.+)-[a-z0-9]{5}"},
                         {"label": "x", "regex": "(?P<app>.+)-(?P<env>.+)", "template": "{app}.{env}"}]}
        Every key is optional; name and port labels default to DEFAULT_NAME_LABELS / DEFAULT_PORT_LABELS.
        """
        attribute_rules = config.get("attribute_rules", ())
        regex_rules = config.get("regex_rules", ())
        return cls(
            name_labels=tuple(config.get("name_labels", DEFAULT_NAME_LABELS)),
            port_labels=frozenset(config.get("port_labels", DEFAULT_PORT_LABELS)),
            attribute_rules=tuple(_attribute_rule(i, r) for i, r in enumerate(attribute_rules)),
            regex_rules=tuple(_regex_rule(i, r) for i, r in enumerate(regex_rules)),
        )


@dataclass(frozen=True, slots=True)
class Binding:
    ci_id: str | None
    rule: str


_UNBOUND = Binding(None, UNBOUND)


def bind(labels: Mapping[str, str], cmdb: Cmdb, rules: MatchRules) -> Binding:
    for label in ID_LABELS:
        value = labels.get(label)
        if value and cmdb.get(value) is not None:
            return Binding(value, f"id:{label}")
    names = _name_values(labels, rules)
    for kind, lookup in (("name", cmdb.ids_by_name), ("alias", cmdb.ids_by_alias)):
        for label, value in names:
            ids = lookup(value)
            if len(ids) == 1:
                return Binding(ids[0], f"{kind}:{label}")
    for index, rule in enumerate(rules.attribute_rules):
        values = tuple(labels.get(label) for label in rule.labels)
        if None not in values:
            ids = cmdb.ids_by_attributes(rule.attributes, values)
            if len(ids) == 1:
                return Binding(ids[0], f"attributes:{index}")
    for index, rule in enumerate(rules.regex_rules):
        ci_id = _regex_hit(labels.get(rule.label), rule, cmdb)
        if ci_id is not None:
            return Binding(ci_id, f"regex:{index}")
    return _UNBOUND


def _name_values(labels: Mapping[str, str], rules: MatchRules) -> list[tuple[str, str]]:
    found = []
    for label in rules.name_labels:
        value = labels.get(label)
        if value:
            found.append((label, _without_port(value) if label in rules.port_labels else value))
    return found


def _without_port(value: str) -> str:
    match = _PORT_SUFFIX.match(value)
    return (match["v6"] or match["host"]) if match else value


def _regex_hit(value: str | None, rule: RegexRule, cmdb: Cmdb) -> str | None:
    if value is None:
        return None
    match = rule.pattern.fullmatch(value)
    if match is None:
        return None
    name = match["ci"] if rule.template is None else rule.template.format_map(match.groupdict(""))
    if not name:
        return None
    if cmdb.get(name) is not None:
        return name
    for lookup in (cmdb.ids_by_name, cmdb.ids_by_alias):
        ids = lookup(name)
        if len(ids) == 1:
            return ids[0]
    return None


def _attribute_rule(index: int, raw: object) -> AttributeRule:
    pairs = sorted(raw.items()) if isinstance(raw, Mapping) else []
    if not pairs or not all(isinstance(x, str) and x for pair in pairs for x in pair):
        reason = "expected a non-empty {label: attribute} map of non-empty strings"
        raise BindingRuleError("attribute_rules", index, "labels", reason)
    return AttributeRule(tuple(p[0] for p in pairs), tuple(p[1] for p in pairs))


def _regex_rule(index: int, raw: object) -> RegexRule:
    if not isinstance(raw, Mapping):
        raise BindingRuleError("regex_rules", index, "rule", "expected a map with label, regex[, template]")
    label, template = raw.get("label"), raw.get("template")
    if not isinstance(label, str) or not label:
        raise BindingRuleError("regex_rules", index, "label", "missing or empty")
    regex = raw.get("regex")
    if not isinstance(regex, str) or not regex:
        raise BindingRuleError("regex_rules", index, "regex", "missing or empty")
    try:
        pattern = re.compile(regex)
    except re.error as exc:
        raise BindingRuleError("regex_rules", index, "regex", f"invalid regex: {exc}") from None
    _check_groups(index, pattern, template)
    return RegexRule(label, pattern, template)


def _check_groups(index: int, pattern: re.Pattern[str], template: object) -> None:
    if template is None:
        if "ci" not in pattern.groupindex:
            reason = "needs a named group (?P<ci>...) or a template"
            raise BindingRuleError("regex_rules", index, "regex", reason)
        return
    if not isinstance(template, str):
        raise BindingRuleError("regex_rules", index, "template", "must be a string")
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    except ValueError as exc:
        raise BindingRuleError("regex_rules", index, "template", f"invalid template: {exc}") from None
    unknown = sorted(fields - set(pattern.groupindex))
    if unknown or not fields:
        reason = f"names no group of the regex: {unknown}" if unknown else "uses no {group} of the regex"
        raise BindingRuleError("regex_rules", index, "template", reason)
