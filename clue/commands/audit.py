"""`clue audit-upstream`: run the original CLUE scripts beside the kit and compare them item by item."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from clue.taskinfo import TASK_IDS


@click.command("audit-upstream")
@click.option("--upstream-dir", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="A checkout of TIO-IKIM/CLUE at the protocol's pinned commit (paper: ff75877, upstream: 2de4314).")
@click.option("--protocol", type=click.Choice(["paper", "upstream"]), default="paper", show_default=True)
@click.option("--tasks", help=f"Comma-separated tasks (default all): {', '.join(TASK_IDS)}.")
@click.option("--layouts", help="Comma-separated chat layouts (default all of the protocol's: paper chat-system, "
                               "chat-no-system, base; upstream chat-system).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seeds the original's global random (LongHealth shuffles, distractors) and the kit alike.")
@click.option("--report", "report_path", type=click.Path(path_type=Path, dir_okay=False),
              default=Path("audit-upstream.json"), show_default=True, help="Where the JSON report is written.")
@click.option("--unpinned", is_flag=True,
              help="Audit a checkout whose files differ from the pinned hashes without counting that as a mismatch.")
@click.option("--tiny-dir", type=click.Path(path_type=Path, file_okay=False),
              help="Build the tiny tokenizers, BERT and UMLS knowledge base here once and reuse them in later audits "
                   "(default: a temporary folder).")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Say on stderr what runs.")
def audit_upstream(upstream_dir, protocol, tasks, layouts, seed, report_path, unpinned, tiny_dir, progress):
    """Prove on this machine that the kit sends what the original CLUE code sent.

    Imports the checkout's own eval/ scripts (nothing of them is copied into the kit), replaces only
    their inference client and metric libraries with recorders, runs each script's main() with its
    launch-script arguments on the kit's synthetic test sets and a tiny tokenizer per chat layout,
    and compares item by item: prompt bytes, few-shot turns, decoding parameters, post-processing,
    gold labels, metric values and averages. Prints a task x layout x check table (MATCH or the first
    differing characters), writes a JSON report, and exits 1 on any MISMATCH. Offline; a few minutes
    on 2 CPU cores.

    \b
    Example:
      git clone https://github.com/TIO-IKIM/CLUE clue-upstream
      git -C clue-upstream checkout ff75877284133361d15f12e4ab290d230f449dd0
      clue audit-upstream --upstream-dir clue-upstream --protocol paper
    """
    from clue.audit import audit_upstream as run_audit, write_report

    say = (lambda message: click.echo(f"audit: {message}", err=True)) if progress else None
    report = run_audit(upstream_dir, protocol, tasks=tasks, layouts=layouts, seed=seed, unpinned=unpinned,
                       tiny_dir=tiny_dir, progress=say)
    click.echo(report.table())
    for item in report.raised:
        click.echo(f"\n{item['task']} / {item['layout']}: the original raised {item['error']} at {item['where']}; "
                   f"compared instead: {'; '.join(item['compared_instead'])}")
    for cell in report.cells:
        if cell.task == "-":
            click.echo(f"\n{cell.check}: {cell.status}: {cell.detail}")
    click.echo("")
    for note in report.notes:
        click.echo(f"Note: {note}")
    write_report(report, report_path)
    n = len(report.mismatches)
    click.echo(f"Report: {report_path}. " + ("No mismatch." if not n else f"{n} mismatch(es)."))
    sys.exit(0 if report.ok else 1)
