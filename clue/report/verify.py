"""`clue verify`: recompute a run and report every stored number that differs.

Three checks, each reported cell by cell (floats equal within 1e-9, everything else exactly):
1. aggregation: every metric in each scores.json (``metrics`` with the run's ``averaging``, and
   ``metrics_plain``) against the per-item scores stored in the task's predictions.jsonl;
2. re-scoring: the metrics re-computed from the stored completions without the model
   (``clue.runner.score_run``) against every field of each scores.json;
3. tables: task scores, level scores and overall derived from the stored files against those
   derived from the re-scored ones, and, when given, the cells of CSV tables written by
   ``clue tables --format csv`` against the re-scored values.
"""

from __future__ import annotations

import csv
import math
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from clue.errors import ClueError, InputError
from clue.io import read_json, write_json
from clue.metrics.aggregate import aggregate, percent
from clue.report.runs import (LEVEL_NAMES, ModelScores, load_run, model_dirs, read_predictions,
                              resolve_run_dir, tidy)
from clue.report.tables import METRIC_NAMES
from clue.taskinfo import TASKS

TOLERANCE = 1e-9
# Fields of scores.json that describe when or how long, not what: not compared.
VOLATILE = {"scored_at", "created_at", "elapsed_s", "timings", "duration_s"}


class VerifyFailed(ClueError):
    """At least one recomputed cell differs from the stored one (exit status 1)."""


@dataclass(frozen=True)
class Difference:
    where: str       # file or table
    field: str       # dotted path of the cell
    stored: Any
    recomputed: Any

    def __str__(self) -> str:
        return f"{self.where}: {self.field}: stored {self.stored!r}, recomputed {self.recomputed!r}"


@dataclass
class VerifyReport:
    run_dir: Path
    checked: int = 0
    differences: list[Difference] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)   # checks that could not run, and why

    @property
    def ok(self) -> bool:
        return not self.differences


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return abs(a - b) <= TOLERANCE
    return a == b


def compare_values(stored: Any, recomputed: Any, where: str, prefix: str = "",
                   ignore: set[str] = VOLATILE) -> tuple[int, list[Difference]]:
    """Walk two JSON values together; returns (cells compared, differing cells)."""
    if isinstance(stored, dict) and isinstance(recomputed, dict):
        checked, found = 0, []
        for key in sorted(set(stored) | set(recomputed), key=str):
            if key in ignore:
                continue
            path = f"{prefix}.{key}" if prefix else str(key)
            if key not in stored or key not in recomputed:
                found.append(Difference(where, path, stored.get(key, "<absent>"), recomputed.get(key, "<absent>")))
                checked += 1
                continue
            n, diffs = compare_values(stored[key], recomputed[key], where, path, ignore)
            checked += n
            found += diffs
        return checked, found
    if isinstance(stored, list) and isinstance(recomputed, list) and len(stored) == len(recomputed):
        checked, found = 0, []
        for index, (a, b) in enumerate(zip(stored, recomputed)):
            n, diffs = compare_values(a, b, where, f"{prefix}[{index}]", ignore)
            checked += n
            found += diffs
        return checked, found
    return 1, ([] if _same(stored, recomputed) else [Difference(where, prefix or "<value>", stored, recomputed)])


def aggregates_from_items(lines: list[dict], averaging: str) -> dict[str, dict[str, float]]:
    """``metrics`` and ``metrics_plain`` (percent) recomputed from predictions.jsonl lines."""
    values: dict[str, list[float]] = {}
    for line in lines:
        for metric, value in line["scores"].items():
            if value is not None:
                values.setdefault(metric, []).append(value)
    return {"metrics": {m: percent(aggregate(v, averaging)) for m, v in values.items()},
            "metrics_plain": {m: percent(aggregate(v, "plain")) for m, v in values.items()}}


def check_aggregates(run_dir: Path, report: VerifyReport) -> None:
    for directory in model_dirs(run_dir):
        for task in TASKS:
            scores_path = directory / task.id / "scores.json"
            predictions = directory / task.id / "predictions.jsonl"
            if not scores_path.is_file():
                continue
            if not predictions.is_file():
                report.skipped.append(f"{predictions}: absent, aggregates of {scores_path} not checked")
                continue
            stored = read_json(scores_path)
            averaging = stored.get("averaging", "plain")
            recomputed = aggregates_from_items(read_predictions(predictions), averaging)
            for key in ("metrics", "metrics_plain"):
                # metrics that exist both per item and in scores.json (skipped ones are in neither)
                common = set(stored.get(key) or {}) & set(recomputed[key])
                n, diffs = compare_values({m: stored[key][m] for m in common},
                                          {m: recomputed[key][m] for m in common}, str(scores_path), key)
                report.checked += n
                report.differences += diffs


