"""`clue data …`: fetch raw sources, build, verify and list the test sets."""

from __future__ import annotations

from pathlib import Path

import click

from clue.commands.data_fetch import fetch
from clue.errors import ChecksumError
from clue.taskinfo import TASK_IDS


@click.group()
def data() -> None:
    """Rebuild the six CLUE test sets from raw files you downloaded (or `clue data fetch` downloads)."""


data.add_command(fetch)

_raw_dir = click.option("--raw-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                        help="Folder holding the raw downloads, PhysioNet layout <slug>/<version>/… "
                             "[default: $CLUE_RAW or ./raw]")
_out_dir = click.option("--data-dir", "--out-dir", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                        help="Where data/<task>/test.jsonl and manifest.json go [default: $CLUE_DATA or ./data]")


@data.command()
@click.option("--task", "tasks", multiple=True, metavar="TASK",
              help=f"Task to build (repeat, or a comma list): {', '.join(TASK_IDS)} [default: all]")
@_raw_dir
@_out_dir
@click.option("--allow-unverified", is_flag=True,
              help="Build even when an input has no expected sha256 or differs from it; "
                   "the manifest records it as verified: false.")
@click.option("--skip-missing", is_flag=True, help="Build the sets whose sources are present and skip the others.")
@click.option("--progress/--no-progress", default=True, help="Progress bars on the long passes.")
def build(tasks, raw_dir, out_dir, allow_unverified, skip_missing, progress) -> None:
    """Rebuild test sets from the raw sources, deterministically.

    Writes data/<task>/test.jsonl (one record per example) and data/<task>/manifest.json (recipe
    and version, input hashes, rows, the output's sha256 = its fingerprint). Inputs are checked
    against the registry's pinned hash or the project's SHA256SUMS.txt first. discharge.csv.gz and
    an unpacked discharge.csv are both accepted. An interrupted build leaves the previous outputs.
    """
    from tabulate import tabulate

    from clue.data.build import build as run_build

    results = run_build(tasks or None, raw_dir=raw_dir, out_dir=out_dir, allow_unverified=allow_unverified,
                        skip_missing=skip_missing, progress=progress)
    table = [(r.task, r.rows if r.rows is not None else "-", r.sha256 or "-", r.status) for r in results]
    click.echo(tabulate(table, headers=("task", "rows", "fingerprint (sha256)", "status")))


@data.command()
@_out_dir
@click.option("--lock", "lock_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Fingerprints file [default: data_recipes/fingerprints.lock]")
def verify(out_dir, lock_path) -> None:
    """Recompute each built set's fingerprint and compare it with the published one.

    Status per task: matches, differs, no published fingerprint, modified since build (the file no
    longer matches its manifest) or not built. Exits non-zero when any set differs or was modified.
    """
    from tabulate import tabulate

    from clue.data.verify import verify as run_verify

    rows = run_verify(out_dir=out_dir, lock_path=lock_path)
    table = [(r.task, r.rows if r.rows is not None else "-", r.fingerprint or "-", r.status) for r in rows]
    click.echo(tabulate(table, headers=("task", "rows", "fingerprint (sha256)", "status")))
    failed = [r for r in rows if r.failed]
    if failed:
        detail = ", ".join(f"{r.task} ({r.status}{', expected ' + r.expected if r.expected else ''})" for r in failed)
        raise ChecksumError(f"fingerprint check failed for {detail}")


@data.command()
@_raw_dir
@_out_dir
def status(raw_dir, out_dir) -> None:
    """Which raw sources are present and verified, and which test sets are built."""
    from tabulate import tabulate

    from clue.data.verify import status as run_status

    sources, sets = run_status(raw_dir=raw_dir, out_dir=out_dir)
    click.echo(tabulate([(s.name, ", ".join(s.tasks), s.state, s.path if s.state != "missing" else s.provider)
                         for s in sources], headers=("source", "tasks", "state", "file / where to get it")))
    click.echo()
    click.echo(tabulate([(s.task, s.rows if s.rows is not None else "-", s.built_at or "not built",
                          (s.fingerprint or "-")[:16], "" if s.current or s.rows is None else "outdated recipe")
                         for s in sets], headers=("test set", "rows", "built", "fingerprint", "")))
