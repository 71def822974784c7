"""`pip install .` ships every installed app with its templates and static files.

Builds the wheel from a copy of the files git tracks in this checkout (setuptools from the venv, no
index; a copy, so that no build/ or egg-info is written into the checkout, where CI's other database
pass runs at the same time) and compares its contents with the files git tracks: an app left out of
`packages.find`, or a template or script left out of the package data, fails here rather than on a
server."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def _tracked(*patterns: str) -> list[str]:
    out = subprocess.run(["git", "ls-files", *patterns], cwd=ROOT, capture_output=True, text=True, check=True)
    return [line for line in out.stdout.splitlines() if line]


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory) -> set[str]:
    out = tmp_path_factory.mktemp("wheel")
    source = tmp_path_factory.mktemp("source")
    for name in _tracked():
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(source)],
        cwd=source,
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = out.glob("webhookhub-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def test_every_installed_app_of_ours_is_in_the_wheel(wheel_names):
    ours = [app.split(".")[0] for app in settings.INSTALLED_APPS if (ROOT / app.split(".")[0]).is_dir()]
    assert {"webhooks", "customers", "api", "automation", "alerts", "webhookhub", "demo"} <= set(ours)
    for app in ours:
        python = [name for name in _tracked(f"{app}/*.py") if "/tests/" not in name]
        missing = [name for name in python if name not in wheel_names]
        assert missing == [], f"{app}: {missing}"


def test_templates_and_static_files_are_in_the_wheel(wheel_names):
    files = _tracked("*/templates/*", "*/static/*", "templates/*")
    files = [name for name in files if not name.startswith(("tests/", "docs/"))]
    assert any(name.startswith("templates/admin/") for name in files)
    assert any("/static/" in name for name in files)
    missing = [name for name in files if name not in wheel_names]
    assert missing == []
