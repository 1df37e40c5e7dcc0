"""``clue sweep``: every model of a list evaluated into one run folder, one after another or as Ray tasks.

Each model goes through the runner's public API (:func:`clue.runner.evaluate`) with the engine chosen,
so everything ``clue evaluate`` records, resumes and refuses holds per model. The sweep adds:

- **placement**: a model whose bf16 estimate (:class:`clue.sweep_models.GpuRule`) needs more GPUs than
  are present (here, or on the largest Ray node) is skipped with a one-line reason; models without a
  parameter count (local folders, ``baseline``) run anywhere;
- **resumption**: a model whose manifest entry is complete with the same options is not started again;
  any other model resumes through the run's generation store;
- **isolation**: a model that fails is recorded with its one-line error and the others go on;
  ``results/<run>/sweep.json`` lists every model's status, reason and timings;
- **Ray** (``--ray-address``): each model is a Ray task asking for the GPUs it needs. The worker seeds a
  local run folder with the driver's stored completions of that model, evaluates into it, and hands the
  folder back: as an archive through Ray's object store, or, when it can see the driver's run folder (a
  shared file system, proved by a token file), by leaving it under ``<run>/.sweep/work/``. The driver
  merges it (:func:`merge_staged`): the store rows the worker generated, the model's predictions and
  scores, its manifest entry. A worker lost mid-model is retried by Ray on another worker.

One sweep per run at a time (``<run>/.sweep.lock``); each model's evaluation and each merge holds the
run lock of :mod:`clue.runlock`, as ``clue evaluate`` does.
"""

from __future__ import annotations

import io
import os
import secrets
import shutil
import socket
import sys
import tarfile
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from clue.errors import ClueError, InputError, NotReadyError
from clue.io import create_temp_folder, make_folder, read_json, write_json
from clue.paths import data_dir as default_data_dir
from clue.paths import protocol_dir as default_protocol_dir
from clue.runner import EvalOptions, _log, evaluate
from clue.runlock import LOCK_NAME
from clue.store import GenerationStore
from clue.sweep_models import ENGINES, GpuRule, ModelList, SweepModel, load_models, select
from clue.taskinfo import TASK_IDS

SWEEP_LOCK = ".sweep.lock"
SWEEP_DIR = ".sweep"          # token, work/ (staged folders on a shared file system), incoming/ (unpacked archives)
SEEDED = "seeded.json"        # in a staged run: {"id": unique id, "rows": {key: times_generated}} of the rows given
# options whose change makes a recorded model entry stale (then the model is evaluated again, from the store)
SAME_RUN_FIELDS = ("model", "backend", "revision", "protocol", "tasks", "limit", "seed", "greedy", "chat_layout",
                   "metrics", "dtype", "model_args", "model_family", "overlong")


@dataclass
class SweepOptions:
    eval: EvalOptions                    # the per-model template: everything but ``model`` applies to every model
    models: str = "paper"                # "paper", a JSON list or a text file
    only: str | None = None
    engine: str = "hf"
    ray_address: str | None = None
    shared_fs: str = "auto"              # auto: use the driver's run folder when a worker sees it; never: archives
    task_retries: int = 2                # Ray: times a model whose worker died is retried elsewhere
    progress: bool = True


@dataclass
class ModelResult:
    name: str
    model: str
    model_dir: str
    status: str                          # complete | already complete | skipped | failed
    reason: str | None = None
    seconds: float | None = None
    where: dict = field(default_factory=dict)


@dataclass
class SweepOutcome:
    run_dir: Path
    listing: ModelList
    results: list[ModelResult]

    @property
    def failed(self) -> list[ModelResult]:
        return [r for r in self.results if r.status == "failed"]


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


# ------------------------------------------------------------------------- placement

def local_gpus() -> list[float]:
    """Memory (GiB) of each GPU this process may use (CUDA_VISIBLE_DEVICES applies); empty without CUDA."""
    try:
        import torch
    except ImportError:
        return []
    if not torch.cuda.is_available():
        return []
    return [torch.cuda.get_device_properties(i).total_memory / 2**30 for i in range(torch.cuda.device_count())]


