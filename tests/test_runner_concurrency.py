"""Two processes on one run (issue 11, item 3): the second stops at once naming the first's PID, a
SIGKILLed holder blocks nobody, nothing is generated twice and the manifest survives."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from clue.runner import EvalOptions, evaluate
from clue.runlock import RunInUse
from clue.store import GenerationStore


PROJECT = Path(__file__).resolve().parents[1]


def _command(model, ws, results, run):
    return [sys.executable, "-m", "clue", "evaluate", "--model", str(model), "--protocol", "upstream", "--sample",
            "--seed", "3", "--protocol-dir", str(ws["protocol"]), "--data-dir", str(ws["data"]),
            "--results-dir", str(results), "--run", run, "--tasks", "mednli,meqsum", "--limit", "2",
            "--batch-size", "2", "--metrics", "all,-bertscore,-umls", "--no-progress"]


@pytest.mark.slow
def test_two_evaluate_processes_started_together_never_generate_twice(tiny_models, workspace, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(PROJECT)}
    results = tmp_path / "results"
    command = _command(tiny_models["chat"], workspace, results, "together")
    processes = [subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]
    outcomes = [(p.wait(timeout=300), p.stderr.read(), p.pid) for p in processes]
    codes = sorted(code for code, _, _ in outcomes)
    # [0, 0] only when one process finished before the other reached the run (then it generated nothing)
    assert codes in ([0, 0], [0, 75]), outcomes
    for code, err, _ in outcomes:
        assert "Traceback" not in err
        if code == 75:
            winner = next(pid for c, _, pid in outcomes if c == 0)
            assert f"in use by PID {winner} (clue evaluate since" in err and err.strip().count("\n") == 0
    entry = json.loads((results / "together" / "manifest.json").read_text())["models"]["chat"]
    assert entry["status"] == "complete" and set(entry["tasks"]) == {"mednli", "meqsum"}
    with GenerationStore(results / "together" / "store.sqlite") as store:
        assert store.count() == sum(task["n_requests"] for task in entry["tasks"].values())
        assert store.max_times_generated() == 1                  # nothing generated twice
        assert store.total_generations() == store.count()
    assert (results / "together" / ".run.lock").read_text() == ""   # released: no holder recorded


HOLDER = textwrap.dedent("""
    import sys, time
    from clue.runlock import RunLock
    RunLock().hold(sys.argv[1], "test holder")
    print("HELD", flush=True)
    time.sleep(120)
""")


def test_a_live_holder_stops_evaluate_and_a_killed_one_blocks_nobody(workspace, tmp_path):
    results = tmp_path / "results"
    options = EvalOptions(model="baseline", protocol="paper", protocol_dir=str(workspace["protocol"]),
                          data_dir=str(workspace["data"]), results_dir=str(results), run="held", tasks="mednli",
                          limit=2, metrics="all,-bertscore,-umls", progress=False)
    evaluate(options)                                              # a finished run to protect
    manifest = (results / "held" / "manifest.json").read_bytes()
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(results / "held")], cwd=PROJECT,
                              env={**os.environ, "PYTHONPATH": str(PROJECT)}, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "HELD"
        with pytest.raises(RunInUse, match=rf"held: the run is in use by PID {holder.pid} \(test holder since"):
            evaluate(options)
        assert (results / "held" / "manifest.json").read_bytes() == manifest   # untouched
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    assert json.loads((results / "held" / ".run.lock").read_text())["pid"] == holder.pid   # stale file left
    outcome = evaluate(options)                                    # ... and it blocks nobody
    assert [t.n_generated for t in outcome.tasks] == [0]
