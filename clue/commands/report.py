"""`clue tables`, `clue compare-pairs`, `clue verify`, `clue plot`: reports over finished runs."""

from __future__ import annotations

from pathlib import Path

import click

from clue.report.stats import DEFAULT_RESAMPLES, DEFAULT_SEED

RUN_HELP = "RUN is a results/<run> folder, or a run name under $CLUE_RESULTS (default ./results)."


def _common(function):
    """Options shared by the report commands."""
    function = click.option("--alias", "aliases", multiple=True, metavar="MODEL=PAPER_NAME",
                            help="Match a run's model to a published row (repeatable); hub ids of the paper's "
                                 "25 models are matched already.")(function)
    function = click.option("--plain", is_flag=True,
                            help="Use the plain mean over items (scores.json metrics_plain) instead of the "
                                 "protocol's aggregate (metrics, what the paper reported).")(function)
    function = click.option("--paper-csv", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                            help="Published numbers to use (default: the shipped results/paper/clue_v2_results.csv).")(function)
    return function


def _stats_options(function):
    function = click.option("--resamples", type=click.IntRange(min=1), default=DEFAULT_RESAMPLES, show_default=True,
                            help="Bootstrap / permutation resamples.")(function)
    function = click.option("--seed", type=int, default=DEFAULT_SEED, show_default=True,
                            help="Seed of the resampling (numpy Generator).")(function)
    return function


@click.command(epilog=RUN_HELP)
@click.argument("runs", nargs=-1, required=True)
@click.option("--format", "fmt", type=click.Choice(["md", "latex", "csv", "lm-eval"]), default="md", show_default=True,
              help="Markdown (for the terminal), LaTeX (booktabs), CSV, or lm-eval (lm-evaluation-harness's results "
                   "JSON, one object per run model).")
@click.option("--out", type=click.Path(path_type=Path),
              help="Write to this file (md, latex; lm-eval with one model) or folder (csv: one file per table; "
                   "lm-eval with several models: one results_<run>__<model>.json each) instead of printing.")
@click.option("--compare", type=click.Choice(["paper"]),
              help="Put the published row beside each run model the paper evaluated, plus a Δ table.")
@click.option("--ci", is_flag=True, help="Add 95% bootstrap intervals to task, level and overall scores "
                                         "(from predictions.jsonl; intervals are of the plain mean).")
@click.option("--tasks", help="Comma-separated tasks for the per-task tables (default: all registered).")
@_stats_options
@_common
def tables(runs, fmt, out, compare, ci, tasks, resamples, seed, aliases, plain, paper_csv):
    """Paper-style tables for one or more runs: a summary (task scores, Level 1, Level 2, overall)
    and one table per task with every metric the paper reports.

    A missing task or metric shows as "–" and leaves its task and level score empty (never an
    average over fewer parts). Overall = mean(Level 1, Level 2), the kit's own summary.
    """
    from clue.report.paper import parse_aliases
    from clue.report.tables import render, tables_for_runs, write_tables
    from clue.taskinfo import parse_tasks

    if fmt == "lm-eval":
        from clue.errors import InputError
        from clue.report.lmeval import render_lm_eval, write_lm_eval
        from clue.report.runs import load_runs

        if compare or ci or tasks:
            raise InputError("--format lm-eval writes the runs' own results: --compare, --ci and --tasks do not apply")
        rows = load_runs(list(runs), plain=plain)
        if out is None:
            click.echo(render_lm_eval(rows), nl=False)
            return
        for path in write_lm_eval(rows, out):
            click.echo(f"wrote {path}")
        return
    built = tables_for_runs(list(runs), compare=compare, plain=plain, ci=ci, resamples=resamples, seed=seed,
                            aliases=parse_aliases(aliases), tasks=parse_tasks(tasks), paper_csv=paper_csv)
    if out is None:
        click.echo(render(built, fmt))
        return
    for path in write_tables(built, fmt, out):
        click.echo(f"wrote {path}")


@click.command("compare-pairs", epilog=RUN_HELP)
@click.argument("runs", nargs=-1)
@click.option("--pair", "pairs", multiple=True, metavar="BIO=BASE",
              help="A further (biomedical model, base model) pair, by model id or paper name (repeatable).")
