"""A run killed with SIGKILL part-way and started again: nothing generated twice, same results."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from clue.runner import EvalOptions, evaluate
from clue.store import GenerationStore


TASKS = "mednli,meqsum,longhealth"


def _command(model, ws, results, run):
    return [sys.executable, "-m", "clue", "evaluate", "--model", str(model), "--protocol", "upstream", "--sample",
            "--seed", "3", "--protocol-dir", str(ws["protocol"]), "--data-dir", str(ws["data"]),
            "--results-dir", str(results), "--run", run, "--tasks", TASKS, "--limit", "3", "--batch-size", "2",
            "--metrics", "all,-bertscore,-umls", "--no-progress"]


def _stored(path: Path) -> int:
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1) as db:
            return db.execute("SELECT COUNT(*) FROM completions").fetchone()[0]
    except sqlite3.OperationalError:   # table not created yet
        return 0


def _outputs(model_dir: Path) -> dict:
    return {task: ((model_dir / task / "scores.json").read_text(),
                   [(row["id"], row["completion"]) for row in map(json.loads, (model_dir / task / "predictions.jsonl").open())])
            for task in TASKS.split(",")}


@pytest.mark.slow
def test_killed_run_resumes_without_regenerating(tiny_models, workspace, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    results = tmp_path / "results"
    store_path = results / "killed" / "store.sqlite"
    process = subprocess.Popen(_command(tiny_models["chat"], workspace, results, "killed"), env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while _stored(store_path) < 6 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    at_kill = _stored(store_path)
    assert process.returncode == -signal.SIGKILL, process.stderr.read().decode()[-2000:]
    assert not (results / "killed" / "chat" / "longhealth" / "scores.json").exists()

    finished = subprocess.run(_command(tiny_models["chat"], workspace, results, "killed"), env=env,
                              capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert "LongHealth" in finished.stdout

    with GenerationStore(store_path) as store:
        total = store.count()
        assert 0 < at_kill < total                      # the kill really came part-way
        assert store.max_times_generated() == 1         # nothing generated twice
        assert store.total_generations() == total

    uninterrupted = evaluate(EvalOptions(
        model=str(tiny_models["chat"]), protocol="upstream", greedy=False, seed=3,
        protocol_dir=str(workspace["protocol"]), data_dir=str(workspace["data"]), results_dir=str(results),
        run="whole", tasks=TASKS, limit=3, batch_size=2, metrics="all,-bertscore,-umls", progress=False))
    assert _outputs(results / "killed" / "chat") == _outputs(uninterrupted.model_dir)
