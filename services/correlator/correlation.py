"""One alert's correlation: dedup, CI binding, known error, change/maintenance window, group, flapping,
expiry, and whether downstream must hear of it. Pure: the CMDB snapshot and every time are passed in.

Downstream (ticketing) is modelled by `announced`: it last heard the alert firing. Rules:
- An alert that opens inside a window whose policy is "suppress" is recorded (suppressed, with the change
  or window id) and not emitted; one already announced is never hidden again (it is marked instead).
- While an alert flaps, a resolve is held back: the incident stays open, shown flapping. The held resolve
  is emitted once the alert is quiet (its expiry time is then the end of the quiet period).
- A firing alert not seen for its timeout expires (sender's `endsAt` honoured): resolved, `expired`.
- Each alert keeps the group instance it opened in while it fires, and when it re-fires within the reopen
  window (dedup); a later re-fire joins the key's current instance or opens a new one after a gap
  (grouping.continue_or_open).
- A repeat (the alert firing again, nothing new but its count) is told at most once per repeat interval of alert
  time; one held back is told by the next sighting past the interval, or by the sweep when the interval ends.
  Every emission carries its group key's occurrence count, which holds the repeats not told, so the counts an
  incident shows at each change are exact however few repeats reach it.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from services.shared.frozen import evolve

from . import dedup, flapping
from .binding import UNBOUND, Binding, MatchRules, bind
from .cmdb import Cmdb
from .dedup import AlertState, Observation
from .flapping import FlapPolicy, FlapState
from .grouping import GroupingPolicy, GroupInstance, GroupKey, continue_or_open, group_key_for
from .heartbeats import SOURCE as HEARTBEAT_SOURCE
from .known_errors import KnownError, KnownErrorCatalog
from .windows import WindowIndex, WindowPolicy

DEFAULT_EXPIRY = timedelta(hours=4)


class ExpiryInvalid(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class ExpiryPolicy:
    """How long a firing alert may go unseen, per source."""

    per_source: Mapping[str, timedelta] = field(default_factory=dict, hash=False)
    default: timedelta = DEFAULT_EXPIRY

    def timeout(self, source: str) -> timedelta:
        return self.per_source.get(source, self.default)

    @classmethod
    def parse(cls, text: str) -> "ExpiryPolicy":
        """ "pagerduty=14400,grafana=3600,default=14400" (seconds)."""
        per_source, default = {}, DEFAULT_EXPIRY
        for item in filter(None, (p.strip() for p in text.split(","))):
            source, _, seconds = item.partition("=")
            try:
                timeout = timedelta(seconds=float(seconds))
            except ValueError:
                raise ExpiryInvalid(f"{item!r}: expected source=seconds") from None
            if not source.strip() or timeout <= timedelta(0):
                raise ExpiryInvalid(f"{item!r}: expected source=seconds, seconds > 0")
            if source.strip() == "default":
                default = timeout
            else:
                per_source[source.strip()] = timeout
        return cls(per_source, default)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything correlation looks up, in memory; rebuilt when the CMDB, catalogue or windows change."""

    version: int
    cmdb: Cmdb
    rules: MatchRules
    catalog: KnownErrorCatalog
    windows: WindowIndex
    grouping: GroupingPolicy = GroupingPolicy()
    flap: FlapPolicy = FlapPolicy()
    expiry: ExpiryPolicy = ExpiryPolicy()
    known_errors: Mapping[str, KnownError] = field(default_factory=dict, hash=False)  # by id, for emissions
    reopen_window: timedelta = dedup.DEFAULT_REOPEN_WINDOW
    repeat_interval: timedelta = timedelta(0)  # 0: every repeat is told (coalesced per batch)
    # What an alert's labels and text bind to, by (labels, title, description): a storm is the same alerts
    # again, and binding, known-error matching and the group key depend on nothing else this snapshot does not fix.
    bindings: dict[tuple[frozenset[tuple[str, str]], str, str], "Bound"] = field(
        default_factory=dict, hash=False, compare=False, repr=False
    )


REMEMBERED = 50_000  # bindings per snapshot; then forgotten all at once


@dataclass(frozen=True, slots=True)
class Bound:
    binding: Binding
    known_error: KnownError | None
    group_key: GroupKey


