"""Bulk CMDB import: JSON items or CSV rows to CIs and relationships, validated as a whole (cmdb.Cmdb.build).
Any bad row rejects the import; the error names the row (0-based item index; in CSV the data rows, header and
blank lines not counted) and the field. At most MAX_CIS CIs per call.

CSV: a header row; columns id, name, class, environment, criticality (1-5, default 3), support_group,
aliases (separated by |), attributes (a JSON object, or k=v|k=v), runs_on, depends_on, part_of (target CI
ids separated by |). JSON: an array of objects with the same fields, aliases and relationship kinds as
arrays, attributes as an object, and/or `relationships: [{kind, target}]`.
"""

import csv
import io
from collections.abc import Mapping
from typing import Any

import orjson

from .cmdb import CI, RELATIONSHIP_KINDS, CmdbError, Relationship, checked

MAX_CIS = 100_000
CSV_COLUMNS = ("id", "name", "class", "environment", "criticality", "support_group", "aliases", "attributes")
_CI_FIELDS = {
    "id",
    "name",
    "class",
    "ci_class",
    "environment",
    "criticality",
    "support_group",
    "aliases",
    "attributes",
    "relationships",
    *RELATIONSHIP_KINDS,
}


class ImportInvalid(ValueError):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason


class TooManyCis(ImportInvalid):
    def __init__(self, limit: int) -> None:
        super().__init__("body", f"more than {limit} CIs; split the import")


def _counted(row: int, limit: int) -> None:
    if row >= limit:  # stop parsing as soon as the request is known to be too large
        raise TooManyCis(limit)


Parsed = tuple[list[CI], list[Relationship], list[tuple[int, str]]]  # + per relationship: (row, field)


def cis_from_json(items: list[Any], limit: int = MAX_CIS) -> Parsed:
    cis, rels, origins = [], [], []
    for row, item in enumerate(items):
        _counted(row, limit)
        if not isinstance(item, Mapping):
            raise ImportInvalid(f"[{row}]", "expected an object")
        unknown = sorted(set(item) - _CI_FIELDS)
        if unknown:
            raise ImportInvalid(f"[{row}].{unknown[0]}", "unknown field")
        cis.append(
            _ci(row, item, _aliases_json(row, item.get("aliases")), _attributes_json(row, item.get("attributes")))
        )
        for kind in RELATIONSHIP_KINDS:
            targets = [] if item.get(kind) is None else item[kind]
            if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
                raise ImportInvalid(f"[{row}].{kind}", "expected an array of CI ids")
            for target in targets:
                rels.append(Relationship(cis[-1].id, kind, target))
                origins.append((row, kind))
        raw = [] if item.get("relationships") is None else item["relationships"]
        if not isinstance(raw, list):
            raise ImportInvalid(f"[{row}].relationships", "expected an array of {kind, target}")
        for i, rel in enumerate(raw):
            where = f"relationships[{i}]"
            if not isinstance(rel, Mapping) or not isinstance(rel.get("target"), str) or not rel.get("target"):
                raise ImportInvalid(f"[{row}].{where}.target", "missing or not a CI id")
            rels.append(Relationship(cis[-1].id, str(rel.get("kind")), rel["target"]))
            origins.append((row, where))
    return cis, rels, origins


def cis_from_csv(body: bytes, limit: int = MAX_CIS) -> Parsed:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportInvalid("body", f"not UTF-8: {exc}") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [h.strip() for h in next(reader, [])]
    missing = [c for c in ("id", "class") if c not in header]
    unknown = [h for h in header if h not in CSV_COLUMNS and h not in RELATIONSHIP_KINDS]
    if missing or unknown:
        raise ImportInvalid("header", f"missing columns {missing}" if missing else f"unknown columns {unknown}")
    cis, rels, origins = [], [], []
    for values in reader:
        if not values or values == [""]:
            continue  # blank lines are not rows: row numbers stay the indexes of the CIs
        row = len(cis)
        _counted(row, limit)
        if len(values) != len(header):
            raise ImportInvalid(
                f"[{row}]", f"CSV line {reader.line_num}: {len(values)} columns, header has {len(header)}"
            )
        item = dict(zip(header, values, strict=True))
        if item.get("criticality", "").strip():
            item["criticality"] = _int(row, item["criticality"])
        else:
            item.pop("criticality", None)
        aliases = [a for a in item.get("aliases", "").split("|") if a]
        cis.append(_ci(row, item, aliases, _attributes_csv(row, item.get("attributes", ""))))
        for kind in RELATIONSHIP_KINDS:
            for target in filter(None, (t.strip() for t in item.get(kind, "").split("|"))):
                rels.append(Relationship(cis[-1].id, kind, target))
                origins.append((row, kind))
    return cis, rels, origins


