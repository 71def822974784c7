"""rq jobs: thin entry points into the services."""

from rq import get_current_job

from . import services


def flow_run_advance(run_id: int) -> str | None:
    job = get_current_job()
    return services.flow_run_advance(run_id=run_id, job_id=job.id if job else None)
