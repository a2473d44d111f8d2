"""Group related alerts: same infrastructure root, or same group-by labels, within a time window.

The group key is stateless: a bound alert is keyed by cmdb.infrastructure_root of its CI ("ci:<id>"),
so a host's alert and its applications' alerts share "ci:<host>" whatever order they arrive in. An
unbound alert is keyed by its group-by label values ("labels:<sha256 prefix>"), Alertmanager-style.
A group instance lives while alerts keep arriving less than `window` apart; after a gap it is reopened
under a new instance id.
"""

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType

from services.correlator.cmdb import Cmdb

DEFAULT_GROUP_BY = ("alertname", "cluster", "service")


@dataclass(frozen=True, slots=True)
class GroupingPolicy:
    window: timedelta = timedelta(minutes=5)
    group_by: tuple[str, ...] = DEFAULT_GROUP_BY


DEFAULT_GROUPING_POLICY = GroupingPolicy()


@dataclass(frozen=True, slots=True)
class GroupKey:
    key: str
    root_ci_id: str | None


@dataclass(frozen=True, slots=True)
class GroupInstance:
    id: str  # "<key>@<opened_at ISO-8601 UTC>"
    key: GroupKey
    opened_at: datetime
    last_at: datetime


def group_key_for(
    ci_id: str | None, labels: Mapping[str, str], cmdb: Cmdb, policy: GroupingPolicy = DEFAULT_GROUPING_POLICY
) -> GroupKey:
    root = cmdb.infrastructure_root(ci_id) if ci_id else None
    if root is not None:
        return GroupKey(f"ci:{root}", root)
    return GroupKey(f"labels:{label_digest(labels, policy.group_by)}", None)


def label_digest(labels: Mapping[str, str], group_by: tuple[str, ...]) -> str:
    """Order of group_by does not matter; a missing label counts as empty, as in Alertmanager."""
    parts = []
    for name in sorted(set(group_by)):
        value = labels.get(name, "")
        # Length-prefixed, so no label value can forge another combination's encoding.
        parts.append(f"{len(name)}:{name}{len(value)}:{value}")
    return hashlib.sha256("".join(parts).encode()).hexdigest()[:16]


def continue_or_open(
    current: GroupInstance | None,
    key: GroupKey,
    at: datetime,
    policy: GroupingPolicy = DEFAULT_GROUPING_POLICY,
) -> GroupInstance:
    """The group instance for an alert with `key` at `at`, given the key's current instance (or None)."""
    at = at.astimezone(UTC)
    if current is not None and at < current.last_at + policy.window:
        return GroupInstance(current.id, key, current.opened_at, max(current.last_at, at))
    return GroupInstance(f"{key.key}@{at.isoformat()}", key, at, at)


@dataclass(frozen=True, slots=True)
class OpenGroups:
    """Current group instance per key. Each assign copies the mapping (O(open groups)); a consumer on
    the hot path can keep its own dict of GroupInstance and call continue_or_open directly."""

    instances: Mapping[str, GroupInstance] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "instances", MappingProxyType(dict(self.instances)))

    def assign(
        self, key: GroupKey, at: datetime, policy: GroupingPolicy = DEFAULT_GROUPING_POLICY
    ) -> tuple["OpenGroups", GroupInstance]:
        instance = continue_or_open(self.instances.get(key.key), key, at, policy)
        return OpenGroups({**self.instances, key.key: instance}), instance

    def expire(self, now: datetime, policy: GroupingPolicy = DEFAULT_GROUPING_POLICY) -> "OpenGroups":
        """Drop lapsed instances, to bound memory; they would be reopened anyway."""
        live = {k: g for k, g in self.instances.items() if now < g.last_at + policy.window}
        return OpenGroups(live)
