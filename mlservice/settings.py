"""Settings for mlservice, read from the environment (and an optional `.env` file).

Every variable is documented in `.env.example`. Production needs `SECRET_KEY`; development may
set `DEBUG=true` and get a throwaway key.
"""

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
_GENERATE = "python3 -c 'import secrets; print(secrets.token_urlsafe(50))'"


def required_secret(name: str, where: str, development_value: str) -> str:
    """The secret `name` from the environment; production refuses to start without it, and only
    DEBUG=true runs with a throwaway development value."""
    value = env.str(name, default="")
    if value:
        return value
    if not DEBUG:
        raise ImproperlyConfigured(
            f"{name} is not set. Set it in the environment or in .env{where}; generate one with: "
            f"{_GENERATE}. Only DEBUG=true runs without it."
        )
    return development_value


SECRET_KEY = required_secret(
    "SECRET_KEY", " (see .env.example)", "insecure-development-only-key-do-not-use-in-production"
)

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = [o for o in env.list("CSRF_TRUSTED_ORIGINS", default=[]) if o]

INSTALLED_APPS = [
    # Before the admin, so that its admin/index.html (the dashboard link) wins over the admin's.
    "ops",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_rq",
    "corsheaders",
    "django_prometheus",
    "mlservice",
    "accounts",
    "registry",
    "predictions",
    "billing",
    "inference",
    "webhooks",
    "evidence",
    "rollout",
]

MIDDLEWARE = [
    "mlservice.logs.RequestIdMiddleware",
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "mlservice.errors.ApiErrorMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "mlservice.urls"
WSGI_APPLICATION = "mlservice.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Data stores -------------------------------------------------------------------------------
DATABASE_URL = env.str("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/mlservice")
DATABASES = {"default": env.db_url_config(DATABASE_URL)}
# Persistent connections: the submit path must not pay a TCP + auth handshake per request.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # The same backend, with a health check that polls the socket instead of a SELECT 1.
    DATABASES["default"]["ENGINE"] = "mlservice.db"
DATABASES["default"].setdefault("OPTIONS", {})
DATABASES["default"]["OPTIONS"].setdefault("connect_timeout", env.int("DB_CONNECT_TIMEOUT", 5))
# Server-side prepared statements for the hand-written hot-path statements (mlservice/rawsql.py;
# the ORM's client-side-binding cursors never prepare): PostgreSQL plans the version lookup in
# more time than it runs it. "off" for a pooler that cannot keep them (PgBouncer < 1.21 in
# transaction mode).
_prepare = env.str("DB_PREPARE_THRESHOLD", default="5")
DATABASES["default"]["OPTIONS"]["prepare_threshold"] = None if _prepare == "off" else int(_prepare)

REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "mlservice",
        "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
    }
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default="") or BASE_DIR / "media")
MEDIA_URL = "media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- HTTPS and cookies (on in production; see .env.example) ----------------------------------
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=SECURE_SSL_REDIRECT)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=SECURE_SSL_REDIRECT)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
if env.bool("BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True

# Request bodies: JSON bodies are bounded here (refused on their Content-Length, unread);
# uploads are multipart and streamed to disk past 2.5 MB. 4 MiB holds PREDICTION_MAX_ROWS rows
# of a typical model several times over; bigger batches go as CSV uploads.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=4 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

# --- REST API ----------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "billing.authentication.UsageLimitsJWTAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["mlservice.renderers.JSONRenderer"],
    # JSON only: the views that take a file upload declare multipart themselves, so the schema
    # offers each operation exactly the bodies it accepts.
    "DEFAULT_PARSER_CLASSES": ["mlservice.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "mlservice.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_SCHEMA_CLASS": "mlservice.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "mlservice.errors.exception_handler",
    "DEFAULT_THROTTLE_RATES": {
        "login_ip_username": env.str("LOGIN_RATE_PER_IP_AND_USERNAME", default="10/min"),
        "login_ip": env.str("LOGIN_RATE_PER_IP", default="30/min"),
        # The ceiling per account from all addresses: above what one address may send (the pair
        # rate), so no single attacker locks the owner out; 7+ addresses are needed to reach it.
        "login_username": env.str("LOGIN_RATE_PER_USERNAME", default="60/min"),
        "register": env.str("REGISTER_RATE_PER_IP", default="20/hour"),
    },
    # Trust X-Forwarded-For only through this many proxies; 0 means the client address is
    # REMOTE_ADDR, so a spoofed header cannot dodge the login throttle.
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    # `?format=csv|json` is ours (result downloads), not DRF content negotiation.
    "URL_FORMAT_OVERRIDE": None,
}

# Tokens are signed with their own key, never SECRET_KEY: rotating it logs everyone out and
# nothing else; production refuses to start without it.
JWT_SIGNING_KEY = required_secret(
    "JWT_SIGNING_KEY",
    ", to a value other than SECRET_KEY",
    "insecure-development-only-jwt-key-do-not-use-in-production",
)
if JWT_SIGNING_KEY == SECRET_KEY:
    raise ImproperlyConfigured("JWT_SIGNING_KEY must differ from SECRET_KEY.")

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(seconds=env.int("JWT_ACCESS_LIFETIME_SECONDS", 300)),
    "REFRESH_TOKEN_LIFETIME": timedelta(seconds=env.int("JWT_REFRESH_LIFETIME_SECONDS", 86400)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    "ALGORITHM": "HS256",
    # A separate key lets operators rotate tokens without touching sessions and signed data.
    "SIGNING_KEY": JWT_SIGNING_KEY,
    "AUTH_HEADER_TYPES": ("Bearer",),
    "LEEWAY": 0,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "mlservice API",
    "DESCRIPTION": (
        "Serve ML predictions: register models, submit predictions, read results. "
        'Every error has the shape {"error": {"code", "message", "fields"?, ...}} '
        "(the `Error` schema), on every status each operation lists. "
        "Authenticate with `Authorization: Bearer <access token>` from /api/v1/auth/token/."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "mlservice.openapi.postprocess",
    ],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"persistAuthorization": True},
    # Both predictions and webhook deliveries have a `status`; each gets its own enum name.
    "ENUM_NAME_OVERRIDES": {
        "StatusEnum": "predictions.models.Status",
        "DeliveryStatusEnum": "webhooks.models.DeliveryStatus",
        "SourceEnum": "predictions.models.Prediction.Source",
        "ReferenceSourceEnum": "evidence.models.ReferenceProfile.Source",
    },
}

