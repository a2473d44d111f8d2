"""Known-error catalogue: recognise alerts whose cause and workaround are already documented.

A known error matches when all of its matchers match. Regexes on labels match the whole value
(anchored, as in Prometheus relabelling); regexes on text search anywhere in it. When several known
errors match, the most specific wins: most matchers, then lowest id.

Each known error is filed under one equality matcher (label, else CI class) so that an alert is only
checked against the known errors that could match it, not the whole catalogue.
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


class KnownErrorInvalid(ValueError):
    def __init__(self, index: int, field: str, reason: str) -> None:
        super().__init__(f"known error {index}, {field}: {reason}")
        self.index, self.field, self.reason = index, field, reason


@dataclass(frozen=True, slots=True)
class LabelEquals:
    label: str
    value: str

    def matches(self, labels: Mapping[str, str], ci_class: str | None, text: str) -> bool:
        return labels.get(self.label) == self.value


@dataclass(frozen=True, slots=True)
class LabelMatches:
    label: str
    pattern: re.Pattern[str]

    def matches(self, labels: Mapping[str, str], ci_class: str | None, text: str) -> bool:
        value = labels.get(self.label)
        return value is not None and self.pattern.fullmatch(value) is not None


@dataclass(frozen=True, slots=True)
class CiClassIs:
    ci_class: str

    def matches(self, labels: Mapping[str, str], ci_class: str | None, text: str) -> bool:
        return ci_class == self.ci_class


@dataclass(frozen=True, slots=True)
class TextMatches:
    pattern: re.Pattern[str]

    def matches(self, labels: Mapping[str, str], ci_class: str | None, text: str) -> bool:
        return self.pattern.search(text) is not None


Matcher = LabelEquals | LabelMatches | CiClassIs | TextMatches


@dataclass(frozen=True, slots=True)
class KnownError:
    id: str
    title: str
    matchers: tuple[Matcher, ...]
    workaround: str = ""
    problem_ref: str = ""

    def matches(self, labels: Mapping[str, str], ci_class: str | None, text: str) -> bool:
        return all(m.matches(labels, ci_class, text) for m in self.matchers)


class KnownErrorCatalog:
    def __init__(self, known_errors: Iterable[KnownError]) -> None:
        # Most specific first, so the first full match in a merged candidate list is the answer.
        ordered = sorted(known_errors, key=lambda ke: (-len(ke.matchers), ke.id))
        self._rank = {ke.id: rank for rank, ke in enumerate(ordered)}
        self._by_label: dict[tuple[str, str], list[KnownError]] = {}
        self._by_class: dict[str, list[KnownError]] = {}
        self._unfiled: list[KnownError] = []
        for ke in ordered:
            self._file(ke)
        self._anchor_labels = tuple(sorted({label for label, _ in self._by_label}))

    @classmethod
    def build(cls, records: Iterable[Mapping]) -> "KnownErrorCatalog":
        """From plain data: {"id", "title", "workaround", "problem_ref", "matchers": [
        {"type": "label", "label": "alertname", "value": "DiskFull"},
        {"type": "label_regex", "label": "mountpoint", "regex": "/var(/.*)?"},
        {"type": "ci_class", "value": "database"},
        {"type": "text_regex", "regex": "(?i)ORA-00600"}]}   (text = summary and description)"""
        known_errors, seen = [], set()
        for index, record in enumerate(records):
            ke = _known_error(index, record)
            if ke.id in seen:
                raise KnownErrorInvalid(index, "id", f"duplicate id {ke.id!r}")
            seen.add(ke.id)
            known_errors.append(ke)
        return cls(known_errors)

    def __len__(self) -> int:
        return len(self._rank)

    def match(self, labels: Mapping[str, str], ci_class: str | None, text: str) -> KnownError | None:
        candidates = [*self._unfiled, *self._by_class.get(ci_class or "", ())]
        for label in self._anchor_labels:
            value = labels.get(label)
            if value is not None:
                candidates.extend(self._by_label.get((label, value), ()))
        for ke in sorted(candidates, key=lambda ke: self._rank[ke.id]):
            if ke.matches(labels, ci_class, text):
                return ke
        return None

    def _file(self, ke: KnownError) -> None:
        for m in ke.matchers:
            if isinstance(m, LabelEquals):
                self._by_label.setdefault((m.label, m.value), []).append(ke)
                return
        for m in ke.matchers:
            if isinstance(m, CiClassIs):
                self._by_class.setdefault(m.ci_class, []).append(ke)
                return
        self._unfiled.append(ke)


def _known_error(index: int, record: Mapping) -> KnownError:
    ke_id = record.get("id")
    if not isinstance(ke_id, str) or not ke_id:
        raise KnownErrorInvalid(index, "id", "missing or empty")
    raw = record.get("matchers")
    if not isinstance(raw, list | tuple) or not raw:
        raise KnownErrorInvalid(index, "matchers", "at least one matcher is required")
    matchers = tuple(_matcher(index, f"matchers[{i}]", m) for i, m in enumerate(raw))
    return KnownError(
        ke_id,
        str(record.get("title", "")),
        matchers,
        str(record.get("workaround") or ""),
        str(record.get("problem_ref") or ""),
    )


def _matcher(index: int, field: str, raw: object) -> Matcher:
    kind = raw.get("type") if isinstance(raw, Mapping) else None
    if kind == "label":
        return LabelEquals(_text(index, field, raw, "label"), _text(index, field, raw, "value", empty=True))
    if kind == "label_regex":
        return LabelMatches(_text(index, field, raw, "label"), _regex(index, field, raw))
    if kind == "ci_class":
        return CiClassIs(_text(index, field, raw, "value"))
    if kind == "text_regex":
        return TextMatches(_regex(index, field, raw))
    reason = f"{kind!r} is not label, label_regex, ci_class or text_regex"
    raise KnownErrorInvalid(index, f"{field}.type", reason)


def _text(index: int, field: str, raw: Mapping, key: str, empty: bool = False) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not (value or empty):
        raise KnownErrorInvalid(index, f"{field}.{key}", "missing or not a string")
    return value


def _regex(index: int, field: str, raw: Mapping) -> re.Pattern[str]:
    source = _text(index, field, raw, "regex")
    try:
        return re.compile(source)
    except re.error as exc:
        raise KnownErrorInvalid(index, f"{field}.regex", f"invalid regex: {exc}") from None
