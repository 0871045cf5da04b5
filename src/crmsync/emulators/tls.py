"""A generated test certificate authority, so emulators can serve HTTPS that real clients trust."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True)
class TestCertificates:
    """Files on disk: the CA certificate clients trust, and the server's certificate chain and key."""

    ca_file: Path
    cert_file: Path
    key_file: Path


def generate_certificates(directory: Path | None = None) -> TestCertificates:
    """A fresh CA and a leaf for 127.0.0.1/localhost, written to `directory` (a new temp dir by default)."""
    target = directory or Path(tempfile.mkdtemp(prefix="crmsync-tls-"))
    target.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="crmsync emulator test CA")
    leaf = ca.issue_cert("127.0.0.1", "localhost", "::1")
    ca_file = target / "crmsync-test-ca.pem"
    cert_file = target / "emulator-cert.pem"
    key_file = target / "emulator-key.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    leaf.private_key_pem.write_to_path(str(key_file))
    cert_file.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    key_file.chmod(0o600)
    return TestCertificates(ca_file, cert_file, key_file)
