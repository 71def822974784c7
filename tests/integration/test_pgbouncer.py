"""The engine and the admin through a real PgBouncer in transaction mode (DATABASE_TRANSACTION_POOLING=1):
a real rq worker delivers a group send to a receiver on 127.0.0.1, and the admin's pages and its CSV
export (a QuerySet.iterator(), a server-side cursor unless disabled) answer, all through the pooler."""

import json
import subprocess
import sys
from collections import Counter

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from webhooks import services
from webhooks.models import Attempt, Delivery, GroupSend

from ..factories import make_customers, make_group, make_webhook
from ..support.pgbouncer import OwnPgBouncer
from ..support.receivers import ScriptedServer
from ..support.workers import ROOT, worker_env

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    # PgBouncer pools PostgreSQL connections; CI runs the suite on PostgreSQL too.
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PgBouncer is a PostgreSQL pooler"),
]

ADMIN_SCRIPT = """
import json, django
django.setup()
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
client = Client()
client.force_login(get_user_model().objects.get(username="ops"))
pages = {path: client.get(path).status_code for path in (
    "/admin/", "/admin/webhooks/delivery/", "/admin/webhooks/groupsend/", "/admin/webhooks/webhook/")}
export = client.get("/admin/webhooks/groupsend/%d/results.csv")
rows = b"".join(export.streaming_content).decode("utf-8-sig").strip().splitlines()
db = connection.settings_dict
print(json.dumps({"pages": pages, "export": export.status_code, "rows": len(rows), "port": db["PORT"],
                  "no_server_cursors": db["DISABLE_SERVER_SIDE_CURSORS"]}))
"""


@pytest.fixture
def pgbouncer():
    db = connection.settings_dict
    bouncer = OwnPgBouncer(host=db["HOST"] or "127.0.0.1", port=int(db["PORT"] or 5432), user=db["USER"] or "postgres")
    try:
        yield bouncer.start(db["NAME"])
    finally:
        bouncer.stop()


def test_the_engine_and_the_admin_work_through_pgbouncer_in_transaction_mode(pgbouncer, redis_conn, run_worker):
    through = {"DATABASE_URL": pgbouncer.url(connection.settings_dict["NAME"]), "DATABASE_TRANSACTION_POOLING": "1"}
    get_user_model().objects.create_superuser("ops", "ops@example.com", "a-long-password-1")
    with ScriptedServer() as server:
        webhook = make_webhook(server.url(), max_concurrency=20)
        send = services.group_send_create(webhook=webhook, group=make_group(make_customers(300)))
        log = run_worker(**through, WEBHOOK_WAVE_SIZE="50")
        hits = server.posts()

    send.refresh_from_db()
    assert send.status == GroupSend.Status.COMPLETED, log[-3000:]
    seen = Counter(hit.headers["X-Clab-Delivery-Id"] for hit in hits)
    assert len(seen) == 300
    assert set(seen.values()) == {1}
    assert Delivery.objects.filter(status=Delivery.Status.SUCCEEDED).count() == 300
    assert Attempt.objects.count() == 300

    result = subprocess.run(
        [sys.executable, "-c", ADMIN_SCRIPT % send.pk],
        env=worker_env(DJANGO_SETTINGS_MODULE="tests.settings", ALLOWED_HOSTS="testserver", **through),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    admin = json.loads(result.stdout.strip().splitlines()[-1])
    assert admin["port"] == pgbouncer.port
    assert admin["no_server_cursors"] is True
    assert set(admin["pages"].values()) == {200}, admin
    assert (admin["export"], admin["rows"]) == (200, 301)  # the header and one row per recipient
