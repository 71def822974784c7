"""Traces (webhookhub/tracing.py) with the OpenTelemetry SDK's in-memory exporter: an Open API event through
the drain (in this process, so the exporter sees its spans) to a receiver on 127.0.0.1."""

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from api import services as api_services
from webhookhub import tracing
from webhooks.content.events import FixedEvent
from webhooks.engine.drain import drain_run
from webhooks.models import Delivery, Message, Webhook

from ..factories import make_key_owner, make_webhook
from ..support.receivers import ScriptedServer

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

EVENT = {
    "event": "loyalty/membership_level_up",
    "membershipId": "M001",
    "date": "2026-11-27T09:30:00Z",
    "oldLevelId": 1,
    "newLevelId": 2,
    "oldLevel": "银卡",
    "newLevel": "金卡",
}


@pytest.fixture
def exporter():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.enable(provider)
    yield exporter
    tracing.disable()


def post_event(client):
    _key, raw = api_services.api_key_create(name="crm", user=make_key_owner())
    response = client.post(
        "/api/v1/events", data=EVENT, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {raw}"
    )
    assert response.status_code in (200, 201, 202), response.content


def fixed_webhooks(server):
    fixed = {"trigger_type": Webhook.TriggerType.FIXED, "event": FixedEvent.MEMBERSHIP_LEVEL_UP}
    opted_in = make_webhook(server.url("/traced"), send_traceparent=True, **fixed)
    plain = make_webhook(server.url("/plain"), **fixed)
    return opted_in, plain


def test_one_event_gives_a_trigger_span_a_delivery_span_and_a_span_per_attempt_linked(client, exporter, redis_conn):
    with ScriptedServer() as server:
        opted_in, plain = fixed_webhooks(server)
        post_event(client)
        drain_run(budget=5)
        hits = {hit.path: hit for hit in server.posts()}
    spans = exporter.get_finished_spans()
    (trigger,) = [s for s in spans if s.name.startswith("webhookhub.trigger")]
    deliveries = [s for s in spans if s.name == "webhookhub.delivery"]
    attempts = [s for s in spans if s.name == "webhookhub.attempt"]
    assert len(deliveries) == len(attempts) == 2
    assert trigger.attributes["webhookhub.trigger"] == "event"
    assert {s.context.trace_id for s in spans} == {trigger.context.trace_id}
    by_id = {d.context.span_id: d for d in deliveries}
    for delivery_span in deliveries:
        assert delivery_span.parent.span_id == trigger.context.span_id
    for attempt_span in attempts:
        parent = by_id[attempt_span.parent.span_id]
        assert attempt_span.attributes["webhookhub.delivery.id"] == parent.attributes["webhookhub.delivery.id"]
        assert attempt_span.attributes["webhookhub.outcome"] == "succeeded"
        assert attempt_span.attributes["http.response.status_code"] == 200
        assert parent.attributes["webhookhub.outcome"] == "succeeded"
    webhook_of = {s.attributes["webhookhub.delivery.id"]: s.attributes["webhookhub.webhook.id"] for s in attempts}
    assert webhook_of == dict(Delivery.objects.values_list("id", "webhook_id"))
    # traceparent only where the webhook opted in: the attempt's span as the parent, the trigger's trace.
    assert "traceparent" not in {name.lower() for name in hits["/plain"].headers}
    traced_attempt = next(s for s in attempts if s.attributes["webhookhub.webhook.id"] == opted_in.pk)
    version, trace_id, parent_id, _flags = hits["/traced"].headers["traceparent"].split("-")
    assert version == "00"
    assert int(trace_id, 16) == trigger.context.trace_id
    assert int(parent_id, 16) == traced_attempt.context.span_id
    assert plain.pk in webhook_of.values()


def test_off_no_span_no_context_kept_and_no_traceparent_even_when_opted_in(client, redis_conn):
    assert not tracing.enabled()
    with ScriptedServer() as server:
        fixed_webhooks(server)
        post_event(client)
        drain_run(budget=5)
        hits = server.posts()
    assert len(hits) == 2
    assert all("traceparent" not in {name.lower() for name in hit.headers} for hit in hits)
    assert set(Message.objects.values_list("trace_context", flat=True)) == {""}


def run_setup(**env) -> str:
    """What a fresh process (as the web process or a worker starts) sets up under these OTEL_* variables."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import django; django.setup()\n"
        "from opentelemetry import trace\n"
        "from opentelemetry.instrumentation.django import DjangoInstrumentor\n"
        "from webhookhub import tracing\n"
        "provider = trace.get_tracer_provider()\n"
        "resource = getattr(provider, 'resource', None)\n"
        "name = resource.attributes.get('service.name') if resource else None\n"
        "instrumented = DjangoInstrumentor().is_instrumented_by_opentelemetry\n"
        "print(tracing.enabled(), instrumented, type(provider).__name__, name)\n"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**clean, "DJANGO_SETTINGS_MODULE": "tests.settings", **env},
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.strip()


def test_set_up_only_when_an_otlp_endpoint_is_set():
    assert run_setup().startswith("False False ProxyTracerProvider")
    assert run_setup(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9") == "True True TracerProvider webhookhub"
    named = run_setup(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9", OTEL_SERVICE_NAME="hub-eu")
    assert named == "True True TracerProvider hub-eu"
    assert run_setup(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9", OTEL_SDK_DISABLED="true").startswith("False")
