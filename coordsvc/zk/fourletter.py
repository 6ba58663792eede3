"""ZooKeeper's four-letter monitoring words on the ZooKeeper port.

``ruok``, ``srvr`` and ``mntr`` are answered in ZooKeeper's own formats, so
the probes and exporters written for ZooKeeper read a coordsvc server; the
other words get ZooKeeper's "not in the whitelist" answer. Pure: the front
end passes a snapshot of the server's state.
"""

from __future__ import annotations

from coordsvc import __version__
from coordsvc.server.metrics import StateView

__all__ = ["WORDS", "answer"]

WORDS = frozenset({b"ruok", b"srvr", b"stat", b"mntr", b"conf", b"cons", b"envi", b"wchs"})
_MODES = {"leading": "leader", "following": "follower", "observing": "observer"}


def _mode(view: StateView) -> str | None:
    """ZooKeeper's name for the server's role; None while it does not serve."""
    if view.role == "standalone":
        return "standalone"
    return _MODES.get(view.role)


def answer(word: bytes, view: StateView) -> bytes:
    """The reply to ``word``."""
    if word == b"ruok":
        return b"imok"
    mode = _mode(view)
    if word in (b"srvr", b"mntr") and mode is None:
        return b"This ZooKeeper instance is not currently serving requests\n"
    if word == b"srvr":
        lines = [
            f"Zookeeper version: coordsvc-{__version__}",
            f"Connections: {view.connections}",
            f"Outstanding: {view.outstanding}",
            f"Zxid: {view.last_zxid:#x}",
            f"Mode: {mode}",
            f"Node count: {view.znodes}",
        ]
        return ("\n".join(lines) + "\n").encode()
    if word == b"mntr":
        pairs = [
            ("zk_version", f"coordsvc-{__version__}"),
            ("zk_server_state", mode),
            ("zk_znode_count", view.znodes),
            ("zk_watch_count", view.watches),
            ("zk_num_alive_connections", view.connections),
            ("zk_outstanding_requests", view.outstanding),
            ("zk_global_sessions", view.sessions),
        ]
        if mode == "leader":
            pairs.append(("zk_synced_followers", view.followers_in_sync))
        return "".join(f"{k}\t{v}\n" for k, v in pairs).encode()
    return word + b" is not executed because it is not in the whitelist.\n"