def bound(obs: Observation, snap: Snapshot) -> Bound:
    """The CI the alert binds to, the known error it matches and its group key, remembered in the snapshot."""
    key = (frozenset(obs.labels.items()), obs.title, obs.description)
    found = snap.bindings.get(key)
    if found is None:
        binding = bind(obs.labels, snap.cmdb, snap.rules)
        ci = snap.cmdb.get(binding.ci_id) if binding.ci_id else None
        known = snap.catalog.match(obs.labels, ci.ci_class if ci else None, f"{obs.title}\n{obs.description}")
        group_key = group_key_for(binding.ci_id, obs.labels, snap.cmdb, snap.grouping)
        if len(snap.bindings) >= REMEMBERED:
            snap.bindings.clear()
        found = snap.bindings[key] = Bound(binding, known, group_key)
    return found


@dataclass(frozen=True, slots=True)
class OpenGroup:
    """A group instance and the CIs alerting in it so far."""

    instance: GroupInstance
    affected: frozenset[str] = frozenset()
    # Occurrences of the key's announced alerts, ever, across its instances (CorrelatedAlert.group_occurrences).
    occurrences: int = 0


@dataclass(frozen=True, slots=True)
class Sighting:
    observation: Observation
    ends_at: datetime | None = None  # the sender's own end time (Alertmanager endsAt), when given


@dataclass(frozen=True, slots=True)
class Tracked:
    alert: AlertState
    ci_id: str | None = None
    binding: str = UNBOUND
    group_key: str = ""  # stateless key: "ci:<root>" or "labels:<digest>"
    group_id: str = ""  # the group instance: "<key>@<opened_at>"
    root_ci_id: str | None = None
    known_error_id: str | None = None
    change_id: str | None = None
    window_id: str | None = None
    suppressed: bool = False
    during_change: bool = False
    flap: FlapState = FlapState()
    announced: bool = False
    expires_at: datetime | None = None
    expired: bool = False
    tell_at: datetime | None = None  # a repeat held back: when the sweep tells it, if no sighting has

    @property
    def shown_firing(self) -> bool:
        """What downstream should believe: firing, or resolved but held open while flapping."""
        return self.alert.firing or (self.announced and self.flap.flapping)

    @property
    def incident_key(self) -> str:
        """The group key emitted on alerts.correlated (ticketing keeps one open incident per key)."""
        return self.group_key or f"alert:{self.alert.fingerprint}"

    def visible(self) -> tuple[object, ...]:
        return (
            self.shown_firing,  # not alert.firing: a resolve held back while flapping shows nothing new
            self.alert.occurrences,
            self.alert.severity,
            self.alert.title,
            self.alert.first_seen,
            self.flap.flapping,
            self.ci_id,
            self.known_error_id,
            self.change_id,
            self.window_id,
            self.during_change,
            self.group_id,
        )


@dataclass(frozen=True, slots=True)
class Told:
    """A state downstream must hear of, its group as it was then, and the sighting that caused it; `sequence`
    is the alert's number as told (set by the pipeline, which numbers a batch's emissions per fingerprint)."""

    state: Tracked
    group: OpenGroup | None
    cause: Observation
    sequence: int = 0


def correlate_all(
    states: Mapping[str, Tracked | None],
    sightings: Sequence[tuple[str, Sighting]],
    groups: dict[str, OpenGroup],
    snap: Snapshot,
    found: Sequence[Bound] | None = None,
) -> tuple[dict[str, Tracked | None], list[Told]]:
    """Each fingerprint's state after the sightings, taken one by one in the order given (the order they
    happened), and what downstream must hear, in that order. A repeat (an alert seen firing again, nothing new
    but its count) is held until the repeat interval since the alert was last told has passed (`tell_at`), and a
    told one replaces the fingerprint's previous repeat unless something else was told of its incident in
    between. Every sighting adds to its group's count, which each told state carries: so ticketing gets every
    change with the counts of the incident's alerts as they were when it happened, whatever the batch boundaries
    and however few repeats it hears of. `groups` (group key -> current instance) is updated in place. `found`:
    each sighting's `bound`, when the caller has it already (the pipeline needs the group keys first, to lock them)."""
    if found is None:
        found = [bound(s.observation, snap) for _, s in sightings]
    current = {fp: states.get(fp) for fp, _ in sightings}
    told = _Coalescing()
    told_at: dict[str, datetime] = {}  # when each alert told in this batch was (its sequence is numbered after it)
    for (fingerprint, sighting), binding in zip(sightings, found, strict=True):
        before = current[fingerprint]
        after = _sight(before, fingerprint, sighting, binding, groups, snap)
        # By identity: _sight returns the state it was given when the sighting changes nothing, and otherwise one
        # that differs from it at least in the event ids it remembers (a copy it has seen changes nothing).
        if after is None or after is before:
            continue
        after, emit = _announce(before, after)
        repeat = emit and _repeats(before, after)
        if repeat:
            assert before is not None  # a repeat has a state before it
            last = told_at.get(fingerprint) or dedup.caused_at(before.alert.sequence)
            after, emit = _held(after, last + snap.repeat_interval)
        if emit and after.tell_at is not None:
            after = evolve(after, tell_at=None)  # told now, with its count
        current[fingerprint] = after
        _count(groups, after, new_occurrences(before, after, fingerprint in told_at))
        if emit:
            told_at[fingerprint] = sighting.observation.at
            told.add(Told(after, groups.get(after.group_key), sighting.observation), repeat)
    return current, told.steps()


