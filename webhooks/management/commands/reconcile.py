from django.core.management.base import BaseCommand

from webhooks import doorbell
from webhooks.worker import reconcile_all


class Command(BaseCommand):
    help = (
        "Ring the doorbell for due deliveries and sends (e.g. after Redis lost its bells) and re-queue lost flow steps."
    )

    def handle(self, *args, **options):
        for step, counts in reconcile_all().items():
            self.stdout.write(f"{step}: {counts}")
        self.stdout.write(f"doorbell rung: {doorbell.tick()}")
