"""`clue sweep`: a list of models (the paper's 25 by default) evaluated into one run, here or across a Ray cluster."""

from __future__ import annotations

import click

from clue.sweep_models import ENGINES, LAYOUTS

PATH = click.Path(path_type=str)


@click.command()
@click.option("--models", default="paper", show_default=True,
              help="paper (the 25 published models, data_recipes/paper_models.json), a JSON list in that format, or "
                   "a text file with one model per line (a folder, a hub id or baseline).")
@click.option("--only", metavar="NAMES", help="Comma-separated names, hub ids or model folders of the list to run.")
@click.option("--engine", type=click.Choice(list(ENGINES)), default="hf", show_default=True,
              help="How each model is run: hf (in process), vllm (a managed engine started and stopped per model), "
                   "openai (a server at --base-url that serves the listed models).")
@click.option("--ray-address", metavar="ADDR",
              help="Run each model as a Ray task on this cluster (auto, HOST:PORT, or local for a one-machine "
                   "instance on 127.0.0.1); needs the cluster extra. Without it models run here, one after another.")
@click.option("--shared-fs", type=click.Choice(["auto", "never"]), default="auto", show_default=True,
              help="Ray: workers that see the run folder leave their results in it (auto); never: always send them "
                   "back through Ray's object store.")
@click.option("--task-retries", type=click.IntRange(min=0), default=2, show_default=True,
              help="Ray: times a model whose worker or node was lost is started again elsewhere.")
@click.option("--plan", is_flag=True, help="Print each model's size, GPUs, estimated GPU-hours and whether it fits "
                                           "here (or on the Ray cluster), then stop.")
@click.option("--tables/--no-tables", default=True, show_default=True,
              help="Print the tables against the paper and the biomedical-vs-base table at the end.")
@click.option("--protocol", default="paper", show_default=True, help="paper, upstream or demo.")
@click.option("--protocol-dir", type=PATH, help="Folder of protocol/<name>.json (default ./protocol, $CLUE_PROTOCOL).")
@click.option("--data-dir", type=PATH, help="Folder of built test sets (default ./data, $CLUE_DATA).")
@click.option("--results-dir", type=PATH, help="Where runs are written (default ./results, $CLUE_RESULTS).")
@click.option("--run", "run_name", help="Run name (default sweep-<protocol>); re-using it resumes the sweep.")
@click.option("--tasks", help="Comma-separated tasks (default: those the list gives per model, else all six).")
@click.option("--limit", type=click.IntRange(min=1), help="Score only the first N items of each task.")
@click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--greedy/--sample", default=None, help="Override the protocol's decoding.")
@click.option("--chat-layout", type=click.Choice(list(LAYOUTS)), default="auto",
              show_default=True, help="auto: the layout the list gives per model (else detected from its template).")
@click.option("--dtype", type=click.Choice(["auto", "float32", "bfloat16", "float16"]), default="auto", show_default=True)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--model-arg", "model_args", multiple=True, metavar="KEY=VALUE",
              help="Repeatable; applies to every model (as for clue evaluate).")
@click.option("--metrics", default="all", show_default=True, help="e.g. all,-bertscore,-umls")
@click.option("--assets-dir", type=PATH, help="Metric assets (default $CLUE_ASSETS).")
@click.option("--engine-command", help="vllm: the vLLM executable (default $CLUE_VLLM, else vllm on the PATH).")
@click.option("--engine-timeout", type=click.FloatRange(min=1), default=1800, show_default=True)
@click.option("--base-url", help="openai: the server's OpenAI-compatible API.")
@click.option("--api-key-env", metavar="NAME", help="openai: the NAME of the variable holding the API key.")
@click.option("--concurrency", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--progress/--no-progress", default=True, show_default=True)
def sweep(models, only, engine, ray_address, shared_fs, task_retries, plan, tables, protocol, protocol_dir, data_dir,
          results_dir, run_name, tasks, limit, batch_size, seed, greedy, chat_layout, dtype, device, model_args,
          metrics, assets_dir, engine_command, engine_timeout, base_url, api_key_env, concurrency, progress):
    """Evaluate every model of a list into one run folder (results/<run>/), then print the tables against the
    paper and the biomedical-vs-base table.

    Models that do not fit the GPUs present (bf16 estimate of the list's rule) are skipped with a reason;
    a model that fails is listed at the end and the others go on (exit status 1 if any failed). Run the
    same command again after an interruption: complete models are kept, the others resume from the
    store, nothing is generated twice.

    \b
    Examples:
      clue sweep --plan
      clue sweep --engine vllm --run paper-sweep
      clue sweep --only Meta-Llama-3-8B-Instruct,Llama3-OpenBioLLM-8B
      clue sweep --engine vllm --ray-address auto
      clue sweep --models my-models.txt --tasks mednli,meqsum --limit 20
    """
    from clue import sweep as sweeping
    from clue.runner import EvalOptions
    from clue.sweep_models import load_models, select

    listing = load_models(models)
    if plan:
        chosen = select(listing.models, only)
        nodes = None
        if ray_address:
            nodes = sweeping.ray_node_gpus(sweeping.connect_ray(ray_address))
        click.echo(sweeping.plan_table(listing, chosen, nodes))
        return
    template = EvalOptions(
        model="", protocol=protocol, protocol_dir=protocol_dir, data_dir=data_dir, results_dir=results_dir,
        run=run_name, tasks=tasks, limit=limit, batch_size=batch_size, seed=seed, greedy=greedy,
        chat_layout=chat_layout, dtype=dtype, device=device, model_args=list(model_args), metrics=metrics,
        assets_dir=assets_dir, engine_command=engine_command, engine_timeout=engine_timeout, base_url=base_url,
        api_key_env=api_key_env, concurrency=concurrency, progress=progress)
    outcome = sweeping.run_sweep(sweeping.SweepOptions(
        eval=template, models=models, only=only, engine=engine, ray_address=ray_address, shared_fs=shared_fs,
        task_retries=task_retries, progress=progress), listing=listing)
    click.echo(sweeping.summary(outcome))
    if tables:
        text = sweeping.report_tables(outcome)
        if text:
            click.echo("\n" + text)
    if outcome.failed:
        click.get_current_context().exit(1)