@click.option("--no-paper-pairs", is_flag=True, help="Compare only the pairs given with --pair.")
@click.option("--published", is_flag=True, help="Also (or, without RUN, only) compare the paper's own rows.")
@click.option("--by-task", is_flag=True, help="Also compare each task score (same interval and test), not only the levels.")
@click.option("--format", "fmt", type=click.Choice(["md", "latex", "csv"]), default="md", show_default=True)
@click.option("--out", type=click.Path(path_type=Path), help="Write to this file (csv: folder) instead of printing.")
@_stats_options
@_common
def compare_pairs(runs, pairs, no_paper_pairs, published, by_task, fmt, out, resamples, seed, aliases, plain, paper_csv):
    """The paper's biomedical-vs-base comparison on a run: Δ per level, 95% paired-bootstrap
    interval, permutation p-value, and the count of declines.

    Any two models scored on the same items can be compared with --no-paper-pairs --pair A=B
    (--by-task for every task score too). Default pairs are the paper's 12 (meditron-7b vs llama2-7b, …); a pair is shown when both of
    its models are in the runs given (hub ids are matched to paper names).
    """
    from clue.report.pairs import pairs_report, parse_pairs
    from clue.report.paper import parse_aliases
    from clue.report.tables import render, write_tables

    table = pairs_report(list(runs), pairs=parse_pairs(pairs), paper_pairs=not no_paper_pairs, published=published,
                         plain=plain, aliases=parse_aliases(aliases), resamples=resamples, seed=seed,
                         paper_csv=paper_csv, by_task=by_task)
    if out is None:
        click.echo(render([table], fmt))
        return
    for path in write_tables([table], fmt, out):
        click.echo(f"wrote {path}")


@click.command(epilog=RUN_HELP)
@click.argument("run")
@click.option("--tables", "tables_path", type=click.Path(exists=True, path_type=Path),
              help="Also check CSV tables written by `clue tables RUN --format csv --out DIR` (folder or file).")
@click.option("--no-rescore", is_flag=True,
              help="Skip re-running the metrics on the stored completions; check only the aggregates.")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Test sets to re-score against (default: as recorded).")
@click.option("--protocol-dir", type=click.Path(file_okay=False), help="Protocols folder (default: as recorded).")
@click.option("--assets-dir", type=click.Path(file_okay=False), help="Metric assets folder (default: as recorded).")
@click.option("--export", "is_export", is_flag=True,
              help="RUN is a folder written by `clue export --shareable`: check its files against export.json and "
                   "the arithmetic from its per-item scores to every table (no re-scoring).")
def verify(run, tables_path, no_rescore, data_dir, protocol_dir, assets_dir, is_export):
    """Recompute a run and confirm every number in it; exit status 1 if any cell differs.

    Checks each scores.json against the per-item scores in predictions.jsonl, re-scores a copy of
    the run from its stored completions (`clue score`: no model weights, the run is not touched)
    and compares every field, and compares the task and level scores
    (and, with --tables, the cells of CSV tables) derived from both. Floats must agree within 1e-9.
    """
    from clue.report.verify import VerifyFailed, verify_run

    if is_export:
        from clue.report.export import verify_export

        report = verify_export(run, tables=tables_path)
    else:
        report = verify_run(run, rescore=not no_rescore, tables=tables_path, data_dir=data_dir,
                            protocol_dir=protocol_dir, assets_dir=assets_dir)
    for difference in report.differences:
        click.echo(f"DIFFERS {difference}")
    for reason in report.skipped:
        click.echo(f"skipped: {reason}", err=True)
    if not report.ok:
        raise VerifyFailed(f"{report.run_dir}: {len(report.differences)} of {report.checked} cells differ")
    click.echo(f"{report.run_dir}: {report.checked} cells checked: OK")


@click.command(epilog=RUN_HELP)
@click.argument("runs", nargs=-1)
@click.option("--out", type=click.Path(path_type=Path), default=Path("clue_levels"), show_default=True,
              help="Output name; writes OUT.png and OUT.svg.")
@click.option("--paper/--no-paper", "show_paper", default=False, show_default=True,
              help="Also draw the published models (hollow markers).")
@_common
def plot(runs, out, show_paper, aliases, plain, paper_csv):
    """Level 1 vs Level 2 scatter plot like the paper's figure: marker by model type (biomedical,
    general), colour by base family (Llama-2, Llama-3, Mistral, …). Models without both level
    scores are left out and listed."""
    from clue.report.paper import parse_aliases
    from clue.report.plot import plot_runs

    result = plot_runs(list(runs), out, show_paper=show_paper, plain=plain, aliases=parse_aliases(aliases),
                       paper_csv=paper_csv)
    for path in result.paths:
        click.echo(f"wrote {path}")
    click.echo(f"{result.run_points} run point(s), {result.paper_points} published point(s)")
    if result.skipped:
        click.echo("not plotted (a level score is missing): " + ", ".join(result.skipped), err=True)


@click.command(epilog=RUN_HELP)
@click.argument("run")
@click.option("--shareable", "out", required=True, type=click.Path(path_type=Path),
              help="New folder to write: per-item scores, prompt and completion hashes, manifests, fingerprints; "
                   "completions only for the public tasks (MeQSum, LongHealth).")
def export(run, out):
    """Write a shareable copy of a run that holds no PhysioNet-credentialed text.

    `clue tables OUT` and `clue verify --export OUT` work on it. Item ids, per-item scores and hashes are
    kept for every task; the completions of MedNLI, Problem Summary, MeDiSumQA and MeDiSumCode (which
    may quote the notes) are replaced by their sha256, and no prompt or reference is written.
    """
    from clue.report.export import export_run

    path = export_run(run, out)
    click.echo(f"wrote {path}")
