"""Network helpers of ``lightly-serve``: the TLS context and what counts as a local address."""

from __future__ import annotations

import ssl
from pathlib import Path

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "ip6-localhost"})


def make_ssl_context(cert: str | Path, key: str | Path | None) -> ssl.SSLContext:
    """A server TLS context (TLS 1.2+) from a PEM certificate and key.

    Args:
        cert: Certificate chain (PEM); may also hold the key.
        key: Private key (PEM), or ``None`` when ``cert`` holds it.

    Raises:
        ssl.SSLError, OSError: unreadable or mismatched files.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certfile=str(cert), keyfile=str(key) if key else None)
    return context


def is_local_host(host: str) -> bool:
    """Whether binding ``host`` keeps the server on this machine (loopback only)."""
    return host in LOCAL_HOSTS or host.startswith("127.")