def placement(model: SweepModel, rule: GpuRule, gpus: list[float]) -> tuple[int, str | None]:
    """(GPUs to use, None) when the model fits ``gpus`` (GiB each), else (0, one-line reason)."""
    if not model.gpus:
        return 0, None
    estimate = f"bf16 ≈ {model.memory_gib:.0f} GiB with the rule's margin" if model.memory_gib else "bf16"
    if not gpus:
        return 0, f"needs {model.gpus} GPU(s) of {rule.gpu_memory_gib:.0f} GiB ({estimate}); no GPU here"
    size = min(gpus)
    needed = rule.gpus(model.parameters_b, size) if model.parameters_b else model.gpus
    if needed > len(gpus):
        return 0, f"needs {needed} GPU(s) of {size:.0f} GiB ({estimate}); {len(gpus)} here"
    return needed, None


def ray_placement(model: SweepModel, rule: GpuRule, node_gpus: list[int]) -> tuple[int, str | None]:
    """As :func:`placement` for a Ray cluster: the model's GPUs must be on one node (GPUs of the rule's size)."""
    if not model.gpus:
        return 0, None
    largest = max(node_gpus, default=0)
    if model.gpus > largest:
        estimate = f"bf16 ≈ {model.memory_gib:.0f} GiB" if model.memory_gib else "bf16"
        return 0, (f"needs {model.gpus} GPU(s) of {rule.gpu_memory_gib:.0f} GiB on one node ({estimate}); "
                   f"the largest Ray node has {largest}")
    return model.gpus, None


def model_options(model: SweepModel, template: EvalOptions, engine: str, gpus: int) -> EvalOptions:
    """The ``clue evaluate`` options of one model: the template, the entry's revision, layout and tasks, and
    for a model spread over several GPUs the engine's way of doing it (unless given with --model-arg)."""
    options = replace(template, model=model.model, backend=engine, model_args=list(template.model_args))
    if model.revision and template.revision is None and model.model != "baseline":
        options.revision = model.revision
    if template.chat_layout == "auto":
        options.chat_layout = model.chat_layout
    options.tasks = _tasks(template.tasks, model.tasks)
    given = {arg.split("=", 1)[0] for arg in options.model_args}
    if gpus > 1 and engine == "vllm" and "tensor_parallel_size" not in given:
        options.model_args.append(f"tensor_parallel_size={gpus}")
    if gpus > 1 and engine == "hf" and "device_map" not in given:
        options.model_args.append("device_map=auto")
    return options


def _tasks(requested: str | None, listed: tuple[str, ...] | None) -> str | None:
    if listed is None:
        return requested
    if requested is None or requested.strip().lower() in ("", "all"):
        return ",".join(listed)
    from clue.taskinfo import parse_tasks

    wanted = {t.id for t in parse_tasks(requested)}
    return ",".join(t for t in TASK_IDS if t in wanted and t in listed)


# ------------------------------------------------------------------------- run folder records

def run_dir_for(options: SweepOptions) -> Path:
    from clue.paths import results_dir

    return Path(options.eval.results_dir or results_dir()) / (options.eval.run or f"sweep-{options.eval.protocol}")


def already_complete(run_dir: Path, options: EvalOptions, key: str, recorded_models: dict) -> bool:
    """The run's manifest (``recorded_models``: its entries) holds this model, complete, evaluated with the
    same options, with every scores.json."""
    entry = recorded_models.get(key)
    if entry is None or entry.status != "complete":
        return False
    recorded, wanted = entry.options or {}, asdict(options)
    if any(recorded.get(name) != wanted.get(name) for name in SAME_RUN_FIELDS):
        return False
    return all((run_dir / key / task / "scores.json").is_file() for task in entry.task_ids)


