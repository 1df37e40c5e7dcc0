"""`clue compare-pairs`: the paper's biomedical-vs-base comparison, on the published rows and on runs."""

from __future__ import annotations

import numpy as np
import pytest

from clue.cli import main
from clue.errors import InputError
from clue.report.pairs import compare_pairs, declines, pairs_report, parse_pairs
from clue.report.paper import load_paper
from clue.report.runs import load_run
from clue.taskinfo import TASKS
from report_support import synth_items, write_manifest, write_task


def test_published_rows_give_nine_declines_of_twelve():
    paper = load_paper()
    results = compare_pairs(paper, paper=paper)
    counts = declines(results)
    assert counts["pairs"] == (9, 12)
    assert counts["level1"] == (9, 12)
    assert counts["level2"] == (6, 9)
    internist = [r for r in results if r.bio.model == "internistai/base-7b-v0.2"]
    assert [round(r.delta, 2) for r in internist] == [4.25, 19.09]
    assert all(r.test is None and r.paper_delta == pytest.approx(r.delta) for r in results)


def _pair_run(tmp_path, drop: float):
    """meditron-7b (hub id) worse than its base by ``drop`` on every item, on the same items."""
    run = tmp_path / "pairs"
    write_manifest(run, ["epfl-llm/meditron-7b", "meta-llama/Llama-2-7b-hf", "org/other"])
    rng = np.random.default_rng(2)
    for task in TASKS:
        base = synth_items(task.id, 120, rng, 0.6)
        worse = []
        for item in base:
            scores = {}
            for metric, value in item["scores"].items():
                if isinstance(value, int):   # accuracies: lose a share of the right answers
                    scores[metric] = int(value and rng.random() > drop)
                else:
                    scores[metric] = max(0.0, value - drop)
            worse.append({**item, "scores": scores})
        write_task(run, "meta-llama/Llama-2-7b-hf", task.id, base)
        write_task(run, "epfl-llm/meditron-7b", task.id, worse)
        write_task(run, "org/other", task.id, base)
    return run


def test_run_pairs_have_intervals_p_values_and_decline_counts(tmp_path):
    run = _pair_run(tmp_path, drop=0.2)
    table = pairs_report([run], resamples=500, seed=0)
    assert [(r[0], r[1], r[2]) for r in table.rows] == [
        ("epfl-llm/meditron-7b (pairs)", "meta-llama/Llama-2-7b-hf (pairs)", "Level 1"),
        ("epfl-llm/meditron-7b (pairs)", "meta-llama/Llama-2-7b-hf (pairs)", "Level 2")]
    for row in table.rows:
        delta = row[5]
        assert delta.value == pytest.approx(row[3] - row[4]) and delta.value < 0
        assert delta.low < delta.high < 0
        assert row[6] < 0.01 and row[7] == "yes"
    # The paper has meditron-7b's Level 1 delta only (its Level 2 is not published).
    assert table.rows[0][8] == pytest.approx(-8.65, abs=0.01) and table.rows[1][8] is None
    assert "Declines: 1 of 1 pairs" in table.notes[0] and "significant level declines (p < 0.05): 2" in table.notes[0]


def test_user_pairs_and_no_difference(tmp_path):
    run = _pair_run(tmp_path, drop=0.2)
    table = pairs_report([run], pairs=parse_pairs(["org/other=meta-llama/Llama-2-7b-hf"]), paper_pairs=False,
                         resamples=300, seed=0)
    assert len(table.rows) == 2
    for row in table.rows:
        assert row[5].value == pytest.approx(0.0) and row[6] > 0.5 and row[7] == "no" and row[8] is None
    assert "Declines: 0 of 1 pairs" in table.notes[0]
    by_task = pairs_report([run], pairs=parse_pairs(["epfl-llm/meditron-7b=meta-llama/Llama-2-7b-hf"]),
                           paper_pairs=False, resamples=300, seed=0, by_task=True)
    assert [r[2] for r in by_task.rows] == [t.name for t in TASKS] + ["Level 1", "Level 2"]
    assert all(r[5].value < 0 and r[6] < 0.05 for r in by_task.rows)
    assert "Declines: 1 of 1 pairs" in by_task.notes[0] and "Level 1: 1 of 1" in by_task.notes[0]
    with pytest.raises(InputError, match="BIOMEDICAL_MODEL=BASE_MODEL"):
        parse_pairs(["only-one"])


def test_pairs_without_items_have_no_interval(tmp_path):
    run = _pair_run(tmp_path, drop=0.2)
    for path in run.glob("*/*/predictions.jsonl"):
        path.unlink()
    results = compare_pairs(load_run(run))
    assert len(results) == 2 and all(r.test is None for r in results)


def test_cli_compare_pairs_published(capsys):
    main(["compare-pairs", "--published", "--resamples", "10"])
    out = capsys.readouterr().out
    assert "Declines: 9 of 12 pairs" in out and "| meditron-7b (paper)" in out
