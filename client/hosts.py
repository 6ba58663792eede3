"""Connection strings: "host:port,host:port" into an ordered, shuffled ring.

The order is shuffled once with the injected rng so that many clients given
the same string spread over the ensemble, and then cycled so a reconnect
tries the other servers before coming back.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

__all__ = ["DEFAULT_PORT", "parse_hosts", "HostRing"]

DEFAULT_PORT = 2181


def _parse_one(item: str) -> str:
    item = item.strip()
    if not item:
        raise ValueError("empty host in connection string")
    if item.startswith("["):  # [v6addr]:port
        end = item.find("]")
        if end < 0:
            raise ValueError(f"unterminated IPv6 address in {item!r}")
        host, rest = item[: end + 1], item[end + 1 :]
        if rest and not rest.startswith(":"):
            raise ValueError(f"bad host {item!r}")
        port_text = rest[1:] if rest else ""
    elif item.count(":") == 1:
        host, port_text = item.split(":")
    elif ":" not in item:
        host, port_text = item, ""
    else:
        raise ValueError(f"bad host {item!r} (write IPv6 addresses as [addr]:port)")
    if not host or host == "[]":
        raise ValueError(f"missing host name in {item!r}")
    if not port_text:
        port = DEFAULT_PORT
    elif port_text.isdigit() and 0 < int(port_text) < 65536:
        port = int(port_text)
    else:
        raise ValueError(f"bad port in {item!r}")
    return f"{host}:{port}"


def parse_hosts(hosts: str | Sequence[str]) -> list[str]:
    """Normalise a connection string (or a list of hosts) to "host:port" items.

    A missing port means 2181; a chroot suffix ("/app") is not supported and
    is rejected rather than ignored; duplicates are dropped, order kept.
    """
    items = hosts.split(",") if isinstance(hosts, str) else list(hosts)
    if isinstance(hosts, str) and "/" in hosts:
        raise ValueError("chroot suffixes are not supported in the connection string")
    out: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise TypeError("hosts must be strings")
        addr = _parse_one(item)
        if addr not in out:
            out.append(addr)
    if not out:
        raise ValueError("no hosts given")
    return out


class HostRing:
    """The servers to try, shuffled once and then visited round-robin."""

    def __init__(self, hosts: str | Sequence[str], rng: random.Random) -> None:
        self.hosts = parse_hosts(hosts)
        rng.shuffle(self.hosts)
        self._next = 0

    def __len__(self) -> int:
        return len(self.hosts)

    def next(self) -> str:
        """The next server to try."""
        host = self.hosts[self._next % len(self.hosts)]
        self._next = (self._next + 1) % len(self.hosts)
        return host