# --- Background jobs (django-rq) ---------------------------------------------------------------
RQ_QUEUES = {
    "default": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 360},
    "predictions": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 360},
}
RQ_SHOW_ADMIN_LINK = True

# --- Logging -----------------------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.request": {"level": "ERROR"},
        "rq.worker": {"level": env.str("RQ_LOG_LEVEL", default="WARNING")},
    },
}

# --- Registry ----------------------------------------------------------------------------------
MODEL_MAX_UPLOAD_BYTES = env.int("MODEL_MAX_UPLOAD_BYTES", default=200 * 1024 * 1024)
# An uploaded archive (skops) is refused before a member is read past these, since a few
# hundred kilobytes can inflate to gigabytes: by default it may unpack to no more than the
# largest file accepted.
MODEL_MAX_ARCHIVE_MEMBERS = env.int("MODEL_MAX_ARCHIVE_MEMBERS", default=50_000)
MODEL_MAX_UNPACKED_BYTES = env.int("MODEL_MAX_UNPACKED_BYTES", default=MODEL_MAX_UPLOAD_BYTES)
# Pickle (joblib) uploads run code when loaded: off unless turned on. When on, only staff may
# upload one, with its sha256, and it is loaded for validation in a separate process (as
# `nobody` if the server runs as root) with this much time and memory.
ALLOW_PICKLE_UPLOADS = env.bool("ALLOW_PICKLE_UPLOADS", default=False)
PICKLE_VALIDATION_TIMEOUT_SECONDS = env.float("PICKLE_VALIDATION_TIMEOUT_SECONDS", default=60.0)
PICKLE_VALIDATION_MEMORY_BYTES = env.int(
    "PICKLE_VALIDATION_MEMORY_BYTES", default=2 * 1024 * 1024 * 1024
)

