"""``clue evaluate`` and ``clue score``: from test sets and a protocol to scored runs on disk.

Both run the same three steps over a model's tasks (``ModelRun``):

1. ``prepare`` / ``prepare_task``: the protocol's layout for the model, the scores header; per task
   records → requests (the task module) → prompts (the backend's ``render``) → store keys;
2. ``generate``: store look-up, then generation of what is missing, in length-sorted batches, each
   batch stored in one transaction as soon as it is generated (``clue score`` skips this step);
3. ``score``: post-processing and scoring (the task module, with the metric resources handed in)
   → ``predictions.jsonl`` and ``scores.json`` (``clue.records``).

The run's ``manifest.json`` records everything the numbers depend on. Every file is written atomically.

Batches are planned over all of a task's requests (sorted by prompt length, then request
order), never over the missing ones only, so a resumed run generates each batch exactly as an
uninterrupted run would have. ``score_run`` repeats the scoring half from the store, without
loading model weights (the backend is made for its tokenizer and chat template only).
"""

from __future__ import annotations

import datetime as _dt
import os
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from clue.backends.base import Request
from clue.errors import InputError, NotReadyError
from clue.io import sha256_text
from clue.manifest import dataset_fingerprint, hardware, kit_info, package_versions, scrub
from clue.paths import assets_dir as default_assets_dir
from clue.paths import data_dir as default_data_dir
from clue.paths import results_dir as default_results_dir
from clue.records import (ModelEntry, PredictionRow, TaskScores, read_manifest, record_model, summarise,
                          write_predictions, write_scores)
from clue.records import resolve_run_dir  # noqa: F401  (the commands find runs through the runner)
from clue.store import Generation, GenerationStore, generation_key, key_material
from clue.taskinfo import parse_tasks, task_info
from clue.tasks.base import EvalContext, ModelInfo


@dataclass
class EvalOptions:
    """Everything ``clue evaluate`` takes; ``None`` means the default (paths: ``clue.paths``)."""

    model: str
    backend: str = "hf"
    revision: str | None = None
    dtype: str = "auto"
    device: str = "auto"
    protocol: str = "paper"
    protocol_dir: str | None = None
    data_dir: str | None = None
    results_dir: str | None = None
    run: str | None = None
    tasks: str | None = None            # comma-separated ids, None = all six
    limit: int | None = None
    batch_size: int = 8
    seed: int = 0
    greedy: bool | None = None          # None: the protocol's default
    chat_layout: str = "auto"
    metrics: str = "all"
    assets_dir: str | None = None
    progress: bool = True
    demo_metrics: str | None = None     # `clue demo` only: BERTScore/UMLS on the tiny assets built in this folder
    model_args: list[str] = field(default_factory=list)   # --model-arg KEY=VALUE, for hf and vllm
    # served models (--backend openai / vllm)
    base_url: str | None = None
    api: str = "completions"
    concurrency: int = 8
    api_key_env: str | None = None      # the variable's NAME; its value is never recorded
    served_model: str | None = None
    request_timeout: float = 600.0
    max_retries: int = 6
    engine_command: str | None = None
    engine_timeout: float = 1800.0
    allow_remote_endpoint: bool = False
    retry_base: float = 0.5             # first backoff wait in seconds (doubled per retry); library only
    model_family: str = "auto"          # auto (the original's name rule) | llama3 | phi | llama3+phi | none
    overlong: str = "truncate-left"     # prompts over the model's limit: truncate-left (labelled) | error
    allow_modified_protocol: bool = False  # evaluate with prompts that differ from the upstream files (recorded)


@dataclass
class TaskOutcome:
    task: str
    scores: dict                          # the scores.json object
    n_generated: int = 0
    n_cached: int = 0
    timings: dict = field(default_factory=dict)


@dataclass
class RunOutcome:
    run_dir: Path
    model_dir: Path
    tasks: list[TaskOutcome]
    timings: dict


def model_dir_name(model: str) -> str:
    """Hub ids keep owner and name (``owner__name``); a local folder is named by its last part."""
    path = Path(model).expanduser()
    if path.is_dir() or model.startswith((".", "/", "~")):
        return path.resolve().name or "model"
    return model.strip("/").replace("/", "__")


def default_run_name(protocol: str) -> str:
    return f"{_dt.date.today().isoformat()}-{protocol}"