def _record(run_dir: Path, results: list[ModelResult], pending: list[SweepModel]) -> None:
    """``sweep.json``: every model's state so far (pending ones too), rewritten atomically after each model."""
    from clue.runner import _now

    document = {"updated_at": _now(), "models": {r.name: {k: v for k, v in asdict(r).items() if k != "name"}
                                                 for r in results}}
    for model in pending:
        document["models"].setdefault(model.name, {"model": model.model, "model_dir": model.key, "status": "pending"})
    write_json(run_dir / "sweep.json", document)


# ------------------------------------------------------------------------- the sweep

def run_sweep(options: SweepOptions, listing: ModelList | None = None) -> SweepOutcome:
    """Evaluate every chosen model into one run folder; see the module docstring."""
    from clue.runlock import RunLock

    if options.engine not in ENGINES:
        raise InputError(f"--engine {options.engine}: expected one of {', '.join(ENGINES)}")
    if options.shared_fs not in ("auto", "never"):
        raise InputError(f"--shared-fs {options.shared_fs}: expected auto or never")
    listing = listing or load_models(options.models)
    chosen = select(listing.models, options.only)
    run_dir = run_dir_for(options)
    with RunLock(SWEEP_LOCK) as lock:
        lock.hold(run_dir, "clue sweep")
        if options.ray_address:
            results = _ray_sweep(options, listing, chosen, run_dir)
        else:
            results = _serial_sweep(options, listing, chosen, run_dir)
    return SweepOutcome(run_dir, listing, results)


def _plan(options: SweepOptions, chosen: list[SweepModel], run_dir: Path, fit) -> tuple:
    """(results decided without running anything, [(model, EvalOptions, GPUs)] to run)."""
    from clue.records import read_manifest

    manifest = run_dir / "manifest.json"
    recorded = read_manifest(manifest).models if manifest.exists() else {}
    decided, todo = [], []
    for model in chosen:
        gpus, reason = fit(model)
        if reason is None:
            per_model = model_options(model, options.eval, options.engine, gpus)
            if per_model.tasks == "":
                reason = "none of the chosen --tasks is reported for this model (its 'tasks' in the list)"
        if reason is not None:
            decided.append(ModelResult(model.name, model.model, model.key, "skipped", reason))
            _log(f"sweep: skip {model.name}: {reason}")
            continue
        per_model.run = run_dir.name
        per_model.results_dir = str(run_dir.parent)
        per_model.data_dir = str(Path(per_model.data_dir or default_data_dir()).resolve())
        per_model.protocol_dir = str(Path(per_model.protocol_dir or default_protocol_dir()).resolve())
        per_model.progress = options.progress and options.eval.progress
        if already_complete(run_dir, per_model, model.key, recorded):
            decided.append(ModelResult(model.name, model.model, model.key, "already complete"))
            _log(f"sweep: {model.name}: already complete in {run_dir / model.key}")
            continue
        todo.append((model, per_model, gpus))
    return decided, todo


def _serial_sweep(options: SweepOptions, listing: ModelList, chosen: list[SweepModel], run_dir: Path) -> list:
    gpus_here = local_gpus()
    results, todo = _plan(options, chosen, run_dir, lambda m: placement(m, listing.gpu_rule, gpus_here))
    _record(run_dir, results, [m for m, _, _ in todo])
    for number, (model, per_model, gpus) in enumerate(todo, start=1):
        _log(f"sweep [{number}/{len(todo)}] {model.name}: evaluating ({per_model.backend}"
             f"{f', {gpus} GPU(s)' if gpus else ''})")
        started = time.perf_counter()
        status, reason = "complete", None
        try:
            evaluate(per_model)
        except Exception as exc:      # one model failing does not stop the others
            status, reason = "failed", _one_line(exc)
        result = ModelResult(model.name, model.model, model.key, status, reason, time.perf_counter() - started,
                             {"host": socket.gethostname()})
        results.append(result)
        _log(f"sweep [{number}/{len(todo)}] {model.name}: {result.status} in {result.seconds:.1f} s"
             + (f": {result.reason}" if result.reason else ""))
        _record(run_dir, results, [m for m, _, _ in todo[number:]])
    return _in_list_order(results, chosen)


