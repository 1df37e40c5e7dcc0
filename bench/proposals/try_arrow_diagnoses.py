"""Time the phases of the kit's MeDiSumCode build, optionally with the proposed pyarrow diagnoses reader.

    python bench/proposals/try_arrow_diagnoses.py RAW_DIR OUT_DIR [arrow]

RAW_DIR: inputs made by bench/medisumcode_bench.py (bench/out/work/raw). The hash cache is removed
first so that the inputs' sha256 are computed, as on a first build.
"""

import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))

import clue.data.build as build_module  # noqa: E402
import clue.data.recipes.medisumcode as recipe  # noqa: E402
import clue.data.recipes.readers as readers  # noqa: E402


def timed(owner, name):
    original = getattr(owner, name)

    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        out = original(*args, **kwargs)
        print(f"{name}: {time.perf_counter() - started:.2f}s", flush=True)
        return out

    setattr(owner, name, wrapper)


def main() -> None:
    raw, out = Path(sys.argv[1]), Path(sys.argv[2])
    if len(sys.argv) > 3 and sys.argv[3] == "arrow":
        import arrow_diagnoses

        recipe.read_diagnoses = arrow_diagnoses.read_diagnoses
    for owner, name in ((build_module, "cached_sha256"), (recipe, "index_csv"), (recipe, "read_diagnoses"),
                        (readers.CsvIndex, "fetch"), (build_module, "write_outputs")):
        timed(owner, name)
    (raw / build_module.HASH_CACHE).unlink(missing_ok=True)
    started = time.perf_counter()
    result = build_module.build("medisumcode", raw_dir=raw, out_dir=out)[0]
    print(f"total {time.perf_counter() - started:.2f}s; {result.rows} rows, sha256 {result.sha256}")


if __name__ == "__main__":
    main()
