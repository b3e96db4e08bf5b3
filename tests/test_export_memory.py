"""The evidence export's memory is bounded by its chunk, not the period; the benchmark measures it truly."""

from __future__ import annotations

import resource
import sys
import tracemalloc
from datetime import UTC, datetime, timedelta

from bench.evidence_data import generate
from bench.peak_rss import run_measured
from governance.evidence import export
from governance.services import Actor

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
MIB = 2**20


def _export_peak(period: export.Period, target) -> tuple[int, dict[str, int]]:
    """Peak Python memory (bytes) above the start while exporting the period as csv, and the row counts."""
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        result = export.export_evidence(period=period, file_format="csv", target=target, actor=Actor.system("t"))
        return tracemalloc.get_traced_memory()[1] - base, result.rows
    finally:
        tracemalloc.stop()


def test_it_exports_four_times_the_rows_in_about_the_same_memory(db, tmp_path, monkeypatch):
    monkeypatch.setattr(export, "CHUNK", 20)
    data = generate(320, now=NOW)
    year = export.Period(data.first_request, NOW + timedelta(days=1))
    quarter = export.Period(NOW - timedelta(days=91), NOW + timedelta(days=1))
    _export_peak(quarter, tmp_path / "warm-up")  # imports and caches outside the measurement

    small, small_rows = _export_peak(quarter, tmp_path / "quarter")
    large, large_rows = _export_peak(year, tmp_path / "year")

    assert small_rows["access_changes"] >= 3 * export.CHUNK
    assert large_rows["access_changes"] >= 3 * small_rows["access_changes"]
    assert large < 1.5 * small + MIB // 2, f"{large / MIB:.1f} MiB for the year, {small / MIB:.1f} for a quarter"


def test_the_benchmark_measures_the_childs_own_peak_not_the_parents(tmp_path):
    ballast = b"x" * (96 * MIB)  # written pages: this process's resident peak is above 96 MiB
    script = tmp_path / "child.py"
    script.write_text("own = b'y' * (32 * 2**20)\nprint(len(own))\n")

    finished, peak_mib = run_measured(script)

    assert finished.returncode == 0 and finished.stdout.strip() == str(32 * MIB)
    assert 32 <= peak_mib < 80, peak_mib
    # What the benchmark used to read: the kernel carries the parent's peak into the exec'd child.
    inherited_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    assert inherited_mib >= 96, inherited_mib
    assert len(ballast) == 96 * MIB and sys.platform == "linux"