def _rescored_rows(run_dir: Path, rescored: dict[str, dict[str, dict]], plain: bool) -> list[ModelScores]:
    """The run's rows as they would be loaded had scores.json held the re-scored values."""
    with tempfile.TemporaryDirectory(prefix="clue-verify-") as tmp:
        copy = Path(tmp) / run_dir.name
        for model_dir, tasks in rescored.items():
            for task_id, scores in tasks.items():
                target = copy / model_dir / task_id / "scores.json"
                target.parent.mkdir(parents=True, exist_ok=True)
                write_json(target, scores)
        rows = load_run(copy, plain=plain) if any(rescored.values()) else []
    for row in rows:
        row.run_dir = run_dir
    return rows


def _default_rescorer(**options) -> Callable[[Path], object] | None:
    try:
        from clue.runner import score_run
    except ImportError:
        return None
    return lambda run_dir: score_run(run_dir, **{k: v for k, v in options.items() if v is not None})


def rescore_copy(run_dir: Path, rescorer: Callable[[Path], object]) -> dict[str, dict[str, dict]]:
    """Re-score a copy of the run (its scores.json and predictions.jsonl left out, so nothing stale
    survives) and read back ``{model_dir: {task: scores.json}}`` from the copy."""
    with tempfile.TemporaryDirectory(prefix="clue-verify-") as tmp:
        copy = Path(tmp) / run_dir.name
        shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns("scores.json", "predictions.jsonl"))
        rescorer(copy)
        rescored: dict[str, dict[str, dict]] = {}
        for directory in sorted(p for p in copy.iterdir() if p.is_dir()):
            for task in TASKS:
                path = directory / task.id / "scores.json"
                if path.is_file():
                    rescored.setdefault(directory.name, {})[task.id] = read_json(path)
    return rescored


def check_rescored(run_dir: Path, rescored: dict[str, dict[str, dict]], report: VerifyReport,
                   tables: Path | None = None) -> None:
    """Compare each stored scores.json, and the tables derived from it, with re-scored values."""
    stored_rows = {r.model_dir: r for r in load_run(run_dir)}
    for directory in model_dirs(run_dir):
        for task in TASKS:
            path = directory / task.id / "scores.json"
            if not path.is_file():
                continue
            fresh = rescored.get(directory.name, {}).get(task.id)
            if fresh is None:
                report.differences.append(Difference(str(path), "<file>", "present", "not re-scored"))
                continue
            n, diffs = compare_values(read_json(path), fresh, str(path))
            report.checked += n
            report.differences += diffs
    for model_dir, tasks in rescored.items():
        for task_id in tasks:
            if not (run_dir / model_dir / task_id / "scores.json").is_file():
                report.differences.append(Difference(str(run_dir / model_dir / task_id / "scores.json"), "<file>", "absent", "re-scored"))
    fresh_rows = _rescored_rows(run_dir, rescored, plain=False)
    stored_cells = {(r["model"], r["task"], r["metric"]): r["value"] for r in tidy(list(stored_rows.values()))}
    for record in tidy(fresh_rows):
        key = (record["model"], record["task"], record["metric"])
        if record["metric"] != "score" or key not in stored_cells:
            continue  # metric cells were compared in the files above
        report.checked += 1
        if not _same(stored_cells[key], record["value"]):
            report.differences.append(Difference(f"{run_dir.name} summary", f"{key[0]} / {key[1]} score",
                                                 stored_cells[key], record["value"]))
    if tables is not None:
        check_table_files(tables, fresh_rows + _rescored_rows(run_dir, rescored, plain=True), report)


def _csv_number(text: str) -> float | None:
    text = text.strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        return None