# --- Predictions -------------------------------------------------------------------------------
RQ = {"WORKER_CLASS": "predictions.worker.PredictionWorker"}
PREDICTION_MAX_ROWS = env.int("PREDICTION_MAX_ROWS", default=10_000)  # rows per JSON request
PREDICTION_CSV_MAX_ROWS = env.int("PREDICTION_CSV_MAX_ROWS", default=1_000_000)
PREDICTION_CSV_MAX_BYTES = env.int("PREDICTION_CSV_MAX_BYTES", default=100 * 1024 * 1024)
# The longest line of an uploaded CSV (a version with many features may have longer ones: 128
# bytes per feature): a file is refused at its first longer line, before it is parsed.
PREDICTION_CSV_MAX_LINE_BYTES = env.int("PREDICTION_CSV_MAX_LINE_BYTES", default=128 * 1024)
# Batches are stored and run in chunks of this many rows; progress moves chunk by chunk.
PREDICTION_CHUNK_ROWS = env.int("PREDICTION_CHUNK_ROWS", default=10_000)
# Batches up to this size show their inputs and outputs inline; larger ones via /result/.
PREDICTION_INLINE_ROWS = env.int("PREDICTION_INLINE_ROWS", default=10_000)
PREDICTION_MAX_ATTEMPTS = env.int("PREDICTION_MAX_ATTEMPTS", default=3)
# A running prediction's lease is its version's timeout plus this; past it, a worker is presumed
# dead and the reconciler re-runs (or fails) the prediction.
PREDICTION_LEASE_GRACE_SECONDS = env.int("PREDICTION_LEASE_GRACE_SECONDS", default=30)
PREDICTION_MAX_WAIT_SECONDS = 30
RECONCILE_INTERVAL_SECONDS = env.int("RECONCILE_INTERVAL_SECONDS", default=30)
# Pending rows younger than this may still be on their way to the queue; leave them alone.
RECONCILE_PENDING_GRACE_SECONDS = env.int("RECONCILE_PENDING_GRACE_SECONDS", default=10)
PREDICTOR_CACHE_SIZE = env.int("PREDICTOR_CACHE_SIZE", default=8)
# Refuse bodies larger than the largest allowed upload before reading them.
MAX_REQUEST_BYTES = max(MODEL_MAX_UPLOAD_BYTES, PREDICTION_CSV_MAX_BYTES) + 1024 * 1024
# Cross-request batching: a worker runs up to this many pending single-row predictions of one
# version in one predict call.
PREDICTION_BATCH_MAX = env.int("PREDICTION_BATCH_MAX", default=256)

# --- Rollout: shadow versions, canary splits, comparisons ----------------------------------------
# A canary split sends the same user to the same version every time ("user"), or decides each
# prediction on its own ("request").
ROLLOUT_SPLIT_BY = env.str("ROLLOUT_SPLIT_BY", default="user")
if ROLLOUT_SPLIT_BY not in ("user", "request"):
    raise ImproperlyConfigured("ROLLOUT_SPLIT_BY must be 'user' or 'request'.")
ROLLOUT_MAX_SHADOWS = env.int("ROLLOUT_MAX_SHADOWS", default=3)
# A shadow's run of a worker's batch stops after this long (and never outlasts the job).
ROLLOUT_SHADOW_TIMEOUT_SECONDS = env.float("ROLLOUT_SHADOW_TIMEOUT_SECONDS", default=5.0)
# Shadows are skipped (and counted as skipped) while the oldest pending prediction has waited
# longer than this: the real traffic comes first.
ROLLOUT_SHADOW_SKIP_BEHIND_SECONDS = env.float("ROLLOUT_SHADOW_SKIP_BEHIND_SECONDS", default=5.0)
# How often a worker re-reads which aliases have shadows.
ROLLOUT_SHADOW_REFRESH_SECONDS = env.float("ROLLOUT_SHADOW_REFRESH_SECONDS", default=1.0)
# A regressor's or forecast's shadow agrees when within this of the primary's value, relative
# to the value (absolute for values under 1 in size); judged as each run is stored (after a
# change, `manage.py compare_shadow_runs` judges the stored runs again).
ROLLOUT_AGREEMENT_TOLERANCE = env.float("ROLLOUT_AGREEMENT_TOLERANCE", default=0.01)
# Disagreements listed by a comparison: this many a page, at most ROLLOUT_MAX_DISAGREEMENTS.
ROLLOUT_DISAGREEMENTS_PAGE_SIZE = env.int("ROLLOUT_DISAGREEMENTS_PAGE_SIZE", default=50)
ROLLOUT_MAX_DISAGREEMENTS = env.int("ROLLOUT_MAX_DISAGREEMENTS", default=1000)

