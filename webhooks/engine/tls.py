"""TLS material of a webhook: a private CA bundle, a client certificate and its key.

Checked when an Administrator saves them (models), turned into the ssl context an attempt uses (http.py).
The key is handed to OpenSSL through an anonymous in-memory file, never written to disk.
"""

import os
import ssl
import tempfile
from datetime import UTC, datetime

from cryptography import x509
from django.utils.translation import gettext as _


def _load_client_pair(context: ssl.SSLContext, certificate: str, key: str) -> None:
    # ssl loads a key only from a file: an anonymous in-memory one where Linux has it, so the decrypted
    # key never touches a disk; elsewhere a private temporary file, removed at once.
    pem = f"{certificate.strip()}\n{key.strip()}\n".encode()
    no_passphrase = lambda: b""  # noqa: E731 - an encrypted key fails clearly instead of prompting
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("webhookhub-client-pair", os.MFD_CLOEXEC)
        try:
            os.write(fd, pem)
            context.load_cert_chain(f"/proc/self/fd/{fd}", password=no_passphrase)
        finally:
            os.close(fd)
        return
    with tempfile.NamedTemporaryFile(suffix=".pem") as file:
        file.write(pem)
        file.flush()
        context.load_cert_chain(file.name, password=no_passphrase)


def tls_context(*, verify: bool, ca_bundle: str = "", certificate: str = "", key: str = "") -> ssl.SSLContext | bool:
    """What aiohttp's `ssl=` gets: True or False (its default context, or none) unless a CA or a client pair is set."""
    if not ca_bundle and not certificate:
        return verify
    # A private CA replaces the public ones: the receiver must be signed by it.
    context = ssl.create_default_context(cadata=ca_bundle if verify and ca_bundle else None)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if certificate:
        _load_client_pair(context, certificate, key)
    return context


def ca_bundle_problem(bundle: str) -> str:
    """Why `bundle` is not a usable PEM bundle of CA certificates; '' when it is."""
    if "-----BEGIN CERTIFICATE-----" not in (bundle or ""):
        return _("Paste PEM certificates (-----BEGIN CERTIFICATE----- …).")
    try:
        certificates = x509.load_pem_x509_certificates(bundle.encode())
        ssl.create_default_context(cadata=bundle)
    except (ValueError, ssl.SSLError) as exc:
        return _("These certificates cannot be read: %(reason)s") % {"reason": exc}
    if not certificates:
        return _("Paste PEM certificates (-----BEGIN CERTIFICATE----- …).")
    return ""


def client_pair_problem(certificate: str, key: str) -> tuple[str, datetime | None]:
    """Why a client certificate and key cannot be used ('' when they can), and when the certificate expires."""
    try:
        leaf = x509.load_pem_x509_certificates(certificate.encode())[0]
    except (ValueError, IndexError):
        return _("The client certificate is not a PEM certificate (-----BEGIN CERTIFICATE----- …)."), None
    expires_at = leaf.not_valid_after_utc
    if expires_at <= datetime.now(UTC):
        return _("This certificate expired on %(date)s.") % {"date": expires_at.date().isoformat()}, expires_at
    try:
        _load_client_pair(ssl.create_default_context(), certificate, key)
    except (ssl.SSLError, OSError) as exc:
        reason = str(exc)
        if "KEY_VALUES_MISMATCH" in reason:
            return _("The key does not belong to this certificate."), expires_at
        return _("The key cannot be read (a PEM private key without a passphrase is needed): %(reason)s") % {
            "reason": reason
        }, expires_at
    return "", expires_at
