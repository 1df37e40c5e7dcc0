"""`clue sweep` with three tiny models and the baseline: one after another, and as Ray tasks on a local instance
(started once for this module: 2 CPUs, services on 127.0.0.1, no dashboard). A model with a bad path fails alone;
a driver killed mid-sweep and restarted generates nothing twice and ends with the uninterrupted sweep's results;
a worker killed mid-model is retried; merging a worker's folder is checked piece by piece."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from clue.runner import EvalOptions, evaluate
from clue.store import GenerationStore
from clue.sweep import SweepOptions, merge_staged, report_tables, run_sweep, summary

pytestmark = pytest.mark.slow   # sweeps of several models, a local Ray instance

TASKS = "mednli,meqsum"
MODELS = ("chat", "nosys", "base", "baseline")
BAD = "/nonexistent/clue-model"


def _listing(folder: Path, tiny_models, bad: bool = True) -> Path:
    lines = [str(tiny_models[n]) for n in MODELS[:3]] + ["baseline"] + ([BAD] if bad else [])
    path = folder / "models.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def _template(ws, results: Path, run: str) -> EvalOptions:
    return EvalOptions(model="", protocol="paper", protocol_dir=str(ws["protocol"]), data_dir=str(ws["data"]),
                       results_dir=str(results), run=run, tasks=TASKS, limit=2, batch_size=2,
                       metrics="all,-bertscore,-umls", progress=False)


def _cli_args(ws, listing: Path, results: Path, run: str) -> list[str]:
    return ["sweep", "--models", str(listing), "--protocol", "paper", "--protocol-dir", str(ws["protocol"]),
            "--data-dir", str(ws["data"]), "--results-dir", str(results), "--run", run, "--tasks", TASKS,
            "--limit", "2", "--batch-size", "2", "--metrics", "all,-bertscore,-umls", "--no-progress"]


def _outputs(run_dir: Path, key: str) -> dict:
    found = {}
    for task in TASKS.split(","):
        scores = json.loads((run_dir / key / task / "scores.json").read_text())
        rows = [json.loads(line) for line in (run_dir / key / task / "predictions.jsonl").open()]
        found[task] = (scores, [(r["id"], r["completion"], r["scores"]) for r in rows])
    return found


def _store(run_dir: Path) -> tuple[int, int, int]:
    with GenerationStore(run_dir / "store.sqlite") as store:
        return store.count(), store.total_generations(), store.max_times_generated()


@pytest.fixture(scope="module")
def serial(tiny_models, workspace, tmp_path_factory):
    """The uninterrupted reference: the five-line list evaluated here, one model after another."""
    root = tmp_path_factory.mktemp("sweep-serial")
    listing = _listing(root, tiny_models)
    outcome = run_sweep(SweepOptions(eval=_template(workspace, root / "results", "serial"), models=str(listing),
                                     progress=False))
    return outcome, listing


def test_serial_sweep_lands_every_model_in_one_run_and_the_bad_one_fails_alone(serial, tiny_models):
    outcome, _ = serial
    statuses = {r.model_dir: r.status for r in outcome.results}
    assert statuses == {"chat": "complete", "nosys": "complete", "base": "complete", "baseline": "complete",
                        "clue-model": "failed"}
    failed = outcome.failed[0]
    assert "\n" not in failed.reason and BAD in failed.reason
    manifest = json.loads((outcome.run_dir / "manifest.json").read_text())
    assert sorted(manifest["models"]) == sorted(MODELS)
    assert {e["status"] for e in manifest["models"].values()} == {"complete"}
    count, total, most = _store(outcome.run_dir)
    assert most == 1 and total == count == 3 * 2 * 2 + 2 * 2     # tiny models: 2 tasks x 2 items; baseline too
    assert "Failed: " + BAD in summary(outcome)
    tables = report_tables(outcome)
    for model in [str(tiny_models[n]) for n in MODELS[:3]] + ["baseline"]:
        assert f"| {model} " in tables
    assert "| serial " in tables and "Biomedical vs base" in tables
    recorded = json.loads((outcome.run_dir / "sweep.json").read_text())["models"]
    assert recorded[BAD]["status"] == "failed" and recorded["baseline"]["status"] == "complete"


def test_serial_rerun_keeps_complete_models_and_exits_1_for_the_failure(serial, workspace):
    from clue.cli import cli

    outcome, listing = serial
    before = _store(outcome.run_dir)
    result = CliRunner().invoke(cli, _cli_args(workspace, listing, outcome.run_dir.parent, "serial"))
    assert result.exit_code == 1, result.output
    assert result.stderr.count(": already complete in ") == 4 and result.stdout.count("| already complete ") == 4
    assert "Failed: " + BAD in result.output and "Level 1" in result.output
    assert _store(outcome.run_dir) == before                         # nothing generated again


def test_merge_adds_only_what_the_worker_generated(tiny_models, workspace, tmp_path):
    """A worker folder seeded with the driver's rows: merged, only its new rows count; files and entry arrive."""
    driver = tmp_path / "results" / "driver"
    first = _template(workspace, tmp_path / "results", "driver")
    evaluate(EvalOptions(**{**first.__dict__, "model": "baseline", "tasks": "mednli", "limit": 2}))
    worker_results = tmp_path / "worker"
    staged = worker_results / "run"
    with GenerationStore(driver / "store.sqlite") as store:
        seed = store.rows("baseline")
    with GenerationStore(staged / "store.sqlite") as store:
        store.merge_rows(seed)
    (staged / "seeded.json").write_text(json.dumps({"id": "worker-1:a", "rows": {row[0]: row[-2] for row in seed}}))
    evaluate(EvalOptions(**{**first.__dict__, "model": "baseline", "results_dir": str(worker_results), "run": "run",
                            "tasks": TASKS}))
    added = merge_staged(driver, staged, "baseline", {"host": "worker-1"})
    assert added == 2                                          # meqsum's two items; mednli's came with the seed
    assert _store(driver) == (4, 4, 1)
    # a driver killed after merging but before removing the folder meets it again (salvage, or a repeated merge)
    assert merge_staged(driver, staged, "baseline", {"host": "worker-1"}) == 0
    assert _store(driver) == (4, 4, 1)
    entry = json.loads((driver / "manifest.json").read_text())["models"]["baseline"]
    assert entry["status"] == "complete" and entry["task_ids"] == ["mednli", "meqsum"]
    assert entry["options"]["results_dir"] == str(driver.parent.resolve()) and entry["options"]["run"] == "driver"
    assert entry["sweep"]["host"] == "worker-1" and entry["sweep"]["worker_paths"]["run"] == "run"
    assert _outputs(driver, "baseline") == _outputs(staged, "baseline")
    assert not any(p.name.startswith(".baseline.") for p in driver.iterdir())     # no half-swapped folder left
    from clue.runner import score_run

    score_run(driver)                                            # the merged run re-scores from its own store


