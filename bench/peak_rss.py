"""Run a Python script in its own process and report that process's own peak resident memory.

    python bench/peak_rss.py manage.py export_evidence ...   # last stderr line: "peak_rss_kib=123456"

`getrusage(RUSAGE_CHILDREN).ru_maxrss` cannot measure a child: Linux carries a process's high-water
RSS across `execve`, so a child forked from a large parent (a benchmark after generating its data)
reports at least the parent's peak. The kernel's `VmHWM` in `/proc/self/status` belongs to the
address space the child runs in after `execve`, so it is the child's own peak.
"""

from __future__ import annotations

import runpy
import subprocess
import sys
from pathlib import Path

MARK = "peak_rss_kib="


def own_peak_kib() -> int:
    """This process's peak resident memory in KiB, from the kernel's `VmHWM`."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def run_measured(script: Path, *args: str, **options) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run `script` with `args` under this wrapper; return the finished process and its peak in MiB."""
    command = [sys.executable, str(Path(__file__).resolve()), str(script), *args]
    finished = subprocess.run(command, capture_output=True, text=True, check=False, **options)
    marks = [line for line in finished.stderr.splitlines() if line.startswith(MARK)]
    peak = int(marks[-1].removeprefix(MARK)) / 1024 if marks else float("nan")
    return finished, peak


def main() -> None:
    script = sys.argv[1]
    sys.argv = sys.argv[1:]
    sys.path[0] = str(Path(script).resolve().parent)  # as if the script were run itself
    try:
        runpy.run_path(script, run_name="__main__")
    finally:
        print(f"{MARK}{own_peak_kib()}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