def check_table_files(tables: Path, rows: list[ModelScores], report: VerifyReport) -> None:
    """Cells of ``summary.csv`` and ``<task>.csv`` (``clue tables --format csv --out DIR``) for the run's rows."""
    files = [tables] if tables.is_file() else sorted(tables.glob("*.csv"))
    if not files:
        raise InputError(f"--tables {tables}: no CSV tables found (write them with clue tables RUN --format csv --out DIR)")
    by_model = {(r.model, r.source, r.aggregate): r for r in rows}
    for path in files:
        name = path.stem
        with open(path, encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            for number, line in enumerate(reader, start=2):
                row = by_model.get((line.get("Model"), line.get("Source"), line.get("Values", "protocol")))
                if row is None:
                    continue
                expected = _expected_cells(name, row)
                for column, value in expected.items():
                    if column not in line:
                        continue
                    report.checked += 1
                    stored = _csv_number(line[column])
                    if not ((stored is None and value is None) or (stored is not None and value is not None and abs(stored - value) <= TOLERANCE * max(1.0, abs(value)))):
                        report.differences.append(Difference(f"{path}:{number}", f"{row.model} / {column}", stored, value))


def _expected_cells(table: str, row: ModelScores) -> dict[str, float | None]:
    derived = row.derived()
    if table == "summary":
        cells = {t.name: derived[t.id] for t in TASKS}
        cells.update({LEVEL_NAMES[k]: derived[k] for k in ("level1", "level2", "overall")})
        return cells
    for task in TASKS:
        if task.id == table:
            cells = {METRIC_NAMES.get(m, m): row.value(task, m) for m in task.metrics}
            cells["Score"] = derived[task.id]
            return cells
    return {}


def check_inputs(run_dir: Path, report: VerifyReport, data_dir=None, protocol_dir=None) -> bool:
    """Flag each test set and task prompt that differs from what the run recorded; True if any does."""
    try:
        from clue.protocol import load_protocol
        from clue.runner import changed_datasets, changed_prompts
    except ImportError:
        return False
    from clue.records import read_manifest

    manifest_path = run_dir / "manifest.json"
    try:
        models = read_manifest(manifest_path).models if manifest_path.is_file() else {}
    except InputError as exc:
        report.skipped.append(f"input check: {exc}")
        return False
    found = False
    for model_key, entry in models.items():
        options = entry.options or {}
        folder = Path(data_dir or options.get("data_dir") or "data")
        for task_id in changed_datasets(entry, folder):
            found = True
            report.differences.append(Difference(
                str(folder / task_id / "test.jsonl"), f"{model_key} / datasets.{task_id}.sha256",
                entry.datasets[task_id]["sha256"], "a different file (the test set changed since the run)"))
        try:
            protocol = load_protocol(options.get("protocol", "paper"), protocol_dir or options.get("protocol_dir"))
        except ClueError as exc:
            report.skipped.append(f"prompt check: {exc}")
            continue
        for task_id in changed_prompts(entry, protocol):
            found = True
            report.differences.append(Difference(
                str(protocol.path), f"{model_key} / prompts_sha256.{task_id}", entry.prompts_sha256[task_id],
                protocol.prompts_sha256(task_id)))
    return found


def verify_run(run: str | Path, *, rescore: bool = True, tables: Path | None = None,
               rescorer: Callable[[Path], object] | None = None, **score_options) -> VerifyReport:
    """Run every check that can run.

    ``rescorer(copy_of_run_dir)`` re-scores a copy of the run in place (default:
    ``clue.runner.score_run`` with ``score_options``: data_dir, protocol_dir, assets_dir, metrics),
    so the run's own files are never touched.
    """
    run_dir = resolve_run_dir(run)
    report = VerifyReport(run_dir)
    load_run(run_dir)  # fails clearly on a folder that is not a run
    check_aggregates(run_dir, report)
    if rescore and check_inputs(run_dir, report, score_options.get("data_dir"), score_options.get("protocol_dir")):
        report.skipped.append("re-scoring: the run's test sets or prompts changed since the run (listed above)")
        rescore = False
    rescorer = (rescorer or _default_rescorer(**score_options)) if rescore else None
    if rescorer is None:
        report.skipped.append("re-scoring: " + ("--no-rescore" if not rescore else
                                                "clue.runner.score_run is not available in this installation"))
        if tables is not None:
            check_table_files(tables, load_run(run_dir) + load_run(run_dir, plain=True), report)
        return report
    check_rescored(run_dir, rescore_copy(run_dir, rescorer), report, tables)
    return report