# ------------------------------------------------------------------------- Ray

@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    from clue.sweep import connect_ray

    marker = tmp_path_factory.mktemp("fault") / "nosys-killed-once"
    saved = {k: os.environ.get(k) for k in ("CLUE_SWEEP_FAULT", "RAY_USAGE_STATS_ENABLED", "OMP_NUM_THREADS",
                                            "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER")}
    os.environ.update(CLUE_SWEEP_FAULT=f"kill-once:{marker}:nosys", RAY_USAGE_STATS_ENABLED="0", OMP_NUM_THREADS="1")
    ray = connect_ray("local", num_cpus=2)
    assert ray.get_runtime_context().gcs_address.startswith("127.0.0.1:")       # loopback only
    assert {n["NodeManagerAddress"] for n in ray.nodes()} == {"127.0.0.1"}
    yield ray, marker
    ray.shutdown()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def test_ray_sweep_without_shared_files_equals_the_serial_one(serial, ray_cluster, tiny_models, workspace, tmp_path):
    ray, marker = ray_cluster
    reference, listing = serial
    outcome = run_sweep(SweepOptions(eval=_template(workspace, tmp_path, "ray"), models=str(listing),
                                     ray_address="local", shared_fs="never", progress=False))
    statuses = {r.model_dir: r.status for r in outcome.results}
    assert statuses == {"chat": "complete", "nosys": "complete", "base": "complete", "baseline": "complete",
                        "clue-model": "failed"}
    assert BAD in outcome.failed[0].reason and "\n" not in outcome.failed[0].reason
    manifest = json.loads((outcome.run_dir / "manifest.json").read_text())["models"]
    killed_pid = int(marker.read_text())    # the nosys worker was killed mid-model once, and Ray ran it again
    assert manifest["nosys"]["sweep"]["pid"] != killed_pid
    for key in MODELS:
        assert manifest[key]["status"] == "complete"
        assert manifest[key]["sweep"]["transfer"] == "archive"
        assert _outputs(outcome.run_dir, key) == _outputs(reference.run_dir, key)
    count, total, most = _store(outcome.run_dir)
    assert most == 1 and total == count == _store(reference.run_dir)[0]
    assert not list((outcome.run_dir / ".sweep").glob("incoming/*"))      # staged copies removed after merging


def _statuses(run_dir: Path) -> dict:
    try:
        return {k: v["status"] for k, v in json.loads((run_dir / "sweep.json").read_text())["models"].items()}
    except (OSError, ValueError, KeyError):
        return {}