def _in_list_order(results: list[ModelResult], chosen: list[SweepModel]) -> list[ModelResult]:
    order = {m.name: i for i, m in enumerate(chosen)}
    return sorted(results, key=lambda r: order.get(r.name, len(order)))


# ------------------------------------------------------------------------- Ray: driver

def _import_ray():
    try:
        import ray
    except ImportError:
        raise NotReadyError("--ray-address needs Ray, which is not installed: pip install 'clue-kit[cluster]'") from None
    return ray


def connect_ray(address: str, num_cpus: int | None = None):
    """Join the cluster at ``address`` (``auto``, ``HOST:PORT``), or start a one-machine instance for ``local``
    (no dashboard, every service listening on 127.0.0.1 only; ``num_cpus`` caps its workers). An instance this
    process already joined is reused."""
    host = address.rsplit(":", 1)[0] if ":" in address else address
    if address == "local" or host in ("127.0.0.1", "localhost"):
        loopback_only()
    ray = _import_ray()
    if ray.is_initialized():
        return ray
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if address == "local":
        ray.init(address="local", include_dashboard=False, num_cpus=num_cpus, log_to_driver=False)
    else:
        ray.init(address=address, log_to_driver=False)
    return ray


def loopback_only() -> None:
    """Keep a local Ray instance on 127.0.0.1: Ray gives its services the machine's own address unless told that
    this is not a cluster node (the switch it uses on macOS and Windows), read when ``ray`` is imported."""
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    constants = sys.modules.get("ray._private.ray_constants")
    if constants is not None:
        constants.ENABLE_RAY_CLUSTER = False


def ray_node_gpus(ray) -> list[int]:
    return [int(node.get("Resources", {}).get("GPU", 0)) for node in ray.nodes() if node.get("Alive")]


def _ray_sweep(options: SweepOptions, listing: ModelList, chosen: list[SweepModel], run_dir: Path) -> list:
    ray = connect_ray(options.ray_address)
    node_gpus = ray_node_gpus(ray)
    make_folder(run_dir)
    salvaged = salvage(run_dir)
    if salvaged:
        _log(f"sweep: {salvaged} completion(s) kept from work left by an earlier sweep")
    results, todo = _plan(options, chosen, run_dir, lambda m: ray_placement(m, listing.gpu_rule, node_gpus))
    _record(run_dir, results, [m for m, _, _ in todo])
    if not todo:
        return _in_list_order(results, chosen)
    token = _write_token(run_dir)
    inputs_ref = ray.put(pack_inputs(todo))
    remote = ray.remote(evaluate_remote)
    pending, digests = {}, {}
    with GenerationStore(run_dir / "store.sqlite") as store:
        for model, per_model, gpus in todo:
            inputs = (per_model.data_dir, per_model.tasks)        # the same test sets for most models: hashed once
            if inputs not in digests:
                digests[inputs] = _data_digests(per_model)
            payload = {"options": asdict(per_model), "key": model.key, "name": model.name, "run_dir": str(run_dir),
                       "token": token, "shared_fs": options.shared_fs, "submitted_at": time.time(),
                       "seed_rows": store.rows(per_model.model), "data": digests[inputs]}
            ref = remote.options(num_gpus=gpus, num_cpus=1, max_retries=options.task_retries,
                                 retry_exceptions=False).remote(payload, [inputs_ref])
            pending[ref] = (model, per_model, payload["submitted_at"])
    _log(f"sweep: {len(pending)} model(s) submitted to Ray ({options.ray_address}); "
         f"{len(node_gpus)} node(s), GPUs per node {node_gpus}")
    done = 0
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            ref = ready[0]
            model, per_model, submitted = pending.pop(ref)
            done += 1
            result = _collect(ray, ref, model, per_model, submitted, run_dir)
            results.append(result)
            _log(f"sweep [{done}/{len(todo)}] {model.name}: {result.status} in {result.seconds:.1f} s"
                 + (f" on {result.where.get('host')}" if result.where.get("host") else "")
                 + (f": {result.reason}" if result.reason else ""))
            _record(run_dir, results, [m for m, _, _ in pending.values()])
    except BaseException:
        for ref in pending:
            ray.cancel(ref, force=True)
        raise
    return _in_list_order(results, chosen)


