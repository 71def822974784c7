from django.core.management.base import BaseCommand

from webhooks.services import deliveries_reconcile


class Command(BaseCommand):
    help = "Queue every delivery, send and fan-out that is due but in no queue (after Redis lost them)."

    def handle(self, *args, **options):
        counts = deliveries_reconcile()
        self.stdout.write(" ".join(f"{key}={value}" for key, value in counts.items()))
