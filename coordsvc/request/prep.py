"""Leader prep: turn a validated write request into a deterministic txn.

Prep checks the request against the tree *plus* the changes of txns that
are proposed but not yet applied (the overlay), so many writes can be in
flight at once and each is still decided against the state it will meet.
It names sequential nodes from the parent's cversion and records the owner
of ephemerals; the resulting txn applies identically on every replica.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from coordsvc.errors import (
    BadVersionError,
    CoordError,
    NoChildrenForEphemeralsError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    RuntimeInconsistency,
)
from coordsvc.request.ops import Check, Create, Delete, Multi, MultiResult, SetData
from coordsvc.tree.datatree import DataTree
from coordsvc.tree.paths import parent_of, sequence_name
from coordsvc.tree.txn import (
    CheckTxn,
    CloseSessionTxn,
    CreateTxn,
    DeleteTxn,
    MultiTxn,
    SetDataTxn,
)
from coordsvc.tree.znode import NodeKind

__all__ = [
    "NodeView",
    "Overlay",
    "Scratch",
    "prep_write",
    "prep_close_session",
    "prep_reap",
    "failed_multi",
]


@dataclass(frozen=True, slots=True)
class NodeView:
    """What prep needs to know about a node."""

    version: int
    cversion: int
    num_children: int
    ephemeral_owner: int
    kind: NodeKind


class Overlay:
    """The tree as it will be once every proposed txn is applied."""

    def __init__(self, tree: DataTree) -> None:
        self._tree = tree
        self._changes: dict[str, tuple[int, NodeView | None]] = {}

    def view(self, path: str) -> NodeView | None:
        change = self._changes.get(path)
        if change is not None:
            return change[1]
        node = self._tree.get(path)
        if node is None:
            return None
        return NodeView(
            node.version, node.cversion, node.num_children, node.ephemeral_owner, node.kind
        )

    def has_change(self, path: str) -> bool:
        return path in self._changes

    def record(self, changes: dict[str, NodeView | None], zxid: int) -> None:
        for path, view in changes.items():
            self._changes[path] = (zxid, view)

    def applied(self, zxid: int) -> None:
        """The tree now reflects every txn up to zxid: forget their changes."""
        if self._changes:
            self._changes = {p: c for p, c in self._changes.items() if c[0] > zxid}

    def clear(self) -> None:
        """Forget every pending change (the proposals were abandoned)."""
        self._changes = {}

    def ephemerals(self, session_id: int) -> set[str]:
        """The session's ephemerals once proposed txns apply."""
        paths = set(self._tree.ephemerals(session_id))
        for path, (_, view) in self._changes.items():
            if (
                view is not None
                and view.kind is NodeKind.EPHEMERAL
                and view.ephemeral_owner == session_id
            ):
                paths.add(path)
            else:  # deleted in flight, or recreated by someone else
                paths.discard(path)
        return paths

    def __len__(self) -> int:
        return len(self._changes)


class Scratch:
    """Tentative changes of one request, layered on the overlay."""

    def __init__(self, overlay: Overlay) -> None:
        self._overlay = overlay
        self.changes: dict[str, NodeView | None] = {}

    def view(self, path: str) -> NodeView | None:
        if path in self.changes:
            return self.changes[path]
        return self._overlay.view(path)

    def set(self, path: str, view: NodeView | None) -> None:
        self.changes[path] = view


def _check_version(expected: int, actual: int, path: str) -> None:
    if expected != -1 and expected != actual:
        raise BadVersionError(f"expected version {expected} of {path}, found {actual}", path)


def _prep_create(s: Scratch, op: Create, session_id: int) -> CreateTxn:
    parent_path = parent_of(op.path) if not op.path.endswith("/") else op.path.rstrip("/") or "/"
    parent = s.view(parent_path)
    if parent is None:
        raise NoNodeError(f"parent node {parent_path} does not exist", op.path)
    if parent.kind is NodeKind.EPHEMERAL:
        raise NoChildrenForEphemeralsError(
            f"{parent_path} is ephemeral and cannot have children", op.path
        )
    path = sequence_name(op.path, parent.cversion) if op.sequential else op.path
    if s.view(path) is not None:
        raise NodeExistsError(f"node {path} already exists", path)
    if op.ephemeral:
        kind, owner = NodeKind.EPHEMERAL, session_id
    elif op.container:
        kind, owner = NodeKind.CONTAINER, 0
    elif op.ttl_ms:
        kind, owner = NodeKind.TTL, 0
    else:
        kind, owner = NodeKind.PERSISTENT, 0
    s.set(
        parent_path,
        replace(parent, cversion=parent.cversion + 1, num_children=parent.num_children + 1),
    )
    s.set(path, NodeView(0, 0, 0, owner, kind))
    return CreateTxn(path, bytes(op.data), kind, owner, op.ttl_ms if kind is NodeKind.TTL else 0)


