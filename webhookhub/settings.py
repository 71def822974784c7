"""WebhookHub settings, read from the environment (django-environ); see .env.example."""

import base64
import binascii
import hashlib
import ipaddress
import re
from datetime import timedelta
from pathlib import Path

import environ
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# A .env file beside manage.py (or at ENV_FILE) is read when present; real environment variables win.
environ.Env.read_env(env.str("ENV_FILE", default=str(BASE_DIR / ".env")), overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off (see .env.example).")
    SECRET_KEY = "dev-only-insecure-secret-key"  # noqa: S105 - DEBUG only
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# --- HTTPS: off by default (bin/run serves plain http on 127.0.0.1); HTTPS_ONLY=1 in production ----------
HTTPS_ONLY = env.bool("HTTPS_ONLY", default=False)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=HTTPS_ONLY)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=HTTPS_ONLY)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=HTTPS_ONLY)
# HSTS is a promise browsers keep for this long: opt in with a number once HTTPS works (a year: 31536000).
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
# Behind a proxy that ends TLS and sets a header saying so, e.g. "HTTP_X_FORWARDED_PROTO,https"; only
# for a proxy that always sets or strips that header (a client could send it too).
_proxy_ssl_header = env.list("SECURE_PROXY_SSL_HEADER", default=[])
if _proxy_ssl_header and len(_proxy_ssl_header) != 2:
    raise ImproperlyConfigured(
        "SECURE_PROXY_SSL_HEADER must be a header and its value, e.g. HTTP_X_FORWARDED_PROTO,https"
    )
SECURE_PROXY_SSL_HEADER = tuple(_proxy_ssl_header) or None
# The host name as the proxy received it (X-Forwarded-Host), for a proxy that sets it; off otherwise.
USE_X_FORWARDED_HOST = env.bool("USE_X_FORWARDED_HOST", default=False)
# /healthz and /metrics answer on plain http too: checks and scrapers often talk to gunicorn directly.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]

INSTALLED_APPS = [
    # Django's admin with the hub's site (webhookhub/admin_site.py): its name, the rq dashboard's place.
    "webhookhub.admin_site.HubAdminConfig",
    "django.contrib.auth",
    # The login's guard, django-axes (failures, cool-off, the admin's "Access attempts" where locks are cleared).
    "webhookhub.admin_site.LoginGuardConfig",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_rq",
    "customers",
    "webhooks",
    "webhookhub",
    "api",
    "automation",
    "alerts",
    # The demo receiver and demo data that bin/run starts (manage.py demo_receiver, demo_data).
    "demo",
]

MIDDLEWARE = [
    # Web request metrics (count, latency, status by view) for /metrics: first and last, so they time it all.
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    # Outermost but for the request metrics: under /api/v1/, an error page any layer below makes becomes the
    # API's JSON error.
    "api.errors.ApiErrorMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files from the web process itself, compressed and cached forever (hashed names).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
    # Last, as django-axes requires: turns a locked-out login into the "too many attempts" page.
    "axes.middleware.AxesMiddleware",
]

# django-axes first: it refuses a locked-out login before the password is even checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "webhookhub.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # The project-wide templates (the admin's overrides: base, change list, language switcher); each app
        # keeps its own pages in its templates/.
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "webhooks.admin.context_processors.engine_health",
            ],
        },
    },
]
WSGI_APPLICATION = "webhookhub.wsgi.application"

# The default SQLite file lives in var/, which bin/setup creates (the settings create nothing).
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server read while a worker writes; the timeout rides out short write locks.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    # A file, not memory: the tests' rq workers run in other processes and share it.
    DATABASES["default"]["TEST"] = {"NAME": env.str("TEST_DB_NAME", default=str(BASE_DIR / "var" / "test.sqlite3"))}
# Behind PgBouncer in transaction mode (docs/deploy/README.md, "PgBouncer"): consecutive queries of one
# connection may reach different server connections, so no server-side cursor may outlive its transaction
# (QuerySet.iterator() opens one, WITH HOLD outside a transaction). psycopg's prepared statements are off
# already (Django's default), and nothing here holds session state (advisory locks, LISTEN, SET).
DATABASE_TRANSACTION_POOLING = env.bool("DATABASE_TRANSACTION_POOLING", default=False)
if DATABASE_TRANSACTION_POOLING:
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = env.str("LANGUAGE_CODE", default="zh-hans")
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="Asia/Shanghai")
# 2026-12-07 14:05:09 in both languages (webhookhub/formats/): one date format in every list and page.
FORMAT_MODULE_PATH = ["webhookhub.formats"]
USE_I18N = True
# The language a person picks in the admin's header (Django's set_language): kept a year, not a session.
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
LANGUAGE_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_SECURE = SESSION_COOKIE_SECURE
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "var" / "static")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # collectstatic writes hashed and gzip-compressed copies; whitenoise serves them.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").exists() else []

