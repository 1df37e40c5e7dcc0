"""Uncertainty: bootstrap confidence intervals and paired tests over the items of a run.

Every number here is computed from the per-item scores in ``predictions.jsonl`` and is therefore a
*plain* mean over items: the protocol's first-item-twice aggregate cannot be resampled item by
item, so intervals describe the plain mean (``metrics_plain``), which differs from the quirked
aggregate by at most one item's weight.

- Bootstrap CI: items are drawn with replacement (one draw of item indices per resample, shared by
  the metrics of that item; LongHealth's three sub-tasks are drawn separately), each metric's mean,
  the task score and the level scores are recomputed per resample (each task independently, then
  combined with the paper's rule), and the 2.5 and 97.5 percentiles form the 95% interval.
- Paired test of two models on the same items: the per-item differences are bootstrapped for an
  interval of the difference, and a sign-flip permutation test (swap the two models' scores of each
  item at random) gives a two-sided p-value, for every metric, task score and level score.

Random draws come from ``numpy.random.Generator`` seeded with ``SeedSequence(seed, spawn_key=(i,))``
for the i-th task, so a task's interval does not depend on which other tasks are present.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from clue.errors import InputError
from clue.report.runs import ModelScores, derive, prediction_path, read_predictions
from clue.taskinfo import TASKS, TaskInfo

DEFAULT_RESAMPLES = 1000
DEFAULT_SEED = 0
CI_LEVEL = 95.0


@dataclass
class Group:
    """Items drawn together: their keys and, per metric, their values in [0, 1]."""

    keys: list[str]
    values: dict[str, np.ndarray]


@dataclass
class TaskItems:
    task: TaskInfo
    groups: dict[str, Group]   # "all", or "task1"/"task2"/"task3" for LongHealth


@dataclass(frozen=True)
class Interval:
    """A point estimate (plain mean, percent) and its 95% bootstrap interval."""

    point: float
    low: float
    high: float


@dataclass(frozen=True)
class PairedResult:
    """Difference A − B (percent points), its 95% paired-bootstrap interval and permutation p-value."""

    diff: float
    low: float
    high: float
    p_value: float
    n_items: int


def _keys(ids: list) -> list[str]:
    """Item ids as text; a repeated id gets ``#2``, ``#3``… in order of appearance."""
    seen: Counter = Counter()
    keys = []
    for item_id in ids:
        seen[item_id] += 1
        keys.append(str(item_id) if seen[item_id] == 1 else f"{item_id}#{seen[item_id]}")
    return keys


def _group(lines: list[dict], metrics: tuple[str, ...], where: str) -> Group:
    values = {}
    for metric in metrics:
        raw = [line["scores"].get(metric) for line in lines]
        present = [v is not None for v in raw]
        if not any(present):
            continue  # metric not computed (skipped with --metrics): stays missing
        if not all(present):
            number = present.index(False) + 1
            raise InputError(f"{where}: item {lines[number - 1]['id']!r} has no score {metric!r} while other items do")
        bad = [v for v in raw if not isinstance(v, (int, float))]  # bools (0/1) are ints
        if bad:
            raise InputError(f"{where}: score {metric!r} must be a number in [0, 1], found {bad[0]!r}")
        values[metric] = np.asarray(raw, dtype=float)
    return Group(keys=_keys([line["id"] for line in lines]), values=values)


def task_items(lines: list[dict], task: TaskInfo, where: str = "predictions.jsonl") -> TaskItems:
    """Per-item values of a task's reported metrics from predictions.jsonl lines."""
    if not task.metric_per_subtask:
        return TaskItems(task, {"all": _group(lines, task.metrics, where)} if lines else {})
    by_subtask: dict[str, list[dict]] = {}
    for line in lines:
        subtask = line.get("subtask")
        if subtask not in (1, 2, 3, "1", "2", "3"):
            raise InputError(f"{where}: item {line['id']!r}: field 'subtask' must be 1, 2 or 3, found {subtask!r}")
        by_subtask.setdefault(f"task{subtask}", []).append(line)
    groups = {name: _group(by_subtask[name], (name,), where) for name in task.metrics if name in by_subtask}
    return TaskItems(task, groups)


def load_items(row: ModelScores, tasks: list[TaskInfo] | None = None) -> dict[str, TaskItems]:
    """Per-item values of every task of a run row that has a predictions.jsonl."""
    out = {}
    for task in tasks or TASKS:
        if task.id not in row.metrics:
            continue
        path: Path = prediction_path(row, task)
        if path.is_file():
            out[task.id] = task_items(read_predictions(path), task, where=str(path))
    return out


def _rng(seed: int, task: TaskInfo) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(TASKS.index(task),)))


def _percentiles(replicates: np.ndarray) -> tuple[float, float]:
    tail = (100.0 - CI_LEVEL) / 2
    low, high = np.percentile(replicates, [tail, 100.0 - tail])
    return float(low), float(high)


