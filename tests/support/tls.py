"""TLS for tests: a throwaway CA's certificate for 127.0.0.1, and a client
context that trusts it (and checks host names)."""

from __future__ import annotations

import ssl
from pathlib import Path

import trustme


def cert_args(ca: trustme.CA, folder: Path) -> list[str]:
    """``--certfile``/``--keyfile`` of a new certificate for 127.0.0.1 by *ca*."""
    cert = ca.issue_cert("127.0.0.1")
    certfile, keyfile = folder / "cert.pem", folder / "key.pem"
    certfile.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    cert.private_key_pem.write_to_path(str(keyfile))
    return ["--certfile", str(certfile), "--keyfile", str(keyfile)]


def trusting(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context
