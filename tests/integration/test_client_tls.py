"""The SDK and coordctl against a real server whose client port speaks only TLS.

Certificates come from tests/fakes/certs.py (a fresh CA per test). What a
user depends on: with ``use_ssl=True, ca=...`` (coordctl: ``--cacert``) every
channel the client opens (session stream, watch stream, Admin calls) is TLS;
with ``certfile``/``keyfile`` (``--cert``/``--key``) a server that requires
client certificates admits it; an untrusted server, a plaintext client or a
missing client certificate is a clear error within the timeout, never a hang.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from certs import Pki, make_pki
from coordsvc.client import AsyncClient, Client, SessionState
from coordsvc.client.connection import Connection
from coordsvc.client.errors import ConnectionLoss, OperationTimeoutError
from coordsvc.client.tls import load_client_tls

from coordsvc.v1 import coordination_pb2 as pb

START_TIMEOUT_S = 2.0
SLACK_S = 3.0  # closing channels and the last try may end a little after the timeout


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path / "pki")


def _creds(pki: Pki, mutual: bool = False) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(
        root_certificates=pki.ca.read_bytes(),
        private_key=pki.client_key.read_bytes() if mutual else None,
        certificate_chain=pki.client_cert.read_bytes() if mutual else None,
    )


@pytest.fixture
def tls_server(server_factory, pki: Pki):
    """A server whose client port is TLS only."""
    return server_factory(
        tick_ms=200, tls_cert=pki.server_cert, tls_key=pki.server_key, credentials=_creds(pki)
    )


@pytest.fixture
def mtls_server(server_factory, pki: Pki):
    """A server that also requires a client certificate signed by the test CA."""
    return server_factory(
        tick_ms=200,
        tls_cert=pki.server_cert,
        tls_key=pki.server_key,
        tls_client_ca=pki.ca,
        credentials=_creds(pki, mutual=True),
    )


async def _refused(address: str, **tls: object) -> OperationTimeoutError:
    """Start a client that must not get in; the error, raised within the timeout."""
    client = AsyncClient(address, session_timeout=4.0, connect_timeout=1.0, **tls)
    began = time.monotonic()
    with pytest.raises(OperationTimeoutError) as err:
        await client.start(timeout=START_TIMEOUT_S)
    assert time.monotonic() - began < START_TIMEOUT_S + SLACK_S
    assert client.session_state is SessionState.CLOSED
    assert address in str(err.value)  # which server, and grpc's reason after it
    return err.value


# ---- the SDK ------------------------------------------------------------------


async def test_create_and_get_over_tls(tls_server, pki: Pki) -> None:
    async with AsyncClient(tls_server.address, session_timeout=4.0, use_ssl=True, ca=pki.ca) as c:
        assert await c.create("/tls", b"secret") == "/tls"
        data, stat = await c.get("/tls")
    assert data == b"secret" and stat.version == 0


async def test_a_client_trusting_another_ca_cannot_connect(tls_server, pki: Pki) -> None:
    err = await _refused(tls_server.address, use_ssl=True, ca=pki.other_ca)
    assert "CERTIFICATE_VERIFY_FAILED" in str(err), err


async def test_each_refused_try_is_a_connection_loss_naming_the_server(tls_server, pki) -> None:
    conn = Connection(tls_server.address, load_client_tls(True, pki.other_ca))
    with pytest.raises(ConnectionLoss) as err:
        await conn.open(pb.ConnectRequest(timeout_ms=4000), timeout=START_TIMEOUT_S)
    assert str(err.value).startswith(f"{tls_server.address}: UNAVAILABLE: "), err.value
    assert "handshake" in str(err.value).lower(), err.value


async def test_a_plaintext_client_cannot_talk_to_a_tls_server(tls_server) -> None:
    await _refused(tls_server.address)


async def test_a_tls_client_cannot_talk_to_a_plaintext_server(server, pki: Pki) -> None:
    await _refused(server.address, use_ssl=True, ca=pki.ca)


async def test_mutual_tls_admits_only_a_client_with_a_certificate(mtls_server, pki: Pki) -> None:
    await _refused(mtls_server.address, use_ssl=True, ca=pki.ca)
    await _refused(
        mtls_server.address,
        use_ssl=True,
        ca=pki.ca,
        certfile=pki.other_cert,  # signed by a CA the server does not trust
        keyfile=pki.other_key,
    )
    async with AsyncClient(
        mtls_server.address,
        session_timeout=4.0,
        use_ssl=True,
        ca=pki.ca,
        certfile=pki.client_cert,
        keyfile=pki.client_key,
    ) as client:
        await client.create("/m", b"1")
        stream = client.watch_stream("/m", recursive=False)  # its own channel: mutual TLS too
        async with stream:
            await client.set("/m", b"2")
            event = await asyncio.wait_for(anext(stream), 10)
    assert (event.type, event.path) == ("CHANGED", "/m")


async def test_watches_and_the_watch_stream_over_tls(tls_server, pki: Pki) -> None:
    async with AsyncClient(tls_server.address, session_timeout=4.0, use_ssl=True, ca=pki.ca) as c:
        await c.create("/w")
        fired: asyncio.Queue = asyncio.Queue()
        await c.get_children("/w", watch=fired.put_nowait)
        stream = c.watch_stream("/w", recursive=True)
        async with stream:
            await c.create("/w/a", b"x")
            got = [await asyncio.wait_for(anext(stream), 10) for _ in range(2)]
        one_shot = fired.get_nowait()  # ran before create() returned
    assert [(e.type.value, e.path) for e in got] == [("CREATED", "/w/a"), ("CHILD", "/w")]
    assert (one_shot.type.value, one_shot.path) == ("CHILD", "/w")


def test_the_sync_client_over_tls(mtls_server, pki: Pki) -> None:
    with Client(
        mtls_server.address,
        session_timeout=4.0,
        use_ssl=True,
        ca=str(pki.ca),
        certfile=str(pki.client_cert),
        keyfile=str(pki.client_key),
    ) as client:
        client.create("/s", b"v")
        assert client.get("/s")[0] == b"v"
        stream = client.watch_stream("/s", recursive=False)
        client.set("/s", b"w")
        assert stream.next(timeout=10).path == "/s"
        stream.close()


# ---- coordctl -----------------------------------------------------------------


def coordctl(address: str, *args: str, env: dict[str, str] | None = None):
    return subprocess.run(
        [sys.executable, "-m", "coordsvc.cli.coordctl", "--servers", address, *args],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **(env or {})},
    )


def test_coordctl_with_cacert(tls_server, pki: Pki) -> None:
    tls = ("--cacert", str(pki.ca))
    assert coordctl(tls_server.address, *tls, "create", "/c", "hi").returncode == 0
    got = coordctl(tls_server.address, *tls, "get", "/c")
    assert (got.returncode, got.stdout) == (0, "hi\n"), got.stderr
    status = coordctl(tls_server.address, *tls, "status")
    assert status.returncode == 0, status.stderr
    assert "role = standalone" in status.stdout


def test_coordctl_reads_the_ca_from_the_environment(tls_server, pki: Pki) -> None:
    got = coordctl(tls_server.address, "ls", "/", env={"COORDSVC_CACERT": str(pki.ca)})
    assert got.returncode == 0, got.stderr


def test_coordctl_with_a_client_certificate(mtls_server, pki: Pki) -> None:
    tls = ("--cacert", str(pki.ca), "--cert", str(pki.client_cert), "--key", str(pki.client_key))
    assert coordctl(mtls_server.address, *tls, "create", "/c", "hi").returncode == 0
    got = coordctl(mtls_server.address, *tls, "get", "/c")
    assert (got.returncode, got.stdout) == (0, "hi\n"), got.stderr
    status = coordctl(mtls_server.address, *tls, "status")
    assert status.returncode == 0 and "role = standalone" in status.stdout, status.stderr
    lock = coordctl(mtls_server.address, *tls, "lock", "/l", "--", sys.executable, "-c", "0")
    assert lock.returncode == 0, lock.stderr


@pytest.mark.parametrize("command", ["get", "status"])
def test_coordctl_without_the_certificates_it_needs_exits_3(mtls_server, pki, command) -> None:
    args = ["--timeout", "1", command] + (["/"] if command == "get" else [])
    got = coordctl(mtls_server.address, "--cacert", str(pki.ca), *args)
    assert got.returncode == 3, got.stderr
    assert got.stderr.startswith("coordctl: ") and got.stderr.count("\n") == 1, got.stderr


def test_coordctl_with_a_missing_cacert_file_says_so(tls_server, tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    for command in (["get", "/"], ["status"]):
        got = coordctl(tls_server.address, "--cacert", str(missing), *command)
        assert got.returncode == 2
        assert got.stderr == f"coordctl: --cacert {missing}: no such file\n"
        assert got.stdout == ""


def test_coordctl_with_a_cert_but_no_key_says_so(tls_server, pki: Pki) -> None:
    got = coordctl(tls_server.address, "--cert", str(pki.client_cert), "get", "/")
    assert got.returncode == 2
    assert got.stderr == "coordctl: --cert needs --key too (mutual TLS takes both)\n"
