"""ZooKeeper's own client protocol (``--zk-listen``), driven by the real kazoo client.

kazoo speaks jute over TCP exactly as it does to Apache ZooKeeper; nothing in
it knows about coordsvc. What a ZooKeeper user depends on is checked here:
znode semantics and errors, sequential and ephemeral nodes, one-shot watches,
transactions, kazoo's own recipes, sessions that survive the loss of their
server, and that bad input is refused without harming anyone else.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator

import grpc
import pytest
from certs import make_pki
from composerun import free_port
from coordsvc.client import Client
from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import (
    AuthFailedError,
    BadVersionError,
    InvalidACLError,
    MarshallingError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    RolledBackError,
    RuntimeInconsistency,
    UnimplementedError,
)
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.protocol.serialization import Connect, GetData, ReplyHeader, Sync, Watch
from kazoo.recipe.lock import Lock
from kazoo.security import make_digest_acl

WAIT_S = 10.0


def _kazoo(hosts: str, **kw) -> KazooClient:
    zk = KazooClient(hosts=hosts, timeout=kw.pop("timeout", 4.0), **kw)
    zk.start(timeout=WAIT_S)
    return zk


@pytest.fixture
def zk_server(server_factory):
    server = server_factory(tick_ms=200, zk_listen=f"127.0.0.1:{free_port()}")
    server.zk_address = server_address_of(server)
    return server


def server_address_of(server) -> str:
    """The --zk-listen address the server was started with (from its command line)."""
    args = server.proc.args
    return args[args.index("--zk-listen") + 1]


@pytest.fixture
def zk(zk_server) -> Iterator[KazooClient]:
    client = _kazoo(zk_server.zk_address)
    yield client
    client.stop()
    client.close()


def test_znodes_stats_and_errors_as_zookeeper_has_them(zk: KazooClient) -> None:
    assert zk.create("/app", b"v0") == "/app"
    data, stat = zk.get("/app")
    assert (data, stat.version, stat.dataLength, stat.numChildren) == (b"v0", 0, 2, 0)
    assert stat.czxid == stat.mzxid > 0 and stat.ephemeralOwner == 0
    stat = zk.set("/app", b"v1", version=0)
    assert stat.version == 1 and stat.mzxid > stat.czxid
    with pytest.raises(BadVersionError):
        zk.set("/app", b"v2", version=0)
    with pytest.raises(NodeExistsError):
        zk.create("/app")
    with pytest.raises(NoNodeError):
        zk.get("/missing")
    with pytest.raises(NoNodeError):
        zk.create("/missing/child")
    assert zk.exists("/missing") is None
    assert zk.exists("/app").version == 1
    zk.create("/app/child")
    with pytest.raises(NotEmptyError):
        zk.delete("/app")
    children, parent = zk.get_children("/app", include_data=True)
    assert children == ["child"] and parent.numChildren == 1 and parent.cversion == 1
    zk.delete("/app", recursive=True)
    assert zk.exists("/app") is None


def test_sequential_names_and_ephemerals_follow_the_session(zk, zk_server) -> None:
    zk.ensure_path("/q")
    names = [zk.create("/q/job-", b"", sequence=True) for _ in range(3)]
    assert names == [f"/q/job-{i:010d}" for i in range(3)]
    node = zk.create("/q/me", b"", ephemeral=True)
    assert zk.exists(node).ephemeralOwner == zk.client_id[0]
    other = _kazoo(zk_server.zk_address)
    try:
        gone = threading.Event()
        other.exists(node, watch=lambda event: gone.set())
        zk.stop()  # closes the session: its ephemeral goes with it
        assert gone.wait(WAIT_S)
        assert other.exists(node) is None
        assert len(other.get_children("/q")) == 3
    finally:
        other.stop()
        other.close()


def test_one_shot_watches_fire_for_changes_made_through_the_sdk(zk, zk_server) -> None:
    zk.create("/cfg", b"a")
    fired: list[tuple[str, str]] = []
    got = threading.Event()

    def watcher(event) -> None:
        fired.append((event.type, event.path))
        got.set()

    zk.get("/cfg", watch=watcher)
    with Client(zk_server.address, session_timeout=4.0) as sdk:
        sdk.set("/cfg", b"b")
        assert got.wait(WAIT_S)
        got.clear()
        sdk.set("/cfg", b"c")  # one-shot: this one fires nothing
        zk.get_children("/cfg", watch=watcher)
        sdk.create("/cfg/x")
        assert got.wait(WAIT_S)
    assert fired == [("CHANGED", "/cfg"), ("CHILD", "/cfg")]
    assert zk.get("/cfg")[0] == b"c"


def test_kazoo_data_and_children_watch_recipes(zk) -> None:
    zk.create("/svc")
    seen: list[list[str]] = []
    changed = threading.Condition()

    @zk.ChildrenWatch("/svc")
    def members(children: list[str]) -> None:
        with changed:
            seen.append(sorted(children))
            changed.notify_all()

    for name in ("a", "b"):
        zk.create(f"/svc/{name}", ephemeral=True)
    with changed:
        assert changed.wait_for(lambda: seen[-1] == ["a", "b"], WAIT_S)
    zk.delete("/svc/a")
    with changed:
        assert changed.wait_for(lambda: seen[-1] == ["b"], WAIT_S)


def test_transactions_apply_whole_or_not_at_all(zk) -> None:
    zk.create("/t", b"0")
    txn = zk.transaction()
    txn.create("/t/a", b"1")
    txn.check("/t", 0)
    txn.set_data("/t", b"2")
    txn.delete("/t/a")
    results = txn.commit()
    assert results[0] == "/t/a" and results[1] is True and results[3] is True
    assert results[2].version == 1
    txn = zk.transaction()
    txn.create("/t/b")
    txn.delete("/t/missing")
    txn.create("/t/c")
    results = txn.commit()
    assert [type(r) for r in results] == [RolledBackError, NoNodeError, RuntimeInconsistency]
    assert zk.get_children("/t") == []  # nothing of the failed one was applied


def test_kazoo_lock_recipe_serialises_twenty_increments(zk_server) -> None:
    clients = [_kazoo(zk_server.zk_address) for _ in range(4)]
    try:
        clients[0].create("/counter", b"0")
        holders = 0
        overlap = False
        guard = threading.Lock()

        def work(zk: KazooClient) -> None:
            nonlocal holders, overlap
            for _ in range(5):
                with Lock(zk, "/locks/counter"):
                    with guard:
                        holders += 1
                        overlap |= holders > 1
                    value = int(zk.get("/counter")[0])
                    zk.set("/counter", str(value + 1).encode())
                    with guard:
                        holders -= 1

        threads = [threading.Thread(target=work, args=(zk,)) for zk in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not overlap
        assert clients[0].get("/counter")[0] == b"20"
    finally:
        for zk in clients:
            zk.stop()
            zk.close()


def test_acls_and_auth_it_cannot_enforce_are_refused(zk) -> None:
    acls, stat = zk.get_acls("/")
    assert [(a.perms, a.id.scheme, a.id.id) for a in acls] == [(31, "world", "anyone")]
    with pytest.raises(InvalidACLError):
        zk.create("/secret", acl=[make_digest_acl("user", "pw", all=True)])
    assert zk.exists("/secret") is None
    with pytest.raises(UnimplementedError):
        zk.reconfig(joining=None, leaving="3", new_members=None)
    assert zk.state == KazooState.CONNECTED and zk.create("/after") == "/after"
    with pytest.raises(AuthFailedError):  # for a ZooKeeper client this ends the session
        zk.add_auth("digest", "user:pw")


def _frame(body: bytes) -> bytes:
    return struct.pack("!i", len(body)) + body


def _read_frame(sock: socket.socket) -> bytes:
    head = _recv(sock, 4)
    return _recv(sock, struct.unpack("!i", head)[0])


def _recv(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError(f"closed after {len(buf)} of {n} bytes")
        buf += chunk
    return buf


def _raw_session(address: str, session_id: int = 0, password: bytes = b"\0" * 16):
    host, _, port = address.rpartition(":")
    sock = socket.create_connection((host, int(port)), timeout=WAIT_S)
    sock.sendall(_frame(bytes(Connect(0, 0, 4000, session_id, password, False).serialize())))
    answer, _ = Connect.deserialize(_read_frame(sock), 0)
    return sock, answer


def test_bad_frames_get_an_error_or_a_closed_socket_and_nothing_else(zk, zk_server) -> None:
    zk.create("/keep", b"1")
    sock, answer = _raw_session(zk_server.zk_address)
    try:
        assert answer.time_out > 0 and answer.session_id != 0
        # a getData whose path claims more bytes than the record holds
        sock.sendall(_frame(struct.pack("!iii", 1, GetData.type, 1000) + b"/ke"))
        header, _ = ReplyHeader.deserialize(_read_frame(sock), 0)
        assert (header.xid, header.err) == (1, MarshallingError.code)
        # an unknown op code
        sock.sendall(_frame(struct.pack("!ii", 2, 9999)))
        header, _ = ReplyHeader.deserialize(_read_frame(sock), 0)
        assert (header.xid, header.err) == (2, UnimplementedError.code)
        # a frame longer than any request may be: the connection is cut
        sock.sendall(struct.pack("!i", 1 << 30))
        with pytest.raises((ConnectionError, TimeoutError)):
            _read_frame(sock)
    finally:
        sock.close()
    assert zk.get("/keep")[0] == b"1"  # everyone else carries on


def test_an_unknown_session_is_told_it_expired(zk_server) -> None:
    sock, answer = _raw_session(zk_server.zk_address, session_id=0x1234, password=b"x" * 16)
    sock.close()
    assert (answer.time_out, answer.session_id) == (0, 0)
    zk = KazooClient(hosts=zk_server.zk_address, timeout=4.0)
    try:
        zk.start(timeout=WAIT_S)
        assert zk.client_id[0] != 0x1234
    finally:
        zk.stop()
        zk.close()


def _four_letter(address: str, word: bytes) -> bytes:
    host, _, port = address.rpartition(":")
    with socket.create_connection((host, int(port)), timeout=WAIT_S) as sock:
        sock.sendall(word)
        out = b""
        while chunk := sock.recv(4096):
            out += chunk
    return out


def test_four_letter_words_for_zookeeper_probes_and_exporters(zk, zk_server) -> None:
    zk.create("/counted")
    assert _four_letter(zk_server.zk_address, b"ruok") == b"imok"
    srvr = _four_letter(zk_server.zk_address, b"srvr").decode()
    assert "Mode: standalone\n" in srvr
    zxid = int(srvr.split("Zxid: ")[1].split()[0], 16)
    assert zxid >= zk.exists("/counted").czxid
    mntr = dict(
        line.split("\t")
        for line in _four_letter(zk_server.zk_address, b"mntr").decode().splitlines()
    )
    assert mntr["zk_server_state"] == "standalone"
    assert int(mntr["zk_znode_count"]) >= 2 and int(mntr["zk_num_alive_connections"]) >= 1
    assert b"not in the whitelist" in _four_letter(zk_server.zk_address, b"envi")


def test_a_kazoo_session_survives_the_loss_of_its_server(ensemble_factory) -> None:
    """Kill the server kazoo is connected to: it resumes the same session elsewhere.

    Its ephemeral stays, and its first writes after the move are new writes:
    kazoo numbers requests from 1 again on every connection, which must not
    be mistaken for retries of the writes it made before.
    """
    ens = ensemble_factory(3)
    leader = ens.wait_leader()
    followers = [n for n in ens.nodes.values() if n is not leader]
    assert b"Mode: leader\n" in _four_letter(leader.zk_address, b"srvr")
    assert b"Mode: follower\n" in _four_letter(followers[0].zk_address, b"srvr")
    zk = KazooClient(hosts=followers[0].zk_address, timeout=6.0)
    zk.start(timeout=WAIT_S)
    try:
        states: list[str] = []
        back = threading.Event()

        def on_state(state: str) -> None:
            states.append(state)
            if state == KazooState.CONNECTED:
                back.set()

        zk.add_listener(on_state)
        session = zk.client_id
        zk.create("/jobs")  # xid 1 of this connection, then 2 and 3:
        before = [zk.create("/jobs/j-", b"", sequence=True) for _ in range(2)]
        zk.create("/me", b"", ephemeral=True)
        zk.set_hosts(",".join(n.zk_address for n in followers))
        followers[0].kill()
        assert back.wait(WAIT_S), states
        assert states == [KazooState.SUSPENDED, KazooState.CONNECTED]  # never LOST
        assert zk.client_id == session
        after = [zk.create("/jobs/j-", b"", sequence=True) for _ in range(3)]  # xids 1, 2, 3
        assert after == [f"/jobs/j-{i:010d}" for i in range(2, 5)], (before, after)
        assert zk.exists("/me").ephemeralOwner == session[0]
        assert sorted(zk.get_children("/jobs")) == [p.rsplit("/", 1)[1] for p in before + after]
    finally:
        zk.stop()
        zk.close()


def _notifications_until(sock: socket.socket, xid: int) -> list[tuple[int, str]]:
    """Read frames until the reply numbered ``xid``; return the watch events before it."""
    events = []
    while True:
        buf = _read_frame(sock)
        header, at = ReplyHeader.deserialize(buf, 0)
        if header.xid == xid:
            assert header.err == 0
            return events
        assert header.xid == -1, header
        watch, _ = Watch.deserialize(buf, at)
        events.append((watch.type, watch.path))


@pytest.mark.parametrize("xid", [-8, 4], ids=["before-3.6", "java-3.6-on"])
def test_set_watches_rearms_and_fires_what_a_reconnecting_client_missed(
    zk, zk_server, xid: int
) -> None:
    """A ZooKeeper Java client resends its watches after reconnecting (op 101).

    Each is set again, or fires at once if its node changed after the zxid
    the client had seen, as ZooKeeper's own server does. The answer carries
    the client's xid: -8 from old clients, the next of its sequence from
    ZooKeeper 3.6's on (which drop a connection whose replies are out of order).
    """
    zk.create("/w/c", makepath=True)
    zk.create("/w2")
    seen = zk.exists("/w2").mzxid  # what the client had seen before it lost its connection
    zk.set("/w", b"new")
    zk.create("/w/c2")
    sock, _ = _raw_session(zk_server.zk_address)
    try:
        w = struct.pack("!iiq", xid, 101, seen)
        for paths in (["/w", "/gone"], ["/later"], ["/w", "/w2"]):  # data, exist, child
            w += struct.pack("!i", len(paths))
            for path in paths:
                w += struct.pack("!i", len(path)) + path.encode()
        sock.sendall(_frame(w))
        assert _notifications_until(sock, xid) == [(3, "/w"), (2, "/gone"), (4, "/w")]
        zk.create("/later")
        zk.create("/w2/x")
        sock.sendall(_frame(struct.pack("!ii", 5, Sync.type) + struct.pack("!i", 1) + b"/"))
        assert _notifications_until(sock, 5) == [(1, "/later"), (4, "/w2")]
    finally:
        sock.close()


def test_a_persistent_recursive_watch_sees_every_change_below(zk, zk_server) -> None:
    """addWatch (op 106, ZooKeeper 3.6+): not one-shot, and covering the subtree."""
    zk.create("/tree")
    sock, _ = _raw_session(zk_server.zk_address)
    try:
        path = b"/tree"
        add = struct.pack("!ii", 1, 106) + struct.pack("!i", len(path)) + path
        sock.sendall(_frame(add + struct.pack("!i", 1)))  # mode 1: PERSISTENT_RECURSIVE
        assert _notifications_until(sock, 1) == []
        zk.create("/tree/a")
        zk.set("/tree/a", b"x")
        zk.create("/tree/a/b")
        zk.delete("/tree/a/b")
        sync = struct.pack("!ii", 2, Sync.type) + struct.pack("!i", 1) + b"/"
        sock.sendall(_frame(sync))
        assert _notifications_until(sock, 2) == [
            (1, "/tree/a"),
            (3, "/tree/a"),
            (1, "/tree/a/b"),
            (2, "/tree/a/b"),
        ]
    finally:
        sock.close()


def test_with_client_tls_the_zookeeper_port_speaks_only_tls(server_factory, tmp_path) -> None:
    """--tls-cert/--tls-key/--tls-client-ca secure the ZooKeeper port as they do the gRPC one."""
    pki = make_pki(tmp_path / "pki")
    mutual = grpc.ssl_channel_credentials(
        pki.ca.read_bytes(), pki.client_key.read_bytes(), pki.client_cert.read_bytes()
    )
    srv = server_factory(
        tls_cert=pki.server_cert,
        tls_key=pki.server_key,
        tls_client_ca=pki.ca,
        credentials=mutual,
        zk_listen=f"127.0.0.1:{free_port()}",
    )
    address = server_address_of(srv)
    zk = _kazoo(
        address,
        use_ssl=True,
        ca=str(pki.ca),
        certfile=str(pki.client_cert),
        keyfile=str(pki.client_key),
    )
    try:
        assert zk.create("/over-tls", b"x") == "/over-tls"
        assert zk.get("/over-tls")[0] == b"x"
    finally:
        zk.stop()
        zk.close()
    for refused in (
        {},  # plaintext
        {"use_ssl": True, "ca": str(pki.ca)},  # TLS without a client certificate
    ):
        other = KazooClient(hosts=address, timeout=2.0, **refused)
        try:
            with pytest.raises(KazooTimeoutError):
                other.start(timeout=2.0)
        finally:
            other.stop()
            other.close()


def test_one_host_may_hold_only_zk_max_client_cnxns_connections(server_factory) -> None:
    srv = server_factory(tick_ms=200, zk_listen=f"127.0.0.1:{free_port()}", zk_max_client_cnxns=3)
    address = server_address_of(srv)
    held = [_raw_session(address)[0] for _ in range(3)]
    try:
        host, _, port = address.rpartition(":")
        with socket.create_connection((host, int(port)), timeout=WAIT_S) as extra:
            assert extra.recv(1) == b""  # closed at once, before any handshake
        for i, sock in enumerate(held, start=1):  # the three admitted still work
            sock.sendall(_frame(struct.pack("!ii", i, Sync.type) + struct.pack("!i", 1) + b"/"))
            assert _notifications_until(sock, i) == []
    finally:
        for sock in held:
            sock.close()


def test_a_member_that_loses_its_quorum_lets_its_zookeeper_clients_go(ensemble_factory) -> None:
    """Otherwise a client would sit on a cut-off member, pinging it while its session expires."""
    ens = ensemble_factory(3)
    leader = ens.wait_leader()
    stranded = next(n for n in ens.nodes.values() if n is not leader)
    zk = KazooClient(hosts=stranded.zk_address, timeout=6.0)
    zk.start(timeout=WAIT_S)
    try:
        suspended = threading.Event()
        zk.add_listener(lambda state: state == KazooState.SUSPENDED and suspended.set())
        for node in ens.nodes.values():
            if node is not stranded:
                node.kill()
        assert suspended.wait(WAIT_S)
    finally:
        zk.stop()
        zk.close()