def _log(message: str) -> None:
    print(scrub(message), file=sys.stderr, flush=True)


# ------------------------------------------------------------------------- set-up

def _load_protocol(name: str, protocol_dir: str | None):
    from clue.protocol import load_protocol

    return load_protocol(name, protocol_dir)


def _metric_resources(options: EvalOptions):
    """One MetricResources for the run; checks enabled metrics' assets before anything is generated."""
    from clue.metrics.resources import MetricResources, parse_metrics

    if options.demo_metrics:    # recorded by `clue demo`; rebuilt through the stand-in table, no demo import here
        from clue.metrics.resources import stand_in_resources

        return stand_in_resources("demo_metrics", options.demo_metrics, parse_metrics(options.metrics))
    resources = MetricResources(enabled=parse_metrics(options.metrics),
                                assets_dir=Path(options.assets_dir or default_assets_dir()))
    resources.check()
    return resources


def _model_info(backend, options: EvalOptions | None = None, warn: bool = False) -> ModelInfo:
    """The backend's model facts, with the family resolved once for every backend: ``--model-family``, or
    (auto) the original's rule on the model's name. ``warn``: say on stderr when the tokenizer suggests
    a family that the name rule misses."""
    from clue.protocol.layout import has_family, resolve_family

    info = getattr(backend, "model_info", None)
    if info is None:
        raise InputError(f"backend {type(backend).__name__} does not describe its model (model_info)")
    info = info()
    requested = options.model_family if options is not None else "auto"
    info = replace(info, family=resolve_family(info.name, requested))
    hint_of = getattr(backend, "family_hint", None)
    hint = hint_of() if hint_of is not None else None
    if warn and requested == "auto" and hint and not has_family(info, hint):
        _log(f"warning: the tokenizer of {info.name} looks like a {hint} model but its name does not say "
             f"so; the original decides by name, so its {hint} handling is off (--model-family {hint} turns it on)")
    return info


def _make_backend(options: EvalOptions, revision: str | None = None, *, run_dir: Path | None = None,
                  served_model: str | None = None, for_scoring: bool = False):
    from clue.backends import make_backend
    from clue.backends.base import BackendOptions, parse_model_args

    return make_backend(options.model, options.backend, BackendOptions(
        revision=revision or options.revision, dtype=options.dtype, device=options.device,
        batch_size=options.batch_size, model_args=parse_model_args(options.model_args), base_url=options.base_url,
        api=options.api, concurrency=options.concurrency, api_key_env=options.api_key_env,
        request_timeout=options.request_timeout, max_retries=options.max_retries, retry_base=options.retry_base,
        served_model=served_model or options.served_model, engine_command=options.engine_command,
        engine_timeout=options.engine_timeout, log_dir=str(run_dir) if run_dir else None, for_scoring=for_scoring))


def _prompt_path(backend) -> dict:
    """scores.json says so when the prompts were not the kit's rendered strings (``--api chat``)."""
    path = getattr(backend, "prompt_path", "kit-rendered")
    return {} if path == "kit-rendered" else {"prompt_path": path}


def _check_endpoint(options: EvalOptions, tasks) -> str | None:
    """The data-use guard, before any connection: where --base-url is ("local"/"remote"), None without one."""
    if options.model == "baseline" or options.backend != "openai":
        return None     # the managed engine listens on 127.0.0.1
    from clue.backends.guard import check_endpoint

    if not options.base_url:
        raise InputError("--backend openai needs --base-url, e.g. http://127.0.0.1:8000/v1")
    return check_endpoint(options.base_url, tasks, options.allow_remote_endpoint)


def _context(options: EvalOptions, protocol, info: ModelInfo) -> EvalContext:
    from clue.protocol.layout import resolve_layout

    layout = resolve_layout(info, options.chat_layout)
    return EvalContext(protocol=protocol, model=info, layout=layout, seed=options.seed, greedy=options.greedy,
                       limit=options.limit)


# ------------------------------------------------------------------------- the three steps

@dataclass
class ModelRun:
    """One model of a run, prepared: what the three steps of each of its tasks share."""

    options: EvalOptions
    protocol: object
    backend: object
    ctx: EvalContext
    resources: object                     # MetricResources (or a stand-in), handed to every task's scorer
    header: dict                          # the first keys of every scores.json
    model_dir: Path                       # results/<run>/<model_dir>


