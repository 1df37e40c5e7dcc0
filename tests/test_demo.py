"""`clue demo`: the whole offline chain, with its banner, every metric column and a resumable run."""

from __future__ import annotations

import json

import pytest

from click.testing import CliRunner

from clue.cli import cli
from clue.taskinfo import TASK_IDS, TASKS
from clue.testing.demo import BANNER


@pytest.mark.slow
def test_demo_runs_the_chain_offline_and_says_it_is_not_clue(tmp_path):
    result = CliRunner().invoke(cli, ["demo", "--out", str(tmp_path / "demo"), "--limit", "2", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert result.output.count(BANNER) == 2 and "NOT CLUE numbers" in BANNER
    for task in TASKS:
        assert task.name in result.output

    run = tmp_path / "demo" / "results" / "demo"
    manifest = json.loads((run / "manifest.json").read_text())
    entry = manifest["models"]["tiny-model"]
    assert manifest["protocol"]["name"] == "demo" and entry["status"] == "complete"
    assert all(entry["datasets"][t]["sha256"] for t in TASK_IDS)
    for task in TASK_IDS:
        scores = json.loads((run / "tiny-model" / task / "scores.json").read_text())
        assert scores["missing_metrics"] == []            # tiny BERT and tiny UMLS fill every column
        assert 0 < scores["n_items"]
    assert 0.0 < json.loads((run / "tiny-model" / "meqsum" / "scores.json").read_text())["metrics"]["bertscore_f1"]

    again = CliRunner().invoke(cli, ["demo", "--out", str(tmp_path / "demo"), "--limit", "2", "--no-progress"])
    assert again.exit_code == 0, again.output
    rows = [line for line in again.output.splitlines() if line.startswith("| ") and "Task" not in line]
    assert len(rows) == 6 and all(line.split("|")[5].strip() == "0" for line in rows)   # Generated: nothing

    # the demo's run re-scores like any other (tiny BERT and UMLS rebuilt in the demo folder)
    verified = CliRunner().invoke(cli, ["verify", str(run)])
    assert verified.exit_code == 0, verified.output