def _collect(ray, ref, model: SweepModel, options: EvalOptions, submitted: float, run_dir: Path) -> ModelResult:
    try:
        returned = ray.get(ref)
    except Exception as exc:      # the worker's error (or a worker lost more often than retried)
        cause = getattr(exc, "cause", None)
        return ModelResult(model.name, model.model, model.key, "failed", _one_line(cause or exc),
                           time.time() - submitted)
    where = {**returned["worker"], "transfer": "shared" if "staged" in returned else "archive"}
    paths = {"data_dir": options.data_dir, "protocol_dir": options.protocol_dir}
    try:
        if "staged" in returned:
            staged = Path(returned["staged"])
            merge_staged(run_dir, staged, model.key, where, paths)
            shutil.rmtree(staged.parent, ignore_errors=True)
        else:
            incoming = create_temp_folder(make_folder(run_dir / SWEEP_DIR / "incoming"), prefix=f"{model.key}-")
            unpack(returned["archive"], incoming)
            merge_staged(run_dir, incoming / "run", model.key, where, paths)
            shutil.rmtree(incoming, ignore_errors=True)
    except (ClueError, OSError) as exc:
        return ModelResult(model.name, model.model, model.key, "failed", f"merge: {_one_line(exc)}",
                           time.time() - submitted, where)
    return ModelResult(model.name, model.model, model.key, "complete", None, time.time() - submitted, where)


def _write_token(run_dir: Path) -> str:
    token = secrets.token_hex(16)
    path = make_folder(run_dir / SWEEP_DIR) / "token"
    with open(path, "w", encoding="utf-8") as handle:   # not a secret: proves only that a worker sees this folder
        handle.write(token)
    return token


def _data_digests(options: EvalOptions) -> dict:
    from clue.manifest import dataset_fingerprint
    from clue.paths import data_dir
    from clue.taskinfo import parse_tasks

    folder = Path(options.data_dir or data_dir())
    return {t.id: dataset_fingerprint(folder, t.id)["sha256"] for t in parse_tasks(options.tasks)}


def pack_inputs(todo: list) -> bytes:
    """What a worker without the driver's files needs: each used task's test set and build manifest, and the
    protocol file with its checked upstream copies. Credentialed test sets travel only inside the cluster."""
    from clue.paths import data_dir, protocol_dir

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        added = set()
        for _, options, _ in todo:
            from clue.taskinfo import parse_tasks

            data = Path(options.data_dir or data_dir())
            for task in parse_tasks(options.tasks):
                for name in ("test.jsonl", "manifest.json"):
                    path = data / task.id / name
                    if path.is_file() and ("data", task.id, name) not in added:
                        archive.add(path, arcname=f"data/{task.id}/{name}")
                        added.add(("data", task.id, name))
            protocols = Path(options.protocol_dir or protocol_dir())
            for name in (f"{options.protocol}.json", f"{options.protocol}.upstream"):
                if (protocols / name).exists() and ("protocol", name) not in added:
                    archive.add(protocols / name, arcname=f"protocol/{name}")
                    added.add(("protocol", name))
    return buffer.getvalue()


def unpack(blob: bytes, folder: Path) -> None:
    """Extract an archive made by the kit (inputs, or a worker's run folder); members leaving ``folder`` are refused."""
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as archive:
        for member in archive.getmembers():
            target = (folder / member.name).resolve()
            if not str(target).startswith(str(folder.resolve()) + os.sep) or not (member.isfile() or member.isdir()):
                raise InputError(f"archive member {member.name!r}: not a plain file inside the folder; refused")
        if hasattr(tarfile, "data_filter"):      # Python >= 3.11.4: refuse links, devices and odd modes as well
            archive.extractall(folder, filter="data")
        else:
            archive.extractall(folder)


