"""`clue data fetch`: download the raw sources into --raw-dir."""

from __future__ import annotations

from pathlib import Path

import click

from clue.paths import raw_dir as default_raw_dir


@click.command()
@click.option("--raw-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where raw files live (default: $CLUE_RAW or ./raw). Files already there and verified "
                   "are not downloaded again.")
@click.option("--source", "sources", multiple=True, metavar="NAME",
              help="Fetch only this registry source (repeatable), e.g. meqsum, longhealth, discharge.")
@click.option("--task", "tasks", multiple=True, metavar="TASK",
              help="Fetch only the sources of this task (repeatable), e.g. medisumcode.")
@click.option("--public-only", is_flag=True,
              help="Skip the PhysioNet sources (no account needed): MeQSum and LongHealth only.")
@click.option("--allow-unverified", is_flag=True,
              help="Keep a file whose sha256 does not match (or cannot be checked); recorded as unverified "
                   "in <raw-dir>/fetch-record.json (`clue data build` then needs --allow-unverified too).")
@click.option("--longhealth-ref", metavar="COMMIT", default=None,
              help="Download LongHealth at this commit of kbressem/LongHealth instead of the registry's ref.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def fetch(raw_dir: Path | None, sources: tuple[str, ...], tasks: tuple[str, ...], public_only: bool,
          allow_unverified: bool, longhealth_ref: str | None, quiet: bool) -> None:
    """Download the raw files the test sets are built from.

    Public files (MeQSum, LongHealth) come from pinned GitHub URLs. PhysioNet files need your own
    credentialed account with access to each project (a signed data use agreement): set
    PHYSIONET_USERNAME and PHYSIONET_PASSWORD in the environment, or put
    `machine physionet.org login USER password PASS` in ~/.netrc. Credentials are never taken from
    the command line.

    Every PhysioNet file is checked against the project's SHA256SUMS.txt (yours, if it lies beside
    the file, otherwise downloaded). LongHealth has no published hash: the first download's sha256 is
    recorded in <raw-dir>/longhealth/benchmark_v5.json.sha256, shown, and checked on later runs.
    Downloads go to <file>.part and are resumed after an interruption; nothing half-written is left
    under the final name.
    """
    from clue.data.fetch import fetch as run_fetch

    target = raw_dir or default_raw_dir()
    results = run_fetch(target, sources=sources, tasks=tasks, public_only=public_only,
                        allow_unverified=allow_unverified, longhealth_ref=longhealth_ref,
                        progress=not quiet, echo=lambda line: click.echo(line, err=True))
    if not results:
        click.echo("Nothing selected.")
        return
    width = max(len(r.source) for r in results)
    for r in results:
        state = r.status if r.status == "failed" else f"{r.status}, {'verified' if r.verified else 'NOT verified'}"
        detail = f" ({r.note})" if r.note and r.status != "failed" else ""
        click.echo(f"{r.source:<{width}}  {state}{detail}")
    failed = [r.source for r in results if r.status == "failed"]
    if failed:
        raise click.ClickException(f"{len(failed)} of {len(results)} sources failed: {', '.join(failed)}")
