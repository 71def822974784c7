import time


def wait_until(predicate, *, timeout: float, interval: float = 0.05, message: str = "condition"):
    """Poll until predicate() is truthy; fail after `timeout` seconds. Returns the truthy value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)
