"""Pausing and resuming a webhook: while paused its deliveries wait (accepted, not failed, not lost).

Both live with the webhook's health and incidents (webhooks/health.py): a pause opens or joins an
incident and is announced, a resume ends it.
"""

from .health import webhook_pause, webhook_resume

__all__ = ["webhook_pause", "webhook_resume"]