def _pack_folder(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.name.startswith(LOCK_NAME):
                archive.add(path, arcname=f"run/{path.relative_to(folder)}")
    return buffer.getvalue()


# ------------------------------------------------------------------------- Ray: worker

def evaluate_remote(payload: dict, inputs: list) -> dict:
    """A Ray task: evaluate one model into a local run folder and hand it back (see the module docstring)."""
    entered = time.time()
    run_dir = Path(payload["run_dir"])
    shared = payload["shared_fs"] != "never" and _sees(run_dir, payload["token"])
    parent = make_folder(run_dir / SWEEP_DIR / "work") if shared else Path(tempfile.gettempdir())
    work = create_temp_folder(parent, prefix=f"{payload['key']}-")
    staged = make_folder(work / "run")
    options = EvalOptions(**payload["options"])
    options = _local_inputs(options, payload, inputs, work)
    options.results_dir, options.run, options.progress = str(work), "run", False
    with GenerationStore(staged / "store.sqlite") as store:
        store.merge_rows(payload["seed_rows"])
    times = GenerationStore.TIMES
    write_json(staged / SEEDED, {"id": f"{socket.gethostname()}:{work.name}:{secrets.token_hex(8)}",
                                 "rows": {row[0]: row[times] for row in payload["seed_rows"]}})
    _fault_injection(payload["key"], staged / "store.sqlite")
    evaluating = time.time()
    try:
        evaluate(options)
    except BaseException:
        if not shared:
            shutil.rmtree(work, ignore_errors=True)
        raise
    worker = {"host": socket.gethostname(), "pid": os.getpid(), "submitted_at": payload["submitted_at"],
              "entered_at": entered, "evaluating_at": evaluating, "finished_at": time.time()}
    write_json(staged / "worker.json", worker)
    if shared:
        return {"staged": str(staged), "worker": worker}
    archive = _pack_folder(staged)
    shutil.rmtree(work, ignore_errors=True)
    return {"archive": archive, "worker": worker}


def _sees(run_dir: Path, token: str) -> bool:
    try:
        return (run_dir / SWEEP_DIR / "token").read_text(encoding="utf-8") == token
    except OSError:
        return False


def _local_inputs(options: EvalOptions, payload: dict, inputs: list, work: Path) -> EvalOptions:
    """Use the worker's own test sets and protocol when they are the driver's (same sha256 at the same paths);
    otherwise unpack the copies the driver sent."""
    from clue.manifest import dataset_fingerprint

    data_ok = options.data_dir and all(
        Path(options.data_dir, task, "test.jsonl").is_file() and dataset_fingerprint(options.data_dir, task)["sha256"] == sha
        for task, sha in payload["data"].items())
    protocol_ok = options.protocol_dir and Path(options.protocol_dir, f"{options.protocol}.json").is_file()
    if data_ok and protocol_ok:
        return options
    import ray

    unpack(ray.get(inputs[0]), work / "inputs")
    if not data_ok:
        options.data_dir = str(work / "inputs" / "data")
    if not protocol_ok:
        options.protocol_dir = str(work / "inputs" / "protocol")
    if options.assets_dir and not Path(options.assets_dir).is_dir():
        options.assets_dir = None        # the worker's own $CLUE_ASSETS
    return options


def _fault_injection(key: str, store_path: Path) -> None:
    """Test hook: ``CLUE_SWEEP_FAULT=kill-once:<marker file>:<model folder>`` kills this worker (SIGKILL) once,
    as soon as it has stored its first completion of that model, so that Ray's retry can be tested."""
    spec = os.environ.get("CLUE_SWEEP_FAULT", "")
    parts = spec.split(":", 2)
    if len(parts) != 3 or parts[0] != "kill-once" or parts[2] != key:
        return
    marker = Path(parts[1])
    try:
        descriptor = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return
    os.write(descriptor, str(os.getpid()).encode())
    os.close(descriptor)
    import signal
    import threading

    seeded = _count(store_path)

    def watch() -> None:
        while _count(store_path) <= seeded:
            time.sleep(0.02)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, daemon=True).start()


