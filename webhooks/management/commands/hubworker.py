"""`manage.py hubworker`: one hub worker (webhooks/engine/worker.py), optionally serving its machine's metrics."""

from django.conf import settings
from django.core.management.base import CommandError
from django_rq.management.commands.rqworker import Command as RqWorkerCommand
from prometheus_client import start_http_server

from webhookhub import telemetry


class Command(RqWorkerCommand):
    help = (
        "Run one hub worker: every queue of settings.WORKER_QUEUES in priority order, with rq's scheduler "
        "(retries, scheduled sends, flow waits and the daily prune are due through it). "
        "Takes rqworker's options (--burst, --name, --max-jobs, ...) but no queue names."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.set_defaults(with_scheduler=True)
        parser.add_argument(
            "--metrics-port",
            type=int,
            default=settings.WORKER_METRICS_PORT,
            help="Serve this machine's worker metrics (attempts, durations, processes) for Prometheus on this "
            "port (WORKER_METRICS_PORT; 0: off). For workers on a machine without the web process.",
        )

    def handle(self, *args, **options):
        if args:
            # One list of queues for every worker, so none is forgotten by a unit file or a script.
            raise CommandError("hubworker takes no queue names: it runs settings.WORKER_QUEUES.")
        options["with_scheduler"] = True
        port = options.pop("metrics_port")
        if port:
            start_http_server(port, addr=settings.WORKER_METRICS_ADDRESS, registry=telemetry.machine_registry())
        return super().handle(*settings.WORKER_QUEUES, **options)
