"""django-rq's dashboard at /admin/rq/, for Administrators only (it can empty queues and delete jobs)."""

from django.http import Http404
from django.urls import path
from django_rq import views
from django_rq.urls import get_admin_urlpatterns, get_api_urlpatterns

from .admin_site import administrators_only


def scheduler_jobs(request, scheduler_index):
    # The page belongs to the rq-scheduler package, which the hub does not use (rq's own scheduler runs
    # in the worker): without it django-rq answers 500, so the page is simply not there.
    try:
        import rq_scheduler  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        raise Http404 from None
    return views.scheduler_jobs(request, scheduler_index)


def urlpatterns():
    patterns = get_api_urlpatterns() + get_admin_urlpatterns()
    guarded = []
    for pattern in patterns:
        if pattern.name == "scheduler_jobs":
            pattern = path("schedulers/<int:scheduler_index>/", scheduler_jobs, name="scheduler_jobs")
        pattern.callback = administrators_only(pattern.callback)
        guarded.append(pattern)
    return guarded
