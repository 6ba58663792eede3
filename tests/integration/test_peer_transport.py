"""The peer transport on real gRPC over loopback.

While a peer's channel is not connected only the newest DOWN_BACKLOG
messages are kept for it (older ones were meant for its previous run), and
they arrive in order once it is back. With peer TLS a stream is taken only
from a certificate naming the host the claimed member has in --peers.
"""

from __future__ import annotations

import asyncio

import grpc
import pytest
from certs import issue, make_pki
from composerun import free_port

from coordsvc.server.peer_codec import encode
from coordsvc.server.peer_transport import DOWN_BACKLOG, PeerTransport, backoff
from coordsvc.server.tls import load_peer_tls, names_host
from coordsvc.v1 import peer_pb2 as ppb
from coordsvc.v1 import peer_pb2_grpc as ppb_grpc
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


async def test_with_tls_a_member_certificate_speaks_for_that_member_only(tmp_path) -> None:
    """Peer 2 is 127.0.0.2 in --peers: a certificate for 127.0.0.3 cannot claim to be it."""
    pki = make_pki(tmp_path / "pki")
    own = issue(pki, "member1", "127.0.0.1")
    tls = load_peer_tls(str(own[0]), str(own[1]), str(pki.ca))
    peers = {1: f"127.0.0.1:{free_port()}", 2: "127.0.0.2:2888"}
    got: list[tuple[int, int]] = []
    a = PeerTransport(1, peers, peers[1], lambda s, msg: got.append((s, msg.round)), tls=tls)
    await a.start()

    async def claim_to_be_2(cert: tuple) -> None:
        creds = grpc.ssl_channel_credentials(
            pki.ca.read_bytes(), cert[1].read_bytes(), cert[0].read_bytes()
        )

        async def messages():
            yield ppb.PeerMessage(from_id=2)
            yield ppb.PeerMessage(body=encode(PingAck(epoch=1, round=7)))

        async with grpc.aio.secure_channel(peers[1], creds) as channel:
            await ppb_grpc.PeerStub(channel).Stream(messages(), timeout=10)

    try:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await claim_to_be_2(issue(pki, "impostor", "127.0.0.3"))
        assert refused.value.code() is grpc.StatusCode.PERMISSION_DENIED
        assert "peer 2 is 127.0.0.2" in refused.value.details()
        assert got == []
        await claim_to_be_2(issue(pki, "member2", "127.0.0.2"))
        assert got == [(2, 7)]
    finally:
        await a.stop()


@pytest.mark.parametrize(
    ("names", "host", "ok"),
    [
        (["127.0.0.1"], "127.0.0.1", True),
        (["localhost", "127.0.0.1"], "127.0.0.2", False),
        (["::1"], "[::1]", True),
        (["0:0:0:0:0:0:0:1"], "[::1]", True),
        (["coordsvc-0.coordsvc.ns.svc"], "COORDSVC-0.coordsvc.ns.svc.", True),
        (["*.coordsvc.ns.svc"], "coordsvc-1.coordsvc.ns.svc", True),
        (["*.coordsvc.ns.svc"], "a.b.coordsvc.ns.svc", False),
        (["*.coordsvc.ns.svc"], "coordsvc.ns.svc", False),
        ([], "127.0.0.1", False),
    ],
)
def test_names_host(names, host, ok) -> None:
    assert names_host(names, host) is ok


async def test_a_cut_short_backoff_still_ends_when_its_dial_is_cancelled() -> None:
    """Stopping while a returning peer has just cut the backoff short must end the dial.

    (asyncio.wait_for of Python 3.11 returns instead when the cancel lands as
    its inner wait completes: a dial loop built on it lived on after stop.)
    """
    landed = 0
    for turns in range(8):  # the cancel lands at a different point of the pause each time
        kick = asyncio.Event()
        kick.set()
        pause = asyncio.ensure_future(backoff(kick, 5.0))
        for _ in range(turns):
            await asyncio.sleep(0)
        if pause.done():
            continue  # over before the cancel: nothing to swallow
        landed += 1
        pause.cancel()
        with pytest.raises(asyncio.CancelledError):
            await pause
    assert landed >= 2
