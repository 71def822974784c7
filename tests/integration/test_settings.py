"""Settings come from the environment (django-environ), with the documented defaults."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PRINT = """
import json, django
from django.conf import settings
django.setup()
print(json.dumps({
    "DEBUG": settings.DEBUG, "ALLOWED_HOSTS": settings.ALLOWED_HOSTS, "TENANT_ID": settings.TENANT_ID,
    "TIME_ZONE": settings.TIME_ZONE, "USE_TZ": settings.USE_TZ, "LANGUAGE_CODE": settings.LANGUAGE_CODE,
    "DB_ENGINE": settings.DATABASES["default"]["ENGINE"], "DB_NAME": str(settings.DATABASES["default"]["NAME"]),
    "REDIS": settings.RQ_QUEUES["realtime"]["URL"], "KEYS": len(settings.SECRETS_ENCRYPTION_KEYS),
    "RETRY": settings.WEBHOOK_RETRY_DELAYS, "ALLOWED": settings.WEBHOOK_ALLOWED_HOSTS,
}))
"""


def settings_with(tmp_path, **env) -> dict:
    base = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO", "DATABASE", "REDIS"))}
    for key in ("SECRET_KEY", "SECRETS_ENCRYPTION_KEYS", "DEBUG", "TENANT_ID", "WEBHOOK_ALLOWED_HOSTS"):
        base.pop(key, None)
    base.update(env, DJANGO_SETTINGS_MODULE="webhookhub.settings", PYTHONPATH=str(ROOT))
    base["ENV_FILE"] = str(tmp_path / ".env")
    # ENV_FILE names a file that does not exist, so only the environment given here counts.
    result = subprocess.run(
        [sys.executable, "-c", PRINT], env=base, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    return json.loads(result.stdout) if result.returncode == 0 else {"error": result.stderr}


def test_defaults(tmp_path, monkeypatch):
    values = settings_with(tmp_path, DEBUG="1")
    assert values["TIME_ZONE"] == "Asia/Shanghai"
    assert values["USE_TZ"] is True
    assert values["LANGUAGE_CODE"] == "zh-hans"
    assert values["DB_ENGINE"].endswith("sqlite3")
    assert values["DB_NAME"].endswith("var/db.sqlite3")
    assert values["REDIS"] == "redis://127.0.0.1:6379/0"
    assert values["RETRY"] == [1800, 3600, 5400]


def test_values_from_the_environment(tmp_path):
    values = settings_with(
        tmp_path,
        SECRET_KEY="k" * 50,
        SECRETS_ENCRYPTION_KEYS="dGVzdC1vbmx5LWtleS10ZXN0LW9ubHkta2V5LTAwMDA=,"
        "b3RoZXIta2V5LW90aGVyLWtleS1vdGhlci1rZXktMDA=",
        DEBUG="0",
        ALLOWED_HOSTS="hub.example.com",
        TENANT_ID="42",
        TIME_ZONE="UTC",
        LANGUAGE_CODE="en",
        DATABASE_URL="postgres://u:p@db.example.com:5432/hub",
        REDIS_URL="redis://cache:6380/3",
        WEBHOOK_RETRY_DELAYS="1,2,3",
        WEBHOOK_ALLOWED_HOSTS="10.0.0.0/8,crm.internal",
    )
    assert values["DEBUG"] is False
    assert values["ALLOWED_HOSTS"] == ["hub.example.com"]
    assert values["TENANT_ID"] == 42
    assert values["TIME_ZONE"] == "UTC"
    assert values["LANGUAGE_CODE"] == "en"
    assert values["DB_ENGINE"] == "django.db.backends.postgresql"
    assert values["DB_NAME"] == "hub"
    assert values["REDIS"] == "redis://cache:6380/3"
    assert values["KEYS"] == 2
    assert values["RETRY"] == [1, 2, 3]
    assert values["ALLOWED"] == ["10.0.0.0/8", "crm.internal"]


def test_production_refuses_to_start_without_keys(tmp_path):
    values = settings_with(tmp_path, DEBUG="0")
    assert "SECRET_KEY must be set" in values["error"]
    values = settings_with(tmp_path, DEBUG="0", SECRET_KEY="k" * 50)
    assert "SECRETS_ENCRYPTION_KEYS must be set" in values["error"]


def test_production_refuses_to_start_with_a_key_that_is_not_a_fernet_key(tmp_path):
    good = "dGVzdC1vbmx5LWtleS10ZXN0LW9ubHkta2V5LTAwMDA="
    for keys, number in (("x", "key 1 of 1"), (f"{good},not-a-key-secret-value", "key 2 of 2")):
        values = settings_with(tmp_path, DEBUG="0", SECRET_KEY="k" * 50, SECRETS_ENCRYPTION_KEYS=keys)
        assert "error" in values, keys
        assert "ImproperlyConfigured" in values["error"]
        assert f"SECRETS_ENCRYPTION_KEYS: {number} is not a Fernet key" in values["error"]
        assert "Fernet.generate_key()" in values["error"]  # how to make a good one
        assert "not-a-key-secret-value" not in values["error"]  # the key itself is never printed
    assert settings_with(tmp_path, DEBUG="0", SECRET_KEY="k" * 50, SECRETS_ENCRYPTION_KEYS=good)["KEYS"] == 1


def test_production_settings_from_the_environment(tmp_path):
    env = {
        "DEBUG": "1",
        "SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO,https",
        "USE_X_FORWARDED_HOST": "1",
        "METRICS_ALLOWED_IPS": "10.0.0.0/8,192.0.2.7",
        "RETENTION_PRUNE_AT": "04:15",
    }
    code = (
        "import json, django; from django.conf import settings as s; django.setup(); print(json.dumps(["
        "s.SECURE_PROXY_SSL_HEADER, s.USE_X_FORWARDED_HOST, s.METRICS_ALLOWED_IPS, s.RETENTION_PRUNE_AT, "
        "s.RETENTION_DAYS, s.RETENTION_BODIES_DAYS, s.STORAGES['staticfiles']['BACKEND'], "
        "s.MIDDLEWARE[s.MIDDLEWARE.index('django.middleware.security.SecurityMiddleware') + 1]]))"
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO", "DATABASE", "REDIS", "RETENTION"))}
    base.update(env, DJANGO_SETTINGS_MODULE="webhookhub.settings", PYTHONPATH=str(ROOT), ENV_FILE=str(tmp_path / "x"))
    result = subprocess.run([sys.executable, "-c", code], env=base, cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        ["HTTP_X_FORWARDED_PROTO", "https"],
        True,
        ["10.0.0.0/8", "192.0.2.7"],
        "04:15",
        180,
        30,
        "whitenoise.storage.CompressedManifestStaticFilesStorage",
        "whitenoise.middleware.WhiteNoiseMiddleware",
    ]
    # Mistakes stop the start, with the setting's name, instead of a surprise at 03:30 or at a scrape.
    for name, wrong in (
        ("SECURE_PROXY_SSL_HEADER", "HTTP_X_FORWARDED_PROTO"),
        ("METRICS_ALLOWED_IPS", "10.0.0.0/33"),
        ("RETENTION_PRUNE_AT", "3h30"),
        ("LOG_FORMAT", "xml"),
    ):
        assert name in settings_with(tmp_path, DEBUG="1", **{name: wrong}).get("error", ""), name
