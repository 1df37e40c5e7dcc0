"""Run records (clue.records): files written before the typed records read back and write back byte for
byte, older files read with defaults, newer schemas refused, one score rule, one run-folder resolver.

tests/fixtures/records_v1/ is a baseline run (synthetic test sets, 2 items; MedNLI, MeQSum, LongHealth;
evaluated then re-scored) written by the kit at f097603, before clue.records existed.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from clue import records
from clue.errors import InputError
from clue.io import write_json
from clue.records import UNSET, ModelEntry, PredictionRow, RunManifest, TaskScores

OLD = Path(__file__).parent / "fixtures" / "records_v1"
TASK_DIRS = sorted(p.parent for p in (OLD / "baseline").glob("*/scores.json"))


def _written(tmp_path: Path, name: str, write) -> bytes:
    path = tmp_path / name
    write(path)
    return path.read_bytes()


def test_fixture_holds_three_tasks_and_a_rescored_entry():
    assert [p.name for p in TASK_DIRS] == ["longhealth", "mednli", "meqsum"]
    entry = json.loads((OLD / "manifest.json").read_text())["models"]["baseline"]
    assert entry["status"] == "complete" and "rescored_at" in entry


def test_old_manifest_reads_typed_and_writes_back_byte_for_byte(tmp_path):
    manifest = records.read_manifest(OLD / "manifest.json")
    entry = manifest.models["baseline"]
    assert manifest.manifest_version == 1 and entry.status == "complete"
    assert entry.task_ids == ["mednli", "meqsum", "longhealth"] and entry.extra == {} and manifest.extra == {}
    assert entry.options["metrics"] == "-bertscore,-umls" and entry.rescored_at.startswith("20")
    assert _written(tmp_path, "m.json", lambda p: records.write_manifest(p, manifest)) == \
        (OLD / "manifest.json").read_bytes()


def test_the_running_write_has_the_old_key_order(tmp_path):
    """The old runner wrote {**entry, "status": "running"} before any task: the entry's keys up to
    started_at (endpoint when served), then status."""
    full = json.loads((OLD / "manifest.json").read_text())["models"]["baseline"]
    keys = list(full)
    running_old = {k: full[k] for k in keys[:keys.index("started_at") + 1]}
    running_old["endpoint"] = {"scope": "local", "allow_remote_endpoint": False}
    entry = ModelEntry.from_dict(dict(running_old))
    running_old["status"] = "running"
    assert list(entry.with_status("running").to_dict()) == list(running_old)
    assert entry.status is UNSET          # the entry itself stays without a status
    assert json.dumps(entry.with_status("running").to_dict()) == json.dumps(running_old)


@pytest.mark.parametrize("task_dir", TASK_DIRS, ids=lambda p: p.name)
def test_old_scores_and_predictions_write_back_byte_for_byte(tmp_path, task_dir):
    scores = records.read_scores(task_dir / "scores.json")
    assert isinstance(scores, TaskScores) and scores.task == task_dir.name and scores.extra == {}
    assert _written(tmp_path, "scores.json", lambda p: records.write_scores(p, scores)) == \
        (task_dir / "scores.json").read_bytes()
    rows = records.read_predictions(task_dir / "predictions.jsonl")
    assert rows and all(isinstance(r, PredictionRow) and r.scores for r in rows)
    assert _written(tmp_path, "predictions.jsonl", lambda p: records.write_predictions(p, rows)) == \
        (task_dir / "predictions.jsonl").read_bytes()


def test_prediction_row_keeps_truncated_tokens_last_and_item_fields_in_order():
    line = {"id": "x", "prompt_hash": "h", "completion": "c", "output": "o", "reference": "r", "subtask": 2,
            "scores": {"task2": 1.0}, "truncated_tokens": 17}
    row = PredictionRow.from_dict(dict(line))
    assert row.truncated_tokens == 17 and list(row.extra) == ["reference", "subtask", "scores"]
    assert records.prediction_line(row) == json.dumps(line, ensure_ascii=False, separators=(",", ":"))
    export_line = {"id": "x", "completion_sha256": "a", "scores": {}}      # export rows lack the text keys
    assert PredictionRow.from_dict(dict(export_line)).to_dict() == export_line


def test_files_of_earlier_kits_read_with_defaults(tmp_path):
    doc = json.loads((OLD / "baseline" / "meqsum" / "scores.json").read_text())
    for key in ("overlong", "truncated_prompts", "empty_outputs", "metrics_plain"):
        doc.pop(key)
    scores = TaskScores.from_dict(doc)
    assert scores.truncated_prompts == 0 and scores.empty_outputs == 0 and scores.metrics_plain is None
    assert "overlong" not in scores.to_dict()
    manifest = json.loads((OLD / "manifest.json").read_text())
    entry = manifest["models"]["baseline"]
    for key in ("model_family", "overlong", "prompts_sha256", "rescored_at", "tasks"):
        entry.pop(key)
    manifest.pop("manifest_version")
    typed = RunManifest.from_dict(manifest)
    assert typed.manifest_version == records.MANIFEST_VERSION
    assert typed.models["baseline"].prompts_sha256 == {} and typed.models["baseline"].tasks is UNSET
    assert "model_family" not in typed.models["baseline"].to_dict()


def test_unknown_keys_are_kept_after_the_known_ones():
    entry = ModelEntry.from_dict({"options": {}, "future_field": 1, "status": "complete"})
    assert entry.extra == {"future_field": 1} and list(entry.to_dict()) == ["options", "identity", "task_ids",
                                                                            "datasets", "prompts_sha256",
                                                                            "status", "future_field"]


def test_newer_schema_and_malformed_files_are_one_line_errors(tmp_path):
    path = tmp_path / "manifest.json"
    write_json(path, {"manifest_version": 2, "models": {}})
    with pytest.raises(InputError, match=r"manifest.json: manifest_version 2 is newer than this kit reads \(1\)"):
        records.read_manifest(path)
    write_json(path, {"manifest_version": "1", "models": {}})
    with pytest.raises(InputError, match=r"manifest.json: manifest_version '1': expected a whole number"):
        records.read_manifest(path)
    write_json(path, {"models": []})
    with pytest.raises(InputError, match="manifest.json: expected an object with a 'models' object"):
        records.read_manifest(path)
    scores = tmp_path / "scores.json"
    write_json(scores, {"schema_version": 3, "task": "mednli"})
    with pytest.raises(InputError, match=r"scores.json: schema_version 3 is newer than this kit reads \(1\)"):
        records.read_scores(scores)
    write_json(scores, ["not", "an", "object"])
    with pytest.raises(InputError, match="scores.json: expected a JSON object"):
        records.read_scores(scores)
    lines = tmp_path / "predictions.jsonl"
    lines.write_text('{"id": "a", "scores": {}}\n{"id": "b"}\n')
    with pytest.raises(InputError, match="predictions.jsonl: line 2: expected fields 'id' and 'scores'"):
        records.read_predictions(lines)


def test_record_model_refuses_a_foreign_manifest_and_keeps_other_models(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(OLD, run)
    entry = ModelEntry(options={"model": "other"}, task_ids=["mednli"])
    records.record_model(run, "other", entry.with_status("running"), {})
    manifest = records.read_manifest(run / "manifest.json")
    assert list(manifest.models) == ["baseline", "other"] and manifest.models["other"].status == "running"
    original = json.loads((OLD / "manifest.json").read_text())
    assert json.loads((run / "manifest.json").read_text())["models"]["baseline"] == original["models"]["baseline"]
    (run / "manifest.json").write_text("[]")
    with pytest.raises(InputError, match="move it away to start the run's record afresh"):
        records.record_model(run, "other", entry, {})


def test_summarise_is_the_one_rule_for_task_level_and_overall_scores():
    from clue.report.runs import derive
    from clue.taskinfo import TASKS

    assert derive is records.summarise
    cells = {t.id: {m: 10.0 * (i + 1) for m in t.metrics} for i, t in enumerate(TASKS)}
    out = records.summarise(cells)
    assert [out[t.id] for t in TASKS] == [10.0, 20.0, 30.0, 40.0, 50.0, 60.0]
    levels = {lvl: [10.0 * (i + 1) for i, t in enumerate(TASKS) if t.level == lvl] for lvl in (1, 2)}
    assert out["level1"] == sum(levels[1]) / 3 and out["level2"] == sum(levels[2]) / 3
    assert out["overall"] == (out["level1"] + out["level2"]) / 2
    first = TASKS[0]
    cells[first.id] = {**cells[first.id], first.metrics[0]: None}
    partial = records.summarise(cells)
    assert partial[first.id] is None and partial[f"level{first.level}"] is None and partial["overall"] is None


def test_resolve_run_dir_takes_a_path_or_a_name_under_the_results_folder(tmp_path, monkeypatch):
    results = tmp_path / "results"
    monkeypatch.setenv("CLUE_RESULTS", str(results))
    shutil.copytree(OLD, results / "named")
    assert records.resolve_run_dir("named") == results / "named"                 # a name
    assert records.resolve_run_dir(results / "named") == results / "named"       # a path
    export = tmp_path / "export"                                                 # a folder without manifest
    shutil.copytree(OLD / "baseline", export / "baseline")
    assert records.resolve_run_dir(export) == export
    monkeypatch.chdir(tmp_path)
    (tmp_path / "named").mkdir()                                                 # a bare folder of that name
    assert records.resolve_run_dir("named") == results / "named"                 # the run with a manifest wins
    with pytest.raises(InputError, match="nothing: no such run folder"):
        records.resolve_run_dir("nothing")


def test_the_command_layer_and_reports_share_the_resolver():
    import clue.report.runs
    import clue.runner

    assert clue.runner.resolve_run_dir is records.resolve_run_dir
    assert clue.report.runs.resolve_run_dir is records.resolve_run_dir