def _ci(row: int, item: Mapping[str, Any], aliases: list[str], attributes: dict[str, str]) -> CI:
    ci_id = item.get("id")
    if not isinstance(ci_id, str) or not ci_id.strip():
        raise ImportInvalid(f"[{row}].id", "missing or empty")
    if "/" in ci_id:
        raise ImportInvalid(f"[{row}].id", "contains '/': ids are path segments of the API (GET /v1/cis/{id})")
    ci_class = item.get("class", item.get("ci_class"))
    if not isinstance(ci_class, str) or not ci_class.strip():
        raise ImportInvalid(f"[{row}].class", "missing or empty")
    texts = {}
    for name in ("name", "environment", "support_group"):
        value = item.get(name) or ""
        if not isinstance(value, str):
            raise ImportInvalid(f"[{row}].{name}", "must be a string")
        texts[name] = value.strip()
    criticality = 3 if item.get("criticality") is None else item["criticality"]
    if isinstance(criticality, bool) or not isinstance(criticality, int) or not 1 <= criticality <= 5:
        raise ImportInvalid(f"[{row}].criticality", f"{criticality!r} is not an integer 1..5")
    return CI(
        ci_id.strip(),
        texts["name"] or ci_id.strip(),
        ci_class.strip(),
        texts["environment"],
        criticality,
        texts["support_group"],
        tuple(aliases),
        attributes,
    )


def _int(row: int, text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ImportInvalid(f"[{row}].criticality", f"{text!r} is not an integer 1..5") from None


def _aliases_json(row: int, raw: Any) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(a, str) and a for a in raw):
        raise ImportInvalid(f"[{row}].aliases", "expected an array of non-empty strings")
    return raw


def _attributes_json(row: int, raw: Any) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ImportInvalid(f"[{row}].attributes", "expected an object")
    return {str(k): v if isinstance(v, str) else orjson.dumps(v).decode() for k, v in raw.items()}


def _attributes_csv(row: int, text: str) -> dict[str, str]:
    text = text.strip()
    if not text:
        return {}
    if text.startswith("{"):
        try:
            return _attributes_json(row, orjson.loads(text))
        except orjson.JSONDecodeError:
            raise ImportInvalid(f"[{row}].attributes", "not a valid JSON object") from None
    pairs = {}
    for pair in text.split("|"):
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ImportInvalid(f"[{row}].attributes", f"{pair!r} is not key=value")
        pairs[key.strip()] = value.strip()
    return pairs


def validate(cis: list[CI], rels: list[Relationship], origins: list[tuple[int, str]], existing: set[str]) -> None:
    """The CMDB's own row checks over the request plus the stored CIs it points at; the first error names the
    row."""
    placeholders = [CI(ci_id, ci_id, "existing") for ci_id in sorted(existing - {c.id for c in cis})]
    try:
        checked([*cis, *placeholders], rels)
    except CmdbError as exc:
        if exc.table == "ci":
            raise ImportInvalid(f"[{exc.row}].{exc.field}", exc.reason) from None
        row, where = origins[exc.row]
        if where in RELATIONSHIP_KINDS:  # a CSV column or JSON array named after the kind
            field = where
        else:
            field = f"{where}.kind" if exc.field == "kind" else f"{where}.target"
        raise ImportInvalid(f"[{row}].{field}", exc.reason) from None