def prepare(options: EvalOptions, protocol, backend, resources, model_dir: Path, *, warn: bool = False) -> ModelRun:
    """Step 1, once per model: the model's facts and family, the message layout, the scores.json header.

    ``prepare_task`` completes the step per task (requests, rendered prompts, store keys). ``warn``:
    say on stderr when the tokenizer suggests a model family the name rule misses (``evaluate`` only).
    """
    info = _model_info(backend, options, warn=warn)
    ctx = _context(options, protocol, info)
    if hasattr(resources, "progress"):
        resources.progress = options.progress   # BERTScore / UMLS progress bars
    header = {"model": options.model, "revision": backend.identity().get("revision"), "protocol": protocol.name,
              "layout": ctx.layout, "overlong": options.overlong, **_prompt_path(backend)}
    return ModelRun(options, protocol, backend, ctx, resources, header, model_dir)


def prepare_task(run: ModelRun, module, task_id: str, records: list[dict]) -> _Prepared:
    """Step 1, per task: the task's requests, rendered by the backend, with their store keys."""
    return _prepare(module, task_id, records, run.ctx, run.backend)


def generate(run: ModelRun, prepared: _Prepared, store: GenerationStore) -> tuple[int, int, float]:
    """Step 2: generate what the store lacks, in planned batches (see :func:`generate_missing`)."""
    return generate_missing(prepared, run.backend, store, run.options.batch_size, run.options.progress)


def score(run: ModelRun, prepared: _Prepared, store: GenerationStore) -> dict:
    """Step 3: post-process and score the stored completions; write the task's two files (the scores returned)."""
    return score_prepared(prepared, store, run.ctx, run.resources, run.model_dir / prepared.task, run.header)


# ------------------------------------------------------------------------- requests and keys

@dataclass
class _Prepared:
    task: str
    module: object
    requests: list[Request]
    prompts: list[str]
    keys: list[str]
    materials: list[dict]


def _prepare(module, task_id: str, records: list[dict], ctx: EvalContext, backend) -> _Prepared:
    requests = module.build_requests(records, ctx)
    identity = backend.identity()
    prompts, keys, materials = [], [], []
    for request in requests:
        prompt = backend.render(request)
        material = key_material(identity, prompt, request.decoding.as_dict())
        prompts.append(prompt)
        keys.append(generation_key(identity, prompt, request.decoding.as_dict()))
        materials.append(material)
    return _Prepared(task_id, module, requests, prompts, keys, materials)


OVERLONG_RULES = ("truncate-left", "error")


def check_overlong(prepared: _Prepared, backend, rule: str) -> None:
    """``--overlong error``: stop before generating at the first prompt longer than the model allows.

    ``truncate-left`` (the default, the kit's labelled deviation where the original sent no limit)
    checks nothing here: generation cuts such prompts from the left and records ``truncated_tokens``.
    Backends that never cut (the baseline) have no ``prompt_overflow`` and are not checked.
    """
    if rule not in OVERLONG_RULES:
        raise InputError(f"--overlong {rule}: expected one of {', '.join(OVERLONG_RULES)}")
    overflow = getattr(backend, "prompt_overflow", None)
    if rule != "error" or overflow is None:
        return
    for request, prompt in zip(prepared.requests, prepared.prompts):
        tokens, limit = overflow(request, prompt)
        if tokens > limit:
            raise InputError(f"task {prepared.task} item {request.item_id}: prompt of {tokens} tokens exceeds the "
                             f"model's limit of {limit} (context minus {request.decoding.max_new_tokens} new tokens); "
                             "--overlong error stops before generating (--overlong truncate-left cuts it from the left)")


def plan_batches(prepared: _Prepared, batch_size: int) -> list[list[int]]:
    """Request indices in batches: one decoding per batch, longest prompts first, ties in request order."""
    groups: dict = {}
    for index, request in enumerate(prepared.requests):
        groups.setdefault(request.decoding, []).append(index)
    batches = []
    for indices in groups.values():
        indices.sort(key=lambda i: (-len(prepared.prompts[i]), i))
        batches += [indices[start:start + batch_size] for start in range(0, len(indices), batch_size)]
    return batches


