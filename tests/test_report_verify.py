"""`clue verify`: every stored number recomputed; a tampered cell is reported and fails the command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clue.cli import main
from clue.report.tables import tables_for_runs, write_tables
from clue.report.verify import Difference, compare_values, verify_run
from report_support import write_synthetic_run


@pytest.fixture
def run(tmp_path: Path) -> Path:
    folder = tmp_path / "vrun"
    write_synthetic_run(folder, {"org/a": 0.6, "org/b": 0.4}, n=15, skip={"org/b": ("medisumcode",)})
    return folder


def _tamper(path: Path, key: str, metric: str, delta: float) -> float:
    doc = json.loads(path.read_text())
    doc[key][metric] += delta
    path.write_text(json.dumps(doc))
    return doc[key][metric]


def test_compare_values_walks_every_cell_with_a_tolerance():
    stored = {"task": "meqsum", "metrics": {"rougeL": 31.2, "rouge1": 40.0}, "n_items": 10,
              "missing_metrics": ["umls_f1"], "scored_at": "yesterday"}
    same = {**stored, "metrics": {"rougeL": 31.2 + 1e-10, "rouge1": 40.0}, "scored_at": "today"}
    checked, diffs = compare_values(stored, same, "scores.json")
    assert diffs == [] and checked == 5      # scored_at is not compared
    changed = {**stored, "metrics": {"rougeL": 31.2 + 1e-8, "rouge1": 40.0}, "n_items": 11, "missing_metrics": []}
    _, diffs = compare_values(stored, changed, "scores.json")
    assert [d.field for d in diffs] == ["metrics.rougeL", "missing_metrics", "n_items"]
    _, diffs = compare_values({"metrics": {"a": 1.0}}, {"metrics": {}}, "x")
    assert diffs == [Difference("x", "metrics.a", 1.0, "<absent>")]


def test_untouched_run_verifies(run):
    report = verify_run(run, rescore=False)
    assert report.ok and report.checked > 50
    assert report.skipped == ["re-scoring: --no-rescore"]


def test_tampered_aggregate_is_reported(run, capsys):
    path = run / "org__a" / "meqsum" / "scores.json"
    value = _tamper(path, "metrics", "rouge2", 0.01)
    report = verify_run(run, rescore=False)
    assert len(report.differences) == 1
    difference = report.differences[0]
    assert difference.where == str(path) and difference.field == "metrics.rouge2" and difference.stored == value
    assert difference.recomputed == pytest.approx(value - 0.01)
    with pytest.raises(SystemExit) as exit_info:
        main(["verify", str(run), "--no-rescore"])
    assert exit_info.value.code == 1
    captured = capsys.readouterr()
    assert f"DIFFERS {path}: metrics.rouge2" in captured.out
    assert captured.err.strip().splitlines()[-1] == f"Error: {run}: 1 of 78 cells differ"


def _rescore_from_items(copy: Path) -> None:
    """Stand-in for clue.runner.score_run in these tests: writes scores.json files into the copy
    from the original run's per-item scores (the copy has no scores.json or predictions.jsonl)."""
    original = ORIGINAL[copy.name]
    for path in original.glob("*/*/scores.json"):
        target = copy / path.relative_to(original)
        target.parent.mkdir(parents=True, exist_ok=True)
        doc = json.loads(path.read_text())
        doc.update(REWRITE.get(str(path.relative_to(original)), {}))
        target.write_text(json.dumps(doc))


ORIGINAL: dict[str, Path] = {}
REWRITE: dict[str, dict] = {}


def test_rescored_values_are_compared_file_and_table(run, tmp_path):
    ORIGINAL[run.name] = run
    seen = []
    REWRITE.clear()
    report = verify_run(run, rescorer=lambda copy: (seen.append(copy), _rescore_from_items(copy)))
    assert report.ok, report.differences
    assert seen and seen[0] != run and not seen[0].exists()    # worked on a copy, since removed

    stored = json.loads((run / "org__a" / "mednli" / "scores.json").read_text())
    REWRITE["org__a/mednli/scores.json"] = {"metrics": {**stored["metrics"], "accuracy": stored["metrics"]["accuracy"] + 3}}
    report = verify_run(run, rescorer=_rescore_from_items)
    fields = sorted(d.field for d in report.differences)
    assert fields == ["metrics.accuracy", "org/a / Level 1 score", "org/a / MedNLI score", "org/a / Overall score"]


def test_a_scores_file_the_rescorer_did_not_write_is_reported(run):
    def partial(copy: Path) -> None:
        _rescore_from_items(copy)
        (copy / "org__b" / "longhealth" / "scores.json").unlink()

    ORIGINAL[run.name] = run
    REWRITE.clear()
    report = verify_run(run, rescorer=partial)
    file_diff, score_diff = report.differences
    assert Path(file_diff.where).parts[-3:] == ("org__b", "longhealth", "scores.json")
    assert file_diff.recomputed == "not re-scored"
    assert score_diff.field == "org/b / LongHealth score" and score_diff.recomputed is None


def test_csv_tables_are_checked_cell_by_cell(run, tmp_path):
    out = tmp_path / "tables"
    write_tables(tables_for_runs([run]), "csv", out)
    write_tables(tables_for_runs([run], plain=True), "csv", tmp_path / "plain")
    report = verify_run(run, rescore=False, tables=out)
    assert report.ok and report.checked > 100
    assert verify_run(run, rescore=False, tables=tmp_path / "plain").ok

    summary = out / "summary.csv"
    lines = summary.read_text().splitlines()
    header = lines[0].split(",")
    cells = lines[1].split(",")
    column = header.index("Level 1")
    cells[column] = str(float(cells[column]) + 0.5)
    lines[1] = ",".join(cells)
    summary.write_text("\n".join(lines) + "\n")
    report = verify_run(run, rescore=False, tables=out)
    assert [(d.where, d.field) for d in report.differences] == [(f"{summary}:2", "org/a / Level 1")]


# ----------------------------------------------------------------- end to end with the kit's runner


@pytest.mark.slow
def test_verify_end_to_end_with_the_runner(tiny_models, workspace, tmp_path, capsys):  # noqa: F811
    """A real run (tiny random model, MedNLI, 4 items) re-scored from its store by clue.runner.score_run."""
    from clue.runner import EvalOptions, evaluate

    outcome = evaluate(EvalOptions(model=str(tiny_models["chat"]), protocol="paper", protocol_dir=str(workspace["protocol"]),
                                   data_dir=str(workspace["data"]), results_dir=str(tmp_path / "results"), run="e2e",
                                   tasks="mednli", metrics="accuracy", limit=4, progress=False, device="cpu"))
    run = outcome.run_dir
    report = verify_run(run)
    assert report.ok and report.skipped == [] and report.checked > 10, report.differences
    main(["tables", str(run), "--format", "csv", "--out", str(tmp_path / "tables")])
    assert verify_run(run, tables=tmp_path / "tables").ok

    scores = next(run.glob("*/mednli/scores.json"))
    _tamper(scores, "metrics", "accuracy", 25.0)
    report = verify_run(run)
    fields = sorted(d.field for d in report.differences)
    # caught by the aggregate check, by the re-score, and in the derived task score
    assert fields.count("metrics.accuracy") == 2 and any(f.endswith("/ MedNLI score") for f in fields)
    with pytest.raises(SystemExit) as exit_info:
        main(["verify", str(run)])
    assert exit_info.value.code == 1
    assert "DIFFERS" in capsys.readouterr().out