LOGIN_URL = "admin:login"

# --- Redis and rq -------------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
_queue = {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 900}
# The one list of queues a worker listens on, in priority order (bin/run, docs and tests read it):
# both carry the engine's doorbells (webhooks/engine/doorbell.py); the work itself is rows in the database.
WORKER_QUEUES = ["realtime", "bulk"]
RQ_QUEUES = {name: dict(_queue) for name in WORKER_QUEUES}
RQ = {"WORKER_CLASS": "webhooks.engine.worker.HubWorker"}
# django-rq's own admin entry checks only staff status: the dashboard is served at /admin/rq/ instead,
# to Administrators only (webhookhub/rq_dashboard.py), and listed last in the admin's menu.
RQ_SHOW_ADMIN_LINK = False

# --- The installation ---------------------------------------------------------------------------
TENANT_ID = env.int("TENANT_ID", default=1)

# Fernet keys (urlsafe base64, 32 bytes) that encrypt stored secrets. The first encrypts; all
# decrypt, so a key is rotated by putting a new one first and running `manage.py secrets_rotate`.
SECRETS_ENCRYPTION_KEYS = env.list("SECRETS_ENCRYPTION_KEYS", default=[])
if not SECRETS_ENCRYPTION_KEYS:
    if not DEBUG:
        raise ImproperlyConfigured("SECRETS_ENCRYPTION_KEYS must be set when DEBUG is off (see .env.example).")
    # Development only: a key derived from SECRET_KEY, so a newcomer needs no set-up.
    SECRETS_ENCRYPTION_KEYS = [base64.urlsafe_b64encode(hashlib.sha256(SECRET_KEY.encode()).digest()).decode()]


def _fernet_key_problem(keys: list[str]) -> str:
    """Why the keys cannot encrypt, or "": refused at start-up, not at the first secret saved or read."""
    for number, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except (TypeError, ValueError, binascii.Error):
            # The key itself never goes into the message (it would reach logs and consoles).
            return (
                f"SECRETS_ENCRYPTION_KEYS: key {number} of {len(keys)} is not a Fernet key "
                f"(32 bytes in url-safe base64, {len(key)} characters given). Make one with: "
                'python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
            )
    return ""


if problem := _fernet_key_problem(SECRETS_ENCRYPTION_KEYS):
    raise ImproperlyConfigured(problem)

