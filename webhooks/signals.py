"""Signals other apps listen to (automation flows start on loyalty events)."""

from django.dispatch import Signal

# Sent after the transaction that accepted a fixed (loyalty) event commits.
# kwargs: message (webhooks.models.Message), event (str), payload (dict), customer (Customer or None)
event_published = Signal()

# Sent after the transaction that changed a webhook's health commits (webhooks/health/services.py), once per
# change: the alerts app announces it. kwargs:
#   webhook     webhooks.models.Webhook
#   kind        "failing" (an incident began: failures past the alert threshold), "paused" (by the
#               policy, on 410 Gone, or by a person), "recovered" (a success after failing, or resumed)
#   incident_id int: one incident, from the first failure to the recovery; alerts send one message per
#               incident, kind and channel
#   facts       dict of JSON values: consecutive_failures, failing_since (ISO 8601), last_error,
#               last_status_code, reason (why it was paused), by (who paused or resumed, or "");
#               "paused" also has cause: "policy", "gone" (410) or "person"
webhook_health_changed = Signal()
