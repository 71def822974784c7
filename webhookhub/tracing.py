"""Traces with OpenTelemetry, optional: on when OTEL_EXPORTER_OTLP_ENDPOINT (or ..._TRACES_ENDPOINT) is set.

A trace runs from the trigger (an Open API event, an admin or API send, a micro-page submit, a flow step,
a test send) through each delivery to each HTTP attempt. The trigger's context is kept on its Message
(`trace_context`), so the worker that sends the delivery, seconds or hours later and in another process,
continues the same trace: the delivery's span starts when the delivery was claimed and holds one span
per attempt. The standard OTEL_* variables (service name, sampler, headers of the exporter…) apply as the
SDK reads them. Off, nothing is set up and every function here returns at once: no span, no database read.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_propagator = TraceContextTextMapPropagator()
_tracer: trace.Tracer | None = None


def configured() -> bool:
    """Do the OTEL_* variables ask for traces?"""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return bool(os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def setup() -> None:
    """At start (webhookhub's AppConfig.ready): the SDK with its OTLP/HTTP exporter, and Django's instrumentation."""
    if _tracer is not None or not configured():
        return
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    named = os.environ.get("OTEL_SERVICE_NAME") or "service.name=" in os.environ.get("OTEL_RESOURCE_ATTRIBUTES", "")
    provider = TracerProvider(resource=Resource.create({} if named else {"service.name": "webhookhub"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    enable(provider)
    # The request's server span: the parent of an Open API event's or a form submit's trigger span.
    DjangoInstrumentor().instrument()


def enable(provider) -> None:
    """Trace with `provider` (setup() gives the SDK's; the tests one with an in-memory exporter)."""
    global _tracer
    _tracer = provider.get_tracer("webhookhub")


def disable() -> None:
    global _tracer
    _tracer = None


def enabled() -> bool:
    return _tracer is not None


def trigger(kind: str, **attributes) -> str:
    """A trigger's span (a child of the current one, e.g. the request's); its traceparent for the Message, or ''."""
    if _tracer is None:
        return ""
    with _tracer.start_as_current_span(
        f"webhookhub.trigger {kind}",
        attributes={"webhookhub.trigger": kind, **{f"webhookhub.{k}": v for k, v in attributes.items()}},
    ):
        carrier: dict[str, str] = {}
        _propagator.inject(carrier)
    return carrier.get("traceparent", "")


def message_contexts(*, message_ids) -> dict[int, str]:
    """The trace contexts of these messages' triggers (the drain's, after a claim); {} when off."""
    if _tracer is None:
        return {}
    from webhooks.models import Message

    return dict(
        Message.objects.filter(pk__in=set(message_ids)).exclude(trace_context="").values_list("pk", "trace_context")
    )


@contextmanager
def attempt_spans(
    *, delivery_id: str, webhook_id: int, url: str, trace_context: str, claimed_at: datetime | None
) -> Iterator[tuple | None]:
    """The delivery's span (a child of its trigger's, from its claim) and within it the attempt's; None when off.

    `url` is the receiving URL; what it may carry of secrets is masked before it becomes an attribute.
    """
    if _tracer is None:
        yield None
        return
    from webhooks.engine.redact import masked_url

    parent = _propagator.extract({"traceparent": trace_context}) if trace_context else None
    ids: dict[str, str | int] = {"webhookhub.delivery.id": delivery_id, "webhookhub.webhook.id": webhook_id}
    start = int(claimed_at.timestamp() * 1e9) if claimed_at else None
    delivery = _tracer.start_span("webhookhub.delivery", context=parent, attributes=ids, start_time=start)
    with (
        trace.use_span(delivery, end_on_exit=True),
        _tracer.start_as_current_span(
            "webhookhub.attempt",
            kind=SpanKind.CLIENT,
            attributes={**ids, "http.request.method": "POST", "url.full": masked_url(url)},
        ) as attempt,
    ):
        yield delivery, attempt


def propagation_headers(spans) -> dict[str, str]:
    """traceparent (and tracestate) of the attempt's span, for a webhook that opted in; {} when off."""
    if spans is None:
        return {}
    carrier: dict[str, str] = {}
    _propagator.inject(carrier, context=trace.set_span_in_context(spans[1]))
    return carrier


def attempt_end(spans, *, succeeded: bool, status: int | None, code: str) -> None:
    """The outcome on both spans: succeeded or failed, the HTTP status, the failure's code."""
    if spans is None:
        return
    outcome = "succeeded" if succeeded else "failed"
    for span in spans:
        span.set_attribute("webhookhub.outcome", outcome)
        if status is not None:
            span.set_attribute("http.response.status_code", status)
        if code:
            span.set_attribute("webhookhub.error_code", code)
        span.set_status(Status(StatusCode.OK if succeeded else StatusCode.ERROR))