def correlate(
    before: Tracked | None,
    fingerprint: str,
    sightings: Sequence[Sighting],
    groups: dict[str, OpenGroup],
    snap: Snapshot,
) -> tuple[Tracked | None, list[tuple[Tracked, datetime]]]:
    """One fingerprint's sightings in order: its state after them, and each state to emit with its time."""
    after, told = correlate_all({fingerprint: before}, [(fingerprint, s) for s in sightings], groups, snap)
    return after[fingerprint], [(t.state, t.cause.at) for t in told]


def new_occurrences(before: Tracked | None, after: Tracked, told_in_batch: bool = False) -> int:
    """Occurrences `after` adds to its group's count, as an incident hearing of every repeat would count them:
    none until it is told; then all of its firing period's the first time it is told, or when a new period
    begins (counted from 1 again); each repeat one."""
    if not after.announced:
        return 0
    heard = before is not None and (before.announced or before.alert.sequence > 0 or told_in_batch)
    if before is None or not heard or before.alert.first_seen != after.alert.first_seen:
        return after.alert.occurrences
    return max(0, after.alert.occurrences - before.alert.occurrences)


def _held(state: Tracked, due: datetime) -> tuple[Tracked, bool]:
    """A repeat seen at or past `due` is told (True); an earlier one is held until `due`."""
    if state.alert.last_seen >= due:
        return state, True
    return (state if state.tell_at == due else evolve(state, tell_at=due)), False


def _count(groups: dict[str, OpenGroup], state: Tracked, occurrences: int) -> None:
    group = groups.get(state.group_key)
    if occurrences and group is not None:
        groups[state.group_key] = evolve(group, occurrences=group.occurrences + occurrences)


def _repeats(before: Tracked | None, after: Tracked) -> bool:
    """Does `after` tell downstream, which heard of `before`, only that the alert fired again?"""
    if before is None or not (before.announced and before.shown_firing and after.shown_firing):
        return False
    was, now = before.visible(), after.visible()
    return was[0] == now[0] and was[2:] == now[2:]  # [1] is the count


class _Coalescing:
    """Told states in order; a repeat replaces its fingerprint's previous repeat while nothing else was told of
    that incident (group key) since."""

    def __init__(self) -> None:
        self._told: list[Told | None] = []
        self._repeat: dict[str, int] = {}  # fingerprint -> index of its latest repeat, still replaceable
        self._by_key: dict[str, set[str]] = {}

    def add(self, told: Told, repeat: bool) -> None:
        fingerprint, key = told.state.alert.fingerprint, told.state.incident_key
        if not repeat:
            for other in self._by_key.pop(key, ()):
                self._repeat.pop(other, None)
            self._repeat.pop(fingerprint, None)
        else:
            if fingerprint in self._repeat:
                self._told[self._repeat[fingerprint]] = None
            self._repeat[fingerprint] = len(self._told)
            self._by_key.setdefault(key, set()).add(fingerprint)
        self._told.append(told)

    def steps(self) -> list[Told]:
        return [t for t in self._told if t is not None]


def _announce(before: Tracked | None, after: Tracked) -> tuple[Tracked, bool]:
    if not after.announced:
        if after.suppressed or not after.shown_firing:
            return after, False
        return evolve(after, announced=True), True
    changed = before is None or before.visible() != after.visible()
    # Rebuilt only when it flips: a repeat leaves it as it was, and each rebuild costs more than the check.
    announced = after.shown_firing
    return (after if announced else evolve(after, announced=False)), changed


