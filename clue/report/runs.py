"""Load evaluation runs into one table of model rows, and the paper's level-score rule.

A run is ``results/<run>/<model_dir>/<task>/scores.json`` (see docs/INTERNALS.md, "Runs"). Each
model of each run becomes a :class:`ModelScores` row: the reported metrics of every task, in
percent, ``None`` where a metric (or the whole task) is missing. Task scores, level scores and the
overall score are derived from those cells by :func:`derive` (``clue.records.summarise``, the one
implementation of the rule, which the runner's summary table uses too):

- task score = unweighted mean of the task's reported metrics (``clue.taskinfo``);
- Level 1 = mean(MedNLI, MeQSum, ProblemSummary), Level 2 = mean(MeDiSumQA, MeDiSumCode, LongHealth);
- overall = mean(Level 1, Level 2) — the kit's own summary; the paper reports no overall score;
- any missing input leaves the result empty (``None``): nothing is ever averaged over fewer parts.

:func:`derive` works on plain floats and, unchanged, on numpy arrays of bootstrap replicates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clue import records
from clue.errors import InputError
from clue.records import _mean_or_none, resolve_run_dir, summarise
from clue.taskinfo import TASKS, TaskInfo

LEVELS = ("level1", "level2")
LEVEL_NAMES = {"level1": "Level 1", "level2": "Level 2", "overall": "Overall"}
# appended to the source of a run whose prompts went through a server's chat template (--api chat)
CHAT_API_MARK = " [chat API]"
CHAT_API_NOTE = ("[chat API]: messages sent to /v1/chat/completions and rendered by the server's chat template, "
                 "without the paper protocol's prefill; not the paper's prompt path.")

# Which numbers a row holds: the protocol's aggregate, the plain mean, or the published figures.
AGGREGATES = {
    "protocol": "protocol aggregate (scores.json `metrics`: the first scored item counted twice where the protocol applies the original quirk)",
    "plain": "plain mean over items (scores.json `metrics_plain`)",
    "published": "published figures (CLUE paper v2, results/paper/)",
}


@dataclass
class ModelScores:
    """One model of one run (or of the paper): reported metrics per task, in percent."""

    model: str                    # model id as evaluated, or the paper's model name
    source: str                   # run name, or "paper"
    metrics: dict[str, dict[str, float | None]]  # task id -> metric -> value; absent task = missing
    aggregate: str = "protocol"   # key of AGGREGATES
    type: str | None = None       # "bio" / "general" when known
    run_dir: Path | None = None
    model_dir: str | None = None
    n_items: dict[str, int] = field(default_factory=dict)
    published_levels: dict[str, float | None] | None = None  # paper rows: level1/level2 as printed
    truncated: dict[str, int] = field(default_factory=dict)  # task id -> prompts cut from the left (scores.json)

    @property
    def label(self) -> str:
        return f"{self.model} ({self.source})"

    def value(self, task: TaskInfo, metric: str) -> float | None:
        return self.metrics.get(task.id, {}).get(metric)

    def derived(self) -> dict[str, float | None]:
        """Task, level and overall scores; published rows keep the paper's own level figures
        (the rule reproduces them within 0.01, the rounding of the published metrics)."""
        derived = derive(self.metrics)
        if self.published_levels is not None:
            derived.update(self.published_levels)
            derived["overall"] = _mean_or_none([derived["level1"], derived["level2"]])
        return derived


derive = summarise     # the reports' name for it


def _number(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(f"{where}: expected a number in percent, found {value!r}")
    return float(value)


def read_scores(path: Path, task: TaskInfo, plain: bool = False) -> tuple[dict[str, float | None], dict]:
    """The reported metric cells of one scores.json (``None`` = missing) and the raw document."""
    doc = records.read_scores(path).to_dict()
    if doc.get("task") not in (None, task.id):
        raise InputError(f"{path}: field 'task' is {doc.get('task')!r}, expected {task.id!r} (the folder name)")
    key = "metrics_plain" if plain else "metrics"
    values = doc.get(key)
    if not isinstance(values, dict):
        raise InputError(f"{path}: field {key!r} is missing or not an object")
    missing = set(doc.get("missing_metrics") or [])
    cells = {m: (None if m in missing else _number(values.get(m), f"{path}: {key}.{m}")) for m in task.metrics}
    return cells, doc


def model_dirs(run_dir: Path) -> list[Path]:
    """Sub-folders of a run that hold at least one ``<task>/scores.json``, sorted by name."""
    found = []
    for child in sorted(p for p in run_dir.iterdir() if p.is_dir()):
        if any((child / t.id / "scores.json").is_file() for t in TASKS):
            found.append(child)
    return found


def load_run(run: str | Path, plain: bool = False) -> list[ModelScores]:
    """Every model of one run, tasks in paper order; a task without scores.json is missing."""
    run_dir = resolve_run_dir(run)
    dirs = model_dirs(run_dir)
    if not dirs:
        raise InputError(f"{run_dir}: no <model>/<task>/scores.json found; is this a results/<run> folder?")
    rows = []
    for directory in dirs:
        model = directory.name.replace("__", "/")
        metrics: dict[str, dict[str, float | None]] = {}
        n_items: dict[str, int] = {}
        chat_api = False
        truncated: dict[str, int] = {}
        for task in TASKS:
            path = directory / task.id / "scores.json"
            if not path.is_file():
                continue
            cells, doc = read_scores(path, task, plain=plain)
            metrics[task.id] = cells
            model = doc.get("model") or model
            chat_api = chat_api or doc.get("prompt_path") == "server-chat-template"
            if isinstance(doc.get("n_items"), int):
                n_items[task.id] = doc["n_items"]
            if isinstance(doc.get("truncated_prompts"), int) and doc["truncated_prompts"] > 0:
                truncated[task.id] = doc["truncated_prompts"]
        rows.append(ModelScores(model=model, source=run_dir.name + (CHAT_API_MARK if chat_api else ""), metrics=metrics,
                                aggregate="plain" if plain else "protocol", run_dir=run_dir,
                                model_dir=directory.name, n_items=n_items, truncated=truncated))
    return rows


def load_runs(runs: list[str | Path], plain: bool = False) -> list[ModelScores]:
    """Rows of several runs, in the order given; two runs with the same folder name are refused."""
    rows: list[ModelScores] = []
    seen: dict[str, Path] = {}
    for run in runs:
        run_dir = resolve_run_dir(run)
        if run_dir.name in seen and seen[run_dir.name].resolve() != run_dir.resolve():
            raise InputError(f"{run_dir}: another run given is also named {run_dir.name!r}; rows would be ambiguous")
        if run_dir.name in seen:
            continue
        seen[run_dir.name] = run_dir
        rows.extend(load_run(run_dir, plain=plain))
    return rows


def tidy(rows: list[ModelScores]) -> list[dict[str, Any]]:
    """Long form, one record per cell: source, model, task (paper name or level), metric, value.

    Task and level scores appear with metric ``score``; levels and overall with task ``Level 1`` etc.
    """
    records = []
    for row in rows:
        derived = row.derived()
        for task in TASKS:
            for metric in task.metrics:
                records.append({"source": row.source, "model": row.model, "task": task.name,
                                "metric": metric, "value": row.value(task, metric)})
            records.append({"source": row.source, "model": row.model, "task": task.name,
                            "metric": "score", "value": derived[task.id]})
        for key in (*LEVELS, "overall"):
            records.append({"source": row.source, "model": row.model, "task": LEVEL_NAMES[key],
                            "metric": "score", "value": derived[key]})
    return records


def prediction_path(row: ModelScores, task: TaskInfo) -> Path:
    if row.run_dir is None or row.model_dir is None:
        raise InputError(f"{row.label}: per-item scores exist only for runs, not for published rows")
    return row.run_dir / row.model_dir / task.id / "predictions.jsonl"


def read_predictions(path: Path) -> list[dict]:
    """The lines of a predictions.jsonl; each must carry an ``id`` and a ``scores`` object."""
    return [row.to_dict() for row in records.read_predictions(path)]


__all__ = ["ModelScores", "derive", "load_run", "load_runs", "tidy", "read_scores",
           "read_predictions", "prediction_path", "resolve_run_dir", "AGGREGATES", "LEVEL_NAMES"]
