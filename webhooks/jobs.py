"""rq jobs: thin entry points into the engine."""

from . import drain as drain_module


def drain() -> dict:
    """The doorbell's job: send what is due (see webhooks/drain.py)."""
    return drain_module.drain_run()
