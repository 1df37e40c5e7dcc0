"""`clue protocol …`: fetch the pinned upstream prompt files and show what a protocol does."""

from __future__ import annotations

import click

PROTOCOL_CHOICES = ("paper", "upstream", "demo")


@click.group()
def protocol() -> None:
    """The CLUE prompt protocols. `paper` (default) is the upstream code state that produced the
    published numbers; `upstream` is the current upstream head; `demo` is the kit's own prompts for
    the offline demo (not CLUE numbers). The prompt text is downloaded from the upstream repository
    at a pinned commit and checked by sha256; the kit ships none of it."""


@protocol.command()
@click.option("--protocol", "name", type=click.Choice(PROTOCOL_CHOICES), default="paper", show_default=True,
              help="Which protocol to fetch.")
@click.option("--from-dir", type=click.Path(exists=True, file_okay=False),
              help="Read the files from a local upstream checkout (at the pinned commit) instead of downloading.")
@click.option("--protocol-dir", type=click.Path(file_okay=False),
              help="Where to write <name>.json  [default: ./protocol or $CLUE_PROTOCOL]")
@click.option("--base-url", help="Raw-file URL prefix instead of https://raw.githubusercontent.com/TIO-IKIM/CLUE "
                                 "(files are read from <base-url>/<commit>/<path>).")
def fetch(name: str, from_dir: str | None, protocol_dir: str | None, base_url: str | None) -> None:
    """Download (or read) every task's upstream evaluation script of a protocol, check their sha256, read
    their prompt constants without running them, and write protocol/<name>.json."""
    from clue.protocol.fetch import fetch_protocol
    from clue.taskinfo import TASK_IDS

    path = fetch_protocol(name, protocol_dir=protocol_dir, from_dir=from_dir, base_url=base_url)
    click.echo(f"protocol {name}: {len(TASK_IDS)} files verified, written to {path}")


@protocol.command()
@click.option("--protocol", "name", type=click.Choice(PROTOCOL_CHOICES), default="paper", show_default=True)
@click.option("--protocol-dir", type=click.Path(file_okay=False),
              help="Where protocol/<name>.json lives  [default: ./protocol or $CLUE_PROTOCOL]")
@click.option("--prompts/--no-prompts", default=False, help="Also print the prompt texts.")
def show(name: str, protocol_dir: str | None, prompts: bool) -> None:
    """Print a protocol's provenance and its behaviour per task (few-shot, decoding, metrics, averaging)."""
    from clue.protocol.describe import describe_protocol

    click.echo(describe_protocol(name, protocol_dir, with_prompts=prompts))
