"""Party and ShallowParty: who is here right now.

Each member joins by creating an ephemeral node under the party's path and
leaves by deleting it (or by its session ending). Party keeps the member's
identifier in the node's data (``<guid>__party__``); ShallowParty puts it
in the node's name (``<identifier>-<guid>``), so listing the members is a
single read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from coordsvc.client.errors import NodeExistsError, NoNodeError
from coordsvc.recipes._bridge import SyncRecipe, blocking, mirrored
from coordsvc.recipes._protocol import CoordClient
from coordsvc.recipes._util import (
    AsyncRecipe,
    create_once,
    default_identifier,
    delete_quietly,
    join,
    new_guid,
)

__all__ = ["AsyncParty", "AsyncShallowParty", "Party", "ShallowParty"]

MEMBER = "__party__"


class AsyncParty(AsyncRecipe):
    """Group membership over an AsyncClient (see module doc).

    ``Party(client, path, identifier=None)``. Example::

        import asyncio
        from coordsvc.client import AsyncClient
        from coordsvc.recipes import AsyncParty

        async def main():
            async with AsyncClient("127.0.0.1:2181") as client:
                party = AsyncParty(client, "/parties/workers", "worker-1")
                await party.join()
                print(await party.members(), await party.count())
                await party.leave()

        asyncio.run(main())
    """

    def __init__(self, client: CoordClient, path: str, identifier: str | None = None) -> None:
        self.client = client
        self.path = path.rstrip("/")
        self.identifier = identifier or default_identifier()
        self.node = join(self.path, self._name())
        self.participating = False

    def _name(self) -> str:
        return new_guid() + MEMBER

    def _data(self) -> bytes:
        return self.identifier.encode()

    async def join(self) -> None:
        """Become a member (an ephemeral node; it goes with the session)."""
        try:
            await create_once(self.client, self.node, self._data(), ephemeral=True)
        except NodeExistsError:
            pass  # already a member
        self.participating = True

    async def leave(self) -> bool:
        """Stop being a member; False if this object was not one."""
        self.participating = False
        return await delete_quietly(self.client, self.node)

    async def members(self) -> list[str]:
        """The identifiers of the current members."""
        out = []
        for name in await self._children():
            if name.endswith(MEMBER):
                try:
                    data, _ = await self.client.get(join(self.path, name))
                except NoNodeError:
                    continue
                out.append(data.decode(errors="replace"))
        return out

    async def count(self) -> int:
        return len(await self.members())

    async def __aiter__(self) -> AsyncIterator[str]:
        for member in await self.members():
            yield member

    async def _children(self) -> list[str]:
        try:
            return await self.client.get_children(self.path)
        except NoNodeError:
            return []


class AsyncShallowParty(AsyncParty):
    """Group membership with identifiers in node names (no data reads).

    ``ShallowParty(client, path, identifier=None)``. Example::

        import asyncio
        from coordsvc.client import AsyncClient
        from coordsvc.recipes import AsyncShallowParty

        async def main():
            async with AsyncClient("127.0.0.1:2181") as client:
                party = AsyncShallowParty(client, "/parties/edge", "edge-eu-1")
                await party.join()
                print(await party.members())   # ['edge-eu-1']
                await party.leave()

        asyncio.run(main())
    """

    def _name(self) -> str:
        if "/" in self.identifier:
            raise ValueError("a ShallowParty identifier is a node name: no '/'")
        return f"{self.identifier}-{new_guid()}"

    def _data(self) -> bytes:
        return b""

    async def members(self) -> list[str]:
        return [name[:-33] for name in await self._children() if len(name) > 33]


class Party(SyncRecipe):
    """Group membership over the blocking Client (see AsyncParty).

    Example::

        from coordsvc.client import Client
        from coordsvc.recipes import Party

        with Client("127.0.0.1:2181") as client:
            party = Party(client, "/parties/workers", "worker-1")
            party.join()
            print(list(party), len(party))
            party.leave()
    """

    _async_class: type[AsyncParty] = AsyncParty

    def __init__(self, client: Any, path: str, identifier: str | None = None) -> None:
        self._wrap(client, lambda c: self._async_class(c, path, identifier))

    path = mirrored("path")
    identifier = mirrored("identifier")
    participating = mirrored("participating")
    join = blocking(AsyncParty.join)
    leave = blocking(AsyncParty.leave)
    members = blocking(AsyncParty.members)

    def __iter__(self) -> Iterator[str]:
        return iter(self.members())

    def __len__(self) -> int:
        return len(self.members())


class ShallowParty(Party):
    """Group membership with identifiers in node names (see AsyncShallowParty).

    Example::

        from coordsvc.client import Client
        from coordsvc.recipes import ShallowParty

        with Client("127.0.0.1:2181") as client:
            party = ShallowParty(client, "/parties/edge", "edge-eu-1")
            party.join()
            print(list(party))
            party.leave()
    """

    _async_class = AsyncShallowParty
