"""Throwaway TLS material for tests: a CA and certificates it signs, as PEM files.

``make_pki(dir)`` writes a CA, a server certificate valid for 127.0.0.1 and
localhost (usable as a client certificate too, as peers present one to each
other), a client certificate and a second, unrelated CA, and returns their
paths; ``issue(pki, name, *hosts)`` signs one more certificate with the CA
for other names (e.g. a member on 127.0.0.2). Keys are EC P-256: quick to
make, accepted by gRPC's TLS.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["Pki", "make_pki", "issue"]


@dataclass(frozen=True)
class Pki:
    ca: Path  # the CA's certificate (what both sides trust)
    ca_key: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path  # a CA that signed nothing here: trusting it alone trusts no one
    other_cert: Path  # a certificate from other_ca (same names as server_cert)
    other_key: Path


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def _ca(common: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common))
        .issuer_name(_name(common))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _san(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def _leaf(
    common: str,
    ca: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    hosts: tuple[str, ...] = ("localhost", "127.0.0.1"),
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    sans = x509.SubjectAlternativeName([_san(h) for h in hosts])
    usage = x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(sans, critical=False)
        .add_extension(usage, critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


def make_pki(root: Path) -> Pki:
    """Write a fresh CA, server, client and foreign-CA material under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    pem = serialization.Encoding.PEM
    ca, ca_key = _ca("coordsvc test CA")
    other, other_key = _ca("some other CA")
    files = {}
    for name, (cert, key) in {
        "server": _leaf("coordsvc server", ca, ca_key),
        "client": _leaf("coordsvc client", ca, ca_key),
        "other": _leaf("coordsvc server", other, other_key),
    }.items():
        files[name] = (root / f"{name}.crt", root / f"{name}.key")
        files[name][0].write_bytes(cert.public_bytes(pem))
        _write_key(key, files[name][1])
    (root / "ca.crt").write_bytes(ca.public_bytes(pem))
    _write_key(ca_key, root / "ca.key")
    (root / "other-ca.crt").write_bytes(other.public_bytes(pem))
    return Pki(
        ca=root / "ca.crt",
        ca_key=root / "ca.key",
        server_cert=files["server"][0],
        server_key=files["server"][1],
        client_cert=files["client"][0],
        client_key=files["client"][1],
        other_ca=root / "other-ca.crt",
        other_cert=files["other"][0],
        other_key=files["other"][1],
    )


def issue(pki: Pki, name: str, *hosts: str) -> tuple[Path, Path]:
    """(cert, key) files for ``hosts``, signed by ``pki``'s CA, beside its other files."""
    ca = x509.load_pem_x509_certificate(pki.ca.read_bytes())
    ca_key = serialization.load_pem_private_key(pki.ca_key.read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    cert, key = _leaf(name, ca, ca_key, hosts)
    cert_path, key_path = pki.ca.parent / f"{name}.crt", pki.ca.parent / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key, key_path)
    return cert_path, key_path
