"""`clue sweep` with three tiny models: one after another vs two Ray workers, and Ray's overhead per model.

Everything is built on the spot and offline (synthetic test sets, the demo protocol, three tiny random
Llama-style models: chat template with a system turn, without one, and none). Then, for each repetition:

1. the serial sweep (``clue.sweep.run_sweep`` without Ray) into a fresh run: wall seconds;
2. the same sweep as Ray tasks on a local instance (``num_cpus=2``: two workers at once, 127.0.0.1, no
   dashboard) into a fresh run: wall seconds from the first submission to the last merge, and per model
   the seconds from submission to the worker entering the task (scheduling, worker start, arguments) and
   to the worker calling ``evaluate`` (its inputs in place, the store seeded): Ray's overhead before the
   first request. The Ray instance is started once, before the first repetition (its start is reported).

    .venv/bin/python bench/sweep_ray.py --json bench/out/sweep_ray.json

The load average is recorded before and after: other processes share the cores.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_DIR))
sys.path.insert(0, str(PROJECT_DIR / "bench"))

from generation_throughput import prepare_workspace  # noqa: E402


def build_models(ws: dict, root: Path) -> list[Path]:
    from clue.testing.tiny import build_tiny_model, corpus_from_test_sets

    corpus = corpus_from_test_sets(ws["data"])
    return [build_tiny_model(root / name, chat=chat, seed=index, max_position_embeddings=2048, extra_corpus=corpus)
            for index, (name, chat) in enumerate((("chat", "system"), ("nosys", "no-system"), ("base", None)))]


def sweep_once(ws: dict, listing: Path, results: Path, run: str, args, ray_address: str | None) -> dict:
    from clue.runner import EvalOptions
    from clue.sweep import SweepOptions, run_sweep

    template = EvalOptions(model="", protocol="demo", protocol_dir=str(ws["protocol"]), data_dir=str(ws["data"]),
                           results_dir=str(results), run=run, tasks=args.tasks, limit=args.limit,
                           batch_size=args.batch_size, metrics="all,-bertscore,-umls", progress=False)
    started = time.perf_counter()
    outcome = run_sweep(SweepOptions(eval=template, models=str(listing), ray_address=ray_address,
                                     shared_fs=args.shared_fs, progress=False))
    wall = time.perf_counter() - started
    assert not outcome.failed, [r.reason for r in outcome.failed]
    report = {"wall_s": round(wall, 2), "models": {}}
    manifest = json.loads((outcome.run_dir / "manifest.json").read_text(encoding="utf-8"))
    for key, entry in manifest["models"].items():
        facts = {"evaluate_total_s": round(entry["timings"]["total_s"], 2)}
        worker = entry.get("sweep")
        if worker:
            facts.update(submit_to_worker_s=round(worker["entered_at"] - worker["submitted_at"], 3),
                         submit_to_evaluate_s=round(worker["evaluating_at"] - worker["submitted_at"], 3),
                         worker_total_s=round(worker["finished_at"] - worker["submitted_at"], 2))
        report["models"][key] = facts
    return report


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", default="mednli,meqsum,problem_summary")
    parser.add_argument("--limit", type=int, default=24, help="items per task")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--shared-fs", default="auto", choices=["auto", "never"])
    parser.add_argument("--workdir", type=Path, help="reuse this folder for the workspace and models")
    parser.add_argument("--json", type=Path, help="write the report here too")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    root = args.workdir or Path(tempfile.mkdtemp(prefix="clue-sweep-bench-"))
    ws = prepare_workspace(root / "workspace", 1.0, 0)
    models = build_models(ws, root / "models")
    listing = root / "models.txt"
    listing.write_text("\n".join(str(m) for m in models) + "\n", encoding="utf-8")
    report = {"load_before": os.getloadavg(), "cpus": os.cpu_count(), "tasks": args.tasks, "limit": args.limit,
              "batch_size": args.batch_size, "shared_fs": args.shared_fs, "serial": [], "ray": []}
    from clue.sweep import connect_ray

    started = time.perf_counter()
    ray = connect_ray("local", num_cpus=2)
    report["ray_start_s"] = round(time.perf_counter() - started, 2)
    report["ray_version"] = ray.__version__
    stamp = int(time.time())
    for repeat in range(args.repeats):
        report["serial"].append(sweep_once(ws, listing, root / "results", f"serial-{stamp}-{repeat}", args, None))
        report["ray"].append(sweep_once(ws, listing, root / "results", f"ray-{stamp}-{repeat}", args, "local"))
        print(json.dumps({"repeat": repeat, "serial_s": report["serial"][-1]["wall_s"],
                          "ray_s": report["ray"][-1]["wall_s"]}), flush=True)
    ray.shutdown()
    report["load_after"] = os.getloadavg()
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n", encoding="utf-8")
    return report


if __name__ == "__main__":
    main()
