"""Flow triggers: the services that change scores, group entries and loyalty state announce each change
after commit (customers/signals.py, webhooks/signals.py); the work is in services."""

from django.dispatch import receiver

from customers.signals import activity_scores_changed, group_joined
from webhooks.signals import event_published

from . import services


@receiver(activity_scores_changed, dispatch_uid="automation.scores_changed")
def scores_changed(sender, changes, **kwargs):
    services.flows_on_scores_change(changes=changes)


@receiver(group_joined, dispatch_uid="automation.group_joined")
def customers_joined(sender, group_id, customer_ids, **kwargs):
    services.flows_on_group_join(group_id=group_id, customer_ids=customer_ids)


@receiver(event_published, dispatch_uid="automation.loyalty_event")
def loyalty_event(sender, event, customer=None, **kwargs):
    services.flows_on_loyalty_event(event=event, customer=customer)
