"""`clue evaluate`, `clue score`, `clue demo`: run models on the six tasks, re-score runs, the offline demo."""

from __future__ import annotations

from pathlib import Path

import click

from clue.backends import BACKENDS
from clue.taskinfo import TASK_IDS

PATH = click.Path(path_type=str)
BACKEND_HELP = " ".join(f"{spec.name}: {spec.summary}." for spec in BACKENDS.values())


@click.command()
@click.option("--model", required=True,
              help="A local model folder, a Hugging Face Hub id (owner/name), or `baseline` (the kit's fixed-rule "
                   "pseudo-model, no weights). Gated models read HF_TOKEN from the environment.")
@click.option("--revision", help="Hub revision (branch, tag or commit) to evaluate; the resolved commit is recorded.")
@click.option("--backend", type=click.Choice(list(BACKENDS)), default="hf", show_default=True, help=BACKEND_HELP)
@click.option("--model-arg", "model_args", multiple=True, metavar="KEY=VALUE",
              help="Repeatable model option (values read as JSON where they parse). hf: from_pretrained arguments, "
                   "e.g. device_map=auto, max_memory='{\"0\": \"70GiB\"}', attn_implementation=sdpa. vllm: `vllm serve` "
                   "flags, e.g. tensor_parallel_size=4, pipeline_parallel_size=2, max_model_len=8192, "
                   "gpu_memory_utilization=0.9. Recorded; part of the store key only where outputs can change.")
@click.option("--base-url", help="openai: the server's OpenAI-compatible API, e.g. http://127.0.0.1:8000/v1.")
@click.option("--api", type=click.Choice(["completions", "chat"]), default="completions", show_default=True,
              help="openai: completions sends the prompt the kit renders (the paper's path); chat sends the messages "
                   "to /v1/chat/completions for servers without raw completions (labelled: not the paper's path).")
@click.option("--served-model", help="openai: the model name the server serves (default: what the server reports).")
@click.option("--concurrency", type=click.IntRange(min=1), default=8, show_default=True,
              help="openai/vllm: requests in flight at once.")
@click.option("--api-key-env", metavar="NAME",
              help="openai: the NAME of the environment variable that holds the API key (the key never goes in argv).")
@click.option("--request-timeout", type=click.FloatRange(min=1), default=600, show_default=True,
              help="openai/vllm: seconds to wait for one completion.")
@click.option("--max-retries", type=click.IntRange(min=0), default=6, show_default=True,
              help="openai/vllm: retries (exponential backoff) on 429, 5xx, dropped connections and time-outs.")
@click.option("--engine-command", help="vllm: the vLLM executable (its own environment or container wrapper); "
                                       "default $CLUE_VLLM, else `vllm` on the PATH.")
@click.option("--engine-timeout", type=click.FloatRange(min=1), default=1800, show_default=True,
              help="vllm: seconds to wait for the engine to become healthy.")
@click.option("--allow-remote-endpoint", is_flag=True,
              help="Send credentialed (PhysioNet) tasks to a --base-url outside this machine and private networks. "
                   "PhysioNet's data use agreement forbids sending its data to online services: only with an "
                   "agreement that permits it. Recorded in the manifest.")
@click.option("--dtype", type=click.Choice(["auto", "float32", "bfloat16", "float16"]), default="auto",
              show_default=True, help="Weights dtype; auto = float32 on CPU, bfloat16 (or float16) on GPU.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--protocol", default="paper", show_default=True,
              help="paper (the published numbers' protocol), upstream (the current upstream code) or demo.")
@click.option("--protocol-dir", type=PATH, help="Folder of protocol/<name>.json (default ./protocol, $CLUE_PROTOCOL).")
@click.option("--data-dir", type=PATH, help="Folder of built test sets (default ./data, $CLUE_DATA).")
@click.option("--results-dir", type=PATH, help="Where runs are written (default ./results, $CLUE_RESULTS).")
@click.option("--run", "run_name", help="Run name: results/<run>/ (default: today's date and the protocol). "
                                        "Re-using a name resumes that run.")
@click.option("--tasks", help=f"Comma-separated tasks (default all): {', '.join(TASK_IDS)}.")
@click.option("--limit", type=click.IntRange(min=1), help="Score only the first N items of each task (smoke tests).")
@click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True,
              help="Prompts generated together (length-sorted, left-padded).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of sampling and of LongHealth's document shuffles and distractor draws.")
@click.option("--greedy/--sample", default=None,
              help="Override the protocol's decoding (paper: greedy; upstream: sampling at T=1, top-p 1, seeded).")
@click.option("--chat-layout", type=click.Choice(["auto", "chat-system", "chat-no-system", "base"]), default="auto",
              show_default=True, help="Message layout; auto detects it from the model's chat template.")
@click.option("--model-family", type=click.Choice(["auto", "llama3", "phi", "llama3+phi", "none"]), default="auto",
              show_default=True,
              help="Paper protocol's per-family handling (llama3: stop at the Llama-3 header/eot strings; phi: cut at "
                   "' <|end|>'). auto = the original's rule on the model's name (llama-3/llama3, phi).")