def _generate(backend, requests: list[Request], prompts: list[str]) -> list[Generation]:
    detailed = getattr(backend, "generate_detailed", None)
    if detailed is not None:
        return detailed(requests, prompts)
    started = time.perf_counter()
    completions = backend.generate(requests, prompts)
    seconds = (time.perf_counter() - started) / max(1, len(prompts))
    return [Generation(completion=c, seconds=seconds) for c in completions]


def _stream_missing(prepared: _Prepared, backend, store: GenerationStore, todo: list[int], bar) -> float:
    """A served backend's completions arrive one by one, each stored at once (a failure keeps the rest)."""
    model_name = backend.identity().get("model", "")
    started = time.perf_counter()
    stream = backend.generate_stream([prepared.requests[i] for i in todo], [prepared.prompts[i] for i in todo])
    for position, generation in stream:
        i = todo[position]
        store.put_many([(prepared.keys[i], prepared.materials[i], model_name, prepared.task,
                         prepared.requests[i].item_id, generation)])
        bar.update(1)
    return time.perf_counter() - started


def generate_missing(prepared: _Prepared, backend, store: GenerationStore, batch_size: int,
                     progress: bool = True) -> tuple[int, int, float]:
    """Generate and store every completion of ``prepared`` the store lacks.

    Returns (generated, already stored, seconds spent inside the backend). A backend with
    ``generate_stream`` (a served model) gets every missing prompt at once and schedules them itself.
    """
    from tqdm import tqdm

    stored = store.get_many(prepared.keys)
    missing_keys = {k for k in prepared.keys if k not in stored}
    n_cached = len(set(prepared.keys)) - len(missing_keys)
    model_name = backend.identity().get("model", "")
    generated, gen_seconds = 0, 0.0
    with tqdm(total=len(missing_keys), desc=f"{prepared.task}", unit="prompt", disable=not progress or not missing_keys,
              file=sys.stderr, dynamic_ncols=True) as bar:
        if hasattr(backend, "generate_stream"):
            todo, seen = [], set()
            for index, key in enumerate(prepared.keys):
                if key in missing_keys and key not in seen:
                    todo.append(index)
                    seen.add(key)
            if todo:
                gen_seconds = _stream_missing(prepared, backend, store, todo, bar)
            return len(todo), n_cached, gen_seconds
        for batch in plan_batches(prepared, batch_size):
            todo, seen = [], set()
            for index in batch:
                key = prepared.keys[index]
                if key in missing_keys and key not in seen:
                    todo.append(index)
                    seen.add(key)
            if not todo:
                continue
            started = time.perf_counter()
            generations = _generate(backend, [prepared.requests[i] for i in todo], [prepared.prompts[i] for i in todo])
            gen_seconds += time.perf_counter() - started
            store.put_many(
                (prepared.keys[i], prepared.materials[i], model_name, prepared.task, prepared.requests[i].item_id, g)
                for i, g in zip(todo, generations)
            )
            missing_keys -= seen
            generated += len(todo)
            bar.update(len(todo))
    return generated, n_cached, gen_seconds


# ------------------------------------------------------------------------- scoring and files

def score_prepared(prepared: _Prepared, store: GenerationStore, ctx: EvalContext, resources, task_dir: Path,
                   header: dict) -> dict:
    """Post-process and score the stored completions; write predictions.jsonl and scores.json."""
    stored = store.get_many(prepared.keys)
    absent = sum(1 for k in prepared.keys if k not in stored)
    if absent:
        raise NotReadyError(f"{prepared.task}: {absent} of {len(prepared.keys)} completions are not in the store; "
                            "run `clue evaluate` again with the same options to generate them")
    module = prepared.module
    generations = [stored[k] for k in prepared.keys]
    outputs = [module.postprocess(g.completion, r, ctx) for g, r in zip(generations, prepared.requests)]
    result = module.score(prepared.requests, outputs, ctx, resources)
    if len(result.per_item) != len(prepared.requests):
        raise InputError(f"task {prepared.task}: scored {len(result.per_item)} items for "
                         f"{len(prepared.requests)} requests")

    predictions = []
    for item, request, prompt, generation, output in zip(result.per_item, prepared.requests, prepared.prompts,
                                                          generations, outputs):
        row = PredictionRow.from_dict({"id": item.get("id", request.item_id), "prompt_hash": sha256_text(prompt),
                                       "completion": generation.completion, "output": output,
                                       **{k: v for k, v in item.items() if k != "id"}})
        if generation.truncated_tokens:
            row.truncated_tokens = generation.truncated_tokens
        predictions.append(row)

    n_by_metric = dict(result.details.get("n_items_by_metric") or {})
    if not n_by_metric:
        for item in result.per_item:
            for metric in item.get("scores", {}):
                n_by_metric[metric] = n_by_metric.get(metric, 0) + 1
    details = {k: v for k, v in result.details.items() if k != "n_items_by_metric"}
    scores = TaskScores(
        **header,
        task=prepared.task,
        n_items=len(prepared.requests),
        metrics={k: float(v) for k, v in result.metrics.items()},
        metrics_plain={k: float(v) for k, v in result.metrics_plain.items()},
        averaging=result.averaging,
        missing_metrics=list(result.missing_metrics),
        n_items_by_metric=n_by_metric,
        truncated_prompts=sum(1 for g in generations if g.truncated_tokens),
        empty_outputs=sum(1 for o in outputs if not o.strip()),
        details=details,
    )
    write_predictions(task_dir / "predictions.jsonl", predictions)
    write_scores(task_dir / "scores.json", scores)
    return scores.to_dict()