def test_ray_driver_killed_mid_sweep_resumes_without_generating_twice(serial, ray_cluster, tiny_models, workspace,
                                                                      tmp_path):
    ray, _ = ray_cluster
    reference, _ = serial
    listing = _listing(tmp_path, tiny_models, bad=False)
    address = ray.get_runtime_context().gcs_address
    command = [sys.executable, "-m", "clue", *_cli_args(workspace, listing, tmp_path / "results", "killed"),
               "--ray-address", address, "--no-tables"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    run_dir = tmp_path / "results" / "killed"
    driver = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while "complete" not in _statuses(run_dir).values() and driver.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait()
    at_kill = _statuses(run_dir)
    assert driver.returncode == -signal.SIGKILL, driver.stderr.read().decode()[-3000:]
    assert "complete" in at_kill.values() and "pending" in at_kill.values(), at_kill   # after one model, mid-sweep

    finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=400)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert "already complete" in finished.stderr
    count, total, most = _store(run_dir)
    assert most == 1 and total == count == _store(reference.run_dir)[0], (count, total, most, finished.stderr[-3000:])
    for key in MODELS:                                                      # nothing generated twice, same results
        assert _outputs(run_dir, key) == _outputs(reference.run_dir, key)
    assert set(_statuses(run_dir).values()) <= {"complete", "already complete"}
    manifest = json.loads((run_dir / "manifest.json").read_text())["models"]
    assert {entry["sweep"]["transfer"] for entry in manifest.values()} == {"shared"}     # one machine: a shared disk


def test_worker_without_the_drivers_files_uses_the_copies_sent_along(serial, ray_cluster, tiny_models, workspace,
                                                                     tmp_path):
    """The worker function called here as a node would run it: the test set and protocol paths it was given do not
    exist there, so it unpacks the driver's copies; its folder comes back as an archive and merges like any other."""
    from dataclasses import asdict

    from clue.sweep import _data_digests, evaluate_remote, pack_inputs, unpack

    ray, _ = ray_cluster
    reference, _ = serial
    driver = tmp_path / "results" / "shipped"
    options = _template(workspace, tmp_path / "results", "shipped")
    options.model = str(tiny_models["base"])
    inputs = [ray.put(pack_inputs([(None, options, 0)]))]
    elsewhere = {**asdict(options), "data_dir": str(tmp_path / "absent" / "data"),
                 "protocol_dir": str(tmp_path / "absent" / "protocol")}
    payload = {"options": elsewhere, "key": "base", "name": "base", "run_dir": str(driver), "token": "not-seen",
               "shared_fs": "auto", "submitted_at": time.time(), "seed_rows": [], "data": _data_digests(options)}
    returned = evaluate_remote(payload, inputs)
    assert set(returned) == {"archive", "worker"}          # the worker could not see the run folder
    incoming = tmp_path / "incoming"
    unpack(returned["archive"], incoming)
    entry = json.loads((incoming / "run" / "manifest.json").read_text())["models"]["base"]
    assert entry["options"]["data_dir"].endswith("/inputs/data")        # the copies were used, not the absent paths
    paths = {"data_dir": options.data_dir, "protocol_dir": options.protocol_dir}
    assert merge_staged(driver, incoming / "run", "base", returned["worker"], paths) == 4
    assert _outputs(driver, "base") == _outputs(reference.run_dir, "base")
    merged = json.loads((driver / "manifest.json").read_text())["models"]["base"]["options"]
    assert merged["data_dir"] == options.data_dir                       # the driver's own copies again
    from clue.report.verify import verify_run

    assert verify_run(driver).ok                                        # re-scored from the merged store: equal


def test_salvage_keeps_the_completions_a_killed_driver_left_on_the_shared_disk(workspace, tmp_path):
    from clue.sweep import salvage

    driver = tmp_path / "results" / "driver"
    template = _template(workspace, tmp_path / "results", "driver")
    evaluate(EvalOptions(**{**template.__dict__, "model": "baseline", "tasks": "mednli"}))
    leftover = driver / ".sweep" / "work" / "baseline-abc" / "run"
    with GenerationStore(driver / "store.sqlite") as store:
        seed = store.rows("baseline")
    with GenerationStore(leftover / "store.sqlite") as store:
        store.merge_rows(seed)
    (leftover / "seeded.json").write_text(json.dumps({"id": "worker-2:b", "rows": {row[0]: row[-2] for row in seed}}))
    evaluate(EvalOptions(**{**template.__dict__, "model": "baseline", "results_dir": str(leftover.parent),
                            "run": "run"}))      # mednli from the seed, meqsum generated, then the driver "dies"
    assert salvage(driver) == 2
    assert _store(driver) == (4, 4, 1)
    assert not (driver / ".sweep" / "work" / "baseline-abc").exists()
    assert not (driver / "baseline" / "meqsum").exists()       # only completions are kept; the model runs again
