"""Every state change of webhooks, group sends and deliveries, each in one named function.

The writes live where they belong on the delivery path (trigger → rows → claim → HTTP → attempts):
publishing.py (events, forms, flows, test sends, redeliveries), samples.py (sample events),
group_sends.py (群发), recoveries.py (bulk recover), webhook_states.py (pause and resume) and
webhook_secrets.py (saving a webhook, rotating its secrets). This module is the one door the rest of
the project uses.
"""

from webhooks.health.services import webhook_pause, webhook_resume
from webhooks.services.group_sends import group_send_cancel, group_send_create
from webhooks.services.publishing import (
    delivery_redeliver,
    event_publish,
    events_publish,
    message_publish,
    message_test_send,
)
from webhooks.services.recoveries import recovery_create, recovery_stop
from webhooks.services.samples import sample_event_send
from webhooks.services.webhook_config import webhook_rotation_end, webhook_save, webhook_standard_secret_rotate

__all__ = [
    "delivery_redeliver",
    "event_publish",
    "events_publish",
    "group_send_cancel",
    "group_send_create",
    "message_publish",
    "message_test_send",
    "recovery_create",
    "recovery_stop",
    "sample_event_send",
    "webhook_pause",
    "webhook_resume",
    "webhook_rotation_end",
    "webhook_save",
    "webhook_standard_secret_rotate",
]
