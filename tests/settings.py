"""Settings for the test run: the project's settings with test defaults for what production must set."""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key")
# A fixed Fernet key for the tests (and the workers they start, which inherit this environment).
os.environ.setdefault("SECRETS_ENCRYPTION_KEYS", "dGVzdC1vbmx5LWtleS10ZXN0LW9ubHkta2V5LTAwMDA=")
os.environ.setdefault("WEBHOOK_ALLOWED_HOSTS", "127.0.0.1:*")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webhookhub.settings")

from webhookhub.settings import *  # noqa: F403

# The tests render pages without running collectstatic: plain static names, found by the finders.
# (bin/serve's test runs the production storage, after collectstatic.)
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True

# A worker started by a test that counts webhook_health_changed writes each signal to this file
# (tests/support/signal_log.py): the signal is sent in the worker's process, not the test's.
if os.environ.get("WEBHOOKHUB_TEST_SIGNAL_LOG"):
    INSTALLED_APPS = [*INSTALLED_APPS, "tests.support.signal_log.SignalLogConfig"]  # noqa: F405
