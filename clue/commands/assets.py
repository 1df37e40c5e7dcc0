"""`clue assets …`: metric assets (BERTScore models, scispaCy, UMLS linker)."""

from __future__ import annotations

from pathlib import Path

import click

ASSETS_DIR_OPTION = click.option(
    "--assets-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="Assets folder (default: $CLUE_ASSETS, else <user cache>/clue/assets).")
METRIC_OPTION = click.option(
    "--metric", "metrics", multiple=True, type=click.Choice(["bertscore", "umls"]),
    help="Only the assets of this metric (repeatable). Default: all.")


@click.group()
def assets() -> None:
    """Fetch, verify and list the files BERTScore and UMLS-F1 need.

    BERTScore needs SciBERT and Bio_ClinicalBERT (hub files at pinned commits); UMLS-F1 needs
    scispaCy's en_core_sci_sm 0.5.4 and the UMLS linker files (about 1 GB). `clue assets fetch`
    downloads them once into one folder; afterwards scoring works with the network off.
    """


@assets.command()
@ASSETS_DIR_OPTION
@METRIC_OPTION
@click.option("--write-lock", is_flag=True,
              help="Copy first-use sha256 values into the shipped lock (data_recipes/assets.lock.json) "
                   "where it has none, so they can be committed.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def fetch(assets_dir: Path | None, metrics: tuple[str, ...], write_lock: bool, quiet: bool) -> None:
    """Download missing or corrupt assets and check every file's sha256.

    Files pinned in the lock must match it (a mismatch is discarded and is an error). Files the lock
    has no hash for are hashed on first download, the hash is recorded in
    <assets-dir>/assets.record.json and shown, and later checks compare against it.
    """
    from clue import assets as lib

    statuses = lib.fetch(assets_dir, metrics=metrics or None, progress=not quiet,
                         echo=lambda line: click.echo(line, err=True))
    click.echo(f"{len(statuses)} files ready in {assets_dir or lib.default_assets_dir()}")
    if write_lock:
        filled = lib.write_lock(assets_dir)
        click.echo(f"lock: {len(filled)} sha256 values filled in {lib.lock_path()}")


@assets.command()
@ASSETS_DIR_OPTION
@METRIC_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the statuses as JSON.")
def verify(assets_dir: Path | None, metrics: tuple[str, ...], as_json: bool) -> None:
    """Hash every asset file and compare it with the lock (or the first-use record). Exit 1 if any fails."""
    from clue import assets as lib

    statuses = lib.verify(assets_dir, metrics=metrics or None, progress=True)
    if as_json:
        click.echo(lib.dumps_statuses(statuses))
    else:
        for status in statuses:
            click.echo(f"{status.state:10}  {status.asset}/{status.name}")
    lib.ensure_ok(statuses)


@assets.command(name="list")
@ASSETS_DIR_OPTION
def list_assets(assets_dir: Path | None) -> None:
    """Show every asset in the lock: metric, source, pinned sha256, and whether it is present (no hashing)."""
    from clue import assets as lib

    root = assets_dir or lib.default_assets_dir()
    for asset in lib.load_lock().values():
        where = f"{asset.repo}@{asset.revision}" if asset.repo else "direct URLs"
        click.echo(f"{asset.id} [{asset.metric}] {where}: {asset.description}")
        for file in asset.files:
            present = "present" if (asset.folder(root) / file.name).is_file() else "absent"
            pin = file.sha256 or "recorded on first fetch"
            click.echo(f"  {file.name:30} {present:8} sha256 {pin}")
