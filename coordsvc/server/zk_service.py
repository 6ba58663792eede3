"""ZooKeeper's client protocol on TCP, on the same Runner as the gRPC front end.

Each TCP connection is one StreamConn, exactly like a gRPC Session stream:
the handshake becomes a ``pb.ConnectRequest``, each jute request a
``pb.Request`` (``coordsvc.zk.requests``), and every ServerMessage the
runner queues goes back as the jute record the client expects
(``coordsvc.zk.replies``). So kazoo, zkCli and Curator get the same
sessions, ordering, watches and ensemble behaviour as the SDK.

ZooKeeper clients number requests from 1 again on every connection, but the
core recognises a retried write by (session, xid). The front end therefore
numbers requests itself, above the highest xid the server keeps for the
session, and answers with the client's own xid.

As in ZooKeeper, a member that is not part of a serving ensemble does not
keep clients: when it leaves broadcast the runner ends every session stream
(``Runner.drop_session_streams``), which closes the connection here, so the
clients reconnect to a member that serves and keep their sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections import Counter
from dataclasses import dataclass, field

import structlog

from coordsvc.errors import BadArgumentsError, CoordError
from coordsvc.server import codec
from coordsvc.server.conns import StreamConn
from coordsvc.server.metrics import view_of
from coordsvc.server.runner import Runner
from coordsvc.v1 import coordination_pb2 as pb
from coordsvc.zk import fourletter, replies
from coordsvc.zk.jute import JuteError, Reader
from coordsvc.zk.protocol import Err, Op, Xid
from coordsvc.zk.requests import LOCAL, Plan, SetWatches, decode

__all__ = ["ZkService"]

log = structlog.get_logger("coordsvc.zk")

CONNECT_TIMEOUT_S = 10.0  # for a client to send its handshake, and the core to answer it


@dataclass
class _Restore:
    """A SetWatches in progress: the events it owes and the probes still out."""

    client_xid: int
    relative_zxid: int
    left: int
    frames: list[bytes] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Probe:
    """One watch of a SetWatches, re-armed by a watching read."""

    restore: _Restore
    kind: str  # data | exist | child | persistent
    path: str


@dataclass(frozen=True, slots=True)
class _Call:
    client_xid: int
    plan: Plan


class ZkService:
    """The ``--zk-listen`` TCP listener."""

    def __init__(
        self,
        runner: Runner,
        listen: str,
        frame_limit: int,
        tls: ssl.SSLContext | None = None,
        max_per_host: int = 60,
    ) -> None:
        self._runner = runner
        self._tls = tls
        self._listen = listen
        self._frame_limit = frame_limit
        self._max_per_host = max_per_host  # ZooKeeper's maxClientCnxns; 0: no limit
        self._per_host: Counter[str] = Counter()
        self._server: asyncio.Server | None = None
        self._conns: set[asyncio.Task] = set()
        self.address = ""

    async def start(self) -> str:
        host, _, port = self._listen.rpartition(":")
        self._server = await asyncio.start_server(
            self._accept, host.strip("[]"), int(port), reuse_address=True, ssl=self._tls
        )
        bound = self._server.sockets[0].getsockname()[1]
        self.address = f"{host}:{bound}"
        return self.address

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._conns):
            task.cancel()
        await asyncio.gather(*self._conns, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        peer = writer.get_extra_info("peername")
        host = str(peer[0]) if peer else "?"
        if self._max_per_host and self._per_host[host] >= self._max_per_host:
            log.warning("zk_connection_refused", host=host, reason="too many connections")
            writer.close()
            return
        self._per_host[host] += 1
        self._conns.add(task)
        try:
            await _Connection(self._runner, reader, writer, self._frame_limit).run()
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        except JuteError as exc:  # a malformed handshake or an oversized frame
            log.info("zk_connection_dropped", host=host, reason=str(exc)[:200])
        except TimeoutError:
            log.info("zk_connection_dropped", host=host, reason="no handshake in time")
        finally:
            self._conns.discard(task)
            self._per_host[host] -= 1
            if not self._per_host[host]:
                del self._per_host[host]
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


class _Connection:
    """One client TCP connection: handshake, then requests in and replies out."""

    def __init__(
        self,
        runner: Runner,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        frame_limit: int,
    ) -> None:
        self._runner = runner
        self._reader = reader
        self._writer = writer
        self._limit = frame_limit
        self._next_xid = 0
        self._pending: dict[int, _Call | _Probe] = {}

    # ---- framing ----------------------------------------------------------------

    async def _frame(self, head: bytes | None = None) -> bytes:
        head = head if head is not None else await self._reader.readexactly(4)
        size = int.from_bytes(head, "big", signed=True)
        if size < 0 or size > self._limit:
            raise JuteError(f"frame of {size} bytes (limit {self._limit})")
        return await self._reader.readexactly(size)

    # ---- the connection ---------------------------------------------------------

    async def run(self) -> None:
        async with asyncio.timeout(CONNECT_TIMEOUT_S):  # a silent socket is not kept
            head = await self._reader.readexactly(4)
            if head in fourletter.WORDS:
                self._writer.write(fourletter.answer(head, view_of(self._runner)))
                return
            r = Reader(await self._frame(head))
        _version, last_zxid, timeout_ms = r.int(), r.long(), r.int()
        session_id, password = r.long(), r.buffer() or b""
        conn = self._runner.open_stream()
        try:
            self._runner.connect(
                conn,
                pb.ConnectRequest(
                    session_id=session_id,
                    password=password,
                    timeout_ms=max(timeout_ms, 0),
                    last_zxid=last_zxid,
                ),
            )
            if not await self._handshake(conn):
                return
            reading = asyncio.create_task(self._read(conn))
            try:
                await self._write(conn)
            finally:
                reading.cancel()
                await asyncio.gather(reading, return_exceptions=True)
        finally:
            self._runner.close_stream(conn)

    async def _handshake(self, conn: StreamConn) -> bool:
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                msg = await conn.out.get()
        except TimeoutError:
            return False
        if msg is None:
            return False
        kind = msg.WhichOneof("kind")
        if kind == "connected":
            c = msg.connected
            self._next_xid = c.last_xid
            self._writer.write(replies.connected(c.timeout_ms, c.session_id, c.password))
            structlog.contextvars.bind_contextvars(session_id=hex(c.session_id))
            log.info("zk_session_connected", zxid=c.zxid)
            return True
        if kind == "ended" and msg.ended.error.code == pb.SESSION_EXPIRED:
            self._writer.write(replies.expired())
        else:
            log.info(
                "zk_connect_refused", reason=msg.ended.error.message if kind == "ended" else kind
            )
        return False

    async def _write(self, conn: StreamConn) -> None:
        """Turn what the runner queues into jute frames until the stream ends."""
        while (msg := await conn.out.get()) is not None:
            kind = msg.WhichOneof("kind")
            if kind == "response":
                for frame in self._answer(msg.response):
                    self._writer.write(frame)
            elif kind == "event":
                self._writer.write(replies.notification(msg.event))
            elif kind == "pong":
                self._writer.write(replies.header_only(Xid.PING, msg.pong.zxid))
            elif kind == "ended":
                log.info("zk_session_ended", reason=msg.ended.error.message)
                break
            if conn.out.empty():
                await self._writer.drain()
        await self._writer.drain()

    async def _read(self, conn: StreamConn) -> None:
        try:
            while not conn.closed:
                body = await self._frame()
                r = Reader(body)
                xid, op = r.int(), r.int()
                self._request(conn, xid, op, body[8:])
        except (ConnectionError, asyncio.IncompleteReadError, JuteError) as exc:
            if not isinstance(exc, asyncio.IncompleteReadError):
                log.info("zk_connection_dropped", reason=str(exc)[:200])
        conn.finish()

    # ---- requests ---------------------------------------------------------------

    def _request(self, conn: StreamConn, xid: int, op: int, body: bytes) -> None:
        zxid = self._runner.pipeline.last_applied_zxid
        if op == Op.PING:
            self._runner.ping(conn, 0)
            return
        if op == Op.AUTH:  # no auth schemes yet: say so rather than pretend
            self._writer.write(replies.header_only(xid, zxid, Err.AUTH_FAILED))
            return
        plan = decode(op, body)
        if isinstance(plan, SetWatches):
            self._set_watches(conn, xid, plan, zxid)
            return
        self._next_xid += 1
        ixid = self._next_xid
        self._pending[ixid] = _Call(xid, plan)
        if plan.request is None:
            log.info("zk_request_refused", op=op, err=plan.refuse.name, why=plan.why)
            conn.reply_local(ixid, zxid, BadArgumentsError(plan.why))
            return
        self._submit(conn, ixid, plan.request)

    def _submit(self, conn: StreamConn, ixid: int, req: pb.Request) -> None:
        req.xid = ixid
        try:
            op = codec.op_from_request(req)
        except CoordError as err:
            conn.reply_local(ixid, self._runner.pipeline.last_applied_zxid, err)
            return
        self._runner.request(conn, ixid, codec.request_field(req) or "", op)

    def _set_watches(self, conn: StreamConn, xid: int, sw: SetWatches, zxid: int) -> None:
        """Re-arm a reconnecting client's watches; fire those whose change it missed.

        Answered with the client's own xid: -8 from older clients, the next
        number of its sequence from ZooKeeper 3.6's Java client on.
        """
        probes = [
            *(("data", p) for p in sw.data),
            *(("exist", p) for p in sw.exist),
            *(("child", p) for p in sw.child),
            *(("persistent", p) for p in sw.persistent),
            *(("recursive", p) for p in sw.persistent_recursive),
        ]
        if not probes:
            self._writer.write(replies.header_only(xid, zxid))
            return
        restore = _Restore(xid, sw.relative_zxid, len(probes))
        for kind, path in probes:
            self._next_xid += 1
            self._pending[self._next_xid] = _Probe(restore, kind, path)
            self._submit(conn, self._next_xid, _probe_request(kind, path))

    # ---- replies ----------------------------------------------------------------

    def _answer(self, resp: pb.Response) -> list[bytes]:
        entry = self._pending.pop(resp.xid, None)
        if isinstance(entry, _Call):
            return [replies.reply(entry.client_xid, entry.plan, resp, entry.plan.refuse)]
        if isinstance(entry, _Probe):
            restore = entry.restore
            missed = _missed(entry.kind, resp, restore.relative_zxid)
            if missed is not None:
                event = pb.WatchEvent(type=missed, path=entry.path, zxid=resp.zxid)
                restore.frames.append(replies.notification(event))
            restore.left -= 1
            if restore.left == 0:
                return [*restore.frames, replies.header_only(restore.client_xid, resp.zxid)]
        return []


def _probe_request(kind: str, path: str) -> pb.Request:
    if kind == "data":
        return pb.Request(get_data=pb.GetDataRequest(path=path, watch=True, consistency=LOCAL))
    if kind == "exist":
        return pb.Request(exists=pb.ExistsRequest(path=path, watch=True, consistency=LOCAL))
    if kind == "child":
        req = pb.GetChildrenRequest(path=path, watch=True, consistency=LOCAL)
        return pb.Request(get_children=req)
    mode = pb.WATCH_MODE_PERSISTENT if kind == "persistent" else pb.WATCH_MODE_PERSISTENT_RECURSIVE
    return pb.Request(add_watch=pb.AddWatchRequest(path=path, mode=mode))


def _missed(kind: str, resp: pb.Response, relative_zxid: int) -> int | None:
    """The event a re-armed watch owes its client (ZooKeeper's setWatches rules), if any."""
    gone = resp.HasField("error") and resp.error.code == pb.NO_NODE
    if kind == "data":
        if gone:
            return pb.NODE_DELETED
        return pb.NODE_DATA_CHANGED if resp.get_data.stat.mzxid > relative_zxid else None
    if kind == "exist":
        return pb.NODE_CREATED if resp.exists.HasField("stat") else None
    if kind == "child":
        if gone:
            return pb.NODE_DELETED
        return pb.NODE_CHILDREN_CHANGED if resp.get_children.stat.pzxid > relative_zxid else None
    return None
