"""`clue report`: one self-contained static HTML page for a reviewer.

Everything on the page comes from the report library (``clue.report``: runs, paper, tables, stats,
pairs, verify, plot); this module only lays it out. The page has inline CSS and inline SVG, no
script and no reference to anything outside itself: it opens from a file on an air-gapped machine.
URLs recorded in a manifest (a protocol's source) are shown as plain text, never as links.

Sections: summary (beside the published rows, with Δ and 95% intervals), per-task tables, the Level 1
vs Level 2 plot (every point labelled, see :func:`place_labels`), biomedical vs base, provenance,
deviations from the original, and re-scoring (``clue verify``). A demo run says DEMO in every section.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from clue import __version__
from clue.errors import ClueError, InputError
from clue.io import atomic_write, sha256_text
from clue.records import manifest_document
from clue.report.stats import DEFAULT_RESAMPLES, DEFAULT_SEED
from clue.report.tables import MISSING, Estimate, PValue, Table, _text
from clue.taskinfo import TASKS

DEMO_TEXT = ("DEMO: synthetic data, a tiny randomly initialised model and the kit's own demo prompts. "
             "These are not CLUE numbers.")

# ------------------------------------------------------------------------------------ label placement

FONT_SIZE = 11
CHAR_WIDTH = 6.6      # px per character of the label font; the SVG forces it with textLength
LABEL_HEIGHT = 13.0
MARKER_RADIUS = 5.0


@dataclass(frozen=True)
class Box:
    x: float   # left
    y: float   # top
    w: float
    h: float

    def intersects(self, other: "Box", pad: float = 0.0) -> bool:
        return not (self.x + self.w + pad <= other.x or other.x + other.w + pad <= self.x
                    or self.y + self.h + pad <= other.y or other.y + other.h + pad <= self.y)

    def inside(self, bounds: "Box") -> bool:
        return (self.x >= bounds.x and self.y >= bounds.y and self.x + self.w <= bounds.x + bounds.w
                and self.y + self.h <= bounds.y + bounds.h)


DISTANCES = (3, 8, 14, 22, 32, 44, 58, 74, 92, 112, 135, 160)
DIRECTIONS = ((1, 0), (-1, 0), (0, -1), (0, 1), (1, -1), (-1, -1), (1, 1), (-1, 1))


def _candidate(px: float, py: float, w: float, h: float, d: float, dx: int, dy: int) -> Box:
    """A box of size w×h placed at distance d from the point in direction (dx, dy)."""
    x = px + d if dx > 0 else (px - d - w if dx < 0 else px - w / 2)
    y = py + d if dy > 0 else (py - d - h if dy < 0 else py - h / 2)
    return Box(x, y, w, h)


def place_labels(points: list[tuple[float, float]], widths: list[float], bounds: Box, *,
                 height: float = LABEL_HEIGHT, marker: float = MARKER_RADIUS,
                 overflow_x: float | None = None) -> list[Box]:
    """A box per point (same order), deterministic, no two boxes intersecting, none over a marker.

    Points are placed from the most crowded (most neighbours within 60 px) to the least; each label
    tries 8 directions at growing distances inside ``bounds`` and takes the first free spot. A label
    with no free spot goes to a column at ``overflow_x`` (default: right of ``bounds``), stacked
    downwards, where boxes cannot meet; the caller draws a leader line to it.
    """
    markers = [Box(x - marker, y - marker, 2 * marker, 2 * marker) for x, y in points]

    def crowding(i: int) -> int:
        return sum(1 for j, (x, y) in enumerate(points) if j != i and math.hypot(x - points[i][0], y - points[i][1]) < 60)

    order = sorted(range(len(points)), key=lambda i: (-crowding(i), points[i][0], points[i][1], i))
    placed: dict[int, Box] = {}
    column_x = bounds.x + bounds.w + 12 if overflow_x is None else overflow_x
    column_y = bounds.y
    for i in order:
        px, py = points[i]
        w = widths[i]
        chosen = None
        for d in DISTANCES:
            for dx, dy in DIRECTIONS:
                box = _candidate(px, py, w, height, d, dx, dy)
                if not box.inside(bounds):
                    continue
                if any(box.intersects(other, 1.0) for other in placed.values()):
                    continue
                if any(box.intersects(m) for m in markers):
                    continue
                chosen = box
                break
            if chosen is not None:
                break
        if chosen is None:
            chosen = Box(column_x, column_y, w, height)
            column_y += height + 2
        placed[i] = chosen
    return [placed[i] for i in range(len(points))]


# ------------------------------------------------------------------------------------ the plot as SVG

@dataclass
class PlotSvg:
    svg: str
    labels: list[str]            # one per point, in drawing order
    boxes: list[Box]             # their label boxes
    left_out: list[str]          # published models without both level scores
    runs_left_out: list[str]     # run rows without both level scores
    families: list[str]          # base families drawn (legend)


def _ticks(low: float, high: float) -> list[float]:
    span = max(high - low, 1e-9)
    step = next(s for s in (0.5, 1, 2, 5, 10, 20, 25, 50) if span / s <= 8)
    start = math.floor(low / step) * step
    return [start + k * step for k in range(int((high - start) / step) + 2) if start + k * step <= high + 1e-9]


def level_plot(rows, paper, aliases=None, *, show_paper: bool = True, width: int = 900, height: int = 560) -> PlotSvg:
    """Level 1 (x) vs Level 2 (y): run models filled, published models hollow; marker = type,
    colour = base family (as ``clue plot``); every point labelled with its model name."""
    from clue.report.plot import FAMILY_COLOURS, OTHER_COLOUR, _points

    runs_left_out: list[str] = []
    points = _points(rows, paper, aliases, runs_left_out)
    left_out: list[str] = []
    if show_paper and paper:
        points += _points(paper, paper, aliases, left_out)
    left_out = [name.removesuffix(" (paper)") for name in left_out]
    plot = Box(70, 20, width - 70 - 210, height - 20 - 50)
    if points:
        xs, ys = [p.x for p in points], [p.y for p in points]
        pad_x, pad_y = max(1.0, (max(xs) - min(xs)) * 0.08), max(1.0, (max(ys) - min(ys)) * 0.08)
        x0, x1, y0, y1 = min(xs) - pad_x, max(xs) + pad_x, min(ys) - pad_y, max(ys) + pad_y
    else:
        x0, x1, y0, y1 = 0.0, 100.0, 0.0, 100.0

    def sx(v: float) -> float:
        return plot.x + (v - x0) / (x1 - x0) * plot.w

    def sy(v: float) -> float:
        return plot.y + plot.h - (v - y0) / (y1 - y0) * plot.h

    labels = [p.label if p.paper else _run_label(p.label) for p in points]
    coords = [(sx(p.x), sy(p.y)) for p in points]
    widths = [len(label) * CHAR_WIDTH + 2 for label in labels]
    boxes = place_labels(coords, widths, plot, overflow_x=plot.x + plot.w + 14)
    svg_height = max(height, int(max((b.y + b.h for b in boxes), default=0) + 10))

    out = [f'<svg width="{width}" height="{svg_height}" '
           f'viewBox="0 0 {width} {svg_height}" role="img" aria-label="Level 1 vs Level 2" class="plot">',
           f'<rect x="{plot.x}" y="{plot.y}" width="{plot.w}" height="{plot.h}" fill="#fff" stroke="#888"/>']
    for tick in _ticks(x0, x1):
        if x0 <= tick <= x1:
            out.append(f'<line x1="{sx(tick):.1f}" y1="{plot.y}" x2="{sx(tick):.1f}" y2="{plot.y + plot.h}" stroke="#eee"/>'
                       f'<text x="{sx(tick):.1f}" y="{plot.y + plot.h + 16}" text-anchor="middle" font-size="11">{tick:g}</text>')
    for tick in _ticks(y0, y1):
        if y0 <= tick <= y1:
            out.append(f'<line x1="{plot.x}" y1="{sy(tick):.1f}" x2="{plot.x + plot.w}" y2="{sy(tick):.1f}" stroke="#eee"/>'
                       f'<text x="{plot.x - 6}" y="{sy(tick) + 4:.1f}" text-anchor="end" font-size="11">{tick:g}</text>')
    out.append(f'<text x="{plot.x + plot.w / 2}" y="{plot.y + plot.h + 38}" text-anchor="middle" font-size="13">Level 1 score</text>'
               f'<text transform="translate(18 {plot.y + plot.h / 2}) rotate(-90)" text-anchor="middle" font-size="13">Level 2 score</text>')
    for point, (x, y), box, label in zip(points, coords, boxes, labels):
        colour = FAMILY_COLOURS.get(point.family, OTHER_COLOUR)
        near = _nearest(box, x, y)
        if math.hypot(near[0] - x, near[1] - y) > MARKER_RADIUS + 4:
            out.append(f'<line x1="{x:.1f}" y1="{y:.1f}" x2="{near[0]:.1f}" y2="{near[1]:.1f}" stroke="#999" stroke-width="0.7"/>')
        out.append(_marker(point.type, x, y, colour, hollow=point.paper))
        weight = ' font-weight="bold"' if not point.paper else ""
        out.append(f'<text class="label" x="{box.x + 1:.1f}" y="{box.y + box.h - 3:.1f}" font-family="DejaVu Sans Mono, monospace" '
                   f'font-size="{FONT_SIZE}" textLength="{box.w - 2:.1f}" lengthAdjust="spacingAndGlyphs"'
                   f'{weight}>{html.escape(label)}</text>')
    out.append("</svg>")
    return PlotSvg("".join(out), labels, boxes, left_out, runs_left_out, sorted({p.family for p in points}))


def _run_label(label: str) -> str:
    model, _, source = label.rpartition(" (")
    return f"{model.rstrip('/').split('/')[-1]} ({source}" if model else label


def _nearest(box: Box, x: float, y: float) -> tuple[float, float]:
    return min(max(x, box.x), box.x + box.w), min(max(y, box.y), box.y + box.h)


def _marker(kind: str, x: float, y: float, colour: str, hollow: bool) -> str:
    fill = "none" if hollow else colour
    style = f'fill="{fill}" stroke="{colour}" stroke-width="1.6"'
    r = MARKER_RADIUS - 0.5
    if kind == "general":
        return f'<rect x="{x - r:.1f}" y="{y - r:.1f}" width="{2 * r:.1f}" height="{2 * r:.1f}" {style}/>'
    if kind == "bio":
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" {style}/>'
    return f'<polygon points="{x:.1f},{y - r:.1f} {x + r:.1f},{y + r:.1f} {x - r:.1f},{y + r:.1f}" {style}/>'


# ------------------------------------------------------------------------------------ provenance

def is_demo(manifest: dict) -> bool:
    protocol = (manifest.get("protocol") or {}).get("name")
    models = (manifest.get("models") or {}).values()
    return protocol == "demo" or any((m.get("options") or {}).get("protocol") == "demo"
                                     or (m.get("options") or {}).get("demo_metrics") for m in models)


def _find(value: Any, key: str) -> list[Any]:
    """Every value stored under ``key`` anywhere in a JSON document."""
    found = []
    if isinstance(value, dict):
        for k, v in value.items():
            if k == key:
                found.append(v)
            found += _find(v, key)
    elif isinstance(value, list):
        for v in value:
            found += _find(v, key)
    return found


def prompt_digests(run_dir: Path, model_dir: str) -> dict[str, tuple[int, str]]:
    """Per task: (prompts, sha256 over the items' prompt hashes in file order), from predictions.jsonl."""
    from clue.report.runs import read_predictions

    out = {}
    for task in TASKS:
        path = run_dir / model_dir / task.id / "predictions.jsonl"
        if path.is_file():
            hashes = [str(line.get("prompt_hash", "")) for line in read_predictions(path)]
            out[task.id] = (len(hashes), sha256_text("\n".join(hashes)))
    return out


def deviations(manifest: dict, model_dir: str, entry: dict) -> list[str]:
    """Every way this model's run departs from what the original code did, in words."""
    from clue.protocol.settings import SETTINGS

    options = entry.get("options") or {}
    name = options.get("protocol") or (manifest.get("protocol") or {}).get("name")
    out = []
    settings = SETTINGS.get(name)
    if name == "demo":
        out.append("protocol 'demo': the kit's own prompts on synthetic data; not the CLUE protocol and not CLUE numbers")
    if settings is not None:
        quirk = [t.name for t in TASKS if t.id in settings.tasks and settings.tasks[t.id].averaging == "first-item-twice"
                 and t.id in (entry.get("task_ids") or [t.id])]
        if quirk:
            out.append("first-item-twice averaging (the original's running-average helper counts the first scored item "
                       f"twice; reported as published, the plain mean beside it in scores.json): {', '.join(quirk)}")
        out += [f"protocol '{name}': {note}" for note in settings.notes if not (name == "demo" and "demo prompts" in note)]
        greedy = entry.get("greedy")
        if greedy is False:
            out.append(f"sampled decoding seeded with seed {entry.get('seed')} (the original is unseeded)")
        elif greedy is True and not settings.greedy:
            out.append(f"greedy decoding (--greedy) instead of protocol '{name}''s sampling")
    if (options.get("chat_layout") or "auto") != "auto":
        out.append(f"message layout forced with --chat-layout {options['chat_layout']} (resolved: {entry.get('layout')})")
    if (options.get("model_family") or "auto") != "auto":
        out.append(f"model family forced with --model-family {options['model_family']} (the original decides by name)")
    if options.get("limit") is not None:
        out.append(f"--limit {options['limit']}: only the first {options['limit']} records of each test set were evaluated")
    for task, info in (entry.get("tasks") or {}).items():
        if info.get("truncated_prompts"):
            out.append(f"{task}: {info['truncated_prompts']} of {info.get('n_requests', '?')} prompts longer than the model "
                       "allows were cut from the left")
    skipped = (entry.get("metrics") or {}).get("skipped") or []
    if skipped:
        out.append(f"metrics left out (--metrics {options.get('metrics')}): {', '.join(skipped)}; their cells are missing")
    identity = entry.get("identity") or {}
    engine = entry.get("backend_settings") or {}
    if (engine.get("api") or identity.get("api")) == "chat":
        out.append("chat API (/v1/chat/completions): the server applied its own chat template; the prompts were "
                   "not rendered by the kit" + (f"; {engine['prefills_dropped']} prefills could not be sent"
                                                if engine.get("prefills_dropped") else ""))
    if engine.get("prompt_token_mismatches"):
        out.append(f"{engine['prompt_token_mismatches']} prompts tokenized differently by the server than by the kit")
    from clue.report.export import fingerprints

    for task, found in fingerprints({"models": {model_dir: entry}}).items():
        if found["lock"] == "differs":
            out.append(f"{task}: the test set (sha256 {found['sha256'][:12]}…) differs from the published fingerprint "
                       f"in data_recipes/fingerprints.lock ({found['expected'][:12]}…)")
    if (manifest.get("protocol") or {}).get("pins_overridden"):
        out.append("protocol file hashes taken from an override (CLUE_PROTOCOL_PINS / expected_sha256), not the kit's pins")
    return out


def _kv(pairs: list[tuple[str, Any]]) -> str:
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{_plain(v)}</td></tr>" for k, v in pairs)
    return f'<table class="kv">{rows}</table>'


def _plain(value: Any) -> str:
    if value is None:
        return MISSING
    if isinstance(value, dict):
        return ", ".join(f"{html.escape(str(k))}={_plain(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(_plain(v) for v in value) or "none"
    return f'<span class="mono">{html.escape(str(value))}</span>'


def provenance_html(run_dir: Path) -> str:
    from clue.report.export import fingerprints
    from clue.report.runs import model_dirs

    path = run_dir / "manifest.json"
    if not path.is_file():
        return f"<p>{html.escape(str(path))}: no manifest; provenance unknown.</p>"
    manifest = manifest_document(path)
    kit, protocol = manifest.get("kit") or {}, manifest.get("protocol") or {}
    parts = ["<h3>Kit</h3>", _kv([("version", kit.get("version")), ("git commit", kit.get("git_commit")),
                                   ("uncommitted changes", kit.get("git_dirty"))]),
             "<h3>Protocol</h3>", _kv([("name", protocol.get("name")), ("commit", protocol.get("commit")),
                                        ("date", protocol.get("date")), ("source (text, not a link)", protocol.get("source")),
                                        ("pins overridden", protocol.get("pins_overridden"))])]
    files = protocol.get("files") or {}
    if files:
        parts.append(_table_html(Table("protocol-files", "Protocol files", ["File", "sha256"],
                                       [[k, v] for k, v in files.items()]), heading=False))
    hashes = _find(manifest, "prompt_hashes")
    if hashes:
        parts.append("<h4>Prompt hashes recorded in the manifest</h4>" + "".join(_kv(list(h.items())) if isinstance(h, dict)
                                                                                  else f"<p>{_plain(h)}</p>" for h in hashes))
    prints = fingerprints(manifest)
    parts.append("<h3>Datasets</h3>")
    parts.append(_table_html(Table("datasets", "Datasets", ["Task", "Rows", "Recipe version", "sha256", "fingerprints.lock"],
                                   [[t, f.get("rows"), f.get("recipe_version"), f.get("sha256"), f.get("lock")]
                                    for t, f in prints.items()]), heading=False))
    known = {d.name for d in model_dirs(run_dir)}
    for model_dir, entry in sorted((manifest.get("models") or {}).items()):
        identity, options = entry.get("identity") or {}, entry.get("options") or {}
        parts.append(f"<h3>Model {html.escape(model_dir)}</h3>")
        parts.append(_kv([("model", identity.get("model") or options.get("model")),
                          ("resolved revision", identity.get("revision")),
                          ("engine (backend)", identity.get("backend") or options.get("backend")),
                          ("dtype", identity.get("dtype")), ("engine settings", entry.get("backend_settings")),
                          ("message layout", entry.get("layout")), ("greedy", entry.get("greedy")), ("seed", entry.get("seed")),
                          ("status", entry.get("status")), ("started", entry.get("started_at")),
                          ("finished", entry.get("finished_at"))]))
        if model_dir in known:
            digests = prompt_digests(run_dir, model_dir)
            parts.append(_table_html(Table("prompts", "Rendered prompts", ["Task", "Prompts", "sha256 of the prompt hashes"],
                                           [[t, n, d] for t, (n, d) in digests.items()]), heading=False))
    hardware = manifest.get("hardware") or {}
    parts.append("<h3>Hardware</h3>" + _kv(list(hardware.items())))
    packages = manifest.get("packages") or {}
    if packages:
        parts.append("<h3>Packages</h3>" + _kv(list(packages.items())))
    return "".join(parts)


def deviations_html(run_dir: Path) -> str:
    path = run_dir / "manifest.json"
    if not path.is_file():
        return "<p>No manifest: the run's settings are unknown.</p>"
    manifest = manifest_document(path)
    parts = []
    for model_dir, entry in sorted((manifest.get("models") or {}).items()):
        found = deviations(manifest, model_dir, entry)
        items = "".join(f"<li>{html.escape(d)}</li>" for d in found) or "<li>none recorded</li>"
        parts.append(f"<h3>{html.escape(model_dir)}</h3><ul class=\"deviations\">{items}</ul>")
    return "".join(parts) or "<p>No models in the manifest.</p>"


def verify_html(run_dir: Path, rescore: bool) -> str:
    from clue.report.export import is_export, verify_export
    from clue.report.verify import verify_run

    try:
        report = verify_export(run_dir) if is_export(run_dir) else verify_run(run_dir, rescore=rescore)
    except ClueError as exc:
        return f'<p class="bad">Re-scoring could not run: {html.escape(str(exc))}</p>'
    verdict = (f'<p class="{"ok" if report.ok else "bad"}" id="verify-{html.escape(run_dir.name)}">'
               f'{"OK" if report.ok else "DIFFERS"}: {report.checked} cells checked, {len(report.differences)} differ.</p>')
    lines = "".join(f"<li>{html.escape(str(d))}</li>" for d in report.differences[:200])
    skipped = "".join(f"<li>skipped: {html.escape(s)}</li>" for s in report.skipped)
    return verdict + (f"<ul>{lines}{skipped}</ul>" if lines or skipped else "")


# ------------------------------------------------------------------------------------ tables as HTML

def _numeric(cell: Any) -> bool:
    return isinstance(cell, (int, float, Estimate)) and not isinstance(cell, bool)


def _table_html(table: Table, heading: bool = True, row_classes: list[str] | None = None) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in table.headers)
    body = []
    for index, row in enumerate(table.rows):
        cls = f' class="{row_classes[index]}"' if row_classes and row_classes[index] else ""
        cells = "".join(f'<td class="{"num" if _numeric(c) or isinstance(c, PValue) else "txt"}'
                        f'{" missing" if c is None else ""}">{_cell_html(c)}</td>' for c in row)
        body.append(f"<tr{cls}>{cells}</tr>")
    notes = "".join(f'<p class="note">{html.escape(n)}</p>' for n in table.notes)
    title = f"<h3>{html.escape(table.title)}</h3>" if heading else ""
    return (f'{title}<div class="wide"><table class="data" id="table-{html.escape(table.name)}"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>{notes}')


def _cell_html(cell: Any) -> str:
    """A cell's text as the Markdown tables show it; an interval on a second, smaller line."""
    if isinstance(cell, Estimate):
        value, _, interval = _text(cell).partition(" [")
        return f'{html.escape(value)}<br><span class="ci">[{html.escape(interval)}</span>'
    return html.escape(_text(cell))


def _with_deltas(summary: Table) -> tuple[Table, list[str]]:
    """The summary with a Δ (run − paper) line under each published row that follows a run row."""
    rows, classes = [], []
    previous = None
    for row, value in zip(summary.rows, summary.values or [""] * len(summary.rows)):
        rows.append(row)
        classes.append("paper" if value == "published" else "")
        if value == "published" and previous is not None:
            delta = []
            for mine, theirs in zip(previous[2:], row[2:]):
                a = mine.value if isinstance(mine, Estimate) else mine
                delta.append(None if a is None or theirs is None else a - theirs)
            rows.append([f"Δ {previous[0]}", "run − paper"] + delta)
            classes.append("delta")
        previous = row if value != "published" else None
    return Table(summary.name, summary.title, summary.headers, rows, summary.notes), classes


# ------------------------------------------------------------------------------------ the page

CSS = """
body{font-family:"DejaVu Sans",Arial,sans-serif;margin:24px;color:#222;max-width:1400px}
h1{font-size:22px}h2{font-size:18px;border-bottom:1px solid #ccc;padding-bottom:4px;margin-top:32px}
h3{font-size:15px;margin-bottom:4px}table{border-collapse:collapse;margin:6px 0 10px}
table.data td,table.data th{border:1px solid #ccc;padding:3px 7px;font-size:13px}
table.data th{background:#f2f2f2}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.missing{color:#999}tr.paper td{background:#f7f7fb;color:#444}tr.delta td{background:#fffbe8;font-style:italic}
table.kv th{text-align:left;padding:2px 10px 2px 0;font-weight:normal;color:#555;font-size:13px;vertical-align:top}
table.kv td{font-size:13px}.mono{font-family:"DejaVu Sans Mono",monospace;font-size:12px;word-break:break-all}
.note{font-size:12px;color:#555;margin:2px 0}.demo{background:#c00;color:#fff;font-weight:bold;padding:2px 8px;border-radius:3px}
.banner{background:#fde8e8;border:2px solid #c00;padding:8px 12px;margin:10px 0;font-weight:bold}
.ok{color:#060;font-weight:bold}.bad{color:#b00;font-weight:bold}svg.plot{border:1px solid #ddd;background:#fafafa}
.wide{overflow-x:auto}.ci{font-size:11px;color:#555}
.legend span{display:inline-block;margin-right:14px;font-size:12px}.swatch{display:inline-block;width:10px;height:10px;margin-right:4px}
"""


def _section(key: str, title: str, body: str, demo: bool) -> str:
    badge = ' <span class="demo">DEMO</span>' if demo else ""
    banner = f'<p class="banner">{html.escape(DEMO_TEXT)}</p>' if demo else ""
    return f'<section id="{key}"><h2>{html.escape(title)}{badge}</h2>{banner}{body}</section>'


def build_report(runs: list[str | Path], *, compare: str | None = None, verify: bool = True, rescore: bool = True,
                 ci: bool = True, plain: bool = False, aliases: dict[str, str] | None = None,
                 resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED, paper_csv: Path | None = None) -> str:
    """The whole page as a string."""
    from clue.report.pairs import pairs_report
    from clue.report.paper import load_paper
    from clue.report.plot import FAMILY_COLOURS, OTHER_COLOUR
    from clue.report.runs import load_runs, resolve_run_dir
    from clue.report.tables import tables_for_runs

    if not runs:
        raise InputError("give at least one RUN")
    run_dirs = [resolve_run_dir(r) for r in runs]
    manifests = {d: manifest_document(d / "manifest.json") for d in run_dirs}
    demo = any(is_demo(m) for m in manifests.values())
    built = tables_for_runs(run_dirs, compare=compare, plain=plain, ci=ci, resamples=resamples, seed=seed,
                            aliases=aliases, paper_csv=paper_csv)
    summary, per_task = built[0], [t for t in built[1:] if t.name != "comparison"]
    comparison = next((t for t in built if t.name == "comparison"), None)
    sections = []

    table, classes = _with_deltas(summary) if compare else (summary, None)
    body = _table_html(table, heading=False, row_classes=classes)
    if comparison is not None:
        body += ("<details><summary>Every metric: run vs published (Δ = run − paper)</summary>"
                 + _table_html(comparison, heading=False) + "</details>")
    sections.append(_section("summary", "Summary" + (" beside the published rows" if compare else ""), body, demo))
    sections.append(_section("tasks", "Per-task tables", "".join(_table_html(t) for t in per_task), demo))

    rows = load_runs(run_dirs, plain=plain)
    paper = load_paper(paper_csv)
    plot = level_plot(rows, paper, aliases, show_paper=compare == "paper")
    legend = "".join(f'<span><i class="swatch" style="background:{FAMILY_COLOURS.get(f, OTHER_COLOUR)}"></i>{html.escape(f)}</span>'
                     for f in plot.families)
    legend += ("<span>● biomedical</span><span>■ general</span><span>▲ type unknown</span>"
               "<span>filled, bold label: this run</span><span>hollow: published</span>")
    body = plot.svg + f'<p class="legend">{legend}</p>'
    if plot.left_out:
        body += ('<p id="left-out">Published models left out (a level score is missing): '
                 + html.escape(", ".join(plot.left_out)) + "</p>")
    if plot.runs_left_out:
        body += ('<p>Run models left out (a level score is missing): ' + html.escape(", ".join(plot.runs_left_out)) + "</p>")
    sections.append(_section("plot", "Level 1 vs Level 2", body, demo))

    try:
        pairs = pairs_report(run_dirs, plain=plain, aliases=aliases, resamples=resamples, seed=seed, paper_csv=paper_csv)
        body = _table_html(pairs, heading=False)
    except ClueError as exc:
        body = f'<p class="bad">The runs\' pairs could not be compared: {html.escape(str(exc))}</p>'

    if compare == "paper":
        published = pairs_report([], published=True, paper_csv=paper_csv)
        body += "<h3>The same comparison on the published rows</h3>" + _table_html(published, heading=False)
    sections.append(_section("pairs", "Biomedical vs base model", body, demo))

    sections.append(_section("provenance", "Provenance",
                             "".join(f"<h3>Run {html.escape(d.name)}</h3>{provenance_html(d)}" for d in run_dirs), demo))
    sections.append(_section("deviations", "Deviations from the original",
                             "".join(f"<h3>Run {html.escape(d.name)}</h3>{deviations_html(d)}" for d in run_dirs), demo))
    if verify:
        body = "".join(f"<h3>Run {html.escape(d.name)}</h3>{verify_html(d, rescore)}" for d in run_dirs)
    else:
        body = "<p>Not run (--no-verify). Run <span class=\"mono\">clue verify RUN</span> to re-score.</p>"
    sections.append(_section("verify", "Re-scoring (clue verify)", body, demo))

    title = "CLUE report" + (" — DEMO" if demo else "") + ": " + ", ".join(d.name for d in run_dirs)
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    header = (f"<h1>{html.escape(title)}</h1>"
              + (f'<p class="banner" id="demo-banner">{html.escape(DEMO_TEXT)}</p>' if demo else "")
              + f'<p class="note">Written by clue-kit {html.escape(__version__)} at {created}. '
              "Self-contained: no scripts, no external resources.</p>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
            + header + "".join(sections) + "</body></html>\n")


def write_report(out: Path, runs: list, **options) -> Path:
    page = build_report(runs, **options)
    with atomic_write(out) as handle:
        handle.write(page)
    return Path(out)
