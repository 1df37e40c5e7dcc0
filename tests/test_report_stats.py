"""Bootstrap intervals and paired tests over per-item scores."""

from __future__ import annotations

import math

import numpy as np
import pytest

from clue.errors import InputError
from clue.report.runs import load_run
from clue.report.stats import bootstrap, load_items, paired_difference, task_items
from clue.taskinfo import task_info
from report_support import synth_items, write_synthetic_run

MEDNLI = task_info("mednli")
MEQSUM = task_info("meqsum")
LONGHEALTH = task_info("longhealth")


def _accuracy_items(values, prefix="m"):
    return [{"id": f"{prefix}{i:04d}", "scores": {"accuracy": int(v)}} for i, v in enumerate(values)]


@pytest.fixture(scope="module")
def run_rows(tmp_path_factory):
    run = tmp_path_factory.mktemp("stats") / "run"
    write_synthetic_run(run, {"org/strong": 0.7, "org/weak": 0.4, "org/partial": 0.5}, n=80,
                        skip={"org/partial": ("medisumqa",)})
    return {row.model: row for row in load_run(run)}


def test_intervals_are_stable_under_a_seed_and_cover_the_point(run_rows):
    items = load_items(run_rows["org/strong"])
    first = bootstrap(items, 1000, seed=7)
    assert bootstrap(items, 1000, seed=7) == first
    other = bootstrap(items, 1000, seed=8)
    assert other["level1"] != first["level1"]
    assert abs(other["level1"].low - first["level1"].low) < 1.5
    expected_keys = {"mednli.accuracy", "meqsum.rougeL", "longhealth.task3", "mednli", "longhealth", "level1", "level2", "overall"}
    assert expected_keys <= set(first)
    for key, interval in first.items():
        assert interval is not None, key
        assert interval.low <= interval.point <= interval.high, key
        assert interval.high - interval.low > 0, key
    # Level intervals are narrower than those of single tasks (three independent tasks averaged).
    assert first["level2"].high - first["level2"].low < first["longhealth"].high - first["longhealth"].low


def test_interval_point_is_the_plain_mean_and_width_is_binomial():
    rng = np.random.default_rng(3)
    values = (rng.random(600) < 0.6).astype(int)
    lines = _accuracy_items(values)
    interval = bootstrap({"mednli": task_items(lines, MEDNLI)}, 2000, seed=0)["mednli"]
    assert interval.point == pytest.approx(100 * values.mean())
    p = values.mean()
    normal_width = 2 * 1.96 * 100 * math.sqrt(p * (1 - p) / len(values))
    assert interval.high - interval.low == pytest.approx(normal_width, rel=0.15)


def test_missing_task_leaves_level_interval_empty(run_rows):
    result = bootstrap(load_items(run_rows["org/partial"]), 200, seed=0)
    assert result["medisumqa"] is None and result["level2"] is None and result["overall"] is None
    assert result["level1"] is not None


def test_task_interval_does_not_depend_on_other_tasks(run_rows):
    items = load_items(run_rows["org/strong"])
    alone = bootstrap({"meqsum": items["meqsum"]}, 300, seed=1)["meqsum"]
    assert bootstrap(items, 300, seed=1)["meqsum"] == alone


def test_paired_test_detects_a_planted_difference():
    rng = np.random.default_rng(11)
    a = (rng.random(400) < 0.55).astype(int)
    b = a.copy()
    flipped = rng.choice(np.flatnonzero(a == 1), size=40, replace=False)   # B loses 40 of A's right answers
    b[flipped] = 0
    result = paired_difference({"mednli": task_items(_accuracy_items(a), MEDNLI)},
                               {"mednli": task_items(_accuracy_items(b), MEDNLI)}, 1000, seed=0)["mednli"]
    assert result.diff == pytest.approx(10.0)
    assert result.p_value < 0.01
    assert 0 < result.low < result.diff < result.high


def test_paired_test_does_not_detect_a_null_difference():
    rng = np.random.default_rng(12)
    a = (rng.random(400) < 0.55).astype(int)
    b = a.copy()
    wins = rng.choice(np.flatnonzero(a == 0), size=30, replace=False)    # B right where A is wrong…
    losses = rng.choice(np.flatnonzero(a == 1), size=30, replace=False)  # …and wrong where A is right
    b[wins], b[losses] = 1, 0
    result = paired_difference({"mednli": task_items(_accuracy_items(a), MEDNLI)},
                               {"mednli": task_items(_accuracy_items(b), MEDNLI)}, 1000, seed=0)["mednli"]
    assert result.diff == pytest.approx(0.0)
    assert result.p_value > 0.5
    assert result.low < 0 < result.high


def test_paired_levels_of_two_models(run_rows):
    result = paired_difference(load_items(run_rows["org/strong"]), load_items(run_rows["org/weak"]), 500, seed=0)
    strong, weak = run_rows["org/strong"], run_rows["org/weak"]
    plain_levels = bootstrap(load_items(strong), 10, 0)["level1"].point - bootstrap(load_items(weak), 10, 0)["level1"].point
    assert result["level1"].diff == pytest.approx(plain_levels)
    assert result["level1"].p_value < 0.01 and result["level2"].p_value < 0.01
    assert result["level1"].low > 0
    assert result["longhealth"].n_items == 3 * 80


def test_pairing_is_by_id_not_by_order():
    rng = np.random.default_rng(5)
    lines_a = synth_items("meqsum", 50, rng, 0.5)
    lines_b = synth_items("meqsum", 50, rng, 0.45)
    shuffled = [lines_b[i] for i in rng.permutation(50)]
    ordered = paired_difference({"meqsum": task_items(lines_a, MEQSUM)}, {"meqsum": task_items(lines_b, MEQSUM)}, 300, 0)
    mixed = paired_difference({"meqsum": task_items(lines_a, MEQSUM)}, {"meqsum": task_items(shuffled, MEQSUM)}, 300, 0)
    assert mixed == ordered


def test_mismatched_items_are_listed():
    a = task_items(_accuracy_items([1, 0, 1]), MEDNLI)
    b = task_items(_accuracy_items([1, 0, 1, 1]), MEDNLI)
    with pytest.raises(InputError, match=r"only in A: none; only in B: m0003"):
        paired_difference({"mednli": a}, {"mednli": b}, 10, 0)


def test_longhealth_subtasks_are_separate_groups():
    rng = np.random.default_rng(0)
    lines = synth_items("longhealth", 20, rng, 0.5)
    items = task_items(lines, LONGHEALTH)
    assert sorted(items.groups) == ["task1", "task2", "task3"]
    assert all(len(g.keys) == 20 for g in items.groups.values())
    result = bootstrap({"longhealth": items}, 100, 0)
    task1 = np.mean([l["scores"]["task1"] for l in lines if l["subtask"] == 1])
    assert result["longhealth.task1"].point == pytest.approx(100 * task1)
    with pytest.raises(InputError, match="field 'subtask' must be 1, 2 or 3"):
        task_items([{"id": "x", "scores": {"task1": 1}}], LONGHEALTH)


def test_partly_missing_item_scores_are_refused():
    lines = [{"id": "a", "scores": {"rougeL": 0.5}}, {"id": "b", "scores": {}}]
    with pytest.raises(InputError, match="item 'b' has no score 'rougeL'"):
        task_items(lines, MEQSUM)