# --- Reliability (worker shutdown) -------------------------------------------------------------
# On SIGTERM a worker lets its current job run this long, then hands it back to the queue; keep
# it under the supervisor's kill timeout (docker's default stop grace period is 10 s).
WORKER_SHUTDOWN_GRACE_SECONDS = env.float("WORKER_SHUTDOWN_GRACE_SECONDS", default=8.0)

# --- Operations: logs, CORS, metrics -----------------------------------------------------------
# Logs: one JSON object per line in production, readable lines in development; every record
# carries the request id of the request (or prediction job) it belongs to.
LOG_FORMAT = env.str("LOG_FORMAT", default="") or ("text" if DEBUG else "json")
if LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be 'json' or 'text', not {LOG_FORMAT!r}.")
LOGGING["filters"] = {"request_id": {"()": "mlservice.logs.RequestIdFilter"}}
LOGGING["formatters"]["json"] = {"()": "mlservice.logs.JsonFormatter"}
LOGGING["formatters"]["plain"] = {
    "format": "%(asctime)s %(levelname)s [%(request_id)s] %(name)s %(message)s"
}
LOGGING["handlers"]["console"]["formatter"] = "json" if LOG_FORMAT == "json" else "plain"
LOGGING["handlers"]["console"]["filters"] = ["request_id"]
LOGGING["loggers"]["mlservice.request"] = {"level": env.str("ACCESS_LOG_LEVEL", default="INFO")}

# CORS for the browser frontend: only these origins may call /api/ from a page.
CORS_ALLOWED_ORIGINS = [o for o in env.list("CORS_ALLOWED_ORIGINS", default=[]) if o]
CORS_URLS_REGEX = r"^/api/.*$"
CORS_ALLOW_HEADERS = (
    "accept",
    "authorization",
    "content-type",
    "user-agent",
    "x-requested-with",
    "idempotency-key",
    "x-request-id",
)
CORS_EXPOSE_HEADERS = ("Location", "Retry-After", "X-Request-ID")
CORS_PREFLIGHT_MAX_AGE = 3600

# GET /metrics (Prometheus): allowed with `Authorization: Bearer <METRICS_TOKEN>` or from one
# of METRICS_ALLOWED_NETWORKS (client address = the socket peer; behind a proxy, use the token).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_NETWORKS = [
    n for n in env.list("METRICS_ALLOWED_NETWORKS", default=["127.0.0.1/32", "::1/128"]) if n
]
# Latency histograms cover predictions finished within this many seconds before the scrape.
METRICS_LATENCY_WINDOW_SECONDS = env.int("METRICS_LATENCY_WINDOW_SECONDS", default=300)
SECURE_REDIRECT_EXEMPT = [*SECURE_REDIRECT_EXEMPT, r"^metrics$"]
# The staff dashboard keeps per-day rollups of settled days this long (operations: before
# yesterday; quality from feedback: before today, renewed by feedback on the day).
ROLLUP_CACHE_SECONDS = env.int("ROLLUP_CACHE_SECONDS", default=7 * 86400)

