"""TLS on a real server: the client port with --tls-*, peer links with --peer-tls-*.

Certificates come from tests/fakes/certs.py (a fresh CA per test). What a
user depends on: a TLS port speaks only TLS, --tls-client-ca admits only
clients holding a certificate from that CA, members with peer TLS form an
ensemble and a member whose certificate another CA signed does not join,
and bad TLS flags stop the server at start with a message naming the flag.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from certs import Pki, make_pki
from ensemble import Ensemble, _client, run
from test_grpcurl import GRPCURL_TIMEOUT_S, grpcurl_path

from coordsvc.v1 import admin_pb2 as apb
from coordsvc.v1 import admin_pb2_grpc as apb_grpc


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path / "pki")


def _creds(ca: Path, cert: Path | None = None, key: Path | None = None):
    return grpc.ssl_channel_credentials(
        root_certificates=ca.read_bytes(),
        private_key=key.read_bytes() if key else None,
        certificate_chain=cert.read_bytes() if cert else None,
    )


def _status(address: str, credentials=None) -> apb.StatusResponse:
    channel = (
        grpc.insecure_channel(address)
        if credentials is None
        else grpc.secure_channel(address, credentials)
    )
    with channel:
        return apb_grpc.AdminStub(channel).Status(apb.StatusRequest(), timeout=3)


def test_a_tls_client_port_speaks_only_tls(server_factory, pki: Pki) -> None:
    srv = server_factory(
        tls_cert=pki.server_cert, tls_key=pki.server_key, credentials=_creds(pki.ca)
    )
    assert _status(srv.address, _creds(pki.ca)).server_id == 1
    with pytest.raises(grpc.RpcError) as plain:
        _status(srv.address)
    assert plain.value.code() is grpc.StatusCode.UNAVAILABLE
    with pytest.raises(grpc.RpcError) as foreign:  # the server's certificate is not trusted
        _status(srv.address, _creds(pki.other_ca))
    assert foreign.value.code() is grpc.StatusCode.UNAVAILABLE


def test_tls_client_ca_admits_only_clients_with_a_certificate_from_it(
    server_factory, pki: Pki
) -> None:
    mutual = _creds(pki.ca, pki.client_cert, pki.client_key)
    srv = server_factory(
        tls_cert=pki.server_cert,
        tls_key=pki.server_key,
        tls_client_ca=pki.ca,
        credentials=mutual,
    )
    assert _status(srv.address, mutual).server_id == 1
    for refused in (
        _creds(pki.ca),  # no client certificate
        _creds(pki.ca, pki.other_cert, pki.other_key),  # one from another CA
    ):
        with pytest.raises(grpc.RpcError) as err:
            _status(srv.address, refused)
        assert err.value.code() is grpc.StatusCode.UNAVAILABLE


def test_grpcurl_reaches_a_mutual_tls_server_with_its_certificate(server_factory, pki: Pki) -> None:
    srv = server_factory(
        tls_cert=pki.server_cert,
        tls_key=pki.server_key,
        tls_client_ca=pki.ca,
        credentials=_creds(pki.ca, pki.client_cert, pki.client_key),
    )

    def grpcurl(*tls: str) -> subprocess.CompletedProcess:
        cmd = [grpcurl_path(), *tls, "-d", "{}", srv.address, "coordsvc.v1.Admin/Status"]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=GRPCURL_TIMEOUT_S)

    ok = grpcurl("-cacert", str(pki.ca), "-cert", str(pki.client_cert), "-key", str(pki.client_key))
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["role"] == "standalone"
    refused = grpcurl("-cacert", str(pki.ca))  # no client certificate
    assert refused.returncode != 0 and refused.stdout == ""


def _serve(tmp_path: Path, *flags: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "coordsvc", "serve", "--listen", "127.0.0.1:0"]
    cmd += ["--data-dir", str(tmp_path / "data"), *flags]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--tls-cert", "{cert}"), "--tls-cert and --tls-key go together"),
        (("--tls-client-ca", "{ca}"), "--tls-client-ca needs --tls-cert and --tls-key"),
        (("--tls-cert", "{missing}", "--tls-key", "{key}"), "--tls-cert {missing}: No such file"),
        (("--tls-cert", "{notpem}", "--tls-key", "{key}"), "not a PEM file"),
        (
            (
                "--peers",
                "1=127.0.0.1:2888",
                "--peer-listen",
                "127.0.0.1:0",
                "--peer-tls-cert",
                "{cert}",
            ),
            "--peer-tls-cert, --peer-tls-key and --peer-tls-ca go together",
        ),
        (
            ("--peer-tls-cert", "{cert}", "--peer-tls-key", "{key}", "--peer-tls-ca", "{ca}"),
            "need --peers",
        ),
    ],
    ids=["cert-alone", "ca-alone", "missing-file", "not-pem", "peer-partial", "peer-standalone"],
)
def test_bad_tls_flags_stop_the_server_at_start(tmp_path: Path, pki: Pki, flags, message) -> None:
    notpem = tmp_path / "notpem.crt"
    notpem.write_text("hello\n")
    names = {
        "cert": pki.server_cert,
        "key": pki.server_key,
        "ca": pki.ca,
        "missing": tmp_path / "missing.crt",
        "notpem": notpem,
    }
    got = _serve(tmp_path, *(f.format(**names) for f in flags))
    assert got.returncode == 2, got.stderr
    assert "coordsvc: cannot start:" in got.stderr
    assert message.format(**names) in got.stderr
    assert got.stdout == ""  # never listened
    assert not (tmp_path / "data").exists()  # nor touched the data directory


def _peer_flags(cert: Path, key: Path, ca: Path) -> tuple[str, ...]:
    return ("--peer-tls-cert", str(cert), "--peer-tls-key", str(key), "--peer-tls-ca", str(ca))


def test_members_with_peer_tls_replicate_and_a_foreign_member_does_not_join(
    tmp_path: Path, pki: Pki
) -> None:
    ens = Ensemble(tmp_path / "ens", 3)
    try:
        for nid in (1, 2):
            ens.nodes[nid].start(*_peer_flags(pki.server_cert, pki.server_key, pki.ca))
        # 3's certificate is signed by another CA (it trusts ours): 1 and 2 refuse it
        ens.nodes[3].start(*_peer_flags(pki.other_cert, pki.other_key, pki.ca))
        leader = ens.wait_leader(among=(1, 2))
        follower = ens.nodes[2 if leader.id == 1 else 1]

        async def write_through_follower() -> int:
            client = await _client([follower.address])
            try:
                await client.create("/over-tls", b"v")
                return (await client.exists("/over-tls")).mzxid
            finally:
                await client.stop()

        zxid = run(write_through_follower())
        assert _status(leader.address).last_zxid >= zxid
        # 3 never joins: watch it for a few heartbeats (an absence cannot be awaited)
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            st = ens.nodes[3].status()
            assert st is not None and st.role == "looking" and st.last_zxid < zxid, st
            time.sleep(0.1)  # poll interval of a bounded observation
    finally:
        ens.stop()
