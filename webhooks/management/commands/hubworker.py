from django.conf import settings
from django.core.management.base import CommandError
from django_rq.management.commands.rqworker import Command as RqWorkerCommand


class Command(RqWorkerCommand):
    help = (
        "Run one hub worker: every queue of settings.WORKER_QUEUES in priority order, with rq's scheduler "
        "(retries, scheduled sends, flow waits and the daily prune are due through it). "
        "Takes rqworker's options (--burst, --name, --max-jobs, ...) but no queue names."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.set_defaults(with_scheduler=True)

    def handle(self, *args, **options):
        if args:
            # One list of queues for every worker, so none is forgotten by a unit file or a script.
            raise CommandError("hubworker takes no queue names: it runs settings.WORKER_QUEUES.")
        options["with_scheduler"] = True
        return super().handle(*settings.WORKER_QUEUES, **options)
