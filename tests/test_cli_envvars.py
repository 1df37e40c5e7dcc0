"""Every option of every command shows its environment variable in --help."""

from __future__ import annotations

import click
from click.testing import CliRunner

from clue.cli import COMMANDS, cli


def _commands():
    ctx = click.Context(cli)
    for name in COMMANDS:
        command = cli.get_command(ctx, name)
        if isinstance(command, click.Group):
            for sub in command.commands:
                yield [name, sub], command.commands[sub]
        else:
            yield [name], command


def test_help_shows_every_envvar():
    runner = CliRunner()
    checked = 0
    for path, command in _commands():
        result = runner.invoke(cli, [*path, "--help"], terminal_width=200)
        assert result.exit_code == 0, (path, result.output)
        text = " ".join(result.output.split())
        for param in command.params:
            if not isinstance(param, click.Option) or param.hidden:
                continue
            envvar = param.envvar or "_".join(["CLUE", *path, param.name]).upper().replace("-", "_")
            names = envvar if isinstance(envvar, (list, tuple)) else [envvar]
            assert any(f"env var: {n}" in text for n in names), (path, param.name, names)
            checked += 1
    assert checked > 60
