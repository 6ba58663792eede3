"""A znode and its Stat, with ZooKeeper's fields and meaning."""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["Stat", "NodeKind", "Znode"]


@dataclass(frozen=True, slots=True)
class Stat:
    """ZooKeeper's Stat: zxids, times in ms since the epoch, versions, counts."""

    czxid: int = 0
    mzxid: int = 0
    pzxid: int = 0
    ctime: int = 0
    mtime: int = 0
    version: int = 0
    cversion: int = 0
    aversion: int = 0
    ephemeral_owner: int = 0
    data_length: int = 0
    num_children: int = 0

    # kazoo's spellings, so user code written for kazoo reads naturally
    @property
    def created(self) -> float:
        return self.ctime / 1000.0

    @property
    def last_modified(self) -> float:
        return self.mtime / 1000.0

    @property
    def owner_session_id(self) -> int | None:
        return self.ephemeral_owner or None

    @property
    def dataLength(self) -> int:  # noqa: N802 - kazoo/ZooKeeper name
        return self.data_length

    @property
    def numChildren(self) -> int:  # noqa: N802 - kazoo/ZooKeeper name
        return self.num_children

    @property
    def ephemeralOwner(self) -> int:  # noqa: N802 - kazoo/ZooKeeper name
        return self.ephemeral_owner


class NodeKind(enum.Enum):
    """How a znode lives and dies."""

    PERSISTENT = "persistent"
    EPHEMERAL = "ephemeral"  # removed with its owning session
    CONTAINER = "container"  # removed once its last child goes
    TTL = "ttl"  # removed after ttl_ms without change while childless


@dataclass(frozen=True, slots=True)
class Znode:
    """One node of the data tree: an immutable value, replaced on every change.

    Because a node never changes in place, a snapshot of the whole tree is a
    shallow copy of the path -> Znode map, serialised later off the event
    loop while writes go on. Child names live in the tree, not here.
    """

    data: bytes = b""
    czxid: int = 0
    mzxid: int = 0
    pzxid: int = 0
    ctime: int = 0
    mtime: int = 0
    version: int = 0
    cversion: int = 0
    aversion: int = 0
    ephemeral_owner: int = 0
    num_children: int = 0
    kind: NodeKind = NodeKind.PERSISTENT
    ttl_ms: int = 0

    def stat(self) -> Stat:
        """The node's Stat."""
        return Stat(
            czxid=self.czxid,
            mzxid=self.mzxid,
            pzxid=self.pzxid,
            ctime=self.ctime,
            mtime=self.mtime,
            version=self.version,
            cversion=self.cversion,
            aversion=self.aversion,
            ephemeral_owner=self.ephemeral_owner,
            data_length=len(self.data),
            num_children=self.num_children,
        )
