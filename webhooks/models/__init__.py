"""The webhooks app's tables, one module per part, all importable from webhooks.models.

webhook.py: a webhook and its history; network.py: outbound proxies and private CAs; sending.py: group
sends, messages, deliveries, attempts and recoveries; health.py: health counters, hourly buckets,
incidents and the workers' heartbeats; engine.py: the drains' leases and the webhooks' in-flight numbers;
retention.py: the daily prune's book.
"""

from webhooks.content.body_fields import DEFAULT_BODY_TEMPLATE
from webhooks.models.engine import DrainLease, WebhookLoad
from webhooks.models.health import WebhookHealth, WebhookHealthHour, WebhookIncident, WorkerHeartbeat
from webhooks.models.network import OutboundProxy, PrivateCA
from webhooks.models.retention import PruneState
from webhooks.models.sending import Attempt, Delivery, GroupSend, Message, Recovery, new_delivery_id
from webhooks.models.webhook import URL_MAX_LENGTH, Webhook, WebhookHistory

__all__ = [
    "DEFAULT_BODY_TEMPLATE",
    "URL_MAX_LENGTH",
    "Attempt",
    "Delivery",
    "DrainLease",
    "GroupSend",
    "Message",
    "OutboundProxy",
    "PrivateCA",
    "PruneState",
    "Recovery",
    "Webhook",
    "WebhookHealth",
    "WebhookHealthHour",
    "WebhookHistory",
    "WebhookIncident",
    "WebhookLoad",
    "WorkerHeartbeat",
    "new_delivery_id",
]
