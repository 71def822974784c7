from django.core.management.base import BaseCommand

from webhooks.worker import reconcile_all


class Command(BaseCommand):
    help = "Queue every delivery, send, fan-out and flow step that is due but in no queue (e.g. after Redis lost them)."

    def handle(self, *args, **options):
        for step, counts in reconcile_all().items():
            self.stdout.write(f"{step}: {counts}")
