"""In-memory CMDB snapshot: configuration items, their relationships, and the lookups the correlator
needs per alert (by id, name, alias, attributes; infrastructure root) at O(1).

Edge direction: `source kind target` always means the source relies on the target (an application
runs_on a host, a service depends_on a database, a host is part_of a cluster). The target is upstream;
the source is among the target's dependents, i.e. affected when the target fails.
"""

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

RELATIONSHIP_KINDS = ("runs_on", "depends_on", "part_of")
# Root-cause analysis follows infrastructure only; part_of is membership, not something a CI runs on.
# Order = preference when a CI has several upstream CIs (the hosting stack before logical dependencies).
INFRASTRUCTURE_KINDS = ("runs_on", "depends_on")

_EMPTY: tuple[str, ...] = ()
SERVICE_CLASSES = ("business_service", "business service", "service")


class CmdbError(ValueError):
    """A CMDB row the snapshot cannot be built from; `table` is "ci" or "relationship"."""

    def __init__(self, row: int, field: str, reason: str, table: str = "ci") -> None:
        super().__init__(f"{table} row {row}, {field}: {reason}")
        self.row, self.field, self.reason, self.table = row, field, reason, table


@dataclass(frozen=True, slots=True)
class CI:
    id: str
    name: str
    ci_class: str
    environment: str = ""
    criticality: int = 3
    support_group: str = ""
    aliases: tuple[str, ...] = ()
    attributes: Mapping[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "aliases", tuple(self.aliases))
        object.__setattr__(self, "attributes", MappingProxyType(dict(self.attributes)))


@dataclass(frozen=True, slots=True)
class Relationship:
    source_id: str
    kind: str
    target_id: str


@dataclass(frozen=True, slots=True)
class Neighbour:
    """`direction` "out": this CI <kind> ci_id (ci_id is upstream); "in": ci_id <kind> this CI."""

    ci_id: str
    kind: str
    direction: str


class Cmdb:
    """Immutable once built; every index is computed in `build`, except attribute-combination indexes,
    which are built on first use per combination of attribute names (configuration is finite)."""

    def __init__(
        self,
        cis: dict[str, CI],
        names: dict[str, tuple[str, ...]],
        aliases: dict[str, tuple[str, ...]],
        upstream: dict[str, tuple[tuple[str, str], ...]],
        downstream: dict[str, tuple[tuple[str, str], ...]],
    ) -> None:
        self._cis = cis
        self._names = names
        self._aliases = aliases
        self._upstream = upstream
        self._downstream = downstream
        self._roots = _infrastructure_roots(cis, upstream)
        self._attribute_indexes: dict[tuple[str, ...], dict[tuple[str, ...], tuple[str, ...]]] = {}
        self._services: dict[str, str] = {}  # business service per CI, filled as asked (every emission asks)

    @classmethod
    def build(cls, cis: Iterable[CI], relationships: Iterable[Relationship]) -> "Cmdb":
        relationships = list(relationships)
        by_id = checked(cis, relationships)
        upstream: dict[str, list[tuple[str, str]]] = {}
        downstream: dict[str, list[tuple[str, str]]] = {}
        for rel in relationships:
            upstream.setdefault(rel.source_id, []).append((rel.kind, rel.target_id))
            downstream.setdefault(rel.target_id, []).append((rel.kind, rel.source_id))
        return cls(
            by_id,
            _key_index((ci.name.casefold(), ci.id) for ci in by_id.values()),
            _key_index((a.casefold(), ci.id) for ci in by_id.values() for a in ci.aliases),
            _frozen_edges(upstream),
            _frozen_edges(downstream),
        )

    def __len__(self) -> int:
        return len(self._cis)

    def get(self, ci_id: str) -> CI | None:
        return self._cis.get(ci_id)

    def ids_by_name(self, name: str) -> tuple[str, ...]:
        """CI ids whose name equals `name` case-insensitively; more than one means ambiguous."""
        return self._names.get(name.casefold(), _EMPTY)

    def ids_by_alias(self, alias: str) -> tuple[str, ...]:
        return self._aliases.get(alias.casefold(), _EMPTY)

    def ids_by_attributes(self, names: tuple[str, ...], values: tuple[str, ...]) -> tuple[str, ...]:
        """CI ids whose attributes `names` equal `values` (exact, case-sensitive), all pairs at once."""
        index = self._attribute_indexes.get(names)
        if index is None:
            index = self._attribute_indexes[names] = self._attribute_index(names)
        return index.get(values, _EMPTY)

    def neighbours(self, ci_id: str) -> tuple[Neighbour, ...]:
        out = (Neighbour(t, k, "out") for k, t in self._upstream.get(ci_id, _EMPTY))
        inc = (Neighbour(s, k, "in") for k, s in self._downstream.get(ci_id, _EMPTY))
        return (*out, *inc)

    def dependents(self, ci_id: str) -> frozenset[str]:
        """Every CI that transitively runs_on / depends_on / is part_of `ci_id` (excluding itself)."""
        return _reachable(ci_id, self._downstream, RELATIONSHIP_KINDS) - {ci_id}

    def business_service(self, ci_id: str) -> str:
        """The business service the CI (or, failing that, its infrastructure root) is part of; "" if none."""
        found = self._services.get(ci_id)
        if found is None:
            found = self._services[ci_id] = self._business_service(ci_id)
        return found

    def _business_service(self, ci_id: str) -> str:
        for candidate in (ci_id, self.infrastructure_root(ci_id)):
            if not candidate:
                continue
            parts = sorted(t for k, t in self._upstream.get(candidate, _EMPTY) if k == "part_of")
            services = [p for p in parts if (ci := self._cis.get(p)) and ci.ci_class.casefold() in SERVICE_CLASSES]
            if services or parts:
                return (services or parts)[0]
        return ""

    def infrastructure_root(self, ci_id: str) -> str | None:
        """Topmost CI reached by following each CI's primary upstream link (runs_on before depends_on,
        then lowest target id); the CI itself when it has none. Precomputed, O(1)."""
        return self._roots.get(ci_id)

    def root_cause(self, ci_ids: Iterable[str]) -> str | None:
        """The CI that the given (alerting) CIs have in common as infrastructure.

        1. A given CI that all the others transitively run_on / depend_on wins (the host among its
           applications, the database among the services using it); in a cycle, the lowest id.
        2. Otherwise the nearest CI they all transitively run on / depend on (smallest worst-case hop
           count, then smallest total, then lowest id).
        3. None when they share nothing, or none of the ids is known.
        """
        members = sorted({i for i in ci_ids if i in self._cis})
        if not members:
            return None
        hops = [_hop_counts(m, self._upstream) for m in members]
        common = set(hops[0]).intersection(*hops[1:])
        inside = [m for m in members if m in common]
        if inside:
            return inside[0]
        if not common:
            return None
        return min(common, key=lambda c: (max(h[c] for h in hops), sum(h[c] for h in hops), c))

    def _attribute_index(self, names: tuple[str, ...]) -> dict[tuple[str, ...], tuple[str, ...]]:
        pairs = []
        for ci in self._cis.values():
            values = tuple(ci.attributes.get(n) for n in names)
            if None not in values:
                pairs.append((values, ci.id))
        return _key_index(pairs)


