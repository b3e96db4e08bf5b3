"""run.sh says what it is doing, serve.sh serves on HOST and PORT from the environment or .env, and
the links Gatehouse sends (GATEHOUSE_BASE_URL) default to that same address.

The scripts run for real in a scratch copy of the repository's layout, with a stand-in for the
virtualenv's python and gunicorn that records how it was called (nothing is installed or served)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

STAND_IN = """#!/usr/bin/env bash
# Records each call; answers the one question run.sh asks python (a secret key).
echo "$(basename "$0") $*" >> "{log}"
case "$*" in
  *secrets.token_urlsafe*) echo not-a-real-key ;;
  *manage.py\\ bootstrap*) echo "  Admin login:   admin / pw" ;;
  *qcluster*|*expiry_timer*) exec sleep 5 ;;  # long-running: serve.sh stops it when gunicorn ends
esac
exit 0
"""


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    """run.sh, scripts/venv.sh and scripts/serve.sh with a stand-in .venv."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "run.sh", tmp_path / "run.sh")
    for name in ("venv.sh", "serve.sh"):
        shutil.copy(ROOT / "scripts" / name, tmp_path / "scripts" / name)
    (tmp_path / "requirements.txt").write_text("Django==5.2\n")
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name in ("python", "gunicorn"):
        (bin_dir / name).write_text(STAND_IN.format(log=tmp_path / "calls.log"))
        (bin_dir / name).chmod(0o755)
    return tmp_path


def run(script: Path, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("HOST", "PORT", "WEB_WORKERS", "STOP_TIMEOUT")}
    return subprocess.run(
        [str(script)], env={**clean, "STOP_TIMEOUT": "1", **env}, capture_output=True, text=True, timeout=120
    )


def test_run_sh_says_what_it_is_doing_in_order(scratch):
    result = run(scratch / "run.sh")
    out = result.stdout
    steps = [
        "Installing the Python packages of requirements.txt",
        "Packages installed.",
        "Wrote .env with a new SECRET_KEY",
        "Migrating the database",
        "Collecting static files",
        "Loading the demo company",
        "Admin login:",
        "Starting the web server",
        "Gatehouse: http://127.0.0.1:8000/admin/",
    ]
    positions = [out.find(step) for step in steps]
    assert -1 not in positions, (steps[positions.index(-1)], out, result.stderr)
    assert positions == sorted(positions), out
    calls = (scratch / "calls.log").read_text()
    assert "python -m pip install -q --disable-pip-version-check -r requirements.txt" in calls
    assert "python manage.py migrate --noinput" in calls and "python manage.py bootstrap" in calls


def test_run_sh_does_not_reinstall_unchanged_requirements(scratch):
    run(scratch / "run.sh")
    again = run(scratch / "run.sh").stdout
    assert "Installing" not in again and "Migrating the database" in again


def test_serve_sh_takes_host_and_port_from_dot_env(scratch):
    (scratch / ".env").write_text("SECRET_KEY=x\nPORT='9123'\nWEB_WORKERS=3\n")
    out = run(scratch / "scripts" / "serve.sh").stdout
    assert "http://127.0.0.1:9123/admin/" in out
    assert "gunicorn governance.wsgi --bind 127.0.0.1:9123 --workers 3" in (scratch / "calls.log").read_text()


def test_serve_sh_prefers_the_environment_to_dot_env(scratch):
    (scratch / ".env").write_text("PORT=9123\n")
    out = run(scratch / "scripts" / "serve.sh", HOST="0.0.0.0", PORT="9200").stdout
    assert "http://0.0.0.0:9200/admin/" in out
    assert "--bind 0.0.0.0:9200" in (scratch / "calls.log").read_text()


def base_url(**env: str) -> str:
    """GATEHOUSE["BASE_URL"] as Django computes it at start-up with this environment."""
    clean = {k: v for k, v in os.environ.items() if k not in ("HOST", "PORT", "GATEHOUSE_BASE_URL")}
    code = "import django; django.setup(); from django.conf import settings; print(settings.GATEHOUSE['BASE_URL'])"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "governance.settings", "GATEHOUSE_DEV_DEFAULTS": "true", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "http://127.0.0.1:8000"),
        ({"PORT": "9123"}, "http://127.0.0.1:9123"),
        ({"HOST": "gatehouse.lan", "PORT": "8080"}, "http://gatehouse.lan:8080"),
        ({"HOST": "0.0.0.0", "PORT": "9000"}, "http://127.0.0.1:9000"),
        ({"GATEHOUSE_BASE_URL": "", "PORT": "9001"}, "http://127.0.0.1:9001"),
        ({"GATEHOUSE_BASE_URL": "https://gatehouse.example.com/", "PORT": "9001"}, "https://gatehouse.example.com"),
    ],
)
def test_links_default_to_the_address_run_sh_serves_on(env, expected):
    if (ROOT / ".env").exists():
        pytest.skip("a local .env would take part in the defaults")
    assert base_url(**env) == expected
