"""`clue data …`: fetch raw sources, build, verify and list the test sets."""

from __future__ import annotations

import click

from clue.commands.data_fetch import fetch


@click.group()
def data() -> None:
    """Rebuild the six CLUE test sets from raw files you downloaded (or `clue data fetch` downloads)."""


data.add_command(fetch)
