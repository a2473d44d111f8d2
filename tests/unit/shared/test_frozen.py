"""evolve builds what dataclasses.replace builds, and refuses what replace refuses."""

import dataclasses
from datetime import UTC, datetime

import pytest

from services.shared.frozen import evolve


@dataclasses.dataclass(frozen=True, slots=True)
class State:
    name: str
    count: int = 0
    seen: tuple[str, ...] = ()
    at: datetime | None = None


def test_evolve_is_replace():
    before = State("a", 1, ("e1",))
    at = datetime(2026, 11, 25, tzinfo=UTC)
    for changes in ({}, {"count": 2}, {"seen": ("e1", "e2"), "at": at}, {"name": "b", "count": 0, "at": None}):
        assert evolve(before, **changes) == dataclasses.replace(before, **changes)
    assert before == State("a", 1, ("e1",))  # unchanged
    assert evolve(before, count=5) is not before


def test_an_unknown_field_is_refused():
    with pytest.raises(TypeError, match=r"State has no field\(s\) \['colour'\]"):
        evolve(State("a"), colour="red")


def test_only_for_slotted_frozen_dataclasses_without_post_init():
    @dataclasses.dataclass(frozen=True, slots=True)
    class Checked:
        n: int

        def __post_init__(self) -> None:
            pass

    with pytest.raises(AssertionError):
        evolve(Checked(1), n=2)
