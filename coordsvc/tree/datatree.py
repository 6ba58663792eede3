"""The data tree: znodes by path, and ``apply(txn)``, the one way it changes.

``apply`` is a pure, deterministic function of (tree, txn): every replica
that applies the same txns in the same order holds the same tree. It returns
the request's result and the raw watch triggers (event type, path) that the
watch table turns into notifications. Txns were validated by the leader's
prep; a txn that does not fit the tree is a broken invariant, not a user
error, and raises InvariantViolation.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from coordsvc.request.ops import (
    CheckResult,
    CreateResult,
    DeleteResult,
    Done,
    MultiResult,
    Result,
    SetDataResult,
)
from coordsvc.tree.paths import basename, join, parent_of
from coordsvc.tree.retries import AppliedWrites, KeptResult
from coordsvc.tree.txn import (
    CheckTxn,
    CloseSessionTxn,
    CreateSessionTxn,
    CreateTxn,
    DeleteTxn,
    MultiTxn,
    SetDataTxn,
    Txn,
)
from coordsvc.tree.znode import NodeKind, Znode

__all__ = [
    "DataTree",
    "TreeImage",
    "SessionRecord",
    "Applied",
    "InvariantViolation",
    "NODE_CREATED",
    "NODE_DELETED",
    "NODE_DATA_CHANGED",
    "NODE_CHILDREN_CHANGED",
]

NODE_CREATED = "NODE_CREATED"
NODE_DELETED = "NODE_DELETED"
NODE_DATA_CHANGED = "NODE_DATA_CHANGED"
NODE_CHILDREN_CHANGED = "NODE_CHILDREN_CHANGED"

Trigger = tuple[str, str]  # (event type, path)


class InvariantViolation(Exception):
    """The replicated state is inconsistent; the node must stop, not guess."""


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """A live session as every replica knows it (part of the replicated state)."""

    session_id: int
    timeout_ms: int
    password: bytes


@dataclass(frozen=True, slots=True)
class Applied:
    """What applying one txn produced."""

    zxid: int
    result: Result
    triggers: tuple[Trigger, ...]


@dataclass(frozen=True, slots=True)
class TreeImage:
    """The tree at one zxid: the material of a snapshot.

    Znodes are immutable, so holding these maps keeps a consistent image
    while the live tree moves on.
    """

    last_zxid: int
    nodes: dict[str, Znode]
    sessions: dict[int, SessionRecord]
    retries: dict[int, dict[int, KeptResult]] = field(default_factory=dict)


class DataTree:
    """All znodes, the ephemeral index, live sessions, and the last applied zxid."""

    def __init__(self) -> None:
        self._nodes: dict[str, Znode] = {"/": Znode()}
        self._children: dict[str, set[str]] = {"/": set()}
        self._ephemerals: dict[int, set[str]] = {}
        self._containers: set[str] = set()
        self._ttls: set[str] = set()
        self.sessions: dict[int, SessionRecord] = {}
        self.retries = AppliedWrites()  # results of recent session writes, for resends
        self.last_zxid = 0

    # ---- reads --------------------------------------------------------------

    def get(self, path: str) -> Znode | None:
        return self._nodes.get(path)

    def __contains__(self, path: str) -> bool:
        return path in self._nodes

    @property
    def node_count(self) -> int:
        return len(self._nodes)

    def children(self, path: str) -> list[str]:
        """Sorted child names of ``path`` (which must exist)."""
        return sorted(self._children[path])

    def ephemerals(self, session_id: int) -> frozenset[str]:
        return frozenset(self._ephemerals.get(session_id, ()))

    def ephemeral_count(self) -> int:
        return sum(len(v) for v in self._ephemerals.values())

    def items(self) -> Iterator[tuple[str, Znode]]:
        """Every (path, znode), parents before children."""
        return iter(sorted(self._nodes.items()))

    def reap_candidates(self, now_ms: int) -> list[str]:
        """Containers that had children and lost them, and TTL nodes past their TTL."""
        out = []
        for path in sorted(self._containers):
            node = self._nodes[path]
            if not node.num_children and node.cversion > 0:
                out.append(path)
        for path in sorted(self._ttls):
            node = self._nodes[path]
            if not node.num_children and now_ms - node.mtime > node.ttl_ms:
                out.append(path)
        return out

    # ---- apply --------------------------------------------------------------

    def apply(self, txn: Txn) -> Applied:
        """Apply one committed txn; zxids must strictly increase."""
        if txn.zxid <= self.last_zxid:
            raise InvariantViolation(
                f"txn {txn.zxid:#x} applied after {self.last_zxid:#x}: zxids must increase"
            )
        triggers: list[Trigger] = []
        result = self._apply_body(txn, txn.body, triggers)
        self._keep_result(txn, result)
        self.last_zxid = txn.zxid
        return Applied(txn.zxid, result, tuple(triggers))

    def _keep_result(self, txn: Txn, result: Result) -> None:
        """Keep a session write's result for resends; forget an ended session's."""
        sid, body = txn.session_id, txn.body
        if isinstance(body, CloseSessionTxn):
            self.retries.forget(body.session_id)
        elif sid and txn.xid > 0 and not isinstance(body, CreateSessionTxn):
            rec = self.sessions.get(sid)
            if rec is not None:
                kept = KeptResult(txn.zxid, txn.time_ms, result)
                self.retries.record(sid, txn.xid, kept, rec.timeout_ms)

    def _apply_body(self, txn: Txn, body, triggers: list[Trigger]) -> Result:
        match body:
            case CreateTxn():
                return self._create(txn, body, triggers)
            case DeleteTxn(path=path):
                self._delete(txn.zxid, path, triggers)
                return DeleteResult()
            case SetDataTxn():
                return self._set_data(txn, body, triggers)
            case CheckTxn(path=path, version=version):
                node = self._nodes.get(path)
                if node is None or node.version != version:
                    raise InvariantViolation(f"check of {path} at {txn.zxid:#x} does not fit")
                return CheckResult()
            case MultiTxn(txns=txns):
                results = tuple(self._apply_body(txn, sub, triggers) for sub in txns)
                return MultiResult(results)
            case CreateSessionTxn(session_id=sid, timeout_ms=timeout, password=pw):
                self.sessions[sid] = SessionRecord(sid, timeout, pw)
                return Done()
            case CloseSessionTxn(session_id=sid, paths=paths):
                owned = self._ephemerals.get(sid, set())
                for path in paths:
                    if path not in owned:
                        raise InvariantViolation(
                            f"close of {sid:#x} at {txn.zxid:#x} lists {path}, not its ephemeral"
                        )
                    self._delete(txn.zxid, path, triggers)
                leftover = self._ephemerals.pop(sid, set())
                for path in sorted(leftover, reverse=True):
                    self._delete(txn.zxid, path, triggers)
                self.sessions.pop(sid, None)
                return Done()
        raise InvariantViolation(f"unknown txn body {body!r}")

    def _create(self, txn: Txn, body: CreateTxn, triggers: list[Trigger]) -> CreateResult:
        path = body.path
        parent_path = parent_of(path)
        parent = self._nodes.get(parent_path)
        if parent is None or path in self._nodes:
            raise InvariantViolation(f"create {path} at {txn.zxid:#x} does not fit the tree")
        node = Znode(
            data=body.data,
            czxid=txn.zxid,
            mzxid=txn.zxid,
            pzxid=txn.zxid,
            ctime=txn.time_ms,
            mtime=txn.time_ms,
            ephemeral_owner=body.ephemeral_owner,
            kind=body.kind,
            ttl_ms=body.ttl_ms,
        )
        self._nodes[path] = node
        self._children[path] = set()
        siblings = self._children[parent_path]
        siblings.add(basename(path))
        self._nodes[parent_path] = replace(
            parent, cversion=parent.cversion + 1, pzxid=txn.zxid, num_children=len(siblings)
        )
        if body.kind is NodeKind.EPHEMERAL:
            self._ephemerals.setdefault(body.ephemeral_owner, set()).add(path)
        elif body.kind is NodeKind.CONTAINER:
            self._containers.add(path)
        elif body.kind is NodeKind.TTL:
            self._ttls.add(path)
        triggers.append((NODE_CREATED, path))
        triggers.append((NODE_CHILDREN_CHANGED, parent_path))
        return CreateResult(path, node.stat())

    def _delete(self, zxid: int, path: str, triggers: list[Trigger]) -> None:
        node = self._nodes.get(path)
        if node is None or node.num_children or path == "/":
            raise InvariantViolation(f"delete {path} at {zxid:#x} does not fit the tree")
        del self._nodes[path]
        del self._children[path]
        parent_path = parent_of(path)
        parent = self._nodes[parent_path]
        siblings = self._children[parent_path]
        siblings.discard(basename(path))
        self._nodes[parent_path] = replace(
            parent, cversion=parent.cversion + 1, pzxid=zxid, num_children=len(siblings)
        )
        if node.kind is NodeKind.EPHEMERAL:
            owned = self._ephemerals.get(node.ephemeral_owner)
            if owned is not None:
                owned.discard(path)
                if not owned:
                    del self._ephemerals[node.ephemeral_owner]
        self._containers.discard(path)
        self._ttls.discard(path)
        triggers.append((NODE_DELETED, path))
        triggers.append((NODE_CHILDREN_CHANGED, parent_path))

    def _set_data(self, txn: Txn, body: SetDataTxn, triggers: list[Trigger]) -> SetDataResult:
        node = self._nodes.get(body.path)
        if node is None or body.version != node.version + 1:
            raise InvariantViolation(f"set {body.path} at {txn.zxid:#x} does not fit the tree")
        node = replace(
            node, data=body.data, version=body.version, mzxid=txn.zxid, mtime=txn.time_ms
        )
        self._nodes[body.path] = node
        triggers.append((NODE_DATA_CHANGED, body.path))
        return SetDataResult(node.stat())

    # ---- whole-tree helpers (snapshots and tests) ---------------------------

    def signature(self) -> tuple:
        """A value equal for two trees exactly when their contents are equal."""
        nodes = tuple(
            (path, n, tuple(sorted(self._children[path])))
            for path, n in sorted(self._nodes.items())
        )
        sessions = tuple(
            sorted((s.session_id, s.timeout_ms, s.password) for s in self.sessions.values())
        )
        return (self.last_zxid, nodes, sessions, self.retries.signature())

    def image(self) -> TreeImage:
        """A consistent image of the tree now (shallow copies: O(n) pointers, no node copies)."""
        nodes, sessions = dict(self._nodes), dict(self.sessions)
        return TreeImage(self.last_zxid, nodes, sessions, self.retries.image())

    @classmethod
    def from_image(cls, image: TreeImage) -> DataTree:
        """Rebuild a tree (and its indexes) from an image."""
        tree = cls()
        tree.retries = AppliedWrites.from_image(image.retries)
        tree._nodes = dict(image.nodes)
        tree._children = {path: set() for path in tree._nodes}
        for path, node in tree._nodes.items():
            if path != "/":
                tree._children[parent_of(path)].add(basename(path))
            if node.kind is NodeKind.EPHEMERAL:
                tree._ephemerals.setdefault(node.ephemeral_owner, set()).add(path)
            elif node.kind is NodeKind.CONTAINER:
                tree._containers.add(path)
            elif node.kind is NodeKind.TTL:
                tree._ttls.add(path)
        tree.sessions = dict(image.sessions)
        tree.last_zxid = image.last_zxid
        return tree

    def child_path(self, parent: str, name: str) -> str:
        return join(parent, name)
