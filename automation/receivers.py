"""Flow triggers: listen to customers, group memberships and loyalty events; the work is in services.

The activity-score trigger compares the score before and after `Customer.save()`. A bulk
`Customer.objects.update(activity_score=…)` or `bulk_update` sends no signal and starts no flow: change
scores through `save()` (the admin, the API and the CSV import do) when flows must hear of them.
"""

from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver

from customers.models import Customer, GroupEntry
from webhooks.signals import event_published

from . import services

OLD_SCORE = "_automation_old_score"


@receiver(pre_save, sender=Customer, dispatch_uid="automation.customer_score_before")
def customer_score_before(sender, instance, raw=False, update_fields=None, **kwargs):
    if raw or instance.pk is None or (update_fields is not None and "activity_score" not in update_fields):
        return
    old = Customer.objects.filter(pk=instance.pk).values_list("activity_score", flat=True).first()
    setattr(instance, OLD_SCORE, old)


@receiver(post_save, sender=Customer, dispatch_uid="automation.customer_score_after")
def customer_score_after(sender, instance, created, raw=False, update_fields=None, **kwargs):
    if raw:
        return
    if created:
        old = None
    elif hasattr(instance, OLD_SCORE):
        old = getattr(instance, OLD_SCORE)
        delattr(instance, OLD_SCORE)
        if old is None:
            return
    else:
        return
    services.flows_on_score_change(customer=instance, old=old, new=instance.activity_score)


@receiver(post_save, sender=GroupEntry, dispatch_uid="automation.group_joined")
def group_joined(sender, instance, created, raw=False, **kwargs):
    if created and not raw:
        services.flows_on_group_join(entry=instance)


@receiver(event_published, dispatch_uid="automation.loyalty_event")
def loyalty_event(sender, event, customer=None, **kwargs):
    services.flows_on_loyalty_event(event=event, customer=customer)