# --- Evidence: ground-truth feedback, live quality and drift ---------------------------------
# Lines a bulk feedback CSV (`prediction_id,truth[,row]`) may have.
FEEDBACK_CSV_MAX_ROWS = env.int("FEEDBACK_CSV_MAX_ROWS", default=100_000)
# The longest window (?window=) quality and drift may be asked over.
EVIDENCE_MAX_WINDOW_DAYS = env.int("EVIDENCE_MAX_WINDOW_DAYS", default=365)
# A numeric feature drifts when its population stability index or its two-sample
# Kolmogorov-Smirnov statistic is over these; an enum feature when its PSI is, or when the
# share of values the reference never had is over DRIFT_UNSEEN_THRESHOLD.
DRIFT_PSI_THRESHOLD = env.float("DRIFT_PSI_THRESHOLD", default=0.2)
DRIFT_KS_THRESHOLD = env.float("DRIFT_KS_THRESHOLD", default=0.15)
DRIFT_UNSEEN_THRESHOLD = env.float("DRIFT_UNSEEN_THRESHOLD", default=0.05)
# Reference histograms: bins per numeric feature (cut at reference quantiles), values kept
# for the KS test, and the rows a reference CSV may have.
DRIFT_BINS = env.int("DRIFT_BINS", default=10)
DRIFT_REFERENCE_SAMPLE = env.int("DRIFT_REFERENCE_SAMPLE", default=5000)
DRIFT_REFERENCE_MAX_ROWS = env.int("DRIFT_REFERENCE_MAX_ROWS", default=100_000)
# Recent inputs compared per window: at most this many, spread over the window; fewer than
# DRIFT_MIN_ROWS give no verdict.
DRIFT_SAMPLE_ROWS = env.int("DRIFT_SAMPLE_ROWS", default=10_000)
DRIFT_MIN_ROWS = env.int("DRIFT_MIN_ROWS", default=50)
# Quality and PSI gauges on /metrics cover this window and are recomputed at most this often.
EVIDENCE_METRICS_WINDOW_SECONDS = env.int("EVIDENCE_METRICS_WINDOW_SECONDS", default=7 * 86400)
EVIDENCE_METRICS_CACHE_SECONDS = env.int("EVIDENCE_METRICS_CACHE_SECONDS", default=300)

# --- Billing: credits and usage limits ---------------------------------------------------------
# Credits every new account starts with (granted on first use, kept in the ledger).
BILLING_STARTING_GRANT = env.int("BILLING_STARTING_GRANT", default=100)
# Let users add credits to their own account (demos only); off by default.
BILLING_SELF_TOPUP = env.bool("BILLING_SELF_TOPUP", default=False)
BILLING_SELF_TOPUP_MAX = env.int("BILLING_SELF_TOPUP_MAX", default=1000)
# Per-user limits on submitting predictions (0 = no limit), counted in Redis across workers;
# staff can override them per user in the admin (Billing > Accounts).
PREDICTION_RATE_PER_MINUTE = env.int("PREDICTION_RATE_PER_MINUTE", default=600)
PREDICTION_ROWS_PER_DAY = env.int("PREDICTION_ROWS_PER_DAY", default=5_000_000)
# ONNX fast path: convert scikit-learn versions with skl2onnx and serve the twin from onnxruntime
# when its outputs match the original's (see registry/twins.py).
REGISTRY_ONNX_TWINS = env.bool("REGISTRY_ONNX_TWINS", default=True)

# --- Accounts: admin login limits, email, Content-Security-Policy ------------------------------
INSTALLED_APPS += ["axes", "csp"]


def _rate(text: str) -> tuple[int, timedelta]:
    """DRF's rate syntax ("10/min") as (count, period), for limits kept outside DRF."""
    count, period = text.split("/")
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400}[period[0]]
    return int(count), timedelta(seconds=seconds)


# The admin login form (django-axes): the API login's (address, username) limit, counted in Redis.
AUTHENTICATION_BACKENDS = [
    "accounts.backends.LoginLimitBackend",
    "django.contrib.auth.backends.ModelBackend",
]
MIDDLEWARE.append("axes.middleware.AxesMiddleware")  # last, as axes requires
AXES_HANDLER = "axes.handlers.cache.AxesCacheHandler"
AXES_FAILURE_LIMIT, AXES_COOLOFF_TIME = _rate(
    REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["login_ip_username"]
)
AXES_LOCKOUT_PARAMETERS = [["ip_address", "username"]]
AXES_CLIENT_IP_CALLABLE = "accounts.throttles.client_address"
AXES_USERNAME_CALLABLE = "accounts.throttles.axes_username"
# Axes guards the admin only (the API has its own limits); its failure handler still sees API
# logins, so they are whitelisted for it too.
AXES_ONLY_ADMIN_SITE = True
AXES_WHITELIST_CALLABLE = "accounts.throttles.axes_ignores"
AXES_HTTP_RESPONSE_CODE = 429
AXES_ENABLE_ADMIN = False  # the cache handler keeps no rows to show
AXES_VERBOSE = False
LOGGING["loggers"]["axes"] = {"level": "WARNING"}

