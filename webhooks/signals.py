"""Signals other apps listen to (automation flows start on loyalty events)."""

from django.dispatch import Signal

# Sent after the transaction that accepted a fixed (loyalty) event commits.
# kwargs: message (webhooks.models.Message), event (str), payload (dict), customer (Customer or None)
event_published = Signal()
