"""``--backend vllm``: vLLM as a managed engine — started by the kit, reached over HTTP, always stopped.

vLLM is never imported: its CUDA stack and numpy 2 live in their own environment (a virtualenv,
the official container), while the kit's environment keeps the metrics (scispaCy needs numpy<2).
The kit runs ``<engine command> serve MODEL`` (``--engine-command``, else ``$CLUE_VLLM``, else
``vllm`` on the PATH) through :class:`clue.backends.engine.ManagedEngine` on a free loopback port,
with the resolved revision, dtype, seed 0, the context length the kit cuts prompts to, vLLM's own
sampling defaults (``--generation-config vllm``, not the checkpoint's) and every ``--model-arg``
as a flag (``tensor_parallel_size=4`` → ``--tensor-parallel-size 4``; ``true`` → a bare flag).
Generation then goes through the OpenAI-compatible backend (``clue.backends.openai``): prompts
rendered, counted and cut by the kit, sent as finished strings to ``/v1/completions``.

The engine starts on the first prompt that is not in the store (a resumed run whose completions
are all stored never starts it; ``clue score`` never does) and stops when the run ends. Its log is
kept in ``results/<run>/engine/<model>.log``.

Store key: model, resolved revision, ``vllm``, dtype, and the model arguments that can change
outputs — all but the placement and capacity ones in ``PLACEMENT_ARGS`` (tensor parallelism
changes the order of floating-point sums, so ``tensor_parallel_size`` is part of the key).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from clue.backends.engine import ManagedEngine, free_port
from clue.backends.engine import engine_command as resolve_engine_command
from clue.backends.openai import EndpointClient, OpenAIBackend
from clue.errors import InputError

PLACEMENT_ARGS = frozenset({
    "gpu_memory_utilization", "pipeline_parallel_size", "distributed_executor_backend", "max_num_seqs",
    "max_num_batched_tokens", "swap_space", "cpu_offload_gb", "enforce_eager", "download_dir",
    "max_model_len", "disable_log_requests", "disable_log_stats", "uvicorn_log_level",
})
RESERVED_ARGS = frozenset({"host", "port", "served_model_name", "dtype", "revision", "seed", "model",
                           "tokenizer", "generation_config"})


def engine_flags(model_args: dict) -> list[str]:
    """``{"tensor_parallel_size": 4, "enforce_eager": True}`` -> ``["--enforce-eager", "--tensor-parallel-size", "4"]``."""
    flags: list[str] = []
    for key, value in sorted(model_args.items()):
        flag = "--" + key.replace("_", "-")
        if value is True:
            flags.append(flag)
        elif value is False or value is None:
            continue
        else:
            flags += [flag, value if isinstance(value, str) else json.dumps(value)]
    return flags


class VLLMBackend(OpenAIBackend):
    backend_name = "vllm"

    @classmethod
    def from_options(cls, model: str, options) -> VLLMBackend:
        if options.device == "cpu":
            raise InputError("--backend vllm serves on GPUs; use --backend hf for --device cpu")
        return cls(model, revision=options.revision, dtype=options.dtype, model_args=options.model_args,
                   engine_command=options.engine_command, engine_timeout=options.engine_timeout,
                   log_dir=options.log_dir, concurrency=options.concurrency,
                   request_timeout=options.request_timeout, max_retries=options.max_retries,
                   for_scoring=options.for_scoring, retry_base=options.retry_base)

    def __init__(self, model: str, *, revision: str | None = None, dtype: str = "auto", model_args: tuple = (),
                 engine_command: str | None = None, engine_timeout: float = 1800.0, log_dir: str | None = None,
                 concurrency: int = 64, request_timeout: float = 3600.0, max_retries: int = 3,
                 for_scoring: bool = False, retry_base: float = 0.5):
        self._requested_dtype = dtype
        # no client yet: the base URL is known once the engine runs
        super().__init__(model, base_url="http://127.0.0.1/v1", revision=revision, concurrency=concurrency,
                         request_timeout=request_timeout, max_retries=max_retries, for_scoring=True)
        self.for_scoring = for_scoring
        self.model_args = dict(model_args)
        reserved = sorted(RESERVED_ARGS & set(self.model_args))
        if reserved:
            raise InputError(f"--model-arg {reserved[0]}: set by the kit (use --dtype, --revision, --seed); "
                             f"not a model argument for --backend vllm")
        if "batching" in self.model_args:   # the kit's own switch for --backend hf; vLLM batches continuously
            raise InputError("--model-arg batching: an option of --backend hf (padded or continuous batches); "
                             "vLLM always batches continuously")
        self.engine_argv = resolve_engine_command(engine_command)
        self.engine_timeout = engine_timeout
        self.request_timeout = request_timeout
        self.max_retries = max_retries
        self.retry_base = retry_base
        self.log_path = Path(log_dir or ".") / "engine" / f"{model.strip('/').replace('/', '__') or 'model'}.log"
        self.engine: ManagedEngine | None = None
        self._served_model = None

    # -- identity ------------------------------------------------------------------

    def _pick_dtype(self, dtype: str) -> str:
        """``auto``: the dtype the checkpoint declares (what vLLM picks), so the identity is machine-independent."""
        requested = getattr(self, "_requested_dtype", dtype)
        if requested != "auto":
            return requested
        declared = str(self.config.get("torch_dtype") or self.config.get("dtype") or "bfloat16")
        return declared if declared in ("float32", "bfloat16", "float16") else "bfloat16"

    def output_model_args(self) -> dict:
        return {k: v for k, v in sorted(self.model_args.items()) if k not in PLACEMENT_ARGS}

    def identity(self) -> dict:
        identity = {"model": self.model_id, "revision": self.revision, "backend": self.backend_name, "dtype": self.dtype}
        if self.output_model_args():
            identity["model_args"] = self.output_model_args()
        return identity

    def model_info(self):
        """The tokenizer's facts, with the context cut to ``max_model_len`` when the engine gets a smaller one."""
        info = super().model_info()
        limit = self.model_args.get("max_model_len")
        if isinstance(limit, int) and 0 < limit < info.context_length:
            return replace(info, context_length=limit)
        return info

    def settings(self) -> dict:
        argv = self.engine.argv if self.engine is not None else self.command(port=0)
        recorded = {**super().settings(), "engine_argv": argv, "engine_log": str(self.log_path),
                    "model_args": dict(sorted(self.model_args.items()))}
        if self.engine is not None:
            recorded["engine_start_s"] = round(self.engine.start_seconds, 1)
        return recorded

    # -- the engine ------------------------------------------------------------------

    def command(self, port: int) -> list[str]:
        hub = not Path(self.model_id).expanduser().is_dir()
        argv = [*self.engine_argv, "serve", self.model_id if hub else str(self.path),
                "--host", "127.0.0.1", "--port", str(port), "--served-model-name", self.model_id,
                "--dtype", self.dtype, "--seed", "0", "--max-model-len", str(self.model_info().context_length),
                "--generation-config", "vllm"]
        if hub:
            argv += ["--revision", self.revision]
        return argv + engine_flags({k: v for k, v in self.model_args.items() if k != "max_model_len"})

    def start(self) -> None:
        if self.engine is not None and self.engine.alive():
            return
        if self.for_scoring:
            raise InputError(f"{self.model_id}: this backend was made for re-scoring only")
        port = free_port()
        self.engine = ManagedEngine(self.command(port), port=port, log_path=self.log_path, timeout=self.engine_timeout)
        self.engine.start()
        self.load_seconds = self.engine.start_seconds
        self.client = EndpointClient(self.engine.base_url, timeout=self.request_timeout, max_retries=self.max_retries,
                                     retry_base=self.retry_base)
        self._requested_model = self.model_id
        self._served_model = None
        self._connect()

    def generate_stream(self, requests, prompts):
        self.start()
        yield from super().generate_stream(requests, prompts)

    def close(self) -> None:
        if self.engine is not None:
            self.engine.stop()
