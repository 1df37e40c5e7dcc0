"""`clue doctor`: what a full run needs, checked on this machine; exit status 1 when anything is missing."""

from __future__ import annotations

from pathlib import Path

import click

from clue.commands.assets import ASSETS_DIR_OPTION


@click.command()
@ASSETS_DIR_OPTION
@click.option("--metrics", default="all", show_default=True,
              help="Metric groups the run will compute (as `clue evaluate --metrics`); the others are shown, not required.")
@click.option("--protocol", "protocols", multiple=True, default=("paper",), show_default=True,
              type=click.Choice(["paper", "upstream", "demo", "none"]),
              help="Protocol the run uses, fetched and unmodified (repeatable; `none` checks none).")
@click.option("--protocol-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Protocol folder (default: $CLUE_PROTOCOL, else ./protocol).")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Also require the six built test sets in this folder (default: not checked).")
@click.option("--gpu/--no-gpu", default=None,
              help="Require a CUDA GPU (--gpu) or skip the GPU check (--no-gpu); default: shown, not required.")
@click.option("--backend", default="hf", show_default=True, type=click.Choice(["hf", "openai", "vllm"]),
              help="Backend the run uses; `vllm` requires the engine command.")
@click.option("--engine-command", help="The vLLM executable, as `clue evaluate --engine-command` "
                                       "(default $CLUE_VLLM, else `vllm` on the PATH).")
@click.option("--hf-token", "hf_token", is_flag=True,
              help="Require a Hugging Face token (HF_TOKEN or a stored login; gated models need one).")
@click.pass_context
def doctor(ctx: click.Context, assets_dir: Path | None, metrics: str, protocols: tuple[str, ...],
           protocol_dir: Path | None, data_dir: Path | None, gpu: bool | None, backend: str,
           engine_command: str | None, hf_token: bool) -> None:
    """Check that this machine has what a full run needs, offline; exit 1 (NOT READY) if anything is missing.

    Required: the metrics' packages and verified assets (hashes about 1.5 GB when all are fetched),
    the protocol(s), and with options the test sets, a GPU, the vLLM engine command and a Hugging
    Face token. Shown for information otherwise: GPUs, engine command, whether a token is set
    (never its value). Uses no network and starts nothing.
    """
    from clue import doctor as lib

    checks = lib.run_checks(assets_dir=assets_dir, metrics=metrics,
                            protocols=[name for name in protocols if name != "none"], protocol_dir=protocol_dir,
                            data_dir=data_dir, gpu=gpu, backend=backend, engine_command=engine_command,
                            hf_token=hf_token)
    for check in checks:
        click.echo(check.line())
    failed = lib.missing(checks)
    if not failed:
        click.echo("READY: this machine has what a run with these options needs.")
        return
    click.echo(f"NOT READY: {', '.join(f'{c.section} {c.name}' for c in failed)} (see above). Metrics: "
               f"`clue assets fetch`, or leave them out with --metrics; protocols: `clue protocol fetch`.")
    ctx.exit(1)
