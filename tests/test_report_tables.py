"""`clue tables`: cells checked one by one on fixture runs, the level rule on the published numbers."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from clue.cli import main
from clue.errors import InputError
from clue.report.paper import PAPER_CSV, load_paper, paper_name, parse_aliases
from clue.report.runs import derive, load_run, load_runs
from clue.report.tables import build_tables, render, tables_for_runs, write_tables
from report_support import write_manifest, write_scores, write_task

# Hand-picked numbers and the scores they must give (computed by hand, not by the code under test).
GOOD = {
    "mednli": {"accuracy": 60.0},
    "meqsum": {"rougeL": 10.0, "rouge1": 20.0, "rouge2": 30.0, "bertscore_f1": 40.0},             # 25
    "problem_summary": {"rougeL": 10.0, "rouge1": 20.0, "rouge2": 30.0, "bertscore_f1": 40.0, "umls_f1": 50.0},  # 30
    "medisumqa": {"rougeL": 5.0, "rouge1": 15.0, "rouge2": 1.0, "bertscore_f1": 80.0, "umls_f1": 9.0},  # 22
    "medisumcode": {"em_f1": 3.0, "ap_f1": 12.0, "valid_codes": 90.0},                               # 35
    "longhealth": {"task1": 70.0, "task2": 50.0, "task3": 30.0},                                     # 50
}
LEVEL1 = (60 + 25 + 30) / 3
LEVEL2 = (22 + 35 + 50) / 3


@pytest.fixture
def fixture_run(tmp_path: Path) -> Path:
    """Three models: complete; without MeDiSumCode; with UMLS-F1 skipped on ProblemSummary."""
    run = tmp_path / "fixture-run"
    write_manifest(run, ["org/complete", "org/no-code", "org/no-umls"])
    for task, metrics in GOOD.items():
        plain = {k: v - 1.0 for k, v in metrics.items()}
        write_scores(run, "org/complete", task, metrics, plain)
        if task != "medisumcode":
            write_scores(run, "org/no-code", task, metrics)
        if task == "problem_summary":
            write_scores(run, "org/no-umls", task, {k: v for k, v in metrics.items() if k != "umls_f1"},
                         missing=("umls_f1",))
        else:
            write_scores(run, "org/no-umls", task, metrics)
    return run


def _csv(path: Path) -> dict[str, dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return {row["Model"]: row for row in csv.DictReader(handle)}


def test_summary_and_task_tables_cell_by_cell(fixture_run, tmp_path):
    written = write_tables(tables_for_runs([fixture_run]), "csv", tmp_path / "csv")
    assert sorted(p.name for p in written) == sorted(["summary.csv", "mednli.csv", "meqsum.csv", "problem_summary.csv",
                                                      "medisumqa.csv", "medisumcode.csv", "longhealth.csv"])
    summary = _csv(tmp_path / "csv" / "summary.csv")
    complete = summary["org/complete"]
    expected = {"MedNLI": 60, "MeQSum": 25, "ProblemSummary": 30, "Level 1": LEVEL1,
                "MeDiSumQA": 22, "MeDiSumCode": 35, "LongHealth": 50, "Level 2": LEVEL2,
                "Overall": (LEVEL1 + LEVEL2) / 2}
    for column, value in expected.items():
        assert float(complete[column]) == pytest.approx(value, abs=1e-12), column
    assert complete["Source"] == "fixture-run" and complete["Values"] == "protocol"

    # A missing task: its cell, its level and the overall score stay empty; Level 1 is untouched.
    no_code = summary["org/no-code"]
    assert no_code["MeDiSumCode"] == "" and no_code["Level 2"] == "" and no_code["Overall"] == ""
    assert float(no_code["Level 1"]) == pytest.approx(LEVEL1)
    assert float(no_code["LongHealth"]) == pytest.approx(50)
    # A missing metric: the task score and Level 1 are empty, never a mean over four metrics.
    no_umls = summary["org/no-umls"]
    assert no_umls["ProblemSummary"] == "" and no_umls["Level 1"] == "" and no_umls["Overall"] == ""
    assert float(no_umls["Level 2"]) == pytest.approx(LEVEL2)

    problem = _csv(tmp_path / "csv" / "problem_summary.csv")
    assert [problem["org/complete"][h] for h in ("ROUGE-L", "ROUGE-1", "ROUGE-2", "BERTScore-F1", "UMLS-F1", "Score")] == \
        ["10.0", "20.0", "30.0", "40.0", "50.0", "30.0"]
    assert problem["org/no-umls"]["UMLS-F1"] == "" and problem["org/no-umls"]["Score"] == ""
    assert problem["org/no-umls"]["ROUGE-L"] == "10.0"
    code = _csv(tmp_path / "csv" / "medisumcode.csv")
    assert code["org/no-code"]["EM-F1"] == "" and code["org/complete"]["Valid codes"] == "90.0"


def test_markdown_and_latex_show_missing_cells(fixture_run):
    built = tables_for_runs([fixture_run])
    markdown = render(built, "md")
    lines = [line for line in markdown.splitlines() if line.startswith("| org/no-code")]
    cells = [c.strip() for c in lines[0].strip("|").split("|")]   # the summary table comes first
    assert cells == ["org/no-code", "fixture-run", "60.00", "25.00", "30.00", f"{LEVEL1:.2f}", "22.00", "–", "50.00", "–", "–"]
    assert "protocol aggregate" in markdown and "Overall = mean(Level 1, Level 2)" in markdown
    latex = render(built, "latex")
    assert "\\toprule" in latex and "ProblemSummary" in latex and "–" in latex
    assert latex.count("\\begin{tabular}") == 7


def test_plain_option_uses_metrics_plain_and_says_so(fixture_run, tmp_path):
    write_tables(tables_for_runs([fixture_run], plain=True), "csv", tmp_path / "plain")
    complete = _csv(tmp_path / "plain" / "summary.csv")["org/complete"]
    assert float(complete["MedNLI"]) == pytest.approx(59.0) and complete["Values"] == "plain"
    assert "metrics_plain" in render(tables_for_runs([fixture_run], plain=True), "md")


def test_rows_of_several_runs_combine(fixture_run, tmp_path):
    other = tmp_path / "second"
    for task, metrics in GOOD.items():
        write_scores(other, "org/complete", task, {k: v + 2 for k, v in metrics.items()})
    rows = load_runs([fixture_run, other])
    assert [(r.model, r.source) for r in rows][-1] == ("org/complete", "second")
    summary = build_tables(rows)[0]
    assert len(summary.rows) == 4
    assert summary.rows[-1][2] == pytest.approx(62.0)


def test_published_levels_are_reproduced_by_the_rule():
    with open(PAPER_CSV, newline="", encoding="utf-8") as handle:
        published = {r["model"]: {k: (float(r[k]) if r[k] else None) for k in ("level1", "level2")}
                     for r in csv.DictReader(handle)}
    rows = load_paper()
    assert len(rows) == 25
    compared = 0
    for row in rows:
        derived = derive(row.metrics)   # the rule itself, not the published level figures
        for level in ("level1", "level2"):
            if published[row.model][level] is None:
                assert derived[level] is None, (row.model, level)
            else:
                assert derived[level] == pytest.approx(published[row.model][level], abs=0.01), (row.model, level)
                compared += 1
    assert compared == 25 + 18


def test_derive_refuses_to_average_over_fewer_parts():
    partial = {t: dict(m) for t, m in GOOD.items()}
    partial["meqsum"]["rouge2"] = None
    derived = derive(partial)
    assert derived["meqsum"] is None and derived["level1"] is None and derived["overall"] is None
    assert derived["level2"] == pytest.approx(LEVEL2)


def test_paper_name_matching():
    names = [r.model for r in load_paper()]
    assert paper_name("meta-llama/Meta-Llama-3-8B-Instruct", names) == "Meta-Llama-3-8B-Instruct"
    assert paper_name("meta-llama/Llama-2-70b-chat-hf", names) == "Llama-2-70b-chat"
    assert paper_name("internistai/base-7b-v0.2", names) == "internistai/base-7b-v0.2"
    assert paper_name("/models/biomistral-7b", names) == "BioMistral-7B"
    assert paper_name("org/unknown-model", names) is None
    assert paper_name("meta-llama/Llama-2-7b-chat-hf", names) is None
    assert paper_name("meta-llama/Llama-2-7b-chat-hf", names, parse_aliases(["meta-llama/Llama-2-7b-chat-hf=llama2-7b-hf"])) == "llama2-7b-hf"
    with pytest.raises(InputError, match="MODEL=PAPER_NAME"):
        parse_aliases(["no-equals-sign"])


def test_compare_paper_puts_published_rows_beside_with_deltas(tmp_path):
    run = tmp_path / "cmp"
    for task, metrics in GOOD.items():
        write_scores(run, "meta-llama/Meta-Llama-3-8B-Instruct", task, metrics)
        write_scores(run, "org/own-model", task, metrics)
    with open(PAPER_CSV, newline="", encoding="utf-8") as handle:
        published = next(r for r in csv.DictReader(handle) if r["model"] == "Meta-Llama-3-8B-Instruct")
    built = tables_for_runs([run], compare="paper")
    summary = built[0]
    assert [(r[0], r[1]) for r in summary.rows] == [("meta-llama/Meta-Llama-3-8B-Instruct", "cmp"),
                                                    ("Meta-Llama-3-8B-Instruct", "paper"), ("org/own-model", "cmp")]
    assert summary.rows[1][5] == float(published["level1"])   # the published figure itself
    assert any("org/own-model" in note for note in summary.notes)
    comparison = built[-1]
    assert comparison.name == "comparison"
    line = next(r for r in comparison.rows if r[3] == "MedNLI" and r[4] == "Accuracy")
    assert line[5:] == [60.0, float(published["MedNLI.accuracy"]), pytest.approx(60.0 - float(published["MedNLI.accuracy"]))]
    level = next(r for r in comparison.rows if r[3] == "Level 2")
    assert level[7] == pytest.approx(LEVEL2 - level[6])
    assert all(r[0] == "meta-llama/Meta-Llama-3-8B-Instruct" for r in comparison.rows)
    latex = render(built, "latex")
    assert not [line for line in latex.splitlines() if "Δ" in line and not line.startswith("%")]
    assert r"$\Delta$" in latex


def test_cli_tables_prints_and_writes(fixture_run, tmp_path, capsys):
    main(["tables", str(fixture_run), "--tasks", "mednli"])
    out = capsys.readouterr().out
    assert "## Summary" in out and "## MedNLI (Level 1)" in out and "## MeQSum" not in out
    main(["tables", str(fixture_run), "--format", "latex", "--out", str(tmp_path / "t.tex")])
    assert (tmp_path / "t.tex").read_text().count("\\begin{tabular}") == 7


def test_cli_bad_run_is_a_one_line_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["tables", str(tmp_path / "nope")])
    assert exit_info.value.code != 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("Error:") and "nope" in err and "\n" not in err
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="no <model>/<task>/scores.json"):
        load_run(empty)


def test_bad_scores_json_names_the_field(tmp_path):
    write_scores(tmp_path / "bad", "m", "mednli", {"accuracy": "60%"})
    with pytest.raises(InputError, match=r"scores.json: metrics.accuracy: expected a number"):
        load_run(tmp_path / "bad")


def test_report_helper_writes_the_quirked_and_plain_means(tmp_path):
    items = [{"id": "a", "scores": {"accuracy": 1}}, {"id": "b", "scores": {"accuracy": 0}},
             {"id": "c", "scores": {"accuracy": 0}}]
    scores = write_task(tmp_path / "run", "m", "mednli", items)
    assert scores["metrics"]["accuracy"] == 50.0        # [1, 1, 0, 0]
    assert abs(scores["metrics_plain"]["accuracy"] - 100 / 3) < 1e-12
    lines = (tmp_path / "run" / "m" / "mednli" / "predictions.jsonl").read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["a", "b", "c"]
