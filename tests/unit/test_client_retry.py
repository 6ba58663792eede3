"""RetryPolicy: the backoff schedule, what is retried, and the deadline."""

from __future__ import annotations

import random

import pytest
from coordsvc.client.errors import (
    ConnectionLoss,
    NoNodeError,
    NotLeaderError,
    OperationTimeoutError,
    SessionExpiredError,
)
from coordsvc.client.retry import RetryPolicy


class FakeTime:
    """A clock that only moves when the policy sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def policy(t: FakeTime, **kw: object) -> RetryPolicy:
    kw.setdefault("max_jitter", 0.0)
    return RetryPolicy(sleep=t.sleep, clock=t.clock, rng=random.Random(7), **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kw", "expected"),
    [
        ({"max_tries": 1}, []),
        ({"max_tries": 4, "delay": 0.1, "backoff": 2}, [0.1, 0.2, 0.4]),
        ({"max_tries": 5, "delay": 1, "backoff": 3, "max_delay": 5}, [1, 3, 5, 5]),
        ({"max_tries": 3, "delay": 0.5, "backoff": 1}, [0.5, 0.5]),
        ({"max_tries": 3, "delay": 0}, [0, 0]),
    ],
)
def test_schedule_without_jitter(kw: dict, expected: list[float]) -> None:
    got = list(policy(FakeTime(), **kw).delays())
    assert got == pytest.approx(expected)


def test_jitter_comes_from_the_injected_rng_and_stays_in_bounds() -> None:
    def schedule(seed: int) -> list[float]:
        p = RetryPolicy(max_tries=6, delay=0.1, backoff=2, max_jitter=0.05, rng=random.Random(seed))
        return list(p.delays())

    a, b, c = schedule(1), schedule(1), schedule(2)
    assert a == b  # reproducible from the seed
    assert a != c
    bases = [0.1, 0.2, 0.4, 0.8, 1.6]
    assert all(base <= d <= base + 0.05 for base, d in zip(bases, a, strict=True))


def test_unlimited_tries_keep_going() -> None:
    pauses = policy(FakeTime(), max_tries=None, delay=1, max_delay=2).delays()
    assert [next(pauses) for _ in range(5)] == [1, 2, 2, 2, 2]


async def test_retries_connection_loss_until_success() -> None:
    t = FakeTime()
    calls = []

    async def flaky(x: int) -> int:
        calls.append(x)
        if len(calls) < 3:
            raise ConnectionLoss("blip")
        return x * 2

    assert await policy(t, max_tries=5, delay=0.1)(flaky, 21) == 42
    assert calls == [21, 21, 21]
    assert t.sleeps == pytest.approx([0.1, 0.2])


@pytest.mark.parametrize("exc", [ConnectionLoss, OperationTimeoutError, NotLeaderError])
async def test_gives_up_after_max_tries_with_the_last_error(exc: type[Exception]) -> None:
    t = FakeTime()
    calls = 0

    async def always() -> None:
        nonlocal calls
        calls += 1
        raise exc(f"try {calls}")

    with pytest.raises(exc, match="try 3"):
        await policy(t, max_tries=3)(always)
    assert calls == 3
    assert len(t.sleeps) == 2


@pytest.mark.parametrize("exc", [SessionExpiredError, NoNodeError, ValueError])
async def test_does_not_retry_other_errors(exc: type[Exception]) -> None:
    t = FakeTime()
    calls = 0

    async def fails() -> None:
        nonlocal calls
        calls += 1
        raise exc("no")

    with pytest.raises(exc):
        await policy(t, max_tries=10)(fails)
    assert calls == 1
    assert t.sleeps == []


async def test_deadline_bounds_the_whole_run() -> None:
    t = FakeTime()
    calls = 0

    async def always() -> None:
        nonlocal calls
        calls += 1
        raise ConnectionLoss("down")

    with pytest.raises(ConnectionLoss):
        await policy(t, max_tries=None, delay=1, backoff=2, deadline=5)(always)
    # pauses 1, 2, then the 4 s pause is cut to the 2 s left; then time is up
    assert t.sleeps == pytest.approx([1, 2, 2])
    assert calls == 4
    assert t.now == pytest.approx(5)


def test_copy_is_an_equal_independent_value() -> None:
    p = RetryPolicy(max_tries=4, delay=0.3)
    q = p.copy()
    assert q == p and q is not p


@pytest.mark.parametrize(
    "kw",
    [
        {"max_tries": 0},
        {"delay": -1},
        {"max_delay": -1},
        {"max_jitter": -0.1},
        {"backoff": 0.5},
        {"deadline": -1},
    ],
)
def test_rejects_nonsense(kw: dict) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kw)
