"""The ``clue`` command line: a thin Click layer over the library.

Commands are imported only when they run, so ``clue --help`` and light commands stay fast
(torch and transformers load only for the commands that need them). Library errors
(:class:`clue.errors.ClueError`) become a one-line message and a non-zero exit.
"""

from __future__ import annotations

import importlib
import sys

import click

from clue import __version__
from clue.errors import ClueError

# name -> (module:attribute, one-line help shown in `clue --help`)
COMMANDS: dict[str, tuple[str, str]] = {
    "data": ("clue.commands.data:data", "Fetch raw sources, build and verify the test sets (the six CLUE tasks and registered plugin tasks)."),
    "protocol": ("clue.commands.protocol:protocol", "Fetch and inspect the pinned CLUE prompt protocols."),
    "evaluate": ("clue.commands.evaluate:evaluate", "Evaluate a model on the CLUE tasks (resumable)."),
    "sweep": ("clue.commands.sweep:sweep", "Evaluate a list of models (the paper's 25) into one run, here or on Ray."),
    "score": ("clue.commands.evaluate:score", "Re-score a run from its stored completions, without a model."),
    "demo": ("clue.commands.evaluate:demo", "Run the whole chain offline on synthetic data and a tiny model."),
    "assets": ("clue.commands.assets:assets", "Fetch and verify metric assets (BERTScore models, scispaCy, UMLS)."),
    "doctor": ("clue.commands.doctor:doctor", "Check what a full run needs on this machine; exit 1 if anything is missing."),
    "tables": ("clue.commands.report:tables", "Print paper-style tables for one or more runs."),
    "compare-pairs": ("clue.commands.report:compare_pairs", "Biomedical vs base model comparison with CIs."),
    "verify": ("clue.commands.report:verify", "Re-score a run and confirm every number in it."),
    "plot": ("clue.commands.report:plot", "Level 1 vs Level 2 scatter plot (PNG and SVG)."),
    "report": ("clue.commands.html:report", "One self-contained HTML page for reviewers (tables, plot, provenance)."),
    "export": ("clue.commands.report:export", "A shareable copy of a run without credentialed text."),
    "audit-upstream": ("clue.commands.audit:audit_upstream",
                       "Run the original CLUE scripts beside the kit and compare item by item."),
}


def _show_envvars(command: click.Command) -> click.Command:
    """Let `--help` show each option's environment variable (CLUE_<COMMAND>_<OPTION>, from
    auto_envvar_prefix), for the command and every subcommand of a group."""
    for param in command.params:
        if isinstance(param, click.Option):
            param.show_envvar = True
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _show_envvars(sub)
    return command


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        target, _ = COMMANDS[name]
        module_name, attribute = target.split(":")
        return _show_envvars(getattr(importlib.import_module(module_name), attribute))

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, short) for name, (_, short) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "auto_envvar_prefix": "CLUE"})
@click.version_option(__version__, prog_name="clue")
def cli() -> None:
    """CLUE kit: rebuild the CLUE test sets, evaluate LLMs on them with the paper's protocol,
    and print the paper's tables beside the published numbers.

    Typical order: clue data fetch, clue data build, clue protocol fetch, clue assets fetch,
    clue evaluate --model M, clue tables RUN --compare paper.
    """


def main(argv: list[str] | None = None) -> None:
    try:
        # In non-standalone mode Click returns `ctx.exit(code)` codes instead of exiting.
        returned = cli.main(args=argv, prog_name="clue", standalone_mode=False)
    except ClueError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("Interrupted; nothing half-written was left behind.", err=True)
        sys.exit(130)
    if isinstance(returned, int) and not isinstance(returned, bool) and returned != 0:
        sys.exit(returned)


if __name__ == "__main__":
    main()
