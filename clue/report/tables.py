"""Paper-style tables (Markdown, LaTeX, CSV) from run rows, optionally beside the published rows.

Tables are built as plain data (:class:`Table`: headers and cells that are floats, ``None`` for
missing, text, or :class:`Estimate` with a confidence interval) and rendered by :func:`render`
with tabulate. Markdown and LaTeX show two decimals and ``–`` for a missing cell; CSV keeps full
floats, an empty field for a missing cell, and an interval as two extra columns.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tabulate import tabulate

from clue.errors import InputError
from clue.io import atomic_write
from clue.report.paper import paper_name
from clue.report.runs import AGGREGATES, CHAT_API_MARK, CHAT_API_NOTE, LEVEL_NAMES, ModelScores
from clue.report.stats import DEFAULT_RESAMPLES, DEFAULT_SEED, Interval
from clue.taskinfo import TASKS, TaskInfo, level_tasks, task_info

MISSING = "–"
FORMATS = ("md", "latex", "csv")
METRIC_NAMES = {
    "accuracy": "Accuracy", "rougeL": "ROUGE-L", "rouge1": "ROUGE-1", "rouge2": "ROUGE-2",
    "bertscore_f1": "BERTScore-F1", "umls_f1": "UMLS-F1", "em_f1": "EM-F1", "ap_f1": "AP-F1",
    "valid_codes": "Valid codes", "task1": "Task 1", "task2": "Task 2", "task3": "Task 3", "score": "Score",
}


@dataclass(frozen=True)
class Estimate:
    """A cell with a 95% interval (the interval is of the plain mean; see clue.report.stats)."""

    value: float | None
    low: float
    high: float


TRUNCATED_MARK = "†"


class Marked(float):
    """A value computed with prompts cut from the left (``--overlong truncate-left``): shown with a mark in
    Markdown and LaTeX; a plain number in CSV."""

    mark = TRUNCATED_MARK


def _marked(value: Any, truncated: bool) -> Any:
    return Marked(value) if truncated and isinstance(value, float) and not isinstance(value, Marked) else value


def _truncation_note(rows: list[ModelScores]) -> str | None:
    hits = [f"{row.model} ({row.source}): " + ", ".join(f"{task_info(t).name} {n}" for t, n in row.truncated.items())
            for row in rows if row.truncated]
    if not hits:
        return None
    return (f"{TRUNCATED_MARK} = computed with prompts longer than the model allows cut from the left "
            "(--overlong truncate-left; the original sent LongHealth tasks 2/3 uncut and its server refused them); "
            "prompts cut: " + "; ".join(hits) + ".")


class PValue(float):
    """A p-value: shown with three decimals (``<0.001`` below that) instead of two."""


@dataclass
class Table:
    name: str                      # file stem for CSV output: summary, mednli, …, comparison
    title: str
    headers: list[str]
    rows: list[list[Any]]
    notes: list[str] = field(default_factory=list)
    values: list[str] = field(default_factory=list)  # per row: protocol / plain / published (CSV column)


def _ordered(rows: list[ModelScores], paper: list[ModelScores] | None,
             aliases: dict[str, str] | None) -> tuple[list[ModelScores], list[tuple[ModelScores, ModelScores]], list[str]]:
    """Run rows, each followed by its published row when comparing; matched pairs; unmatched models."""
    if paper is None:
        return list(rows), [], []
    by_name = {p.model: p for p in paper}
    ordered, matched, unmatched = [], [], []
    for row in rows:
        ordered.append(row)
        name = paper_name(row.model, list(by_name), aliases)
        if name is None:
            unmatched.append(row.model)
            continue
        ordered.append(by_name[name])
        matched.append((row, by_name[name]))
    return ordered, matched, unmatched


def _cell(value: float | None, interval: Interval | None) -> Any:
    if interval is None:
        return value
    return Estimate(value, interval.low, interval.high)


def _aggregate_note(rows: list[ModelScores]) -> str:
    kinds = [k for k in AGGREGATES if any(r.aggregate == k for r in rows)]
    return "Values: " + "; ".join(f"{'runs' if k != 'published' else 'paper rows'}: {AGGREGATES[k]}" for k in kinds) + "."


def _ci_note(resamples: int, seed: int) -> str:
    return (f"Brackets: 95% percentile bootstrap interval over items ({resamples} resamples, seed {seed}), "
            "computed on the plain per-item mean; levels resample each task independently.")


def build_tables(rows: list[ModelScores], *, paper: list[ModelScores] | None = None,
                 aliases: dict[str, str] | None = None,
                 intervals: dict[str, dict[str, Interval | None]] | None = None,
                 tasks: list[TaskInfo] | None = None,
                 resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED) -> list[Table]:
    """The summary table, one table per task, and (with ``paper``) the comparison table.

    ``intervals`` maps a row's label (``model (source)``) to :func:`clue.report.stats.bootstrap`
    output; rows with intervals show them on task, level and overall scores.
    """
    if not rows:
        raise InputError("no model rows to tabulate")
    tasks = list(tasks or TASKS)
    ordered, matched, unmatched = _ordered(rows, paper, aliases)
    intervals = intervals or {}
    notes = [_aggregate_note(ordered),
             "Task score = mean of the task's metrics; " + "; ".join(
                 f"Level {n} = mean({', '.join(t.name for t in level_tasks(n))})" for n in (1, 2))
             + "; Overall = mean(Level 1, Level 2), the kit's "
             f"own summary (the paper reports none). {MISSING} = missing; a level with a missing part stays empty."]
    if intervals:
        notes.append(_ci_note(resamples, seed))
    truncation = _truncation_note(ordered)
    if unmatched:
        notes.append("No published row for: " + ", ".join(unmatched) + " (use --alias MODEL=PAPER_NAME).")
    if any(row.source.endswith(CHAT_API_MARK) for row in ordered):
        notes.append(CHAT_API_NOTE)

    summary_headers = ["Model", "Source"]
    summary_keys: list[str] = []
    for level in (1, 2):
        for task in TASKS:
            if task.level == level:
                summary_headers.append(task.name)
                summary_keys.append(task.id)
        summary_headers.append(LEVEL_NAMES[f"level{level}"])
        summary_keys.append(f"level{level}")
    summary_headers.append(LEVEL_NAMES["overall"])
    summary_keys.append("overall")
    summary = Table("summary", "Summary: task scores and level scores", summary_headers, [],
                    list(notes) + ([truncation] if truncation else []))
    for row in ordered:
        derived = row.derived()
        found = intervals.get(row.label, {})
        summary.rows.append([row.model, row.source] + [_marked(_cell(derived[k], found.get(k)), k in row.truncated)
                                                       for k in summary_keys])
        summary.values.append(row.aggregate)
    tables = [summary]

    for task in tasks:
        table = Table(task.id, f"{task.name} (Level {task.level})",
                      ["Model", "Source"] + [METRIC_NAMES.get(m, m) for m in task.metrics] + ["Score"], [],
                      [notes[0]] + ([notes[2]] if intervals else [])
                      + ([truncation] if truncation and any(task.id in r.truncated for r in ordered) else []))
        for row in ordered:
            found = intervals.get(row.label, {})
            cut = task.id in row.truncated
            table.rows.append([row.model, row.source] + [_marked(row.value(task, m), cut) for m in task.metrics]
                              + [_marked(_cell(row.derived()[task.id], found.get(task.id)), cut)])
            table.values.append(row.aggregate)
        tables.append(table)

    if paper is not None:
        tables.append(comparison_table(matched, unmatched, tasks))
    return tables


def comparison_table(matched: list[tuple[ModelScores, ModelScores]], unmatched: list[str],
                     tasks: list[TaskInfo]) -> Table:
    """One line per metric, task score and level of each matched model: run, paper, Δ = run − paper."""
    table = Table("comparison", "Run vs published (Δ = run − paper)",
                  ["Model", "Source", "Paper model", "Task", "Metric", "Run", "Paper", "Δ"], [])
    for row, published in matched:
        ours, theirs = row.derived(), published.derived()
        lines = []
        for task in tasks:
            for metric in task.metrics:
                lines.append((task.name, METRIC_NAMES.get(metric, metric), row.value(task, metric), published.value(task, metric)))
            lines.append((task.name, "Score", ours[task.id], theirs[task.id]))
        for key in ("level1", "level2"):
            lines.append((LEVEL_NAMES[key], "Score", ours[key], theirs[key]))
        for task_name, metric, mine, pub in lines:
            delta = None if mine is None or pub is None else mine - pub
            table.rows.append([row.model, row.source, published.model, task_name, metric, mine, pub, delta])
            table.values.append(f"{row.aggregate} vs published")
    table.notes.append(_aggregate_note([r for r, _ in matched] + [p for _, p in matched]))
    if not matched:
        table.notes.append("None of the run's models has a published row.")
    if unmatched:
        table.notes.append("No published row for: " + ", ".join(unmatched) + ".")
    return table


def _text(cell: Any, digits: int = 2) -> str:
    if cell is None:
        return MISSING
    if isinstance(cell, Estimate):
        value = MISSING if cell.value is None else f"{cell.value:.{digits}f}"
        return f"{value} [{cell.low:.{digits}f}, {cell.high:.{digits}f}]"
    if isinstance(cell, PValue):
        return "<0.001" if cell < 0.001 else f"{cell:.3f}"
    if isinstance(cell, Marked):
        return f"{cell:.{digits}f}{cell.mark}"
    if isinstance(cell, float):
        return f"{cell:.{digits}f}"
    return str(cell)


def _csv_layout(table: Table) -> tuple[list[str], list[list[Any]]]:
    with_ci = [any(isinstance(r[i], Estimate) for r in table.rows) for i in range(len(table.headers))]
    headers: list[str] = []
    for header, ci in zip(table.headers, with_ci):
        headers += [header, f"{header} CI low", f"{header} CI high"] if ci else [header]
    rows = []
    for row in table.rows:
        out: list[Any] = []
        for cell, ci in zip(row, with_ci):
            if isinstance(cell, Estimate):
                out += [cell.value, cell.low, cell.high]
            else:
                out += [cell, None, None] if ci else [cell]
        rows.append(["" if c is None else (repr(float(c)) if isinstance(c, float) else c) for c in out])
    if table.values:
        headers.append("Values")
        rows = [r + [v] for r, v in zip(rows, table.values)]
    return headers, rows


def table_csv(table: Table) -> str:
    headers, rows = _csv_layout(table)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(headers)
    writer.writerows(rows)
    return buffer.getvalue()


def _latex_alignment(table: Table) -> list[str]:
    """Right-align a column whose cells are all numbers (or missing), left-align the others."""
    def numeric(cell: Any) -> bool:
        return isinstance(cell, (int, float, Estimate)) and not isinstance(cell, bool)

    alignment = []
    for index in range(len(table.headers)):
        cells = [row[index] for row in table.rows if index < len(row) and row[index] is not None]
        alignment.append("right" if cells and all(numeric(c) for c in cells) else "left")
    return alignment


def render(tables: list[Table], fmt: str = "md") -> str:
    """All tables as one text: Markdown (headings, notes), LaTeX (booktabs), or CSV blocks."""
    if fmt not in FORMATS:
        raise InputError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
    parts = []
    for table in tables:
        if fmt == "csv":
            parts.append(f"# {table.title}\n" + table_csv(table))
            continue
        cells = [[_text(c) for c in row] for row in table.rows]
        if fmt == "md":
            body = tabulate(cells, headers=table.headers, tablefmt="github", disable_numparse=True)
            notes = "".join(f"\n{n}\n" for n in table.notes)
            parts.append(f"## {table.title}\n\n{body}\n{notes}")
        else:
            body = tabulate(cells, headers=table.headers, tablefmt="latex_booktabs", disable_numparse=True,
                            colalign=_latex_alignment(table))
            body = body.replace("Δ", r"$\Delta$")   # pdfLaTeX has no Greek in its default input encoding
            body = body.replace(TRUNCATED_MARK, r"\dag{}")
            notes = "".join(f"% {n}\n" for n in table.notes)
            parts.append(f"% {table.title}\n{notes}{body}\n")
    return "\n".join(parts)


def write_tables(tables: list[Table], fmt: str, out: Path) -> list[Path]:
    """Write tables: one file for md/latex; for csv, a folder with ``<table name>.csv`` each."""
    out = Path(out)
    if fmt != "csv":
        with atomic_write(out) as handle:
            handle.write(render(tables, fmt))
        return [out]
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: with --format csv this must be a folder (one CSV per table)")
    written = []
    for table in tables:
        path = out / f"{table.name}.csv"
        with atomic_write(path) as handle:
            handle.write(table_csv(table))
        written.append(path)
    return written


def tables_for_runs(runs: list[str | Path], *, compare: str | None = None, plain: bool = False,
                    ci: bool = False, resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED,
                    aliases: dict[str, str] | None = None, tasks: list[TaskInfo] | None = None,
                    paper_csv: Path | None = None) -> list[Table]:
    """Load runs, optionally bootstrap their intervals and add the published rows; build the tables."""
    from clue.report.paper import load_paper
    from clue.report.runs import load_runs
    from clue.report.stats import bootstrap, load_items

    if compare not in (None, "paper"):
        raise InputError(f"--compare {compare!r}: only 'paper' is known")
    rows = load_runs(runs, plain=plain)
    paper = load_paper(paper_csv) if compare == "paper" else None
    intervals = None
    if ci:
        intervals = {row.label: bootstrap(load_items(row), resamples, seed) for row in rows}
    return build_tables(rows, paper=paper, aliases=aliases, intervals=intervals, tasks=tasks,
                        resamples=resamples, seed=seed)
