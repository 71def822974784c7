import time

from django.core.management.base import BaseCommand

from webhooks.services import retention


class Command(BaseCommand):
    help = (
        "Delete deliveries and attempts older than RETENTION_DAYS and blank bodies and headers older than "
        "RETENTION_BODIES_DAYS, in batches of RETENTION_BATCH_SIZE deliveries per transaction; prints what it removed."
    )

    def add_arguments(self, parser):
        parser.add_argument("--max-seconds", type=float, default=None, help="stop between batches after this long")
        parser.add_argument("--progress", action="store_true", help="a line per batch (time, totals so far)")

    def handle(self, *args, max_seconds=None, progress=False, **options):
        started = time.monotonic()

        def on_batch(report):
            self.stdout.write(
                f"batch {report.batches} at {time.monotonic() - started:.2f}s: deleted {report.deliveries_deleted} "
                f"deliveries / {report.attempts_deleted} attempts, blanked {report.bodies_blanked} bodies",
            )
            self.stdout.flush()

        report = retention.prune(time_budget=max_seconds, on_batch=on_batch if progress else None)
        if report.finished:
            retention.last_run_store(report)
        self.stdout.write(f"prune: {report.summary()}")
