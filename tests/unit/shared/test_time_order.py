"""Merging partitions by record time: the order does not depend on how the fetches fell."""

from dataclasses import dataclass

from services.shared.time_order import TimeOrder


@dataclass(frozen=True)
class Record:
    partition: int
    offset: int
    timestamp: int


def records(partition: int, *times: int) -> list[Record]:
    return [Record(partition, offset, t) for offset, t in enumerate(times)]


def drain(order: TimeOrder, caught_up: set) -> list[tuple[int, int]]:
    return [(r.partition, r.offset) for r in order.take(100, set(), caught_up)]


def test_records_go_out_in_time_order_across_partitions_and_offset_order_within_one():
    order = TimeOrder()
    order.add(0, records(0, 10, 30, 20))  # a partition's own order is kept even where its times are not
    order.add(1, records(1, 15, 25))
    assert drain(order, {0, 1}) == [(0, 0), (1, 0), (1, 1), (0, 1), (0, 2)]


def fetched_in(chunks: dict[int, list[list[Record]]]) -> list[tuple[int, int]]:
    """Merge as a consumer would: each step adds one fetch per partition and takes what may go out."""
    order, out = TimeOrder(), []
    for step in range(max(len(c) for c in chunks.values())):
        for partition, fetches in chunks.items():
            if step < len(fetches):
                order.add(partition, fetches[step])
        at_end = {p for p, fetches in chunks.items() if step >= len(fetches) - 1}
        out += [(r.partition, r.offset) for r in order.take(100, set(chunks) - at_end, at_end)]
    return out


def test_the_same_records_fetched_in_other_chunks_merge_the_same():
    a, b = records(0, 1, 4, 6, 9), records(1, 2, 3, 7, 8)
    everything = [(0, 0), (1, 0), (1, 1), (0, 1), (0, 2), (1, 2), (1, 3), (0, 3)]
    assert fetched_in({0: [a], 1: [b]}) == everything
    assert fetched_in({0: [a[:1], a[1:3], a[3:]], 1: [b[:3], b[3:]]}) == everything
    assert fetched_in({0: [a[:3], a[3:]], 1: [b[:1], b[1:2], b[2:3], b[3:]]}) == everything  # 0 runs ahead


def test_a_partition_not_read_to_its_end_with_nothing_buffered_holds_the_merge():
    order = TimeOrder()
    order.add(0, records(0, 5, 6))
    assert order.take(100, unread={1}, caught_up=set()) == []  # partition 1 may hold something older
    assert [r.offset for r in order.take(100, unread=set(), caught_up={1})] == [0, 1]  # 1 is read to its end
    assert order.buffered(0) == 0


def test_a_partition_drained_mid_merge_stops_it_unless_read_to_its_end():
    order = TimeOrder()
    order.add(0, records(0, 1))
    order.add(1, records(1, 2, 3))
    assert drain(order, caught_up={1}) == [(0, 0)]
    assert drain(order, caught_up={0, 1}) == [(1, 0), (1, 1)]


def test_forgetting_drops_what_a_seek_made_stale():
    order = TimeOrder()
    order.add(0, records(0, 1, 2))
    order.add(1, records(1, 1))
    order.forget([0])
    assert order.buffered(0) == 0 and order.buffered(1) == 1
    order.forget()
    assert order.buffered(1) == 0


def test_the_limit_is_a_prefix_of_the_merge():
    order = TimeOrder()
    order.add(0, records(0, 1, 3, 5))
    order.add(1, records(1, 2, 4, 6))
    first = [(r.partition, r.offset) for r in order.take(3, set(), {0, 1})]
    assert first == [(0, 0), (1, 0), (0, 1)]
    assert drain(order, {0, 1}) == [(1, 1), (0, 2), (1, 2)]


def test_with_a_grace_an_idle_partition_holds_back_only_records_that_arrived_within_it():
    order = TimeOrder()
    order.add(0, records(0, 10), arrived=100.0)
    order.add(0, [Record(0, 1, 30)], arrived=105.0)
    assert order.take(100, set(), {0, 1}, settled=99.0) == []  # 1 is read to its end, with nothing buffered
    assert [r.offset for r in order.take(100, set(), {0, 1}, settled=100.0)] == [0]
    order.add(1, records(1, 20), arrived=106.0)  # the earlier record that was on its way
    assert [(r.partition, r.timestamp) for r in order.take(100, set(), {0, 1}, settled=100.0)] == [(1, 20)]
    assert [r.timestamp for r in order.take(100, set(), {0, 1}, settled=105.0)] == [30]  # 1 idle again: 30 waited


def test_a_partition_drained_by_the_merge_holds_back_what_arrived_within_the_grace():
    order = TimeOrder()
    order.add(0, records(0, 10, 40), arrived=100.0)
    order.add(1, records(1, 20), arrived=100.0)
    order.add(0, [Record(0, 2, 50)], arrived=104.0)
    out = order.take(100, set(), {0, 1}, settled=101.0)
    assert [r.timestamp for r in out] == [10, 20, 40]  # 1 drained at 20: 40 arrived in time, 50 did not


def test_records_taken_after_a_later_one_are_counted_as_late():
    order = TimeOrder()
    order.add(0, records(0, 10, 40))
    drain(order, {0, 1})
    assert (order.late, order.behind_ms) == (0, 0)
    order.forget(set())  # no position set again: nothing forgotten
    order.add(1, records(1, 15, 25, 50))  # arrived after 40 went out
    assert drain(order, {0, 1}) == [(1, 0), (1, 1), (1, 2)]
    assert (order.late, order.behind_ms) == (2, 25)
    order.forget()  # positions set again: what comes next is read again, not late
    order.add(1, records(1, 15))
    drain(order, {1})
    assert order.late == 0
