"""Formats other tools read: lm-evaluation-harness results JSON, a Hugging Face Dataset, LaTeX alignment."""

from __future__ import annotations

import json
import math

import pytest

from clue.cli import main
from clue.data import load_dataset
from clue.errors import InputError
from clue.runner import EvalOptions, evaluate
from clue.taskinfo import TASKS


@pytest.fixture(scope="module")
def run(workspace, tmp_path_factory):  # noqa: F811
    results = tmp_path_factory.mktemp("formats-results")
    return evaluate(EvalOptions(model="baseline", protocol="paper", protocol_dir=str(workspace["protocol"]),
                                data_dir=str(workspace["data"]), results_dir=str(results), run="fmt", limit=3,
                                metrics="all,-bertscore,-umls", progress=False)).run_dir


def test_lm_eval_results_file(run, tmp_path, capsys):
    out = tmp_path / "results.json"
    main(["tables", str(run), "--format", "lm-eval", "--out", str(out)])
    doc = json.load(open(out, encoding="utf-8"))
    assert {"results", "configs", "versions", "n-samples", "config"} <= set(doc)
    manifest = json.loads((run / "manifest.json").read_text())
    entry = manifest["models"]["baseline"]
    for task in TASKS:
        scores = json.loads((run / "baseline" / task.id / "scores.json").read_text())
        result = doc["results"][task.id]
        assert result["alias"] == task.name
        for metric in task.metrics:
            if metric in scores["missing_metrics"]:
                assert f"{metric},none" not in result and metric in doc["clue"]["missing_metrics"][task.id]
            else:
                assert math.isclose(result[f"{metric},none"] * 100, scores["metrics"][metric], abs_tol=1e-12)
                assert result[f"{metric}_stderr,none"] == "N/A"
        if not scores["missing_metrics"]:
            mean = sum(scores["metrics"][m] for m in task.metrics) / len(task.metrics)
            assert math.isclose(result["score,none"] * 100, mean, abs_tol=1e-9)
        assert doc["n-samples"][task.id] == {"original": entry["datasets"][task.id].get("rows"), "effective": scores["n_items"]}
        config = doc["configs"][task.id]
        assert config["dataset_sha256"] == entry["datasets"][task.id]["sha256"]
        assert config["generation_kwargs"]["max_gen_toks"] == entry["tasks"][task.id]["decoding"][0]["max_new_tokens"]
        assert config["metric_list"][0]["aggregation"] == scores["averaging"]
        assert doc["versions"][task.id] == entry["datasets"][task.id].get("recipe_version")
    assert doc["n-shot"]["mednli"] == 3 and doc["n-shot"]["longhealth"] == 0
    assert doc["config"]["model"] == "baseline" and doc["config"]["limit"] == 3
    assert doc["config"]["model_args"].startswith("pretrained=baseline")
    assert doc["git_hash"] == manifest["kit"]["git_commit"]
    # levels: MeQSum and friends lack BERTScore here, so both levels are empty and not made up
    assert "score,none" not in doc["groups"]["clue_level1"]

    capsys.readouterr()
    main(["tables", str(run), "--format", "lm-eval"])
    assert json.loads(capsys.readouterr().out) == doc
    with pytest.raises(SystemExit):
        main(["tables", str(run), "--format", "lm-eval", "--compare", "paper"])


def _without_none(value):
    """A record as Arrow gives it back, less the keys Arrow adds (as None) to objects whose keys vary."""
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value]
    return value


def test_load_dataset_equals_the_test_set(workspace, tmp_path):  # noqa: F811
    import datasets

    from clue.io import sha256_file, write_json

    data = workspace["data"]
    for task in TASKS:
        path = data / task.id / "test.jsonl"
        copy = tmp_path / task.id / "test.jsonl"
        copy.parent.mkdir(parents=True)
        copy.write_bytes(path.read_bytes())
        write_json(copy.parent / "manifest.json", {"task": task.id, "sha256": sha256_file(copy)})
        dataset = load_dataset(task.name, tmp_path)
        assert isinstance(dataset, datasets.Dataset) and dataset.split == "test"
        records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        assert len(dataset) == len(records)
        assert [_without_none(row) for row in dataset] == records
        assert json.loads(dataset.info.description)["sha256"] == sha256_file(path)

    target = tmp_path / "mednli" / "test.jsonl"
    target.write_text(target.read_text() + target.read_text().splitlines()[0] + "\n")
    with pytest.raises(InputError, match="differs from"):
        load_dataset("mednli", tmp_path)
    with pytest.raises(InputError, match="not built"):
        load_dataset("mednli", tmp_path / "nowhere")


def test_latex_numbers_are_right_aligned(run):
    from clue.report.tables import render, tables_for_runs

    latex = render(tables_for_runs([run], compare="paper", aliases={"baseline": "Meta-Llama-3-8B-Instruct"}), "latex")
    specs = [line.split("{tabular}{")[1].rstrip("}") for line in latex.splitlines() if line.startswith("\\begin{tabular}")]
    assert specs[0] == "ll" + "r" * 9          # summary: Model, Source, six tasks, two levels, overall
    assert specs[1] == "ll" + "rr"             # MedNLI: accuracy, score
    assert specs[-1] == "lllll" + "rrr"        # comparison: model, source, paper model, task, metric | run, paper, Δ
    body = latex.split("\\midrule")[1]
    assert " & " in body