# ------------------------------------------------------------------------- the two entry points

def evaluate(options: EvalOptions, resources=None) -> RunOutcome:
    """Run (or resume) an evaluation; see the module docstring.

    ``resources``: a ready :class:`clue.metrics.resources.MetricResources` (tests and the demo pass
    tiny stand-ins); by default one is made from ``options.metrics`` and ``options.assets_dir``.
    The run folder is held (:mod:`clue.runlock`) from before the model is loaded to the manifest's
    last write; a second process on the same run stops with :class:`clue.runlock.RunInUse`.
    """
    from clue.runlock import RunLock

    with RunLock() as lock:
        return _evaluate(options, resources, lock)


def _evaluate(options: EvalOptions, resources, lock) -> RunOutcome:
    started = time.perf_counter()
    timings: dict = {}
    tasks = parse_tasks(options.tasks)     # cheap argument checks first
    if options.limit is not None and options.limit < 1:
        raise InputError(f"--limit {options.limit}: expected a positive number of items")
    if options.overlong not in OVERLONG_RULES:
        raise InputError(f"--overlong {options.overlong}: expected one of {', '.join(OVERLONG_RULES)}")
    from clue.protocol.layout import resolve_family

    resolve_family(options.model, options.model_family)    # a bad --model-family fails before the model loads
    protocol = _load_protocol(options.protocol, options.protocol_dir)
    _check_protocol(protocol, options.allow_modified_protocol)
    data_dir = Path(options.data_dir or default_data_dir())
    from clue.tasks import get_task

    modules = {t.id: get_task(t.id) for t in tasks}
    records = {t.id: modules[t.id].load_records(data_dir) for t in tasks}   # fail before loading a model
    endpoint_scope = _check_endpoint(options, tasks)     # before any connection is made, or anything written
    run_dir = _run_dir(options, protocol)
    lock.hold(run_dir, "clue evaluate")   # a second process on the run stops here

    if resources is None:   # before the model: a missing asset should not cost a model download
        resources = _metric_resources(options)
    backend = _make_backend(options, run_dir=run_dir)
    try:
        return _evaluate_with(options, backend, resources, protocol, data_dir, tasks, modules, records, run_dir,
                              endpoint_scope, started, timings)
    finally:
        close = getattr(backend, "close", None)
        if close is not None:   # a managed engine is stopped on success, error and Ctrl-C alike
            close()


