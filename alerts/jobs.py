"""rq jobs: thin entry points into the alerts' services."""

from . import services


def alerts_send(alert_ids: list[int]) -> dict:
    """Send these pending alerts (enqueued after the commit that recorded them, or by the due work)."""
    return services.alerts_send(alert_ids=alert_ids)
