"""gunicorn's settings for the web process, from the environment (bin/serve, docs/deploy/).

gunicorn -c python:webhookhub.gunicorn_conf webhookhub.wsgi
"""

import os
from pathlib import Path

import environ

# The same .env as the settings (real environment variables win): WEB_CONCURRENCY, BIND, PORT there count.
environ.Env.read_env(os.environ.get("ENV_FILE", str(Path(__file__).resolve().parent.parent / ".env")), overwrite=False)

# Behind nginx on the same host: listen on loopback only; BIND=0.0.0.0:8000 for a proxy elsewhere.
bind = os.environ.get("BIND") or f"127.0.0.1:{os.environ.get('PORT', '8000')}"
# Sync workers: pages and the Open API are short database work; 2-4 per core (docs/deploy/README.md).
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# A request that takes longer is cut (a CSV import of many customers stays well below).
timeout = int(os.environ.get("WEB_TIMEOUT", "60"))
graceful_timeout = int(os.environ.get("WEB_GRACEFUL_TIMEOUT", "20"))
keepalive = 5
# A worker is replaced after this many requests: memory a long-lived process gathers is given back.
max_requests = int(os.environ.get("WEB_MAX_REQUESTS", "2000"))
max_requests_jitter = max_requests // 10
# Proxies whose X-Forwarded-Proto gunicorn believes (Django's SECURE_PROXY_SSL_HEADER is the other half).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
proc_name = "webhookhub-web"

if os.environ.get("LOG_FORMAT") == "json":
    from webhookhub.logformat import stderr_json_install

    # The master's own stray output too (its workers install it again when Django starts in them).
    stderr_json_install()
    # The same JSON lines as Django's and the workers' logs, for one log collector.
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "webhookhub.logformat.JsonFormatter"}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json"}},
        "loggers": {
            "gunicorn.error": {"handlers": ["console"], "level": loglevel.upper(), "propagate": False},
            "gunicorn.access": {"handlers": ["console"], "level": "INFO", "propagate": False},
        },
    }


def post_request(worker, req, environ, resp):
    # Each web process's memory and CPU for /metrics (at most every few seconds; webhookhub/telemetry.py).
    from webhookhub import telemetry

    telemetry.process_sample(role="web")


def child_exit(server, worker):
    # A web process gone: its live gauges leave PROMETHEUS_MULTIPROC_DIR (its counters stay counted).
    from webhookhub import telemetry

    telemetry.process_exited(worker.pid)