def _evaluate_with(options: EvalOptions, backend, resources, protocol, data_dir: Path, tasks, modules, records,
                   run_dir: Path, endpoint_scope: str | None, started: float, timings: dict) -> RunOutcome:
    model_key = model_dir_name(options.model)
    run = prepare(options, protocol, backend, resources, run_dir / model_key, warn=True)
    checked: dict[str, _Prepared] = {}
    if options.overlong != "truncate-left":    # every task's prompts are checked before anything is generated
        for t in tasks:
            checked[t.id] = prepare_task(run, modules[t.id], t.id, records[t.id])
            check_overlong(checked[t.id], backend, options.overlong)
    store = GenerationStore(run_dir / "store.sqlite")
    timings["setup_s"] = time.perf_counter() - started

    entry = _manifest_entry(options, backend, run.ctx.model, run.ctx, protocol, data_dir, [t.id for t in tasks])
    if endpoint_scope is not None:
        entry.endpoint = {"scope": endpoint_scope, "allow_remote_endpoint": options.allow_remote_endpoint}
    common = _manifest_common(protocol)
    record_model(run_dir, model_key, entry.with_status("running"), common)

    outcomes = []
    try:
        for t in tasks:
            outcome, prepared = _run_task(run, modules[t.id], t.id, records[t.id], store, checked.pop(t.id, None))
            outcomes.append(outcome)
            scores = outcome.scores
            entry.tasks = entry.tasks or {}
            entry.tasks[t.id] = {
                "decoding": [d.as_dict() for d in dict.fromkeys(r.decoding for r in prepared.requests)],
                "n_requests": len(prepared.requests), "generated": outcome.n_generated,
                "from_store": outcome.n_cached, "truncated_prompts": scores["truncated_prompts"],
                "timings": outcome.timings,
            }
            _log_task_notes(t.id, scores, run.model_dir)
    finally:
        store.close()
    timings["model_load_s"] = getattr(backend, "load_seconds", 0.0)
    timings["total_s"] = time.perf_counter() - started
    describe = getattr(resources, "describe", None)
    settings = getattr(backend, "settings", None)
    entry.status, entry.timings, entry.finished_at = "complete", timings, _now()
    entry.metrics = describe() if describe else None
    entry.backend_settings = settings() if settings else {}   # again: served backends count requests
    record_model(run_dir, model_key, entry, common)
    return RunOutcome(run_dir, run.model_dir, outcomes, timings)


def _run_task(run: ModelRun, module, task_id: str, records: list[dict], store: GenerationStore,
              prepared: _Prepared | None = None) -> tuple[TaskOutcome, _Prepared]:
    """``evaluate``'s three steps for one task, timed (``prepared``: its requests, when already made)."""
    task_started = time.perf_counter()
    prepared = prepared or prepare_task(run, module, task_id, records)
    prepare_s = time.perf_counter() - task_started
    store_started = time.perf_counter()
    generated, cached, gen_s = generate(run, prepared, store)
    loop_s = time.perf_counter() - store_started
    score_started = time.perf_counter()
    scores = score(run, prepared, store)
    score_s = time.perf_counter() - score_started
    task_timings = {"prepare_s": prepare_s, "generate_s": gen_s, "store_s": loop_s - gen_s,
                    "score_s": score_s, "total_s": time.perf_counter() - task_started}
    return TaskOutcome(task_id, scores, generated, cached, task_timings), prepared


def _log_task_notes(task_id: str, scores: dict, model_dir: Path) -> None:
    no_match = (scores["details"].get("gold_no_match") or {}).get("questions")
    if no_match:
        _log(f"{task_id}: {len(no_match)} question(s) whose correct text matches no option are scored wrong "
             f"(details.gold_no_match in {model_dir / task_id / 'scores.json'})")
    if scores["truncated_prompts"]:
        _log(f"{task_id}: {scores['truncated_prompts']} prompt(s) longer than the model allows were cut from "
             f"the left (truncated_tokens in {model_dir / task_id / 'predictions.jsonl'})")


def score_run(run_dir: str | os.PathLike, *, metrics: str | None = None, assets_dir: str | None = None,
              data_dir: str | None = None, protocol_dir: str | None = None, model: str | None = None,
              progress: bool = False, resources=None) -> RunOutcome:
    """Re-score a run from its stored completions; no model weights are loaded, nothing is generated.

    Refuses a test set or a protocol whose prompts changed since the run (they would score other
    prompts than the ones the completions answered). Holds the run folder like ``evaluate``.
    """
    from clue.runlock import RunLock

    with RunLock() as lock:
        if (Path(run_dir) / "manifest.json").exists():
            lock.hold(run_dir, "clue score")
        return _score_run(run_dir, metrics=metrics, assets_dir=assets_dir, data_dir=data_dir,
                          protocol_dir=protocol_dir, model=model, progress=progress, resources=resources)


