"""The watch table: who watches what, and who to tell when a txn fires triggers.

ZooKeeper semantics: one-shot data watches (set by get and exists; an exists
watch on a missing node fires on its creation), one-shot child watches (set
by get_children), and persistent watches (3.6): a persistent watch sees every
event at its path; a persistent-recursive one sees every event at or below
its path except NodeChildrenChanged. A session gets one notification per
event however many of its watches match.
"""

from __future__ import annotations

from coordsvc.tree.datatree import (
    NODE_CHILDREN_CHANGED,
    NODE_CREATED,
    NODE_DATA_CHANGED,
    NODE_DELETED,
)

__all__ = ["WatchTable", "DATA", "CHILD", "PERSISTENT", "PERSISTENT_RECURSIVE", "KINDS"]

DATA = "data"
CHILD = "child"
PERSISTENT = "persistent"
PERSISTENT_RECURSIVE = "persistent_recursive"
KINDS = (DATA, CHILD, PERSISTENT, PERSISTENT_RECURSIVE)

# which one-shot tables an event consumes
_ONE_SHOT = {
    NODE_CREATED: (DATA,),
    NODE_DATA_CHANGED: (DATA,),
    NODE_DELETED: (DATA, CHILD),
    NODE_CHILDREN_CHANGED: (CHILD,),
}


def _ancestors(path: str):
    """path itself, then each ancestor up to "/"."""
    yield path
    while path != "/":
        i = path.rfind("/")
        path = "/" if i == 0 else path[:i]
        yield path


class WatchTable:
    """Watches by kind and path, with a per-session index for cleanup."""

    def __init__(self) -> None:
        self._by_kind: dict[str, dict[str, set[int]]] = {k: {} for k in KINDS}
        self._by_session: dict[int, set[tuple[str, str]]] = {}

    def add(self, session_id: int, path: str, kind: str) -> None:
        self._by_kind[kind].setdefault(path, set()).add(session_id)
        self._by_session.setdefault(session_id, set()).add((kind, path))

    def remove(self, session_id: int, path: str, kinds: tuple[str, ...] = KINDS) -> bool:
        """Remove this session's watches of the given kinds at path; True if any."""
        removed = False
        for kind in kinds:
            watchers = self._by_kind[kind].get(path)
            if watchers and session_id in watchers:
                self._discard(session_id, path, kind)
                removed = True
        return removed

    def remove_session(self, session_id: int) -> None:
        for kind, path in list(self._by_session.get(session_id, ())):
            self._discard(session_id, path, kind)
        self._by_session.pop(session_id, None)

    def _discard(self, session_id: int, path: str, kind: str) -> None:
        table = self._by_kind[kind]
        watchers = table.get(path)
        if watchers is not None:
            watchers.discard(session_id)
            if not watchers:
                del table[path]
        owned = self._by_session.get(session_id)
        if owned is not None:
            owned.discard((kind, path))
            if not owned:
                del self._by_session[session_id]

    def trigger(self, event_type: str, path: str) -> list[int]:
        """Sessions to notify of (event_type, path), consuming one-shot watches."""
        sessions: set[int] = set()
        for kind in _ONE_SHOT[event_type]:
            watchers = self._by_kind[kind].pop(path, None)
            if watchers:
                for sid in watchers:
                    owned = self._by_session.get(sid)
                    if owned is not None:
                        owned.discard((kind, path))
                        if not owned:
                            del self._by_session[sid]
                sessions |= watchers
        sessions |= self._by_kind[PERSISTENT].get(path, set())
        if event_type != NODE_CHILDREN_CHANGED:
            recursive = self._by_kind[PERSISTENT_RECURSIVE]
            if recursive:
                for p in _ancestors(path):
                    sessions |= recursive.get(p, set())
        return sorted(sessions)

    def count(self) -> int:
        return sum(len(s) for table in self._by_kind.values() for s in table.values())

    def listing(self) -> list[tuple[int, str, str]]:
        """Every (session_id, path, kind), for the Admin service."""
        return sorted(
            (sid, path, kind)
            for kind, table in self._by_kind.items()
            for path, sids in table.items()
            for sid in sids
        )

    def session_count(self, session_id: int) -> int:
        return len(self._by_session.get(session_id, ()))
