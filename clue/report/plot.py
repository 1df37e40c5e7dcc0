"""Level 1 vs Level 2 scatter plot, like the paper's figure, written as PNG and SVG.

Marker = model type (biomedical, general, unknown for run models without a published row),
colour = base family (``clue.report.paper.family``). Run models are filled and labelled; the
published models (optional) are drawn hollow. A model without both level scores is not plotted
and is listed in the result. Each group of points is an SVG group whose id starts with
``clue-points-`` so a reader (or a test) can count the points back from the file.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

from clue.errors import InputError
from clue.io import atomic_write
from clue.report.paper import family, paper_name
from clue.report.runs import ModelScores

MARKERS = {"bio": "o", "general": "s", "unknown": "^"}
TYPE_NAMES = {"bio": "biomedical", "general": "general", "unknown": "type unknown"}
FAMILY_COLOURS = {
    "Llama-2": "#1f77b4", "Llama-3": "#d62728", "Mistral": "#ff7f0e", "Mixtral": "#9467bd",
    "Phi-3": "#2ca02c", "Phi": "#2ca02c", "Gemma": "#17becf", "Qwen": "#8c564b", "Llama": "#7f7f7f",
}
OTHER_COLOUR = "#bcbd22"


@dataclass
class PlotResult:
    paths: list[Path]
    run_points: int
    paper_points: int
    skipped: list[str] = field(default_factory=list)   # rows without both level scores


@dataclass
class _Point:
    label: str
    x: float
    y: float
    type: str
    family: str
    paper: bool


def _points(rows: list[ModelScores], paper: list[ModelScores] | None, aliases: dict[str, str] | None,
            skipped: list[str]) -> list[_Point]:
    by_name = {p.model: p for p in paper or []}
    points = []
    for row in rows:
        derived = row.derived()
        if derived["level1"] is None or derived["level2"] is None:
            skipped.append(row.label)
            continue
        name = paper_name(row.model, list(by_name), aliases) if row.source != "paper" else row.model
        kind = row.type or (by_name[name].type if name in by_name else None) or "unknown"
        points.append(_Point(row.label if row.source != "paper" else row.model, derived["level1"], derived["level2"],
                             kind if kind in MARKERS else "unknown", family(name or row.model), row.source == "paper"))
    return points


def plot_levels(rows: list[ModelScores], out: Path, *, paper: list[ModelScores] | None = None,
                show_paper: bool = False, aliases: dict[str, str] | None = None,
                title: str = "CLUE: Level 1 vs Level 2") -> PlotResult:
    """Write ``<out>.png`` and ``<out>.svg`` (``out`` without suffix, or with .png/.svg)."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    out = Path(out)
    stem = out.with_suffix("") if out.suffix.lower() in (".png", ".svg") else out
    skipped: list[str] = []
    points = _points(rows, paper, aliases, skipped)
    published_skipped: list[str] = []
    if show_paper and paper:
        points += _points(paper, paper, aliases, published_skipped)

    figure = Figure(figsize=(8, 6))
    axes = figure.add_subplot()
    groups: dict[tuple[bool, str, str], list[_Point]] = {}
    for point in points:
        groups.setdefault((point.paper, point.family, point.type), []).append(point)
    for (is_paper, fam, kind), members in sorted(groups.items()):
        colour = FAMILY_COLOURS.get(fam, OTHER_COLOUR)
        collection = axes.scatter(
            [p.x for p in members], [p.y for p in members], marker=MARKERS[kind], s=55 if is_paper else 80,
            facecolors="none" if is_paper else colour, edgecolors=colour, linewidths=1.4, alpha=0.7 if is_paper else 1.0,
            zorder=2 if is_paper else 3)
        collection.set_gid(f"clue-points-{'paper' if is_paper else 'run'}-{fam}-{kind}".replace(" ", "_"))
        if not is_paper:
            for p in members:   # short label: the last part of the model id, and the run
                short = p.label.split("/")[-1] if "/" in p.label.split(" (")[0] else p.label
                axes.annotate(short, (p.x, p.y), textcoords="offset points", xytext=(5, 4), fontsize=7)
    axes.margins(x=0.2, y=0.08)
    axes.set_xlabel("Level 1 score")
    axes.set_ylabel("Level 2 score")
    axes.set_title(title)
    axes.grid(True, alpha=0.3)
    families = sorted({p.family for p in points})
    kinds = [k for k in MARKERS if any(p.type == k for p in points)]
    handles = [Line2D([], [], linestyle="none", marker="o", color=FAMILY_COLOURS.get(f, OTHER_COLOUR), label=f) for f in families]
    handles += [Line2D([], [], linestyle="none", marker=MARKERS[k], color="black", markerfacecolor="none", label=TYPE_NAMES[k]) for k in kinds]
    if any(p.paper for p in points):
        handles += [Line2D([], [], linestyle="none", marker="o", color="grey", markerfacecolor="grey", label="this run (filled)"),
                    Line2D([], [], linestyle="none", marker="o", color="grey", markerfacecolor="none", label="paper (hollow)")]
    if handles:
        axes.legend(handles=handles, fontsize=8, loc="best")
    figure.tight_layout()

    paths = []
    for suffix, fmt in ((".png", "png"), (".svg", "svg")):
        buffer = io.BytesIO()
        figure.savefig(buffer, format=fmt, dpi=150, metadata={"Date": None} if fmt == "svg" else None)
        path = stem.with_name(stem.name + suffix)
        with atomic_write(path, "wb") as handle:
            handle.write(buffer.getvalue())
        paths.append(path)
    return PlotResult(paths, sum(not p.paper for p in points), sum(p.paper for p in points), skipped)


def plot_runs(runs: list, out: Path, *, show_paper: bool = False, plain: bool = False,
              aliases: dict[str, str] | None = None, paper_csv: Path | None = None) -> PlotResult:
    """Load runs (and the published rows, for types and the optional paper points) and plot them."""
    from clue.report.paper import load_paper
    from clue.report.runs import load_runs

    rows = load_runs(runs, plain=plain) if runs else []
    paper = load_paper(paper_csv)
    if not rows and not show_paper:
        raise InputError("nothing to plot: give at least one RUN, or --paper for the published points")
    return plot_levels(rows, out, paper=paper, show_paper=show_paper, aliases=aliases)
