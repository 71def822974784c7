"""Proof of compatibility: the seed's Java receiver verifies every message a real worker delivers.

tests/java/SeedReceiver.java is the seed's sample (Gson + commons-codec HmacUtils, the body bound
to a Map by Jackson as a Spring controller does), compiled here with Debian's jars. It checks each
request through the Map and through the raw body, answers 200 only when both verify, and prints
one line per request, which this test reads back.
"""

import re
import subprocess
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from customers.models import Customer
from webhooks import services
from webhooks.content.events import Event
from webhooks.models import Delivery, Webhook

from ..factories import make_customers, make_group, make_webhook
from ..support.ports import free_port
from ..support.prerequisites import APT, require_executable, require_files

pytestmark = [pytest.mark.java, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

JAVA_SOURCE = Path(__file__).resolve().parents[1] / "java" / "SeedReceiver.java"
JARS = [
    Path(f"/usr/share/java/{name}.jar")
    for name in ("gson", "commons-codec", "jackson-databind", "jackson-core", "jackson-annotations")
]
SECRET = "s3cr3t"
LINE = re.compile(r"^([0-9a-f]{32}) map-ok=(true|false) raw-ok=(true|false)$")

# A template with every hard case as literals (nested objects and arrays, nulls, floats, integers
# beyond 32 and 64 bits, <>&=' and spaces inside values) and placeholders as strings and whole values.
TEMPLATE = """{
  "event": "manual/group-send",
  "sendId": ${sendId},
  "customer": {
    "id": ${customerId},
    "name": "${customer.name}",
    "nick": "客户:${customer.wechatNickname}",
    "note": "${customer.note}",
    "balance": ${customer.balance},
    "ratio": ${customer.ratio},
    "tiny": ${customer.tiny},
    "large": ${customer.large},
    "big": ${customer.big},
    "vip": ${customer.vip}
  },
  "literal": {
    "text": "满 100 减 20 <限时> & 'VIP'=真",
    "nothing": null,
    "list": [1, null, "a b", {"deep": [1.5, 1.0E7, 1.2345E-4, 100000.0, 0.001, -2.5e-10], "gone": null}],
    "int32plus": 4294967296,
    "int64plus": 36893488147419103232,
    "neg": -9223372036854775809,
    "empty": {}, "none": [], "yes": true, "no": false
  }
}"""

NAMES = ["张 三", "O'Brien <b>&=", "李\u3000四", 'quote " back\\ slash', "tab\tnew\nline", "emoji 😀 \u2028 end"]


@pytest.fixture(scope="module")
def java_classes(tmp_path_factory):
    javac = require_executable("javac", install=f"{APT} default-jdk-headless")
    require_executable("java", install=f"{APT} default-jdk-headless")
    require_files(JARS, install=f"{APT} libgoogle-gson-java libcommons-codec-java libjackson2-databind-java")
    out = tmp_path_factory.mktemp("java")
    classpath = ":".join(map(str, JARS))
    compiled = subprocess.run(
        [javac, "-nowarn", "-cp", classpath, "-d", str(out), str(JAVA_SOURCE)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert compiled.returncode == 0, compiled.stderr
    return f"{classpath}:{out}"


class JavaReceiver:
    def __init__(self, classpath: str):
        self.port = free_port()
        self.process = subprocess.Popen(
            ["java", "-cp", classpath, "SeedReceiver", str(self.port), SECRET],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
        )
        self.lines: list[str] = []
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self._ready.wait(30):
            self.stop()
            raise AssertionError("Java receiver did not start:\n" + "\n".join(self.lines))

    def _read(self):
        for line in self.process.stdout:
            line = line.rstrip("\n")
            self.lines.append(line)
            if line.startswith("READY"):
                self._ready.set()

    def url(self, path="/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def results(self) -> dict[str, tuple[bool, bool]]:
        found = {}
        for line in self.lines:
            match = LINE.match(line)
            if match:
                found[match.group(1)] = (match.group(2) == "true", match.group(3) == "true")
        return found

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self._reader.join(5)


@pytest.fixture
def java_receiver(java_classes):
    receiver = JavaReceiver(java_classes)
    yield receiver
    receiver.stop()


def _customers():
    customers = make_customers(len(NAMES) * 2)
    for index, customer in enumerate(customers):
        customer.name = NAMES[index % len(NAMES)]
        customer.wechat_nickname = f"微信 {index} <&>"
        # Varied doubles, so Gson's Double.toString is checked on many values, not just the literals.
        # (Left out: doubles in [1e16, 1e19) and subnormals, where JDK 17's Double.toString is not the
        # shortest form; see docs/receivers.md.)
        customer.attributes = {
            "balance": round(index * 1.37 + 0.01, 2),
            "ratio": index / 7,
            "tiny": (index + 1) * 1.1e-5,
            "large": (index + 1) * 3.3e9,
            "big": 2**33 + index,
            "vip": index % 2 == 0,
            **({"note": f"备注 {index} = 'x'"} if index % 3 else {}),
        }
        customer.membership_id = f"m-{index}"
    Customer.objects.bulk_update(customers, ["name", "wechat_nickname", "attributes", "membership_id"])
    return customers


def test_every_delivery_verifies_in_the_seeds_java_receiver(java_receiver, redis_conn, run_worker):
    customers = _customers()
    group = make_group(customers)
    webhook = make_webhook(java_receiver.url(), body_template=TEMPLATE, empty_text="空 值")
    webhook.full_clean()  # the template is one the webhook form accepts
    coupon_hook = make_webhook(
        java_receiver.url("/coupon"),
        trigger_type=Webhook.TriggerType.FIXED,
        event=Event.DISPATCH_COUPON,
        body_template="",
    )
    level_hook = make_webhook(
        java_receiver.url("/level"),
        trigger_type=Webhook.TriggerType.FIXED,
        event=Event.MEMBERSHIP_LEVEL_UP,
        body_template="",
    )

    services.group_send_create(webhook=webhook, group=group)
    services.message_test_send(webhook=webhook, customer=customers[1])
    services.event_publish(
        event=Event.DISPATCH_COUPON,
        data={
            "membershipId": "m-0",
            "date": datetime(2026, 11, 27, 9, 30, tzinfo=UTC),
            "couponId": "c 001",
            "couponName": "新人券 <满50减10> & 'x'=y",
            "batchId": None,
            "couponCode": "AB CD\u3000EF",
            "startDate": "2026-11-27",
            "endDate": None,
        },
    )
    services.event_publish(
        event=Event.MEMBERSHIP_LEVEL_UP,
        data={
            "membershipId": "m-1",
            "date": datetime(2026, 11, 27, 9, 31, tzinfo=UTC),
            "oldLevelId": 2**33,
            "newLevelId": 2**63 + 5,
            "oldLevel": "银卡 会员",
            "newLevel": "金卡\u3000<VIP>",
        },
    )
    run_worker(timeout=120)

    deliveries = list(Delivery.objects.all())
    assert len(deliveries) == len(customers) + 1 + 2
    assert {d.webhook_id for d in deliveries} == {webhook.pk, coupon_hook.pk, level_hook.pk}
    bodies = "".join(d.body for d in deliveries)
    for needle in (
        "张 三",
        "\u3000",
        "\\u003c",
        "\\u0026",
        "\\u003d",
        "\\u0027",
        "1.0E7",
        "1.2345E-4",
        "100000.0",
        "36893488147419103232",
        "9223372036854775813",
        "[1,null,",
    ):
        assert needle in bodies, needle
    assert '"batchId"' not in bodies
    assert '"nothing"' not in bodies

    results = java_receiver.results()
    log = "\n".join(java_receiver.lines)
    assert set(results) == {d.id for d in deliveries}, log
    assert all(map_ok and raw_ok for map_ok, raw_ok in results.values()), log
    assert all(d.status == Delivery.Status.SUCCEEDED for d in deliveries), [(d.id, d.last_error) for d in deliveries]


def test_the_java_receiver_refuses_a_wrong_signature(java_receiver, redis_conn, run_worker):
    """The receiver can say no: a webhook signing with another secret fails both checks."""
    customers = make_customers(2)
    webhook = make_webhook(
        java_receiver.url(), secret_key="not-the-receivers-secret", body_template='{"name":"${customer.name}"}'
    )
    services.group_send_create(webhook=webhook, group=make_group(customers))
    run_worker(timeout=120)

    deadline = time.monotonic() + 5
    while len(java_receiver.results()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(java_receiver.results().values()) == [(False, False)] * 2
    assert set(Delivery.objects.values_list("status", "last_status_code")) == {(Delivery.Status.FAILED, 401)}
