"""What the benchmark scripts share: percentiles, millisecond formatting, the disk, raw flushes, ports.

Imported by the scripts beside it (``python scripts/bench_*.py`` puts this
directory on sys.path).
"""

from __future__ import annotations

import itertools
import os
import random
import socket
import time
from collections.abc import Callable
from pathlib import Path

RECORD = b"r" * 130  # about one create txn as the log stores it

# Ports for servers whose peers must know them before they start: below the
# kernel's ephemeral range (a port released after bind(0) can be taken at
# once by an outgoing connection), and never the same one twice in a run.
_PORTS = list(range(20_000, 32_000))
random.Random(os.getpid() ^ time.monotonic_ns()).shuffle(_PORTS)
_next_port = itertools.cycle(_PORTS)


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def ms(seconds: float, width: int = 8) -> str:
    return f"{seconds * 1000:{width}.3f} ms"


def free_port() -> int:
    """A loopback port free right now that this run has not handed out before."""
    for _ in range(1000):
        port = next(_next_port)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free loopback port in 20000-31999")


def fs_type(path: Path) -> str:
    """The filesystem type holding ``path`` (from /proc/mounts), or '?'."""
    best, kind = "", "?"
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            _, mount, fstype, *_ = line.split()
            if str(path.resolve()).startswith(mount) and len(mount) > len(best):
                best, kind = mount, fstype
    except OSError:
        pass
    return kind


def raw_flushes(fd: int, n: int, flush: Callable[[int], None] = os.fsync) -> list[float]:
    """write(RECORD) + ``flush``, n times, on ``fd``; seconds each: the disk's floor."""
    out = []
    for _ in range(n):
        t = time.perf_counter()
        os.write(fd, RECORD)
        flush(fd)
        out.append(time.perf_counter() - t)
    return out
