"""scripts/serve.sh (what run.sh ends with) stops gunicorn and the task cluster cleanly on SIGTERM and Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def database(tmp_path_factory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('serve') / 'db.sqlite3'}"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "GATEHOUSE_DEV_DEFAULTS": "true",
        "DJANGO_SETTINGS_MODULE": "governance.settings",
    }
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=300)
    return url


def start(database: str, log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": database,
        "GATEHOUSE_DEV_DEFAULTS": "true",
        "DJANGO_SETTINGS_MODULE": "governance.settings",
        "PYTHON_BIN": sys.executable,
        "GUNICORN_BIN": str(BIN / "gunicorn"),
        "PORT": "0",
        "WEB_WORKERS": "1",
        "Q_WORKERS": "1",
        "STOP_TIMEOUT": "60",
    }
    return subprocess.Popen(
        ["scripts/serve.sh"],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # a process group of its own, like a terminal's foreground job
        restore_signals=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def wait_for(log: Path, *needles: str, deadline: float = 120) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        text = log.read_text()
        if all(n in text for n in needles):
            return
        time.sleep(0.2)
    raise AssertionError(f"never saw {needles}:\n{log.read_text()[-3000:]}")


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize(("how", "status"), [("term", 143), ("ctrl-c", 130)])
def test_it_stops_both_processes_cleanly(database, tmp_path, how, status):
    log = tmp_path / "serve.log"
    process = start(database, log)
    try:
        wait_for(log, "Listening at", "Q Cluster", "running.", "expiry timer running")
        if how == "term":
            process.send_signal(signal.SIGTERM)
        else:
            os.killpg(process.pid, signal.SIGINT)  # what the terminal sends its foreground job
        assert process.wait(timeout=90) == status
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    text = log.read_text()
    assert "has stopped." in text and "Shutting down: Master" in text, text[-3000:]  # graceful, not SIGKILL
    assert "Gatehouse stopped." in text
    assert "expiry timer stopped" in text  # the timer process left on SIGTERM, between two passes
    for line in text.splitlines():
        if "Listening at:" in line:
            gunicorn_pid = int(line.rsplit("(", 1)[1].rstrip(")"))
            assert not group_alive(gunicorn_pid)
