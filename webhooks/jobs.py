"""rq jobs: thin entry points into the services and the engine."""

from rq import get_current_job

from . import delivery, queueing, services


def deliver_batch(delivery_ids: list[str]) -> dict:
    job = get_current_job()
    return delivery.deliveries_process(delivery_ids=delivery_ids, job_id=job.id if job else queueing.new_job_id())


def group_send_start(send_id: int) -> None:
    services.group_send_start(send_id=send_id)


def reconcile() -> dict:
    return services.deliveries_reconcile()
