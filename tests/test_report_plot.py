"""`clue plot`: Level 1 vs Level 2 scatter, PNG and SVG, points counted back from the SVG."""

from __future__ import annotations

import csv
import xml.etree.ElementTree as ET
from pathlib import Path

from clue.cli import main
from clue.report.paper import PAPER_CSV, family
from clue.report.plot import plot_runs
from report_support import write_synthetic_run

SVG = "{http://www.w3.org/2000/svg}"


def _markers(element: ET.Element) -> int:
    """Markers drawn under an element: matplotlib writes a collection either as one marker in
    <defs> plus a <use> per point, or (for few points) as one <path> per point."""
    count = 0
    for child in element:
        if child.tag == f"{SVG}defs":
            continue
        count += child.tag in (f"{SVG}use", f"{SVG}path")
        count += _markers(child)
    return count


def _svg_points(path: Path) -> dict[str, int]:
    """Number of markers in each ``clue-points-*`` group of an SVG written by matplotlib."""
    counts: dict[str, int] = {}
    for group in ET.parse(path).getroot().iter(f"{SVG}g"):
        gid = group.get("id", "")
        if gid.startswith("clue-points-"):
            counts[gid] = _markers(group)
    return counts


def _published_with_both_levels() -> int:
    with open(PAPER_CSV, newline="", encoding="utf-8") as handle:
        return sum(1 for r in csv.DictReader(handle) if r["level1"] and r["level2"])


def test_plot_writes_png_and_svg_with_every_point(tmp_path):
    run = tmp_path / "plotrun"
    write_synthetic_run(run, {"meta-llama/Meta-Llama-3-8B-Instruct": 0.6, "aaditya/Llama3-OpenBioLLM-8B": 0.5,
                              "org/new-model": 0.55, "org/short-context": 0.5}, n=20,
                        skip={"org/short-context": ("longhealth",)})
    result = plot_runs([run], tmp_path / "figure", show_paper=True)
    png, svg = result.paths
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 1000
    assert svg.stat().st_size > 1000
    assert result.skipped == ["org/short-context (plotrun)"]
    counts = _svg_points(svg)
    run_points = sum(n for gid, n in counts.items() if gid.startswith("clue-points-run-"))
    paper_points = sum(n for gid, n in counts.items() if gid.startswith("clue-points-paper-"))
    assert run_points == result.run_points == 3
    assert paper_points == result.paper_points == _published_with_both_levels() == 18
    # Marker by type, colour by family: the two Llama-3 models and the unknown one are separate groups.
    assert counts["clue-points-run-Llama-3-general"] == 1
    assert counts["clue-points-run-Llama-3-bio"] == 1
    assert counts["clue-points-run-other-unknown"] == 1


def test_family_table():
    assert family("Meta-Llama-3-70B-Instruct") == "Llama-3"
    assert family("ClinicalCamel-70B") == "Llama-2"
    assert family("BioMistral/BioMistral-7B") == "Mistral"
    assert family("mistralai/Mixtral-8x22B-Instruct-v0.1") == "Mixtral"
    assert family("google/gemma-2-9b-it") == "Gemma"
    assert family("org/unknown") == "other"


def test_cli_plot_without_paper(tmp_path, capsys):
    run = tmp_path / "r"
    write_synthetic_run(run, {"org/a": 0.5}, n=10)
    main(["plot", str(run), "--out", str(tmp_path / "fig.png")])
    assert (tmp_path / "fig.png").is_file() and (tmp_path / "fig.svg").is_file()
    assert sum(_svg_points(tmp_path / "fig.svg").values()) == 1
    assert "1 run point(s), 0 published point(s)" in capsys.readouterr().out
