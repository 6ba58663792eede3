"""The peer transport on real gRPC over loopback: what a peer that was down gets when it returns.

While a peer's channel is not connected only the newest DOWN_BACKLOG
messages are kept for it (older ones were meant for its previous run), and
they arrive in order once it is back.
"""

from __future__ import annotations

import asyncio

from composerun import free_port

from coordsvc.server.peer_transport import DOWN_BACKLOG, PeerTransport
from coordsvc.zab.messages import PingAck


async def _until(check, timeout: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, "condition never became true"
        await asyncio.sleep(0.01)  # poll interval of a deadline-bounded wait


async def test_a_returning_peer_gets_only_the_newest_messages_in_order() -> None:
    peers = {1: f"127.0.0.1:{free_port()}", 2: f"127.0.0.1:{free_port()}"}
    got: list[int] = []
    a = PeerTransport(1, peers, peers[1], on_message=lambda sender, msg: None)
    b = PeerTransport(2, peers, peers[2], on_message=lambda sender, msg: got.append(msg.round))
    await a.start()
    try:
        sent = DOWN_BACKLOG * 4
        for i in range(sent):  # peer 2 is down: nothing listens on its address
            a.send(2, PingAck(epoch=1, round=i))
        assert a.dropped == sent - DOWN_BACKLOG
        await b.start()  # peer 2 comes back; its stream to us also ends our dial backoff
        try:
            await _until(lambda: len(got) >= DOWN_BACKLOG)
            a.send(2, PingAck(epoch=1, round=sent))  # connected now: nothing is dropped
            await _until(lambda: got[-1] == sent)
            assert got == list(range(sent - DOWN_BACKLOG, sent + 1))
            assert a.dropped == sent - DOWN_BACKLOG
        finally:
            await b.stop()
    finally:
        await a.stop()
