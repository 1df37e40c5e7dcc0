"""`clue data fetch`."""

from __future__ import annotations

import click


@click.command()
def fetch() -> None:
    """Download raw sources (not yet implemented)."""
    raise click.ClickException("clue data fetch is not implemented yet")
