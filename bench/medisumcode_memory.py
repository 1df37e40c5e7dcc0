"""Peak resident memory of the kit's MeDiSumCode build, phase by phase.

Runs ``clue.data.build.build("medisumcode", ...)`` in this process on the inputs of
``bench/medisumcode_bench.py`` (``--workdir``, generated there) and wraps each phase: hashing
each input, indexing the discharge file, fetching the chosen notes, streaming the diagnoses,
mapping the codes, writing the outputs. Before a phase the kernel's peak-RSS mark is reset
(``/proc/self/clear_refs``, value 5), after it ``VmHWM`` is that phase's peak and ``VmRSS`` what
it left behind. ``--no-hash-phase`` runs the build with the hashing replaced by a cached value
(as a build trusting the hash cache did before every build re-hashed), to compare.

    python bench/medisumcode_memory.py --workdir bench/out/work
    MALLOC_MMAP_THRESHOLD_=131072 python bench/medisumcode_memory.py --workdir bench/out/work

Linux only (``/proc``). Prints one line per phase and writes ``--json`` if given.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_DIR))


def _status_mb(field: str) -> float:
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


class Phases:
    """Wraps functions so that each call is measured as one phase."""

    def __init__(self) -> None:
        self.rows: list[dict] = []
        self.depth = 0

    def wrap(self, owner, name: str, label: str) -> None:
        original = getattr(owner, name)

        @functools.wraps(original)
        def measured(*args, **kwargs):
            if self.depth:          # a phase inside a phase: measured by the outer one
                return original(*args, **kwargs)
            before = _status_mb("VmRSS")
            peak_before = _status_mb("VmHWM")
            reset = _reset_peak()
            started = time.perf_counter()
            self.depth += 1
            try:
                return original(*args, **kwargs)
            finally:
                self.depth -= 1
                row = {"phase": label, "rss_before_mb": round(before, 1),
                       "peak_mb": round(_status_mb("VmHWM"), 1) if reset else None,
                       "rss_after_mb": round(_status_mb("VmRSS"), 1),
                       "peak_so_far_mb": round(max(peak_before, _status_mb("VmHWM")), 1),
                       "seconds": round(time.perf_counter() - started, 2)}
                self.rows.append(row)
                print(f"{label:28} rss before {row['rss_before_mb']:8.1f} MB   peak {row['peak_mb']} MB   "
                      f"rss after {row['rss_after_mb']:8.1f} MB   {row['seconds']:6.2f} s", flush=True)

        setattr(owner, name, measured)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=PROJECT_DIR / "bench" / "out" / "work",
                        help="the workdir of bench/medisumcode_bench.py (its raw/ inputs)")
    parser.add_argument("--no-hash-phase", action="store_true",
                        help="skip hashing (the sha256 is taken from SHA256SUMS.txt), to compare")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    start_rss = _status_mb("VmRSS")
    from clue.data import build as build_module
    from clue.data.recipes import medisumcode, readers

    phases = Phases()
    if args.no_hash_phase:
        def trusted(path, raw_dir, reuse=True):
            source = next(s for s in build_module.load_registry().values() if Path(path).name in s.path)
            return build_module.expected_sha256(source, Path(path))[0]

        build_module.cached_sha256 = trusted
    else:
        phases.wrap(build_module, "cached_sha256", "hash an input")
    phases.wrap(medisumcode, "index_csv", "index discharge notes")
    phases.wrap(readers.CsvIndex, "fetch", "fetch the chosen notes")
    phases.wrap(medisumcode, "read_diagnoses", "stream the diagnoses")
    phases.wrap(medisumcode.IcdCoder, "__init__", "load icd10")
    phases.wrap(build_module, "write_outputs", "write outputs")
    imported = _status_mb("VmRSS")
    started = time.perf_counter()
    results = build_module.build("medisumcode", raw_dir=args.workdir / "raw", out_dir=args.workdir / "memory-data")
    report = {"start_rss_mb": round(start_rss, 1), "after_imports_rss_mb": round(imported, 1),
              "phases": phases.rows, "peak_rss_mb": round(_status_mb("VmHWM"), 1),
              "wall_s": round(time.perf_counter() - started, 1), "sha256": results[0].sha256,
              "overall_peak_rss_mb": round(max([r["peak_so_far_mb"] for r in phases.rows] + [_status_mb("VmHWM")]), 1)}
    print(f"whole build: {report['wall_s']} s, highest phase peak "
          f"{max((r['peak_mb'] or 0) for r in phases.rows):.1f} MB, output sha256 {results[0].sha256[:16]}…")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


if __name__ == "__main__":
    main()
