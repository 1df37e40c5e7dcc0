"""`clue demo`: the whole offline chain, with its banner, every metric column and a resumable run."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import pytest

from click.testing import CliRunner

from clue.cli import cli
from clue.taskinfo import TASK_IDS, TASKS
from clue.demo.run import BANNER

# What the demo writes, recorded before the structural refactors of issue 12 (typed records, task
# registry, runner in steps): they must leave every byte of it as it was. The model's path is the only
# part that differs between two demo folders; it is replaced by <MODEL>, and runs of spaces and dashes in the
# tables (their widths follow the path's length) are collapsed. Deterministic on this torch CPU build;
# CLUE_UPDATE_GOLDEN=1 rewrites the file, for a change that means to alter outputs (say so in its commit).
GOLDEN = Path(__file__).parent / "fixtures" / "golden" / "demo_limit2.json"


def _outputs(demo: Path) -> dict[str, str]:
    run, model = demo / "results" / "demo", str(demo / "tiny-model")
    found = {}
    for path in sorted((run / "tiny-model").glob("*/*")):
        if path.name in ("predictions.jsonl", "scores.json"):
            text = path.read_text(encoding="utf-8").replace(json.dumps(model)[1:-1], "<MODEL>")
            found[f"{path.parent.name}/{path.name}"] = hashlib.sha256(text.encode()).hexdigest()
    tables = CliRunner().invoke(cli, ["tables", str(run)])
    assert tables.exit_code == 0, tables.output
    found["clue tables"] = re.sub(r"-{3,}", "---", re.sub(r" +", " ", tables.output.replace(model, "<MODEL>")))
    return found


@pytest.mark.slow
def test_demo_runs_the_chain_offline_and_says_it_is_not_clue(tmp_path):
    result = CliRunner().invoke(cli, ["demo", "--out", str(tmp_path / "demo"), "--limit", "2", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert result.output.count(BANNER) == 2 and "NOT CLUE numbers" in BANNER
    for task in TASKS:
        assert task.name in result.output

    run = tmp_path / "demo" / "results" / "demo"
    outputs = _outputs(tmp_path / "demo")
    if os.environ.get("CLUE_UPDATE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(json.dumps(outputs, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert outputs.keys() == golden.keys()
    for name, value in golden.items():
        assert outputs[name] == value, f"the demo's {name} changed"
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