def _remove(s: Scratch, path: str) -> None:
    parent_path = parent_of(path)
    parent = s.view(parent_path)
    s.set(path, None)
    if parent is not None:
        s.set(
            parent_path,
            replace(parent, cversion=parent.cversion + 1, num_children=parent.num_children - 1),
        )


def _prep_delete(s: Scratch, op: Delete) -> DeleteTxn:
    node = s.view(op.path)
    if node is None:
        raise NoNodeError(f"node {op.path} does not exist", op.path)
    _check_version(op.version, node.version, op.path)
    if node.num_children:
        raise NotEmptyError(f"node {op.path} has {node.num_children} children", op.path)
    _remove(s, op.path)
    return DeleteTxn(op.path)


def _prep_set(s: Scratch, op: SetData) -> SetDataTxn:
    node = s.view(op.path)
    if node is None:
        raise NoNodeError(f"node {op.path} does not exist", op.path)
    _check_version(op.version, node.version, op.path)
    s.set(op.path, replace(node, version=node.version + 1))
    return SetDataTxn(op.path, bytes(op.data), node.version + 1)


def _prep_check(s: Scratch, op: Check) -> CheckTxn:
    node = s.view(op.path)
    if node is None:
        raise NoNodeError(f"node {op.path} does not exist", op.path)
    _check_version(op.version, node.version, op.path)
    return CheckTxn(op.path, node.version)


def _prep_one(s: Scratch, op, session_id: int):
    match op:
        case Create():
            return _prep_create(s, op, session_id)
        case Delete():
            return _prep_delete(s, op)
        case SetData():
            return _prep_set(s, op)
        case Check():
            return _prep_check(s, op)
    raise TypeError(f"not a write: {op!r}")


def prep_write(
    overlay: Overlay, op: Create | Delete | SetData | Multi, session_id: int
) -> tuple[object, dict[str, NodeView | None]]:
    """Decide a write: return (txn body, overlay changes) or raise its CoordError.

    A failing multi raises nothing: it returns a failed MultiResult (every op
    has a result; the failing one its own error, the rest RUNTIME_INCONSISTENCY)
    and no changes, so the caller replies without proposing a txn.
    """
    s = Scratch(overlay)
    if not isinstance(op, Multi):
        return _prep_one(s, op, session_id), s.changes
    txns = []
    for i, sub in enumerate(op.ops):
        try:
            txns.append(_prep_one(s, sub, session_id))
        except CoordError as err:
            return failed_multi(op, i, err), {}
    return MultiTxn(tuple(txns)), s.changes


def failed_multi(op: Multi, index: int, err: CoordError) -> MultiResult:
    """The answer to a multi whose op ``index`` failed: nothing of it is applied."""
    results: list[CoordError] = [
        RuntimeInconsistency("rolled back: another op in the multi failed", o.path) for o in op.ops
    ]
    results[index] = err
    return MultiResult(tuple(results), failed=True)


def prep_close_session(overlay: Overlay, session_id: int) -> tuple[CloseSessionTxn, dict]:
    """Close a session: its ephemerals (as they will be) are deleted in the same txn."""
    s = Scratch(overlay)
    paths = sorted(overlay.ephemerals(session_id), key=lambda p: (-p.count("/"), p))
    for path in paths:
        _remove(s, path)
    return CloseSessionTxn(session_id, tuple(paths)), s.changes


def prep_reap(overlay: Overlay, path: str) -> tuple[DeleteTxn, dict] | None:
    """Delete an empty container or expired TTL node, unless a pending txn touches it."""
    if overlay.has_change(path):
        return None
    node = overlay.view(path)
    if node is None or node.num_children:
        return None
    s = Scratch(overlay)
    _remove(s, path)
    return DeleteTxn(path), s.changes