# Email: notices to an address's owner (accounts). EMAIL_URL as django-environ reads it, e.g.
# smtp+tls://user:password@smtp.example.com:587; development prints messages to the console.
EMAIL_CONFIG = environ.Env.email_url_config(
    env.str("EMAIL_URL", default="") or ("consolemail://" if DEBUG else "smtp://localhost:25")
)
EMAIL_BACKEND = EMAIL_CONFIG["EMAIL_BACKEND"]
EMAIL_HOST = EMAIL_CONFIG.get("EMAIL_HOST", "")
EMAIL_PORT = EMAIL_CONFIG.get("EMAIL_PORT") or 25
EMAIL_HOST_USER = EMAIL_CONFIG.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = EMAIL_CONFIG.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = EMAIL_CONFIG.get("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = EMAIL_CONFIG.get("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="mlservice <noreply@localhost>")

# Content-Security-Policy (django-csp) on the HTML pages: admin, dashboard, Swagger UI, ReDoc.
# Scripts, styles, fonts and images from this origin only (Swagger UI loads its start-up script
# from its own URL; ReDoc's third-party fonts and badge stay blocked); Swagger UI and ReDoc set
# inline styles, and ReDoc runs a blob: worker.
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
    "mlservice.csp.ContentSecurityPolicyMiddleware",
)
CONTENT_SECURITY_POLICY = {
    "EXCLUDE_URL_PREFIXES": ["/api/v1/", "/api/schema/", "/healthz", "/readyz", "/metrics"],
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "worker-src": ["'self'", "blob:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

# --- Deployment --------------------------------------------------------------------------------
# Probes answer before host validation (container healthchecks call them by address).
MIDDLEWARE.insert(
    MIDDLEWARE.index("mlservice.logs.RequestIdMiddleware") + 1, "mlservice.health.ProbeMiddleware"
)

# --- Webhooks ----------------------------------------------------------------------------------
# Completion webhooks: how long one attempt may take (connect, then each read), how long a
# delivery is retried (an endpoint failing that long is disabled), and the backoff between
# attempts (base x 2^(attempt-1), capped). Retries are picked up by the workers' periodic pass.
WEBHOOKS_CONNECT_TIMEOUT_SECONDS = env.float("WEBHOOKS_CONNECT_TIMEOUT_SECONDS", default=3.0)
WEBHOOKS_READ_TIMEOUT_SECONDS = env.float("WEBHOOKS_READ_TIMEOUT_SECONDS", default=5.0)
WEBHOOKS_RETRY_FOR_SECONDS = env.int("WEBHOOKS_RETRY_FOR_SECONDS", default=86400)
WEBHOOKS_BACKOFF_BASE_SECONDS = env.float("WEBHOOKS_BACKOFF_BASE_SECONDS", default=30.0)
WEBHOOKS_BACKOFF_MAX_SECONDS = env.float("WEBHOOKS_BACKOFF_MAX_SECONDS", default=3 * 3600.0)
# An attempt whose worker died is tried again once its timeouts plus this much have passed.
WEBHOOKS_LEASE_GRACE_SECONDS = env.float("WEBHOOKS_LEASE_GRACE_SECONDS", default=30.0)
# Only this much of a receiver's answer is kept, for the owner to read.
WEBHOOKS_RESPONSE_EXCERPT_CHARS = env.int("WEBHOOKS_RESPONSE_EXCERPT_CHARS", default=500)
# Loopback, private, link-local and metadata addresses are refused unless this is on
# (development against a local receiver; tests).
WEBHOOKS_ALLOW_PRIVATE_ADDRESSES = env.bool("WEBHOOKS_ALLOW_PRIVATE_ADDRESSES", default=False)
WEBHOOKS_MAX_ENDPOINTS_PER_USER = env.int("WEBHOOKS_MAX_ENDPOINTS_PER_USER", default=20)
