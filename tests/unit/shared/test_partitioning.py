"""A key goes to the partition the producer's default partitioner would pick, however often it is asked."""

from aiokafka.partitioner import DefaultPartitioner

from services.shared import partitioning
from services.shared.partitioning import KeyPartitions


def test_a_key_goes_where_the_default_partitioner_puts_it():
    partitions = KeyPartitions([2, 0, 1, 5, 4, 3])
    keys = [f"fp-{i}".encode() for i in range(2000)]
    expected = [DefaultPartitioner()(k, [0, 1, 2, 3, 4, 5], [0, 1, 2, 3, 4, 5]) for k in keys]
    assert [partitions.of(k) for k in keys] == expected
    assert [partitions.of(k) for k in keys] == expected  # remembered


def test_keys_are_forgotten_all_at_once_past_the_bound_and_still_go_to_the_same_partition(monkeypatch):
    monkeypatch.setattr(partitioning, "REMEMBERED", 10)
    partitions = KeyPartitions([0, 1, 2])
    first = [partitions.of(f"k{i}".encode()) for i in range(25)]
    assert [partitions.of(f"k{i}".encode()) for i in range(25)] == first


def test_a_record_without_a_key_goes_to_one_of_the_partitions():
    partitions = KeyPartitions([0, 1, 2])
    assert {partitions.of(None) for _ in range(200)} == {0, 1, 2}
