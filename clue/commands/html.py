"""`clue report`: one self-contained HTML page for a reviewer."""

from __future__ import annotations

from pathlib import Path

import click

from clue.commands.report import RUN_HELP, _common, _stats_options


@click.command(epilog=RUN_HELP)
@click.argument("runs", nargs=-1, required=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("report.html"), show_default=True,
              help="The HTML file to write.")
@click.option("--compare", type=click.Choice(["paper"]),
              help="Show the published rows beside the run's models (with Δ), the published points in the plot "
                   "and the paper's own biomedical-vs-base comparison.")
@click.option("--no-verify", is_flag=True, help="Skip re-scoring the runs (clue verify).")
@click.option("--no-rescore", is_flag=True, help="Verify only the arithmetic, without re-running the metrics.")
@click.option("--no-ci", is_flag=True, help="Leave out the 95% bootstrap intervals.")
@_stats_options
@_common
def report(runs, out, compare, no_verify, no_rescore, no_ci, resamples, seed, aliases, plain, paper_csv):
    """Write one static HTML page (inline CSS and SVG, no scripts, nothing loaded from elsewhere):
    summary beside the published rows with Δ and 95% intervals, per-task tables, the Level 1 vs
    Level 2 plot with every point named, biomedical vs base, provenance, deviations from the original,
    and the result of re-scoring. Works from a file on an air-gapped machine.
    """
    from clue.report.html import write_report
    from clue.report.paper import parse_aliases

    path = write_report(out, list(runs), compare=compare, verify=not no_verify, rescore=not no_rescore, ci=not no_ci,
                        plain=plain, aliases=parse_aliases(aliases), resamples=resamples, seed=seed, paper_csv=paper_csv)
    click.echo(f"wrote {path}")
