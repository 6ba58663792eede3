"""Connection strings and the host ring."""

from __future__ import annotations

import random

import pytest
from coordsvc.client.hosts import HostRing, parse_hosts


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:2181", ["127.0.0.1:2181"]),
        ("a:1,b:2,c:3", ["a:1", "b:2", "c:3"]),
        (" a:1 , b:2 ", ["a:1", "b:2"]),
        ("zk1", ["zk1:2181"]),
        ("a:1,a:1,b:2", ["a:1", "b:2"]),
        ("[::1]:7000,[fe80::2]", ["[::1]:7000", "[fe80::2]:2181"]),
        (["x:5", "y"], ["x:5", "y:2181"]),
    ],
)
def test_parse(text: str | list[str], expected: list[str]) -> None:
    assert parse_hosts(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", ",", "a:1,,b:2", ":2181", "a:0", "a:65536", "a:x", "a:1:2", "[::1", "a:1/chroot", "[]:1"],
)
def test_parse_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_hosts(text)


def test_ring_is_shuffled_by_the_rng_and_then_cycles() -> None:
    hosts = ",".join(f"h{i}:1" for i in range(6))
    a = HostRing(hosts, random.Random(3))
    b = HostRing(hosts, random.Random(3))
    assert a.hosts == b.hosts
    assert sorted(a.hosts) == [f"h{i}:1" for i in range(6)]
    orders = {tuple(HostRing(hosts, random.Random(seed)).hosts) for seed in range(20)}
    assert len(orders) > 1
    first_round = [a.next() for _ in range(6)]
    assert first_round == a.hosts
    assert [a.next() for _ in range(6)] == first_round
