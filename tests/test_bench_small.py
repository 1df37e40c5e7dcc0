"""The MeDiSumCode benchmark at a tiny scale: the kit's build and the literal original algorithm
(bench/literal_medisumcode.py) give the same bytes on the same synthetic files."""

from __future__ import annotations

import gzip
import importlib.util
import json
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parents[1]


def _bench():
    spec = importlib.util.spec_from_file_location("medisumcode_bench", PROJECT_DIR / "bench" / "medisumcode_bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_kit_and_literal_give_identical_bytes(tmp_path):
    bench = _bench()
    report = bench.main(["--notes", "1500", "--diagnoses", "20000", "--workdir", str(tmp_path / "w"),
                         "--json", str(tmp_path / "result.json")])
    results = report["results"]
    assert results["identical_bytes"] is True
    kit_bytes = (tmp_path / "w" / "kit-data" / "medisumcode" / "test.jsonl").read_bytes()
    assert kit_bytes == (tmp_path / "w" / "literal.jsonl").read_bytes()

    records = [json.loads(line) for line in kit_bytes.decode().splitlines()]
    assert len(records) == 500
    # the selection is the seeded shuffle, not the file order, and codes were attached
    assert [r["hadm_id"] for r in records[:5]] != [a.hadm_id for a in bench.make_admissions(5, 0)]
    assert sum(bool(r["icd_codes"]) for r in records) > 400
    for name in ("kit", "literal"):
        assert results[name]["wall_s"] > 0 and results[name]["peak_rss_mb"] > 10
    assert json.loads((tmp_path / "result.json").read_text())["results"]["identical_bytes"] is True
    # exactly the asked-for number of diagnoses rows, still sorted by (subject_id, hadm_id)
    with gzip.open(tmp_path / "w" / "raw" / "mimiciv/2.2/hosp/diagnoses_icd.csv.gz", "rt") as handle:
        rows = [line.split(",") for line in handle.read().splitlines()[1:]]
    assert len(rows) == 20000
    assert [(r[0], r[1]) for r in rows] == sorted((r[0], r[1]) for r in rows)

    # --reuse keeps the generated inputs
    discharge = tmp_path / "w" / "raw" / "mimic-iv-note/2.2/note/discharge.csv.gz"
    mtime = discharge.stat().st_mtime_ns
    bench.main(["--notes", "1500", "--diagnoses", "20000", "--workdir", str(tmp_path / "w"), "--reuse",
                "--skip-literal", "--json", str(tmp_path / "again.json")])
    assert discharge.stat().st_mtime_ns == mtime


def test_codes_per_admission_calibration():
    bench = _bench()
    mean = bench.codes_per_admission(4_756_326, 384_000)
    expected_rows = 384_000 * (1 - bench.WITHOUT_CODES) * bench._expected_codes(mean)
    assert abs(expected_rows - 4_756_326) < 1


def test_a_measured_child_reports_its_own_peak_not_the_benchmarks(tmp_path):
    """wait4's ru_maxrss reports a child as large as its parent ever was; the bench reads the child's VmHWM."""
    import sys

    bench = _bench()
    ballast = b"x" * (300 << 20)            # the benchmark process holding 300 MB, as after generating inputs
    result = bench.measure([sys.executable, "-c", "import sys; open(sys.argv[1], 'w').write('ok')",
                            str(tmp_path / "touched")], tmp_path / "child.log")
    assert (tmp_path / "touched").read_text() == "ok"
    assert result["rusage_maxrss_mb"] >= 300 and result["parent_peak_rss_mb"] >= 300
    assert 5 < result["peak_rss_mb"] < 100
    del ballast
