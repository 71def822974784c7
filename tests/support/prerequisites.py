"""Programs and packages a proof needs (chromium, playwright, the JDK, redis-server).

CI never skips a proof: with CI=true (what CI sets) or WEBHOOKHUB_REQUIRE_ALL=1, a missing prerequisite
fails the test with the command that installs it. Elsewhere the test is skipped, and the end of the run
lists every such skip (see `summary_lines`, called by the conftest's terminal summary hook), so a
developer's green run still says which proofs did not run.
"""

import importlib
import os
import shutil
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import NoReturn

import pytest

SKIP_MARK = "missing prerequisite: "
APT = "apt-get install -y"  # as root, which is how bin/test installs them; `sudo` in front otherwise
DEV_PACKAGES = ".venv/bin/python -m pip install -e '.[dev]'"  # what bin/setup runs


def strict() -> bool:
    """True in CI (CI=true) and whenever WEBHOOKHUB_REQUIRE_ALL=1: every proof must run."""
    truthy = {"1", "true", "yes"}
    return (
        os.environ.get("CI", "").strip().lower() in truthy
        or os.environ.get("WEBHOOKHUB_REQUIRE_ALL", "").strip().lower() in truthy
    )


def missing(what: str, *, install: str) -> NoReturn:
    """Fail (CI) or skip (elsewhere) the current test for want of `what`."""
    message = f"{what}; install: {install}"
    if strict():
        pytest.fail(
            f"{message} (CI mode, CI=true or WEBHOOKHUB_REQUIRE_ALL=1: a missing prerequisite is a failure)",
            pytrace=False,
        )
    pytest.skip(SKIP_MARK + message)


def require_executable(name: str, *, install: str) -> str:
    """The path of program `name` (a name looked up in PATH, or a path)."""
    path = shutil.which(name)
    if path is None:
        where = "is not an executable file" if os.sep in name else "is not installed (not found in PATH)"
        missing(f"{name} {where}", install=install)
    return path


def require_files(paths: list[Path], *, install: str) -> None:
    absent = [str(path) for path in paths if not path.exists()]
    if absent:
        missing(f"missing {', '.join(absent)}", install=install)


def require_module(name: str, *, install: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError as error:
        missing(f"Python module {name} cannot be imported ({error})", install=install)


def summary_lines(skipped_reports) -> list[str]:
    """One line per missing prerequisite among the skipped tests' reports, with how many it skipped."""
    reasons: Counter[str] = Counter()
    for report in skipped_reports:
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
        reason = reason.removeprefix("Skipped: ")
        if reason.startswith(SKIP_MARK):
            reasons[reason.removeprefix(SKIP_MARK)] += 1
    return [f"{count} test(s) not run: {reason}" for reason, count in sorted(reasons.items())]
