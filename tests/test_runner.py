"""`clue evaluate` end to end on tiny models: six tasks, both protocols, three model kinds, files, manifest."""

from __future__ import annotations

import json

import pytest

from clue.errors import NotReadyError
from clue.runner import EvalOptions, evaluate, score_run, summary_table
from clue.store import GenerationStore
from clue.taskinfo import TASK_IDS, task_info

from runner_helpers import read_scores, write_test_sets

FAKE_TOKEN = "hf_FAKEtokenNEVERwritten0123456789"
NO_HEAVY_METRICS = "all,-bertscore,-umls"


def _options(model, ws, tmp_path, **changes) -> EvalOptions:
    base = dict(model=str(model), protocol="paper", protocol_dir=str(ws["protocol"]), data_dir=str(ws["data"]),
                results_dir=str(tmp_path / "results"), run="r", limit=2, batch_size=4,
                metrics=NO_HEAVY_METRICS, progress=False)
    return EvalOptions(**{**base, **changes})


@pytest.mark.parametrize("protocol, kind, layout", [
    ("paper", "chat", "chat-system"),     # the other layouts and protocol: the full suite (slow)
    pytest.param("paper", "nosys", "chat-no-system", marks=pytest.mark.slow),
    pytest.param("paper", "base", "base", marks=pytest.mark.slow),
    pytest.param("upstream", "chat", "chat-system", marks=pytest.mark.slow),
])
def test_six_tasks_end_to_end(protocol, kind, layout, tiny_models, workspace, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", FAKE_TOKEN)
    outcome = evaluate(_options(tiny_models[kind], workspace, tmp_path, protocol=protocol))
    run_dir = tmp_path / "results" / "r"
    assert outcome.model_dir == run_dir / kind
    assert [t.task for t in outcome.tasks] == list(TASK_IDS)

    with GenerationStore(run_dir / "store.sqlite") as store:
        assert store.max_times_generated() == 1
        assert store.count() == sum(t.n_generated for t in outcome.tasks)
    for task_id in TASK_IDS:
        scores = read_scores(outcome.model_dir / task_id)
        predictions = [json.loads(line) for line in (outcome.model_dir / task_id / "predictions.jsonl").open()]
        assert scores["task"] == task_id and scores["protocol"] == protocol and scores["layout"] == layout
        assert scores["n_items"] == len(predictions) == (30 if task_id == "longhealth" else 2)
        assert set(task_info(task_id).metrics) <= set(scores["metrics"]) | set(scores["missing_metrics"])
        assert all(0.0 <= v <= 100.0 for v in scores["metrics"].values())
        assert all(isinstance(v, float) for v in scores["metrics_plain"].values())
        for row in predictions:
            assert len(row["prompt_hash"]) == 64 and isinstance(row["completion"], str) and "reference" in row
            assert all(0.0 <= v <= 1.0 for v in row["scores"].values())
    assert {"bertscore_f1", "umls_f1"} <= set(read_scores(outcome.model_dir / "medisumqa")["missing_metrics"])

    manifest = json.loads((run_dir / "manifest.json").read_text())
    entry = manifest["models"][kind]
    assert entry["status"] == "complete" and entry["layout"] == layout
    assert entry["identity"]["revision"].startswith("local-sha256:")
    assert entry["greedy"] is (protocol == "paper") and entry["seed"] == 0
    assert entry["datasets"]["mednli"]["sha256"] and manifest["protocol"]["name"] == protocol
    assert manifest["kit"]["version"] and manifest["packages"]["torch"] and manifest["hardware"]["cpu_count"]
    assert entry["tasks"]["meqsum"]["decoding"][0]["max_new_tokens"] > 0
    assert entry["timings"]["total_s"] > 0
    for path in run_dir.rglob("*"):
        if path.is_file():
            assert FAKE_TOKEN.encode() not in path.read_bytes(), path
    table = summary_table(outcome)
    assert "MedNLI" in table and "LongHealth" in table and "bertscore_f1 –" in table


def test_rerun_generates_nothing_and_score_run_reproduces(tiny_models, workspace, tmp_path):
    options = _options(tiny_models["chat"], workspace, tmp_path, tasks="mednli,longhealth,medisumcode")
    first = evaluate(options)
    saved = {t: (first.model_dir / t / "scores.json").read_text() for t in ("mednli", "longhealth", "medisumcode")}
    predictions = (first.model_dir / "longhealth" / "predictions.jsonl").read_bytes()

    again = evaluate(options)
    assert sum(t.n_generated for t in again.tasks) == 0 and all(t.n_cached > 0 for t in again.tasks)
    assert {t: (first.model_dir / t / "scores.json").read_text() for t in saved} == saved

    for t in saved:
        (first.model_dir / t / "scores.json").unlink()
    (first.model_dir / "longhealth" / "predictions.jsonl").unlink()
    rescored = score_run(tmp_path / "results" / "r")
    assert [t.task for t in rescored.tasks] == ["mednli", "longhealth", "medisumcode"]
    assert {t: (first.model_dir / t / "scores.json").read_text() for t in saved} == saved
    assert (first.model_dir / "longhealth" / "predictions.jsonl").read_bytes() == predictions
    with GenerationStore(tmp_path / "results" / "r" / "store.sqlite") as store:
        assert store.max_times_generated() == 1


@pytest.mark.slow
def test_seeded_sampling_runs_are_identical_and_seed_matters(tiny_models, workspace, tmp_path):
    def completions(run, seed):
        outcome = evaluate(_options(tiny_models["chat"], workspace, tmp_path, run=run, seed=seed, greedy=False,
                                    tasks="meqsum,medisumqa"))
        return [json.loads(line)["completion"] for t in ("meqsum", "medisumqa")
                for line in (outcome.model_dir / t / "predictions.jsonl").open()]

    first = completions("s1", 7)
    assert first == completions("s2", 7)
    assert first != completions("s3", 8)


def test_truncation_is_counted_and_reported(tiny_models, tmp_path, workspace, capsys):
    data = write_test_sets(tmp_path / "long-data", n=3, long_texts=60)
    outcome = evaluate(_options(tiny_models["chat"], workspace, tmp_path, data_dir=str(data), tasks="longhealth",
                                limit=1))
    scores = read_scores(outcome.model_dir / "longhealth")
    rows = [json.loads(line) for line in (outcome.model_dir / "longhealth" / "predictions.jsonl").open()]
    assert scores["truncated_prompts"] == sum(1 for r in rows if r.get("truncated_tokens", 0) > 0) > 0
    assert "cut from the left" in capsys.readouterr().err
    assert summary_table(outcome).splitlines()[2].rstrip(" |").endswith(str(scores["truncated_prompts"]))


def test_empty_completions_are_scored_not_fatal(tiny_models, workspace, tmp_path, monkeypatch):
    from clue.backends.hf import HFBackend
    from clue.store import Generation

    # the runner hands the hf backend every missing prompt through generate_stream
    monkeypatch.setattr(HFBackend, "generate_stream",
                        lambda self, requests, prompts: enumerate([Generation("")] * len(prompts)))
    outcome = evaluate(_options(tiny_models["chat"], workspace, tmp_path, tasks="mednli,meqsum,medisumcode"))
    for task in outcome.tasks:
        assert task.scores["empty_outputs"] == task.scores["n_items"] == 2
        assert all(v == 0.0 for v in task.scores["metrics"].values())


def test_baseline_model_runs_without_weights(workspace, tmp_path):
    outcome = evaluate(_options("baseline", workspace, tmp_path, tasks="mednli,longhealth"))
    assert outcome.model_dir.name == "baseline"
    lh = read_scores(outcome.model_dir / "longhealth")
    assert lh["n_items"] == 30 and set(lh["metrics"]) == {"task1", "task2", "task3"}


def test_missing_test_set_names_the_build_command(tiny_models, workspace, tmp_path):
    with pytest.raises(NotReadyError, match=r"clue data build --task mednli"):
        evaluate(_options(tiny_models["chat"], workspace, tmp_path, data_dir=str(tmp_path / "empty")))
    assert not (tmp_path / "results" / "r").exists()


def test_command_line_errors_are_one_line_and_score_prints_the_table(tiny_models, workspace, tmp_path):
    import subprocess
    import sys

    from click.testing import CliRunner

    from clue.cli import cli

    missing = subprocess.run(
        [sys.executable, "-m", "clue", "evaluate", "--model", str(tiny_models["chat"]), "--data-dir",
         str(tmp_path / "nothing"), "--protocol-dir", str(workspace["protocol"]), "--results-dir",
         str(tmp_path / "results"), "--metrics", NO_HEAVY_METRICS], capture_output=True, text=True, timeout=120)
    assert missing.returncode == 1
    assert missing.stderr.strip().count("\n") == 0 and "clue data build --task mednli" in missing.stderr

    evaluate(_options(tiny_models["base"], workspace, tmp_path, tasks="mednli"))
    result = CliRunner().invoke(cli, ["score", str(tmp_path / "results" / "r")])
    assert result.exit_code == 0, result.output
    assert "MedNLI" in result.output and "Items" in result.output


def test_score_run_refuses_a_changed_test_set(tiny_models, tmp_path, workspace):
    from clue.errors import InputError

    data = write_test_sets(tmp_path / "data", n=6)
    evaluate(_options(tiny_models["chat"], workspace, tmp_path, data_dir=str(data), tasks="mednli"))
    write_test_sets(data, n=6, seed=1)
    with pytest.raises(InputError, match="not the test set this run used"):
        score_run(tmp_path / "results" / "r")
