"""TLS for the client port and for peer links: PEM files in, gRPC credentials out.

The client port (``--tls-cert``/``--tls-key``, optionally ``--tls-client-ca``
to require client certificates) and the peer port (``--peer-tls-cert``,
``--peer-tls-key``, ``--peer-tls-ca``: always mutual, each member presents its
certificate and trusts only that CA) are configured separately. Files are read
once at start; a missing or unreadable one is a TlsConfigError naming the
flag and the file, so the server refuses to start instead of serving plaintext.
On a peer link the certificate also binds the member: a stream that says it
comes from member N must present a certificate naming N's host from --peers
(``names_host``), so one member's certificate cannot speak for another.
"""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import grpc

__all__ = [
    "TlsConfigError",
    "ServerTls",
    "PeerTls",
    "load_server_tls",
    "load_peer_tls",
    "names_host",
]


class TlsConfigError(ValueError):
    """TLS flags that are incomplete or name files that cannot be read."""


@dataclass(frozen=True, slots=True)
class ServerTls:
    """The client port's certificate and key, and the CA its clients must be signed by."""

    cert: bytes
    key: bytes
    client_ca: bytes | None = None
    # the same policy for plain TLS sockets (the ZooKeeper port)
    context: ssl.SSLContext | None = field(default=None, compare=False, repr=False)

    def credentials(self) -> grpc.ServerCredentials:
        return grpc.ssl_server_credentials(
            [(self.key, self.cert)],
            root_certificates=self.client_ca,
            require_client_auth=self.client_ca is not None,
        )


@dataclass(frozen=True, slots=True)
class PeerTls:
    """This member's certificate and key, and the CA every member is signed by."""

    cert: bytes
    key: bytes
    ca: bytes

    def server_credentials(self) -> grpc.ServerCredentials:
        return grpc.ssl_server_credentials(
            [(self.key, self.cert)], root_certificates=self.ca, require_client_auth=True
        )

    def channel_credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca, private_key=self.key, certificate_chain=self.cert
        )


def _read(flag: str, path: str) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise TlsConfigError(f"{flag} {path}: {exc.strerror or exc}") from None
    if b"-----BEGIN " not in data:
        raise TlsConfigError(f"{flag} {path}: not a PEM file")
    return data


def load_server_tls(cert: str, key: str, client_ca: str = "") -> ServerTls | None:
    """The client port's TLS from its flags; None when both cert and key are empty."""
    if not cert and not key:
        if client_ca:
            raise TlsConfigError("--tls-client-ca needs --tls-cert and --tls-key")
        return None
    if not cert or not key:
        raise TlsConfigError("--tls-cert and --tls-key go together")
    ca = _read("--tls-client-ca", client_ca) if client_ca else None
    return ServerTls(
        _read("--tls-cert", cert), _read("--tls-key", key), ca, _ssl_context(cert, key, ca)
    )


def _ssl_context(cert: str, key: str, client_ca: bytes | None) -> ssl.SSLContext:
    """An ssl server context with the client port's certificate and client-CA policy."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except (ssl.SSLError, OSError) as exc:
        raise TlsConfigError(f"--tls-cert {cert} with --tls-key {key}: {exc}") from None
    if client_ca is not None:
        try:
            context.load_verify_locations(cadata=client_ca.decode("ascii", errors="replace"))
        except ssl.SSLError as exc:
            raise TlsConfigError(f"--tls-client-ca: {exc}") from None
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def load_peer_tls(cert: str, key: str, ca: str) -> PeerTls | None:
    """Peer links' mutual TLS from its flags; None when all three are empty."""
    given = [flag for flag, v in (("cert", cert), ("key", key), ("ca", ca)) if v]
    if not given:
        return None
    if len(given) != 3:
        raise TlsConfigError("--peer-tls-cert, --peer-tls-key and --peer-tls-ca go together")
    return PeerTls(
        _read("--peer-tls-cert", cert), _read("--peer-tls-key", key), _read("--peer-tls-ca", ca)
    )


def _same_ip(a: str, b: str) -> bool:
    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b)
    except ValueError:
        return False


def names_host(names: Iterable[str], host: str) -> bool:
    """True when a certificate with these subject alternative names is valid for ``host``.

    An IP host matches an equal IP name; a DNS host matches case-insensitively,
    or a ``*.rest`` name when it is one label followed by ``.rest``.
    """
    host = host.strip("[]").rstrip(".").lower()
    for name in names:
        name = name.rstrip(".").lower()
        if name == host or _same_ip(name, host):
            return True
        if name.startswith("*.") and "." in host:
            label, _, rest = host.partition(".")
            if label and rest == name[2:]:
                return True
    return False
