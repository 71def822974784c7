"""rq jobs: thin entry points into the engine."""

from webhooks.engine import drain as drain_module


def drain() -> dict:
    """The doorbell's job: send what is due (see webhooks/engine/drain.py)."""
    return drain_module.drain_run()
