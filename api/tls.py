"""TLS for every berth server (`--tls-cert` / `--tls-key`) and for the clients of the
master (`--master-ca`, or the server's own certificate pinned inside `berth up`)."""

from __future__ import annotations

import ssl
from pathlib import Path


class TlsError(ValueError):
    """A certificate or key that cannot be used; says which file and why."""


def server_context(cert: str | Path, key: str | Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(str(cert), str(key))
    except FileNotFoundError as exc:
        raise TlsError(f"--tls-cert/--tls-key: {exc.filename}: no such file") from None
    except ssl.SSLError as exc:
        raise TlsError(f"--tls-cert/--tls-key: {cert} and {key} are not a certificate and "
                       f"its private key in PEM ({exc.reason or exc})") from None
    return context


def client_context(ca_file: str | Path) -> ssl.SSLContext:
    """Trust the CA (or self-signed certificate) in `ca_file`, hostname checked."""
    try:
        return ssl.create_default_context(cafile=str(ca_file))
    except (FileNotFoundError, ssl.SSLError) as exc:
        raise TlsError(f"--master-ca: {ca_file}: not a PEM certificate ({exc})") from None


def pinned_context(cert: str | Path) -> ssl.SSLContext:
    """Trust exactly this certificate, whoever issued it and whatever names it holds: for
    the roles of one process reaching each other on loopback."""
    context = client_context(cert)
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    context.check_hostname = False
    return context
