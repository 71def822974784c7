"""What is due, registered one way: every piece of work the drain does besides claiming deliveries.

Each `DueWork` says what it does (`run`), whether anything is due now (`due`) and when the next falls
due (`next_at`). The drain's upkeep runs the registry in registration order; the worker's tick rings
the doorbell when any `due()` is true; after a drain, the scheduler's bell is set for the earliest
`next_at`. The webhooks app registers the engine's own work (group sends, fan-outs, claims of dead
drains, bulk recovers, secret rotations, the daily prune; webhooks/apps.py), other apps theirs (flow runs, alerts) in
their AppConfig.ready, so the engine runs them without knowing them.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime


def _never() -> datetime | None:
    return None


def never_due() -> bool:
    """For work that its own drain finishes (a send whose last wave it records): no bell rings for it."""
    return False


@dataclass(frozen=True)
class DueWork:
    """Work whose rows the drain runs when due.

    `each_turn`: run at every turn of the drain's loop (a person or a flow waits on it), not only at
    its upkeep (once a second). `own_thread`: long work (a fan-out writes thousands of rows a step, a
    prune slice deletes for seconds), run on a thread and connection of its own, one piece at a time per
    drain and the first registered first, so waves never wait behind it.
    `every`: at most this often (seconds), for a look that scans more than an index range.
    `settle`, if given, waits for what `run` started in the background (the drain calls it at its end).
    """

    name: str
    run: Callable[[], int]
    due: Callable[[], bool]
    next_at: Callable[[], datetime | None] = _never
    settle: Callable[[], None] | None = None
    each_turn: bool = False
    own_thread: bool = False
    every: float = 0.0


_due_work: list[DueWork] = []


def due_work_register(work: DueWork) -> None:
    if all(known.name != work.name for known in _due_work):
        _due_work.append(work)


def due_work() -> list[DueWork]:
    return list(_due_work)


def due_work_settle() -> None:
    """The drain ends: what the due work started in the background finishes first."""
    for work in _due_work:
        if work.settle is not None:
            work.settle()
