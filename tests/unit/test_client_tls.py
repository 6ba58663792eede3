"""The SDK's TLS settings: files read once at construction, and clear errors for bad ones."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from certs import Pki, make_pki
from coordsvc.client import AsyncClient, Client
from coordsvc.client.tls import ClientTls, load_client_tls


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def test_plaintext_by_default() -> None:
    assert load_client_tls(False) is None


def test_use_ssl_alone_trusts_the_system_roots() -> None:
    assert load_client_tls(True) == ClientTls(ca=None, cert=None, key=None)


def test_the_files_are_read_once_into_bytes(pki: Pki) -> None:
    tls = load_client_tls(True, pki.ca, str(pki.client_cert), pki.client_key)
    assert tls == ClientTls(
        pki.ca.read_bytes(), pki.client_cert.read_bytes(), pki.client_key.read_bytes()
    )
    assert "PRIVATE KEY" not in repr(tls)  # never printed by accident


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"ca": "ca.pem"}, "ca given without use_ssl=True"),
        ({"certfile": "c.pem", "keyfile": "k.pem"}, "certfile and keyfile given without use_ssl"),
    ],
)
def test_files_without_use_ssl_are_an_error_not_plaintext(kwargs: dict, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        load_client_tls(False, **kwargs)


def test_a_certificate_needs_its_key_and_the_reverse(pki: Pki) -> None:
    with pytest.raises(ValueError, match="certfile needs keyfile"):
        load_client_tls(True, pki.ca, certfile=pki.client_cert)
    with pytest.raises(ValueError, match="keyfile needs certfile"):
        load_client_tls(True, pki.ca, keyfile=pki.client_key)


def test_a_missing_file_names_the_parameter_and_the_file(tmp_path: Path, pki: Pki) -> None:
    missing = tmp_path / "nope.pem"
    with pytest.raises(FileNotFoundError, match=f"^ca {missing}: no such file$"):
        load_client_tls(True, missing)
    with pytest.raises(FileNotFoundError, match=f"^keyfile {missing}: no such file$"):
        load_client_tls(True, pki.ca, pki.client_cert, missing)


def test_an_unreadable_file_names_the_parameter(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=f"^ca {tmp_path}: cannot read it: "):
        load_client_tls(True, tmp_path)  # a directory


def test_a_file_that_is_not_pem_is_refused(tmp_path: Path, pki: Pki) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(ValueError, match=f"^ca {junk}: not a PEM file with a CERTIFICATE$"):
        load_client_tls(True, junk)
    with pytest.raises(ValueError, match="^keyfile .*: not a PEM file with a PRIVATE KEY$"):
        load_client_tls(True, None, pki.client_cert, pki.client_cert)  # a cert, not a key


def test_error_messages_use_the_callers_names(tmp_path: Path) -> None:
    names = ("--cacert", "--cert", "--key")
    with pytest.raises(FileNotFoundError, match=f"^--cacert {tmp_path}/x: no such file$"):
        load_client_tls(True, tmp_path / "x", names=names)
    with pytest.raises(ValueError, match="^--cert needs --key"):
        load_client_tls(True, certfile="c.pem", names=names)


def test_the_clients_check_their_arguments_when_made(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="^ca "):
        AsyncClient("127.0.0.1:2181", use_ssl=True, ca=tmp_path / "x")
    threads = threading.active_count()
    with pytest.raises(ValueError, match="without use_ssl"):
        Client("127.0.0.1:2181", ca=tmp_path / "x")
    assert threading.active_count() == threads  # nothing left running