# --- Delivery engine (docs/contract.md sections 1 and 7) ----------------------------------------
WEBHOOK_CONNECT_TIMEOUT = env.float("WEBHOOK_CONNECT_TIMEOUT", default=5.0)
WEBHOOK_READ_TIMEOUT = env.float("WEBHOOK_READ_TIMEOUT", default=15.0)
# Seconds after the attempt before: DM Hub's 30, 60 and 90 minutes.
WEBHOOK_RETRY_DELAYS = env.list("WEBHOOK_RETRY_DELAYS", cast=int, default=[1800, 3600, 5400])
# The extended retry policy's first delay in seconds, doubled for each retry (10 retries, about 3 days).
WEBHOOK_RETRY_BASE_DELAY = env.int("WEBHOOK_RETRY_BASE_DELAY", default=300)
# Health (webhooks/health/services.py): a webhook failing continuously for this many hours AND this many
# consecutive failed attempts is paused (each webhook may set its own, or turn it off).
WEBHOOK_AUTOPAUSE_HOURS = env.float("WEBHOOK_AUTOPAUSE_HOURS", default=24.0)
WEBHOOK_AUTOPAUSE_FAILURES = env.int("WEBHOOK_AUTOPAUSE_FAILURES", default=50)
# Consecutive failed attempts after which a webhook's incident begins and "failing" is announced.
WEBHOOK_ALERT_AFTER_FAILURES = env.int("WEBHOOK_ALERT_AFTER_FAILURES", default=5)
# A wave: deliveries of one webhook sent together and recorded together as soon as they end.
WEBHOOK_WAVE_SIZE = env.int("WEBHOOK_WAVE_SIZE", default=100)
# Requests in flight to one webhook across every worker (a webhook may set its own).
WEBHOOK_MAX_CONCURRENCY = env.int("WEBHOOK_MAX_CONCURRENCY", default=128)
# Requests in flight in one worker's drain (realtime work may go past it: it never waits for bulk).
WEBHOOK_WORKER_CONCURRENCY = env.int("WEBHOOK_WORKER_CONCURRENCY", default=256)
# Seconds a drain claims new work before it hands over to the next doorbell (its rq job then ends).
WEBHOOK_DRAIN_BUDGET = env.int("WEBHOOK_DRAIN_BUDGET", default=60)
# Customers rendered and written per fan-out step of a group send.
WEBHOOK_FANOUT_CHUNK = env.int("WEBHOOK_FANOUT_CHUNK", default=2000)
# A fan-out not renewed for this long, or a claim of no known drain this old, belongs to a dead worker.
WEBHOOK_CLAIM_LEASE = env.int("WEBHOOK_CLAIM_LEASE", default=60)
# A drain whose heartbeat (every second, on a thread and connection of its own) is this old is dead:
# its claims are taken back. Short, so a killed worker's webhook moves again within seconds.
WEBHOOK_DRAIN_TIMEOUT = env.int("WEBHOOK_DRAIN_TIMEOUT", default=8)
# How often an idle worker looks in the database for due work whose doorbell Redis lost.
WEBHOOK_TICK_INTERVAL = env.int("WEBHOOK_TICK_INTERVAL", default=5)
# How often a worker cleans rq's own registries.
WEBHOOK_RECONCILE_INTERVAL = env.int("WEBHOOK_RECONCILE_INTERVAL", default=60)
# The admin warns administrators when due work is older than this many seconds.
WEBHOOK_OVERDUE_WARNING = env.int("WEBHOOK_OVERDUE_WARNING", default=120)
# SSRF guard: hosts and CIDR ranges a webhook may reach although private or loopback.
WEBHOOK_ALLOWED_HOSTS = env.list("WEBHOOK_ALLOWED_HOSTS", default=[])
# The installation's outbound HTTP proxy (http://user:password@host:port; percent-encode special characters):
# deliveries, test connections, OAuth2 token requests and alert robots go through it, unless a webhook says
# "direct" or names another proxy. Empty: requests leave directly. Never logged or shown with its password.
WEBHOOK_PROXY_URL = env.str("WEBHOOK_PROXY_URL", default="")
if WEBHOOK_PROXY_URL and not re.fullmatch(r"http://([^@/\s]+@)?[^@/\s:]+(:\d+)?/?", WEBHOOK_PROXY_URL):
    raise ImproperlyConfigured("WEBHOOK_PROXY_URL must be http://[user:password@]host:port (an HTTP proxy).")
# Days before a webhook's client certificate ends when the alerts announce it.
CLIENT_CERTIFICATE_WARNING_DAYS = env.int("CLIENT_CERTIFICATE_WARNING_DAYS", default=30)

# --- Alerts (alerts/: a webhook failing, paused or recovered, told to email and group robots) ---------
# This hub's address as people open it, for the links in alerts (e.g. https://webhookhub.example.com).
HUB_BASE_URL = env.str("HUB_BASE_URL", default="http://127.0.0.1:8000")
# Seconds one alert's request (robot or mail server) may take.
ALERT_TIMEOUT = env.float("ALERT_TIMEOUT", default=10.0)
# Seconds after a failed alert before each further try (an empty list: one try only).
ALERT_RETRY_DELAYS = env.list("ALERT_RETRY_DELAYS", cast=int, default=[60, 300, 900])
# Email for the alerts' email channels: the console in development, SMTP otherwise.
_mail_backend = "console" if DEBUG else "smtp"
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default=f"django.core.mail.backends.{_mail_backend}.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="WebhookHub <webhookhub@localhost>")

# --- Micro-page forms ---------------------------------------------------------------------------
# Submissions a minute from one address (0: no limit), so one client cannot flood the webhooks.
# Counted per IPv4 address or IPv6 /64.
FORM_RATE_LIMIT_PER_MINUTE = env.int("FORM_RATE_LIMIT_PER_MINUTE", default=10)
# Reverse proxies in front of the web server (addresses or CIDR ranges): from these, and only these, the
# client's address is read from X-Forwarded-For. Empty: the socket's address is the client's.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])
for _proxy in TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_proxy.strip(), strict=False)
    except ValueError as exc:
        raise ImproperlyConfigured(f"TRUSTED_PROXIES: {_proxy!r} is not an address or CIDR range.") from exc