def _count(store_path: Path) -> int:
    import sqlite3

    try:
        with sqlite3.connect(f"file:{store_path}?mode=ro", uri=True, timeout=1) as db:
            return db.execute("SELECT COUNT(*) FROM completions").fetchone()[0]
    except sqlite3.Error:
        return 0


# ------------------------------------------------------------------------- merging a worker's run folder

def merge_staged(run_dir: Path, staged: Path, key: str, where: dict | None = None, paths: dict | None = None) -> int:
    """Merge a worker's run folder of one model into the driver's run; returns the generations added.

    ``paths``: the driver's ``data_dir`` / ``protocol_dir`` for the entry's options (the worker may have used
    copies elsewhere; the entry's dataset and prompt hashes say they were the same), so that ``clue score`` and
    ``clue verify`` find them on the driver.

    Order: store rows (the worker's completions beyond the ones it was given, one transaction), then the
    model's folder (swapped in whole), then the manifest entry, whose ``status: complete`` comes last; a
    driver killed part-way re-runs the model, which then finds every completion in the store.
    """
    from clue.records import UNSET, read_manifest, record_model
    from clue.runlock import RunLock

    manifest_path = staged / "manifest.json"
    if not manifest_path.is_file() or not (staged / key).is_dir():
        raise InputError(f"{staged}: not a finished run folder of {key} (manifest.json or {key}/ missing)")
    worker_manifest = read_manifest(manifest_path)
    entry = worker_manifest.models.get(key)
    if entry is None or entry.status != "complete":
        raise InputError(f"{manifest_path}: holds no complete entry for {key}")
    with RunLock() as lock:
        lock.hold(run_dir, "clue sweep (merge)")
        added = _merge_store(run_dir, staged)
        _swap_in(staged / key, run_dir / key)
        log = staged / "engine" / f"{key}.log"
        if log.is_file():
            shutil.copyfile(log, make_folder(run_dir / "engine") / f"{key}.log")
        options = entry.options
        entry.sweep = {**(where or {}), "worker_paths": {k: options.get(k) for k in
                                                         ("results_dir", "run", "data_dir", "protocol_dir")},
                       "hardware": None if worker_manifest.hardware is UNSET else worker_manifest.hardware, "generated_by_worker": added}
        options.update(results_dir=str(run_dir.parent.resolve()), run=run_dir.name,
                       **{k: v for k, v in (paths or {}).items() if v})
        common = {k: getattr(worker_manifest, k) for k in ("kit", "packages", "protocol")
                  if getattr(worker_manifest, k) is not UNSET}
        record_model(run_dir, key, entry, common)
    return added


def _merge_store(run_dir: Path, staged: Path) -> int:
    seeded_path = staged / SEEDED
    record = read_json(seeded_path) if seeded_path.exists() else {}
    if not isinstance(record, dict) or not isinstance(record.get("rows", {}), dict):
        raise InputError(f"{seeded_path}: expected an object with 'id' and a 'rows' object (written by a sweep worker)")
    seeded, source = record.get("rows", {}), record.get("id")
    times = GenerationStore.TIMES
    with GenerationStore(staged / "store.sqlite") as worker_store:
        rows = []
        for row in worker_store.rows():
            extra = row[times] - seeded.get(row[0], 0)
            if extra > 0:
                rows.append((*row[:times], extra, *row[times + 1:]))
    with GenerationStore(run_dir / "store.sqlite") as target:
        return target.merge_rows(rows, source=source)     # once per worker folder, even if merged again