def _flatten(derived: dict, cells: dict[str, dict]) -> dict[str, object]:
    """Quantities keyed ``<task_id>.<metric>``, ``<task_id>``, ``level1``, ``level2``, ``overall``."""
    flat: dict[str, object] = {f"{t}.{m}": v for t, metrics in cells.items() for m, v in metrics.items()}
    flat.update(derived)
    return flat


def bootstrap(items: dict[str, TaskItems], n_resamples: int = DEFAULT_RESAMPLES,
              seed: int = DEFAULT_SEED) -> dict[str, Interval | None]:
    """95% percentile intervals for every metric, task score, level and overall (None = missing)."""
    if n_resamples < 1:
        raise InputError(f"--resamples must be at least 1, got {n_resamples}")
    points: dict[str, dict] = {}
    replicates: dict[str, dict] = {}
    for task in TASKS:
        if task.id not in items:
            continue
        rng = _rng(seed, task)
        points[task.id], replicates[task.id] = {}, {}
        for group in items[task.id].groups.values():
            n = len(group.keys)
            draws = rng.integers(0, n, size=(n_resamples, n))
            for metric, values in group.values.items():
                points[task.id][metric] = 100.0 * float(values.mean())
                replicates[task.id][metric] = 100.0 * values[draws].mean(axis=1)
        for cells in (points[task.id], replicates[task.id]):
            for metric in task.metrics:
                cells.setdefault(metric, None)
    point_flat = _flatten(derive(points), points)
    rep_flat = _flatten(derive(replicates), replicates)
    out: dict[str, Interval | None] = {}
    for key, point in point_flat.items():
        out[key] = None if point is None else Interval(float(point), *_percentiles(rep_flat[key]))
    return out


def _align(a: Group, b: Group, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Index arrays that put B's items in A's order; a clear error when the item sets differ."""
    if a.keys == b.keys:
        index = np.arange(len(a.keys))
        return index, index
    only_a = sorted(set(a.keys) - set(b.keys))
    only_b = sorted(set(b.keys) - set(a.keys))
    if only_a or only_b:
        def show(keys: list[str]) -> str:
            return ", ".join(keys[:5]) + (f", … ({len(keys)} in all)" if len(keys) > 5 else "") if keys else "none"
        raise InputError(f"{where}: the two models were scored on different items: only in A: {show(only_a)}; only in B: {show(only_b)}")
    position = {key: i for i, key in enumerate(b.keys)}
    return np.arange(len(a.keys)), np.array([position[k] for k in a.keys])


def paired_difference(a: dict[str, TaskItems], b: dict[str, TaskItems], n_resamples: int = DEFAULT_RESAMPLES,
                      seed: int = DEFAULT_SEED, labels: tuple[str, str] = ("A", "B")) -> dict[str, PairedResult | None]:
    """Model A minus model B on the items both were scored on (matched by item id).

    Returns, per quantity (as in :func:`bootstrap`), the difference of plain means in percent
    points, its paired-bootstrap 95% interval and a two-sided sign-flip permutation p-value.
    """
    if n_resamples < 1:
        raise InputError(f"--resamples must be at least 1, got {n_resamples}")
    points: dict[str, dict] = {}
    boots: dict[str, dict] = {}
    flips: dict[str, dict] = {}
    counts: dict[str, int] = {}
    for task in TASKS:
        if task.id not in a or task.id not in b:
            continue
        rng = _rng(seed, task)
        points[task.id], boots[task.id], flips[task.id] = {}, {}, {}
        counts[task.id] = 0
        for name, group_a in a[task.id].groups.items():
            group_b = b[task.id].groups.get(name)
            if group_b is None:
                continue
            where = f"{task.name} ({labels[0]} vs {labels[1]})" + ("" if name == "all" else f", {name}")
            index_a, index_b = _align(group_a, group_b, where)
            n = len(index_a)
            counts[task.id] += n
            draws = rng.integers(0, n, size=(n_resamples, n))
            signs = rng.choice(np.array([-1.0, 1.0]), size=(n_resamples, n))
            for metric in group_a.values.keys() & group_b.values.keys():
                diff = 100.0 * (group_a.values[metric][index_a] - group_b.values[metric][index_b])
                points[task.id][metric] = float(diff.mean())
                boots[task.id][metric] = diff[draws].mean(axis=1)
                flips[task.id][metric] = (signs * diff).mean(axis=1)
        for cells in (points[task.id], boots[task.id], flips[task.id]):
            for metric in task.metrics:
                cells.setdefault(metric, None)
    point_flat = _flatten(derive(points), points)
    boot_flat = _flatten(derive(boots), boots)
    flip_flat = _flatten(derive(flips), flips)
    out: dict[str, PairedResult | None] = {}
    for key, point in point_flat.items():
        if point is None:
            out[key] = None
            continue
        observed = abs(float(point))
        extreme = int(np.sum(np.abs(flip_flat[key]) >= observed - 1e-12))
        task_key = key.split(".")[0]
        n_items = counts.get(task_key, sum(counts.values()))
        out[key] = PairedResult(float(point), *_percentiles(boot_flat[key]),
                                p_value=(1 + extreme) / (1 + n_resamples), n_items=n_items)
    return out