def checked(cis: Iterable[CI], relationships: Iterable[Relationship]) -> dict[str, CI]:
    """The CIs by id, once every row is known good (what `build` needs, without its indexes); the first bad row
    raises CmdbError."""
    by_id: dict[str, CI] = {}
    for row, ci in enumerate(cis):
        _check_ci(row, ci, by_id)
        by_id[ci.id] = ci
    for row, rel in enumerate(relationships):
        _check_relationship(row, rel, by_id)
    return by_id


def _check_ci(row: int, ci: CI, seen: Mapping[str, CI]) -> None:
    if not ci.id:
        raise CmdbError(row, "id", "empty CI id")
    if ci.id in seen:
        raise CmdbError(row, "id", f"duplicate CI id {ci.id!r}")
    if isinstance(ci.criticality, bool) or ci.criticality not in range(1, 6):
        raise CmdbError(row, "criticality", f"{ci.criticality!r} is not 1..5")


def _check_relationship(row: int, rel: Relationship, cis: Mapping[str, CI]) -> None:
    if rel.kind not in RELATIONSHIP_KINDS:
        reason = f"{rel.kind!r} is not one of {', '.join(RELATIONSHIP_KINDS)}"
        raise CmdbError(row, "kind", reason, "relationship")
    for name in ("source_id", "target_id"):
        if getattr(rel, name) not in cis:
            raise CmdbError(row, name, f"unknown CI {getattr(rel, name)!r}", "relationship")


def _key_index(pairs: Iterable[tuple[object, str]]) -> dict:
    index: dict = {}
    for key, ci_id in pairs:
        index.setdefault(key, set()).add(ci_id)
    return {key: tuple(sorted(ids)) for key, ids in index.items()}


def _frozen_edges(edges: dict[str, list[tuple[str, str]]]) -> dict[str, tuple[tuple[str, str], ...]]:
    # Sorted so that every traversal, and so every tie-break, is independent of input order.
    return {ci_id: tuple(sorted(set(links))) for ci_id, links in edges.items()}


Edges = Mapping[str, tuple[tuple[str, str], ...]]  # ci_id -> sorted (kind, other ci_id)


def _reachable(start: str, edges: Edges, kinds: tuple[str, ...]) -> set[str]:
    seen = {start}
    queue = deque((start,))
    while queue:
        for kind, other in edges.get(queue.popleft(), _EMPTY):
            if kind in kinds and other not in seen:
                seen.add(other)
                queue.append(other)
    return seen


def _hop_counts(start: str, upstream: Edges) -> dict[str, int]:
    """Breadth-first hop count to every CI `start` runs on / depends on, itself included at 0."""
    hops = {start: 0}
    queue = deque((start,))
    while queue:
        current = queue.popleft()
        for kind, other in upstream.get(current, _EMPTY):
            if kind in INFRASTRUCTURE_KINDS and other not in hops:
                hops[other] = hops[current] + 1
                queue.append(other)
    return hops


def _primary_parent(links: tuple[tuple[str, str], ...]) -> str | None:
    ranked = [(INFRASTRUCTURE_KINDS.index(k), t) for k, t in links if k in INFRASTRUCTURE_KINDS]
    return min(ranked)[1] if ranked else None


def _infrastructure_roots(cis: Mapping[str, CI], upstream: Edges) -> dict[str, str]:
    parent = {ci_id: _primary_parent(upstream.get(ci_id, _EMPTY)) for ci_id in cis}
    roots: dict[str, str] = {}
    for start in cis:
        path: list[str] = []
        on_path: dict[str, int] = {}
        current: str | None = start
        while current is not None and current not in roots and current not in on_path:
            on_path[current] = len(path)
            path.append(current)
            current = parent[current]
        if current is None:
            root = path[-1]
        elif current in roots:
            root = roots[current]
        else:  # a cycle: its lowest id stands for it, whichever member the walk entered by
            root = min(path[on_path[current] :])
        roots.update(dict.fromkeys(path, root))
    return roots