@click.option("--overlong", type=click.Choice(["truncate-left", "error"]), default="truncate-left", show_default=True,
              help="Prompts longer than the model allows: cut from the left (counted, marked in tables) or stop with "
                   "an error before generating. The original sent LongHealth tasks 2/3 uncut (its server refused them).")
@click.option("--metrics", default="all", show_default=True,
              help="Metrics to compute: `all`, or `all` minus some, e.g. `all,-bertscore,-umls` (left-out metrics "
                   "are shown as missing, never as 0).")
@click.option("--assets-dir", type=PATH, help="Metric assets (BERTScore models, UMLS linker); see `clue assets`.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Progress bars on stderr.")
@click.option("--allow-modified-protocol", is_flag=True,
              help="Evaluate even if protocol/<name>.json's prompts differ from the upstream files they were fetched "
                   "from (refused otherwise); the run manifest records it.")
def evaluate(model, revision, backend, model_args, base_url, api, served_model, concurrency, api_key_env,
             request_timeout, max_retries, engine_command, engine_timeout, allow_remote_endpoint, dtype, device,
             protocol, protocol_dir, data_dir, results_dir, run_name, tasks, limit, batch_size, seed, greedy,
             chat_layout, model_family, overlong, metrics, assets_dir, progress, allow_modified_protocol):
    """Evaluate a model on the CLUE tasks and write results/<run>/<model>/<task>/{predictions.jsonl,scores.json}
    and results/<run>/manifest.json.

    Every completion is stored (results/<run>/store.sqlite) as it is generated: run the same command
    again after an interruption and only the missing completions are generated. One process at a
    time per run: a second `clue evaluate` on a run in use stops at once (exit status 75).

    \b
    Examples:
      clue evaluate --model meta-llama/Meta-Llama-3-8B-Instruct --revision main
      clue evaluate --model ./models/my-model --tasks mednli,meqsum --limit 20
      clue evaluate --model baseline
      clue evaluate --model meta-llama/Meta-Llama-3-70B-Instruct --backend vllm --model-arg tensor_parallel_size=4
      clue evaluate --model meta-llama/Meta-Llama-3-8B-Instruct --backend openai --base-url http://127.0.0.1:8000/v1
    """
    from clue.runner import EvalOptions, evaluate as run_evaluation, summary_table

    outcome = run_evaluation(EvalOptions(
        model=model, backend=backend, revision=revision, dtype=dtype, device=device, protocol=protocol,
        protocol_dir=protocol_dir, data_dir=data_dir, results_dir=results_dir, run=run_name, tasks=tasks,
        limit=limit, batch_size=batch_size, seed=seed, greedy=greedy, chat_layout=chat_layout, metrics=metrics,
        assets_dir=assets_dir, progress=progress, model_family=model_family, overlong=overlong,
        model_args=list(model_args), base_url=base_url, api=api,
        served_model=served_model, concurrency=concurrency, api_key_env=api_key_env, request_timeout=request_timeout,
        max_retries=max_retries, engine_command=engine_command, engine_timeout=engine_timeout,
        allow_remote_endpoint=allow_remote_endpoint, allow_modified_protocol=allow_modified_protocol))
    click.echo(summary_table(outcome))


@click.command()
@click.argument("run", type=PATH)
@click.option("--metrics", help="Metrics to compute (default: the run's). `all`, or e.g. `all,-bertscore,-umls`.")
@click.option("--assets-dir", type=PATH, help="Metric assets (default: the run's, then $CLUE_ASSETS).")
@click.option("--data-dir", type=PATH, help="Built test sets (default: the folder the run used).")
@click.option("--protocol-dir", type=PATH, help="Protocol files (default: the folder the run used).")
@click.option("--model", help="Re-score only this model of the run.")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Progress bars with ETA (BERTScore, UMLS linking) on stderr.")
def score(run, metrics, assets_dir, data_dir, protocol_dir, model, progress):
    """Re-score RUN (a results/<run> folder) from its stored completions, without running the model.

    Rewrites predictions.jsonl and scores.json; the numbers equal the original ones unless the
    metrics or their assets changed. Needs the model's tokenizer (not its weights) to rebuild the prompts.
    """
    from clue.runner import resolve_run_dir, score_run, summary_table

    outcome = score_run(resolve_run_dir(run), metrics=metrics, assets_dir=assets_dir, data_dir=data_dir,
                        protocol_dir=protocol_dir, model=model, progress=progress)
    click.echo(summary_table(outcome))


@click.command()
@click.option("--out", type=click.Path(path_type=Path), default=Path("demo-output"), show_default=True,
              help="Folder for the synthetic raw files, test sets, tiny model and results.")
@click.option("--limit", type=click.IntRange(min=1), default=6, show_default=True, help="Items scored per task.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--progress/--no-progress", default=True, show_default=True)
def demo(out, limit, seed, progress):
    """Run the whole chain offline, with no GPU: synthetic raw files -> test sets -> a tiny model built on
    the spot -> the six tasks with the kit's own demo prompts -> the summary table.

    The numbers show that the machinery works; they are NOT CLUE numbers (random model, synthetic
    data, demo prompts).
    """
    from clue.demo.run import run_demo

    click.echo(run_demo(out, limit=limit, seed=seed, progress=progress))
