"""rq jobs: thin entry points into the services."""

from rq import get_current_job

from . import services


def _job_id() -> str | None:
    job = get_current_job()
    return job.id if job else None


def flow_run_advance(run_id: int) -> str | None:
    return services.flow_run_advance(run_id=run_id, job_id=_job_id())


def flow_runs_advance(run_ids: list[int]) -> dict:
    return services.flow_runs_advance(run_ids=run_ids, job_id=_job_id())
