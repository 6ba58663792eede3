"""Retrying a call with exponential backoff, jitter and a deadline.

A policy is an immutable value; every run keeps its own attempt count, so
one policy is safely shared by concurrent calls (``copy()`` exists for code
written against kazoo's mutable retry object). Randomness, sleeping and the
clock are injected, so a schedule is reproducible from a seed.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from coordsvc.client.errors import RETRYABLE

__all__ = ["RetryPolicy"]

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry a call that failed transiently.

    ``max_tries`` counts every call including the first (None: no limit);
    the n-th pause is ``min(delay * backoff**n, max_delay)`` plus a uniform
    jitter in ``[0, max_jitter]`` seconds; ``deadline`` bounds the whole run
    in seconds (None: no bound). Only ``retry_on`` errors are retried; by
    default SessionExpiredError is not among them.
    """

    max_tries: int | None = 3
    delay: float = 0.1
    backoff: float = 2.0
    max_jitter: float = 0.1
    max_delay: float = 5.0
    deadline: float | None = None
    retry_on: tuple[type[BaseException], ...] = RETRYABLE
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)
    sleep: Callable[[float], Awaitable[Any]] = field(
        default=asyncio.sleep, compare=False, repr=False
    )
    clock: Callable[[], float] = field(default=time.monotonic, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_tries is not None and self.max_tries < 1:
            raise ValueError("max_tries must be at least 1 (or None for no limit)")
        if self.delay < 0 or self.max_delay < 0 or self.max_jitter < 0:
            raise ValueError("delay, max_delay and max_jitter must not be negative")
        if self.backoff < 1:
            raise ValueError("backoff must be at least 1")
        if self.deadline is not None and self.deadline < 0:
            raise ValueError("deadline must not be negative")

    def copy(self) -> RetryPolicy:
        """An equal policy (kept for kazoo-style code; policies hold no run state)."""
        return replace(self)

    def delays(self) -> Iterator[float]:
        """The pauses between tries, in order; finite when max_tries is set."""
        n = 0
        while self.max_tries is None or n < self.max_tries - 1:
            base = min(self.delay * self.backoff**n, self.max_delay)
            jitter = self.rng.uniform(0.0, self.max_jitter) if self.max_jitter else 0.0
            yield base + jitter
            n += 1

    async def __call__(self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """Await ``fn(*args, **kwargs)``, retrying retryable errors per policy.

        When the tries or the deadline run out, the last error is raised as is.
        """
        started = self.clock()
        pauses = self.delays()
        while True:
            try:
                return await fn(*args, **kwargs)
            except self.retry_on:
                pause = next(pauses, None)
                if pause is None:
                    raise
                if self.deadline is not None:
                    left = self.deadline - (self.clock() - started)
                    if left <= 0:
                        raise
                    pause = min(pause, left)
                await self.sleep(pause)
