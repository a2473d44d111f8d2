"""ITIL priority: impact x urgency -> P1 (most urgent) .. P5."""

from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from types import MappingProxyType


class Impact(IntEnum):
    HIGH = 1
    MEDIUM = 2
    LOW = 3


class Urgency(IntEnum):
    HIGH = 1
    MEDIUM = 2
    LOW = 3


Cell = tuple[Impact, Urgency]


@dataclass(frozen=True)
class PriorityMatrix:
    """Priority (1..5) for each of the nine (impact, urgency) cells.

    Built from configuration; every cell must be present, so a lookup can never miss.
    """

    cells: Mapping[Cell, int]

    def __post_init__(self) -> None:
        object.__setattr__(self, "cells", MappingProxyType(_validated(self.cells)))

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.cells.items())))

    def __getitem__(self, cell: tuple[int, int]) -> int:
        impact, urgency = cell
        return self.cells[Impact(impact), Urgency(urgency)]

    @classmethod
    def parse(cls, text: str) -> "PriorityMatrix":
        """Read a matrix from a configuration string.

        Format: comma-separated entries `IxU=P`, where I is the impact and U the urgency
        (1=high, 2=medium, 3=low) and P the priority 1..5. Whitespace is ignored, all nine
        cells must appear exactly once. The default matrix is
        "1x1=1,1x2=2,1x3=3,2x1=2,2x2=3,2x3=4,3x1=3,3x2=4,3x3=5".
        """
        cells: dict[tuple[int, int], int] = {}
        for entry in filter(None, (part.strip() for part in text.split(","))):
            cell, value = _parse_entry(entry)
            if cell in cells:
                raise ValueError(f"priority matrix entry {entry!r} repeats cell {cell[0]}x{cell[1]}")
            cells[cell] = value
        return cls(cells)


def _parse_entry(entry: str) -> tuple[tuple[int, int], int]:
    try:
        cell, value = entry.replace(" ", "").split("=")
        impact, urgency = cell.lower().split("x")
        return (int(impact), int(urgency)), int(value)
    except ValueError:
        raise ValueError(f"priority matrix entry {entry!r} is not of the form IxU=P, e.g. 1x2=2") from None


def _validated(cells: Mapping[tuple[int, int], int]) -> dict[Cell, int]:
    known = {(i, u) for i in Impact for u in Urgency}
    unknown = sorted(set(cells) - known)
    if unknown:
        raise ValueError(f"priority matrix has unknown cell(s) {_names(unknown)}; impact and urgency are 1..3")
    missing = sorted(known - set(cells))
    if missing:
        raise ValueError(f"priority matrix is missing cell(s) {_names(missing)}")
    for (impact, urgency), value in sorted(cells.items()):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
            raise ValueError(f"priority matrix cell {impact}x{urgency} is {value!r}; priority must be 1..5")
    return {(Impact(i), Urgency(u)): int(value) for (i, u), value in cells.items()}


def _names(cells: list[tuple[int, int]]) -> str:
    return ", ".join(f"{i}x{u}" for i, u in cells)


DEFAULT_MATRIX = PriorityMatrix.parse("1x1=1,1x2=2,1x3=3,2x1=2,2x2=3,2x3=4,3x1=3,3x2=4,3x3=5")

_URGENCY_BY_SEVERITY = {
    "critical": Urgency.HIGH,
    "major": Urgency.HIGH,
    "minor": Urgency.MEDIUM,
    "warning": Urgency.MEDIUM,
    "info": Urgency.LOW,
}


def urgency_from_severity(severity: str) -> Urgency:
    """Urgency for an alert severity (critical, major, minor, warning, info; case-insensitive)."""
    try:
        return _URGENCY_BY_SEVERITY[severity.strip().lower()]
    except KeyError:
        known = ", ".join(_URGENCY_BY_SEVERITY)
        raise ValueError(f"unknown severity {severity!r}; expected one of {known}") from None


def impact_from(ci_criticality: int | None, affected_cis: int, affected_services: int) -> Impact:
    """Impact from the CMDB binding of an incident.

    ci_criticality is the bound CI's criticality, 1 (most critical) .. 5.
    High: criticality 1-2, or >= 2 affected business services, or >= 10 affected CIs.
    Medium: criticality 3, or >= 3 affected CIs, or 1 affected business service.
    Low: anything else. An unbound alert (criticality None) counts as criticality 3, so it is
    medium: we cannot tell what it hits, so it is neither ignored nor allowed to page as P1.
    """
    if ci_criticality is not None and not 1 <= ci_criticality <= 5:
        raise ValueError(f"CI criticality {ci_criticality!r} is outside 1..5")
    if affected_cis < 0 or affected_services < 0:
        raise ValueError("affected CI and service counts cannot be negative")
    criticality = 3 if ci_criticality is None else ci_criticality
    if criticality <= 2 or affected_services >= 2 or affected_cis >= 10:
        return Impact.HIGH
    if criticality == 3 or affected_cis >= 3 or affected_services == 1:
        return Impact.MEDIUM
    return Impact.LOW


def priority(impact: Impact, urgency: Urgency, matrix: PriorityMatrix = DEFAULT_MATRIX) -> int:
    """Priority 1..5 (P1 is the most urgent) from the configured matrix."""
    return matrix[impact, urgency]