# --- The admin login's guard (django-axes; README "Signing in") ------------------------------------
# Failed logins are counted in the database, so every web process sees the same count: per account
# (username) and per client (IPv4 address or IPv6 /64, read behind TRUSTED_PROXIES as above). Past
# LOGIN_FAILURE_LIMIT either one is refused for LOGIN_COOLOFF_MINUTES, then may try again: never locked
# for good, and an Administrator clears a lock at once under "Access attempts".
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_CLIENT_IP_CALLABLE = "webhookhub.net.login_client_key"
# A success clears that client's failures; a failure during the cool-off does not extend it (a guesser
# cannot keep the real user out for longer than one cool-off at a time).
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# Every failure kept as its own row too ("Access failures"), not only the count per account and client.
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_LOCKOUT_TEMPLATE = "admin/login_locked.html"
AXES_HTTP_RESPONSE_CODE = 429
# Its log lines name the account and the address (useful to whoever reads them); the password never.
AXES_SENSITIVE_PARAMETERS: list[str] = []

# --- Retention (webhooks/services/retention.py; `manage.py prune`, and a daily run on the workers) -----------
# Days an attempt's request and response bodies and headers (and the delivery's rendered body) are kept.
RETENTION_BODIES_DAYS = env.int("RETENTION_BODIES_DAYS", default=30)
# Days a finished delivery is kept at all, with its attempts.
RETENTION_DAYS = env.int("RETENTION_DAYS", default=180)
# Deliveries per transaction: each batch holds its row locks for a moment, never the tables.
RETENTION_BATCH_SIZE = env.int("RETENTION_BATCH_SIZE", default=1000)
# Local time of the daily prune ("HH:MM"); empty: no daily run (run `manage.py prune` from cron).
RETENTION_PRUNE_AT = env.str("RETENTION_PRUNE_AT", default="03:30")
if RETENTION_PRUNE_AT and not re.fullmatch(r"([01]?\d|2[0-3]):[0-5]\d", RETENTION_PRUNE_AT):
    raise ImproperlyConfigured("RETENTION_PRUNE_AT is a local time HH:MM (e.g. 03:30), or empty for no daily prune.")
# Seconds one slice of the daily prune works (on a drain's second thread) before it gives way: the next
# slice runs at the next upkeep, after any fan-out step. At most half a drain's budget (a larger value,
# such as the 120 of the rq job that ran the prune before, counts as that), so no drain outlives its job.
RETENTION_SLICE_SECONDS = min(env.int("RETENTION_SLICE_SECONDS", default=10), WEBHOOK_DRAIN_BUDGET // 2)
if RETENTION_SLICE_SECONDS < 0:
    raise ImproperlyConfigured("RETENTION_SLICE_SECONDS is a number of seconds, 0 or more.")

# --- Metrics and health (webhookhub/monitoring.py): closed unless one of these opens them ----------
# A bearer token (Authorization: Bearer <token>) for /metrics and /healthz.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# Client addresses and CIDR ranges let in without a token, e.g. 127.0.0.1,10.0.0.0/8.
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=[])
for _network in METRICS_ALLOWED_IPS:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError:
        raise ImproperlyConfigured(f"METRICS_ALLOWED_IPS: {_network!r} is no address or CIDR range.") from None
# /metrics counts the due backlog and the retries waiting up to this many (a bounded read at any backlog).
METRICS_BACKLOG_CAP = env.int("METRICS_BACKLOG_CAP", default=10000)
# `hubworker` serves its machine's metrics on this port (0: off): for workers on a machine of their own.
WORKER_METRICS_PORT = env.int("WORKER_METRICS_PORT", default=0)
WORKER_METRICS_ADDRESS = env.str("WORKER_METRICS_ADDRESS", default="127.0.0.1")
# /healthz wants a worker and a scheduler that reported within this many seconds.
HEALTH_MAX_SILENCE = env.int("HEALTH_MAX_SILENCE", default=180)

# --- Logging: to stderr, plain or one JSON object a line; secrets are never passed to a logger ----
# LOG_FORMAT=json for log collectors. `webhookhub.attempts` is the logger of one line per HTTP attempt.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured("LOG_FORMAT is plain or json.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "webhookhub.logformat.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "webhookhub.attempts": {"level": env.str("LOG_ATTEMPTS_LEVEL", default="INFO")},
        # DEBUG: each claim's time (its statements and its transaction), which bench/run.py reads.
        "webhookhub.claims": {"level": env.str("LOG_CLAIMS_LEVEL", default="WARNING")},
    },
}
