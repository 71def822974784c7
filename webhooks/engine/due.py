"""Due work of other apps that the drain runs too: the database holds it, the doorbell wakes for it.

automation registers its flow runs here (AppConfig.ready), so the engine runs them without knowing them.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class DueWork:
    """Work of another app whose rows the drain also runs when due (automation's flow runs).

    `run()` does what is due and returns how many it did; `due()` says whether anything is due now;
    `next_at()` when the next falls due; `settle()`, if given, waits for what `run` started in the
    background. The drain calls `run` every turn and `settle` at its end; the tick calls `due`.
    """

    name: str
    run: Callable[[], int]
    due: Callable[[], bool]
    next_at: Callable[[], datetime | None]
    settle: Callable[[], None] | None = None


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
