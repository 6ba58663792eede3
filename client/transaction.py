"""Transactions: collect create/delete/set_data/check ops, commit them as one.

Commit is all-or-nothing on the server. The results come back kazoo style,
one per op in order: the created path, True for delete and check, the new
Stat for set_data; when the transaction failed, the failing op's entry is
its exception and every other entry is a RolledBackError. Commit itself
raises only when the server refused the request as a whole before running
any op (a malformed op: InvalidPathError, DataTooLargeError), when the
outcome is unknown (ConnectionLoss) or when the session is gone.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from coordsvc.client import codec
from coordsvc.client.args import check_create_flags, check_path, check_value, check_version

__all__ = ["Transaction"]

Committer = Callable[[list[codec.OpMessage]], Awaitable[list[Any]]]


class Transaction:
    """Ops to apply atomically; build with the op methods, then ``await commit()``."""

    def __init__(self, committer: Committer) -> None:
        self._committer = committer
        self.operations: list[codec.OpMessage] = []
        self.committed = False

    def create(
        self,
        path: str,
        value: bytes = b"",
        ephemeral: bool = False,
        sequence: bool = False,
        container: bool = False,
        ttl: int | None = None,
    ) -> None:
        """Add a create (same flags as ``create``, without makepath)."""
        check_path(path)
        value = check_value(value)
        check_create_flags(ephemeral, container, ttl)
        self._add(
            codec.create(
                path, value, ephemeral=ephemeral, sequence=sequence, container=container, ttl=ttl
            )
        )

    def delete(self, path: str, version: int = -1) -> None:
        """Add a delete; version -1 means any version."""
        check_path(path)
        self._add(codec.delete(path, check_version(version)))

    def set_data(self, path: str, value: bytes, version: int = -1) -> None:
        """Add a set_data; version -1 means any version."""
        check_path(path)
        self._add(codec.set_data(path, check_value(value), check_version(version)))

    def check(self, path: str, version: int) -> None:
        """Add a check that ``path`` exists at ``version`` (-1: merely exists)."""
        check_path(path)
        self._add(codec.check(path, check_version(version)))

    async def commit(self) -> list[Any]:
        """Apply every op or none; return one result per op (see module doc)."""
        if self.committed:
            raise ValueError("transaction already committed")
        self.committed = True
        if not self.operations:
            return []
        return await self._committer(self.operations)

    def _add(self, op: codec.OpMessage) -> None:
        if self.committed:
            raise ValueError("transaction already committed")
        self.operations.append(op)