def _sight(
    state: Tracked | None,
    fingerprint: str,
    sighting: Sighting,
    found: Bound,
    groups: dict[str, OpenGroup],
    snap: Snapshot,
) -> Tracked | None:
    obs = sighting.observation
    alert_before = state.alert if state else None
    alert = dedup.observe(alert_before, fingerprint, obs, snap.reopen_window)
    if alert is None or alert is alert_before:
        return state  # a resolve of nothing, or a copy of an event already applied
    base = state if state is not None else Tracked(alert=alert)
    flap, _ = flapping.observe(base.flap, obs.firing, obs.at, snap.flap)
    # Every field the sighting changes is gathered first and the state rebuilt once: on the hot path, each
    # dataclasses.replace of a 15-field state costs more than the logic deciding it.
    changes: dict[str, object] = {"alert": alert, "expired": False, "flap": flap}
    if obs.firing:
        # A new occurrence finds its group afresh; a re-fire within the reopen window stays in its own.
        opened = alert_before is None or (
            not alert_before.firing and not dedup.resumes(alert_before, obs.at, snap.reopen_window)
        )
        changes |= _binding(base.announced, obs, found, snap)
        changes |= _grouped(base, found, obs, snap, groups, opened)
    changes["expires_at"] = _expires_at(alert, flap, base.announced, sighting.ends_at, snap)
    return evolve(base, **changes)


def _binding(announced: bool, obs: Observation, found: Bound, snap: Snapshot) -> dict[str, object]:
    binding, known = found.binding, found.known_error
    window = snap.windows.active_for(binding.ci_id, obs.at) if binding.ci_id else None
    return {
        "ci_id": binding.ci_id,
        "binding": binding.rule,
        "known_error_id": known.id if known else None,
        "change_id": window.change_id if window else None,
        "window_id": window.window_id if window else None,
        "suppressed": bool(window and window.policy is WindowPolicy.SUPPRESS and not announced),
        # An alert already announced is never hidden again, so inside a suppress window it is marked instead.
        "during_change": bool(window and (window.policy is WindowPolicy.MARK or announced)),
    }


def _grouped(
    state: Tracked, found: Bound, obs: Observation, snap: Snapshot, groups: dict[str, OpenGroup], opened: bool
) -> dict[str, object]:
    """The group fields of `state` bound as `found` after `obs` (none when they stay); `groups` updated."""
    ci_id = found.binding.ci_id
    if opened or not state.group_id:
        key = found.group_key
        current = groups.get(key.key)
        instance = continue_or_open(current.instance if current else None, key, obs.at, snap.grouping)
        affected = current.affected if current and current.instance.id == instance.id else frozenset()
        group_key = key.key
        changes: dict[str, object] = {"group_key": key.key, "group_id": instance.id, "root_ci_id": key.root_ci_id}
    else:
        current = groups.get(state.group_key)
        if current is None or current.instance.id != state.group_id:
            return {}  # its instance was superseded after a gap; it stays where it opened
        instance = continue_or_open(current.instance, current.instance.key, obs.at, snap.grouping)
        affected, group_key, changes = current.affected, state.group_key, {}
    if ci_id:
        affected = affected | {ci_id}
    groups[group_key] = OpenGroup(instance, affected, current.occurrences if current else 0)
    return changes


def _expires_at(
    alert: AlertState, flap: FlapState, announced: bool, ends_at: datetime | None, snap: Snapshot
) -> datetime | None:
    if alert.firing:
        if alert.source == HEARTBEAT_SOURCE:
            return None  # a missed heartbeat stays raised until the sender beats again
        return ends_at if ends_at is not None else alert.last_seen + snap.expiry.timeout(alert.source)
    if announced and flap.flapping and flap.last_change_at is not None:
        return flap.last_change_at + snap.flap.quiet  # when the held resolve may go out
    return None


def expire(state: Tracked, now: datetime) -> tuple[Tracked, bool] | None:
    """Timer-driven: a firing alert past its expiry is resolved as expired; a resolve held back while
    flapping goes out once quiet. Times recorded are the expiry times, not `now`. None: nothing due."""
    if state.expires_at is None or now < state.expires_at:
        return None
    at = state.expires_at
    quiet = evolve(state.flap, flapping=False, changes=())
    if state.alert.firing:
        alert = evolve(state.alert, firing=False, last_seen=max(state.alert.last_seen, at))
        state = evolve(state, alert=alert, expired=True)
    after = evolve(state, flap=quiet, expires_at=None)
    if not state.announced:
        return after, False
    return evolve(after, announced=False), True


def due(state: Tracked, now: datetime, quiet: bool = False) -> tuple[Tracked, datetime | None] | None:
    """Timer-driven changes of one state at `now`: an expiry or a held resolve (see expire), else a held repeat
    whose time came, or that went `quiet` (not seen for the repeat interval of wall-clock time: an alert's own
    times may run ahead of the clock). The state after, and the time that causes its emission (None: nothing to
    tell); None when nothing is due."""
    expired = expire(state, now)
    if expired is not None:
        after, emit = expired
        return evolve(after, tell_at=None), state.expires_at if emit else None
    if state.tell_at is not None and (quiet or now >= state.tell_at):
        return evolve(state, tell_at=None), state.alert.last_seen
    return None
