from django.core.management.base import BaseCommand

from webhooks.engine import worker


class Command(BaseCommand):
    help = "Ring the doorbell if the database holds due work (after Redis lost its bells); workers also do this."

    def handle(self, *args, **options):
        self.stdout.write(f"due work found and rung for: {worker.tick()}")
