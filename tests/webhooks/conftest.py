"""Webhook tests: a TLS certificate, quick retries; each test alone."""

import shutil
import ssl
import subprocess

import pytest

from mlservice.redis import redis_connection


@pytest.fixture
def certificate(tmp_path):
    """A self-signed certificate for the name `localhost`, trusted by this process's TLS
    clients (OpenSSL reads SSL_CERT_FILE when a client loads its default trust store)."""
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost"],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SSL_CERT_FILE", str(cert))
        yield context


@pytest.fixture(autouse=True)
def _fresh_queue():
    redis_connection().flushdb()


@pytest.fixture
def fast_retries(settings):
    """Retries due at once and short timeouts, so tests run them back to back."""
    settings.WEBHOOKS_BACKOFF_BASE_SECONDS = 0
    settings.WEBHOOKS_CONNECT_TIMEOUT_SECONDS = 1
    settings.WEBHOOKS_READ_TIMEOUT_SECONDS = 0.5
    settings.WEBHOOKS_LEASE_GRACE_SECONDS = 0
    return settings


@pytest.fixture(autouse=True)
def _own_media_folder(media_root):
    """Each test stores its artifacts in a folder of its own."""
