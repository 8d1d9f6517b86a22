"""Settings for the test suite: the real PostgreSQL and Redis, isolated from development data."""

import os
from pathlib import Path

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz")
os.environ.setdefault("JWT_SIGNING_KEY", "test-only-jwt-signing-key-0123456789-abcdefghijklmnop")
# Tests use their own Redis database so they never touch a running development queue.
os.environ.setdefault("REDIS_URL", os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/14"))

from mlservice.settings import *  # noqa: E402,F403
from mlservice.settings import BASE_DIR, STORAGES  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
MEDIA_ROOT = Path(os.environ.get("TEST_MEDIA_ROOT") or BASE_DIR / ".test-media")
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True
# Webhook tests deliver to receivers on 127.0.0.1; tests of the refusal turn this off.
WEBHOOKS_ALLOW_PRIVATE_ADDRESSES = True