def _swap_in(new: Path, old: Path) -> None:
    """Replace the folder ``old`` by a copy of ``new``: copied beside it first, then two renames."""
    copy = old.parent / f".{old.name}.incoming-{secrets.token_hex(4)}"
    shutil.copytree(new, copy)
    retired = old.parent / f".{old.name}.old-{secrets.token_hex(4)}"
    if old.exists():
        os.replace(old, retired)
    os.replace(copy, old)
    shutil.rmtree(retired, ignore_errors=True)


def salvage(run_dir: Path) -> int:
    """Completions left in staged folders by an earlier sweep whose driver was killed (a shared file system's
    ``.sweep/work/*``, unpacked archives in ``.sweep/incoming/*``): their store rows are merged, the folders
    removed. The models themselves are evaluated again (from the store) by this sweep."""
    added = 0
    for kind in ("work", "incoming"):
        folder = run_dir / SWEEP_DIR / kind
        if not folder.is_dir():
            continue
        for leftover in sorted(folder.iterdir()):
            staged = leftover / "run"
            if (staged / "store.sqlite").is_file() and (staged / SEEDED).is_file():
                from clue.runlock import RunLock

                with RunLock() as lock:
                    lock.hold(run_dir, "clue sweep (salvage)")
                    added += _merge_store(run_dir, staged)
            shutil.rmtree(leftover, ignore_errors=True)
    return added


# ------------------------------------------------------------------------- what the command prints

def plan_table(listing: ModelList, chosen: list[SweepModel], ray_nodes: list[int] | None = None) -> str:
    """Per model: parameters, bf16 estimate, GPUs, estimated GPU-hours, whether it fits here, the reason if not."""
    from tabulate import tabulate

    gpus_here = local_gpus() if ray_nodes is None else None
    rows = []
    for m in chosen:
        if ray_nodes is None:
            _, reason = placement(m, listing.gpu_rule, gpus_here)
        else:
            _, reason = ray_placement(m, listing.gpu_rule, ray_nodes)
        hours = listing.cost_rule.gpu_hours(m)
        rows.append([m.name, m.model + ("" if m.pinned or not m.revision else f" @{m.revision} (unpinned)"),
                     m.parameters_b, None if m.memory_gib is None else round(m.memory_gib), m.gpus or "–",
                     None if hours is None else round(hours, 1), "yes" if reason is None else "no", reason or ""])
    return tabulate(rows, headers=["Model", "Hub id / path", "Params (B)", "bf16 GiB", "GPUs", "GPU-h (est.)",
                                   "Fits", "Reason"], tablefmt="github", missingval="–")


def summary(outcome: SweepOutcome) -> str:
    from tabulate import tabulate

    rows = [[r.name, r.status, None if r.seconds is None else round(r.seconds, 1), r.reason or ""]
            for r in outcome.results]
    lines = [tabulate(rows, headers=["Model", "Status", "Seconds", "Reason"], tablefmt="github", missingval="–")]
    if outcome.failed:
        lines.append("Failed: " + "; ".join(f"{r.name} ({r.reason})" for r in outcome.failed))
    lines.append(f"Run: {outcome.run_dir}")
    return "\n".join(lines)


def report_tables(outcome: SweepOutcome) -> str:
    """The run's tables against the paper, and the biomedical-vs-base table; empty when no model has scores."""
    from clue.report.pairs import pairs_report
    from clue.report.paper import PAPER_PAIRS
    from clue.report.runs import model_dirs
    from clue.report.tables import render, tables_for_runs

    if not model_dirs(outcome.run_dir):
        return ""
    aliases = outcome.listing.aliases
    built = tables_for_runs([outcome.run_dir], compare="paper", aliases=aliases)
    extra = [p for p in outcome.listing.pairs if p not in PAPER_PAIRS]
    pairs = pairs_report([outcome.run_dir], pairs=extra, paper_pairs=True, aliases=aliases)
    return render(built, "md") + "\n\n" + render([pairs], "md")
