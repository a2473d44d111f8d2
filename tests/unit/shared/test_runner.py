"""The collector's pace a service process runs with."""

import gc
import weakref

import pytest

from services.shared.runner import GC_THRESHOLDS, pace_collector


@pytest.fixture
def collector_restored():
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def test_what_is_loaded_at_start_is_frozen_and_collections_come_less_often(collector_restored):
    loaded = [[] for _ in range(1000)]  # containers alive at start, as modules and the app are
    pace_collector()
    assert gc.get_threshold() == GC_THRESHOLDS
    assert GC_THRESHOLDS[0] > 700  # Python's default first threshold
    assert gc.get_freeze_count() >= len(loaded)
    walked = (o for generation in (0, 1, 2) for o in gc.get_objects(generation=generation))
    assert not any(o is loaded or o is loaded[0] for o in walked)  # no collection walks them again


def test_reference_cycles_made_later_are_still_collected(collector_restored):
    pace_collector()
    a, b = Node(), Node()
    a.other, b.other = b, a
    gone = weakref.ref(a)
    del a, b
    gc.collect()
    assert gone() is None