def _score_run(run_dir, *, metrics, assets_dir, data_dir, protocol_dir, model, progress, resources) -> RunOutcome:
    run_dir = Path(run_dir)
    manifest_path = run_dir / "manifest.json"
    if not manifest_path.exists():
        raise InputError(f"{manifest_path}: not found; expected a run folder written by `clue evaluate`")
    if not (run_dir / "store.sqlite").exists():
        raise InputError(f"{run_dir / 'store.sqlite'}: not found; the run's completions are missing")
    entries = read_manifest(manifest_path).models
    if model is not None:
        entries = {k: v for k, v in entries.items() if model in (k, v.options.get("model"))}
    if not entries:
        raise InputError(f"{manifest_path}: no model {model or ''} recorded in this run".replace("  ", " "))

    started = time.perf_counter()
    outcomes: list[TaskOutcome] = []
    store = GenerationStore(run_dir / "store.sqlite")
    last_dir = run_dir
    try:
        for model_key, entry in entries.items():
            recorded = entry.options
            options = EvalOptions(**{**recorded, "progress": progress})
            if metrics is not None:
                options.metrics = metrics
            if assets_dir is not None:
                options.assets_dir = assets_dir
            options.data_dir = data_dir or recorded.get("data_dir")
            options.protocol_dir = protocol_dir or recorded.get("protocol_dir")
            protocol = _load_protocol(options.protocol, options.protocol_dir)
            changed = changed_prompts(entry, protocol)
            if changed:
                raise InputError(f"{protocol.path}: the prompts of {', '.join(changed)} are not the ones this run used "
                                 f"(sha256 recorded in {manifest_path}); restore that protocol file or evaluate anew")
            resolved = entry.identity.get("revision")
            hub = options.revision is not None or not Path(options.model).expanduser().is_dir()
            if options.model != "baseline":
                # only the tokenizer is needed: the dtype the run used, no GPU
                options.dtype = entry.identity.get("dtype", options.dtype)
                options.device = "cpu" if options.backend == "hf" else options.device
            backend = _make_backend(options, revision=resolved if hub and options.model != "baseline" else None,
                                    served_model=entry.identity.get("served_model"), for_scoring=True)
            if backend.identity() != entry.identity:
                raise InputError(f"{options.model}: the model is not the one this run used (recorded "
                                 f"{entry.identity.get('revision')}, found {backend.identity().get('revision')})")
            run = prepare(options, protocol, backend, resources or _metric_resources(options), run_dir / model_key)
            from clue.tasks import get_task

            for task_id in entry.task_ids:
                module = get_task(task_id)
                task_data = Path(options.data_dir or default_data_dir())
                records = module.load_records(task_data)
                recorded_sha = (entry.datasets or {}).get(task_id, {}).get("sha256")
                current_sha = dataset_fingerprint(task_data, task_id)["sha256"]
                if recorded_sha and current_sha != recorded_sha:
                    raise InputError(f"{task_data / task_id / 'test.jsonl'}: not the test set this run used "
                                     f"(sha256 {current_sha[:12]}…, the run recorded {recorded_sha[:12]}…)")
                prepared = prepare_task(run, module, task_id, records)
                outcomes.append(TaskOutcome(task_id, score(run, prepared, store), 0, len(prepared.keys)))
            last_dir = run_dir / model_key
            entry.rescored_at = _now()
            entry.options["metrics"] = options.metrics
            record_model(run_dir, model_key, entry, {})
    finally:
        store.close()
    return RunOutcome(run_dir, last_dir, outcomes, {"total_s": time.perf_counter() - started})


# ------------------------------------------------------------------------- run folder, protocol integrity

def _run_dir(options: EvalOptions, protocol) -> Path:
    return Path(options.results_dir or default_results_dir()) / (options.run or default_run_name(protocol.name))


def _check_protocol(protocol, allow_modified: bool) -> None:
    """Refuse prompts that differ from the upstream files unless allowed (the manifest records both)."""
    if getattr(protocol, "modified", False):
        if not allow_modified:
            raise InputError(f"{protocol.path}: the prompts differ from the upstream files they were fetched from "
                             f"({protocol.check['reason']}); run `clue protocol fetch --protocol {protocol.name}` "
                             "again, or pass --allow-modified-protocol to evaluate with them (recorded in the manifest)")
        _log(f"WARNING {protocol.path}: modified protocol used (--allow-modified-protocol): {protocol.check['reason']}")


