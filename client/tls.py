"""TLS for the SDK's channels: kazoo's ``use_ssl/ca/certfile/keyfile`` in, gRPC channels out.

The PEM files are read once, when the client is made, into a frozen
``ClientTls``; every channel the SDK opens (session streams, watch streams)
comes from ``open_channel`` with it. Unlike kazoo, giving ``ca``, ``certfile``
or ``keyfile`` without ``use_ssl=True`` is an error, so a forgotten flag never
means a silently plaintext connection.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

__all__ = ["ClientTls", "load_client_tls", "open_channel"]

StrPath = str | os.PathLike[str]


@dataclass(frozen=True, slots=True)
class ClientTls:
    """The CA to trust (None: the system roots) and the client's own certificate and key."""

    ca: bytes | None = None
    cert: bytes | None = None
    key: bytes | None = field(default=None, repr=False)

    def credentials(self) -> grpc.ChannelCredentials:
        """gRPC channel credentials for these PEM bytes."""
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca, private_key=self.key, certificate_chain=self.cert
        )


def _read(name: str, path: StrPath, marker: bytes) -> bytes:
    """The bytes of the PEM file ``path`` given as ``name``; a clear error naming both."""
    shown = os.fspath(path)
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"{name} {shown}: no such file") from None
    except OSError as exc:
        raise ValueError(f"{name} {shown}: cannot read it: {exc.strerror or exc}") from None
    if b"-----BEGIN " not in data or marker not in data:
        raise ValueError(f"{name} {shown}: not a PEM file with a {marker.decode()}")
    return data


def load_client_tls(
    use_ssl: bool,
    ca: StrPath | None = None,
    certfile: StrPath | None = None,
    keyfile: StrPath | None = None,
    *,
    names: tuple[str, str, str] = ("ca", "certfile", "keyfile"),
) -> ClientTls | None:
    """The TLS settings read from their files; None for plaintext (``use_ssl`` false).

    ``names`` are what error messages call the three files (coordctl passes
    its flags). Raises FileNotFoundError for a missing file and ValueError for
    an unreadable or non-PEM one, a certificate without its key (or the
    reverse), or any file given without ``use_ssl``.
    """
    ca_name, cert_name, key_name = names
    if not use_ssl:
        given = [n for n, v in zip(names, (ca, certfile, keyfile), strict=True) if v]
        if given:
            raise ValueError(f"{' and '.join(given)} given without use_ssl=True")
        return None
    if bool(certfile) != bool(keyfile):
        have, missing = (cert_name, key_name) if certfile else (key_name, cert_name)
        raise ValueError(f"{have} needs {missing} too (mutual TLS takes both)")
    return ClientTls(
        ca=_read(ca_name, ca, b"CERTIFICATE") if ca else None,
        cert=_read(cert_name, certfile, b"CERTIFICATE") if certfile else None,
        key=_read(key_name, keyfile, b"PRIVATE KEY") if keyfile else None,
    )


def open_channel(
    address: str, tls: ClientTls | None, options: Sequence[tuple[str, Any]] | None = None
) -> grpc.aio.Channel:
    """A grpc.aio channel to ``address``: over TLS when ``tls`` is given, else plaintext."""
    if tls is None:
        return grpc.aio.insecure_channel(address, options=options)
    return grpc.aio.secure_channel(address, tls.credentials(), options=options)
