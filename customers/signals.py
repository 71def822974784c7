"""Signals other apps listen to: automation flows start when a score changes or a customer joins a group.

Each is sent by the service that made the change, once its transaction has committed, for one customer
or a hundred thousand alike. A write that bypasses the services (a queryset update, a bulk insert of
group entries) announces nothing.
"""

from typing import NamedTuple

from django.dispatch import Signal


class ScoreChange(NamedTuple):
    customer_id: int
    old: int | None  # None: a new customer
    new: int


# kwargs: changes (list[ScoreChange]), only the scores that changed.
activity_scores_changed = Signal()

# kwargs: group_id (int), customer_ids (list[int]), only the customers who were not in the group before.
group_joined = Signal()