def prompts_used(protocol, task_ids: list[str]) -> dict[str, str]:
    """{task: sha256 of the prompt constants the run used}; recorded in the run manifest."""
    if not hasattr(protocol, "prompts_sha256"):
        return {}
    return {task_id: protocol.prompts_sha256(task_id) for task_id in task_ids}


def changed_prompts(entry: ModelEntry, protocol) -> list[str]:
    """Tasks of a manifest entry whose recorded prompt hash differs from ``protocol``'s now."""
    recorded = entry.prompts_sha256 or {}
    now = prompts_used(protocol, [t for t in entry.task_ids if t in recorded])
    return [t for t, digest in now.items() if digest != recorded[t]]


def changed_datasets(entry: ModelEntry, data_dir: Path) -> list[str]:
    """Tasks of a manifest entry whose test.jsonl differs from the one the run used."""
    changed = []
    for task_id in entry.task_ids:
        recorded = (entry.datasets or {}).get(task_id, {}).get("sha256")
        if recorded and dataset_fingerprint(data_dir, task_id)["sha256"] != recorded:
            changed.append(task_id)
    return changed


# ------------------------------------------------------------------------- manifest parts

def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _manifest_common(protocol) -> dict:
    return {"kit": kit_info(), "packages": package_versions(), "hardware": hardware(),
            "protocol": protocol.identity() if hasattr(protocol, "identity") else {"name": protocol.name}}


def _manifest_entry(options: EvalOptions, backend, info: ModelInfo, ctx: EvalContext, protocol, data_dir: Path,
                    task_ids: list[str]) -> ModelEntry:
    recorded = asdict(options)
    recorded.pop("progress")
    for key in ("data_dir", "protocol_dir", "results_dir", "assets_dir"):
        if recorded[key] is not None:
            recorded[key] = str(Path(recorded[key]).resolve())
    recorded["data_dir"] = str(data_dir.resolve())
    settings = getattr(backend, "settings", None)
    return ModelEntry(
        options=recorded,
        identity=backend.identity(),
        backend_settings=settings() if settings else {},
        model_info={k: v for k, v in asdict(replace(info, count_tokens=None, truncate_tokens=None)).items()
                    if k not in ("count_tokens", "truncate_tokens")},
        layout=ctx.layout,
        model_family={"option": options.model_family, "resolved": info.family,
                      "rule": "name (the original's)" if options.model_family == "auto" else "--model-family"},
        overlong={"rule": options.overlong,
                  "meaning": "prompts over context - max_new_tokens are cut from the left, counted per task "
                             "(truncated_prompts) and marked in tables; the original sent LongHealth tasks 2/3 "
                             "uncut and its server refused them" if options.overlong == "truncate-left" else
                             "a prompt over context - max_new_tokens stops the run before generating"},
        seed=options.seed,
        greedy=options.greedy if options.greedy is not None else protocol.settings.greedy,
        task_ids=task_ids,
        datasets={task_id: dataset_fingerprint(data_dir, task_id) for task_id in task_ids},
        prompts_sha256=prompts_used(protocol, task_ids),
        protocol_modified=bool(getattr(protocol, "modified", False)),
        started_at=_now(),
    )


# ------------------------------------------------------------------------- for the command line

def summary_table(outcome: RunOutcome) -> str:
    """The end-of-run table: per task its items, reported metrics (percent), task score, store use."""
    from tabulate import tabulate

    summary = summarise({task.task: task.scores["metrics"] for task in outcome.tasks})
    rows = []
    for task in outcome.tasks:
        info, values = task_info(task.task), task.scores["metrics"]
        metrics = "  ".join(f"{m} {values[m]:.2f}" if values.get(m) is not None else f"{m} –" for m in info.metrics)
        rows.append([info.name, task.scores["n_items"], metrics,
                     None if summary[task.task] is None else round(summary[task.task], 2),
                     task.n_generated, task.n_cached, task.scores.get("truncated_prompts", 0)])
    table = tabulate(rows, headers=["Task", "Items", "Metrics (%)", "Score", "Generated", "From store", "Truncated"],
                     tablefmt="github", missingval="–")
    lines = [table]
    for level in (1, 2):
        if summary[f"level{level}"] is not None:
            lines.append(f"Level {level}: {summary[f'level{level}']:.2f}")
    lines.append(f"Results: {outcome.model_dir}")
    return "\n".join(lines)
