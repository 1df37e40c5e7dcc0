"""The transformers backend: a local folder or a Hub id, batched generation on CPU or GPU.

- The model is resolved once: a Hub id is fetched (or found in the cache) at ``--revision``
  and the snapshot's commit is recorded; a local folder is fingerprinted by its files.
- ``render`` applies the tokenizer's chat template (generation prompt added) and appends the
  prefill. The weights are loaded only on the first ``generate``, so re-scoring a run
  (``clue score``) needs the tokenizer alone.
- ``generate`` sorts prompts by token length, batches them with left padding, cuts over-long
  prompts from the left to the model's context (counted, never an error), stops at stop
  strings and at the end-of-sequence token.
- Sampling is seeded per prompt (a generator per row, seeded from the decoding seed and the
  prompt), so a completion does not depend on which other prompts share its batch: a resumed
  run samples exactly what an uninterrupted one would.
- Two ways to batch (``--model-arg batching=auto|padded|continuous``, recorded in the manifest,
  not in the store key: both give one-at-a-time's completions). ``padded``: the left-padded
  batches above, through ``generate``. ``continuous`` (:mod:`clue.backends.continuous`): up to
  ``--batch-size`` prompts in flight, prefilled side by side, decoded together without padding, a
  finished prompt replaced at once. ``auto`` (the default) takes ``continuous`` on CPU when the
  model allows it (plain causal attention, no logits processors in its generation config) and
  ``padded`` otherwise: on CPU continuous batching measured 3.7x one-at-a-time's speed over
  384 prompts of four tasks against 2.0x for padded batches (CPU time), 2.5-2.9x against 1.0-1.2x on
  MeDiSumQA's 1,700-token prompts, 1.1x against 0.3x on 6,200-token ones (``bench/RESULTS.md``); on a
  GPU it has not been measured against ``generate``'s padded batches, so they stay the default there.
- ``generate_stream`` yields each completion as it is done, so the runner stores it at once.

Hub tokens are read by ``huggingface_hub`` from ``HF_TOKEN``; this module never sees them.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import time
from pathlib import Path

from clue.backends.base import Decoding, Generation, ModelInfo, Request
from clue.errors import InputError

WEIGHT_PATTERNS = ("*.safetensors", "pytorch_model*.bin", "model*.bin")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "tokenizer_config.json")
HUB_PATTERNS = ["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "*.tiktoken"]
DTYPES = ("auto", "float32", "bfloat16", "float16")
DEVICES = ("auto", "cpu", "cuda")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")


# ---------------------------------------------------------------- resolving the model

def _looks_like_path(model: str) -> bool:
    return model.startswith((".", "/", "~")) or os.sep in model.strip("/").split("/", 2)[-1] or Path(model).exists()


def _fingerprint_folder(folder: Path) -> str:
    """A revision for a local folder: sha256 over its files (large files by size, head and tail)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")):
        size = path.stat().st_size
        digest.update(f"{path.relative_to(folder).as_posix()}\0{size}\0".encode())
        with open(path, "rb") as handle:
            if size <= 16 << 20:
                digest.update(handle.read())
            else:  # hashing many gigabytes would take minutes; head + tail + size identify a weight file
                digest.update(handle.read(4 << 20))
                handle.seek(size - (4 << 20))
                digest.update(handle.read())
    return "local-sha256:" + digest.hexdigest()


def _check_folder(folder: Path, model: str, weights: bool = True) -> None:
    if not (folder / "config.json").is_file():
        raise InputError(f"{folder}: no config.json; expected a transformers model folder for --model {model}")
    if weights and not any(next(folder.glob(pattern), None) for pattern in WEIGHT_PATTERNS):
        raise InputError(f"{folder}: no model weights (*.safetensors or pytorch_model*.bin) for --model {model}")
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise InputError(f"{folder}: no tokenizer files ({', '.join(TOKENIZER_FILES)}) for --model {model}")


def resolve_model(model: str, revision: str | None = None, weights: bool = True) -> tuple[Path, str]:
    """Return ``(local folder, resolved revision)`` for a local path or a Hub id.

    ``weights=False``: only the config and tokenizer are needed (a served model's tokenizer side), so
    no weight file is downloaded or required.
    """
    folder = Path(model).expanduser()
    if folder.is_dir():
        if revision:
            raise InputError(f"--revision {revision} applies to Hub ids; {model} is a local folder")
        _check_folder(folder, model, weights)
        # a folder inside the Hub cache (…/snapshots/<commit>) keeps its commit
        resolved = folder.resolve().name if _COMMIT.match(folder.resolve().name) else _fingerprint_folder(folder)
        return folder, resolved
    if _looks_like_path(model) or model.count("/") > 1:
        raise InputError(f"--model {model}: no such folder (and not a Hub id of the form owner/name)")
    from huggingface_hub import snapshot_download

    patterns = HUB_PATTERNS if weights else [p for p in HUB_PATTERNS if p != "*.safetensors"]
    try:
        path = Path(snapshot_download(model, revision=revision, allow_patterns=patterns))
        if weights and not any(next(path.glob(pattern), None) for pattern in WEIGHT_PATTERNS):
            path = Path(snapshot_download(model, revision=revision, allow_patterns=HUB_PATTERNS + ["*.bin"]))
    except Exception as exc:  # network, offline cache miss, gated or unknown repository
        first_line = (str(exc).strip().splitlines() or [""])[0][:200]
        raise InputError(
            f"--model {model} (revision {revision or 'main'}): not in the local Hub cache and not downloadable"
            f" ({type(exc).__name__}: {first_line}); for gated models set HF_TOKEN in the environment"
        ) from None
    _check_folder(path, model, weights)
    return path, path.name


# ---------------------------------------------------------------- model facts

def detect_family(config: dict, tokenizer, model: str) -> str | None:
    """The model family the paper-era post-processing acts on, by the original's rule: the model's NAME
    only (``clue.protocol.layout.model_family``). ``config`` and ``tokenizer`` are not consulted; see
    :func:`family_hint` for what they suggest. ``clue evaluate --model-family`` overrides the result."""
    from clue.protocol.layout import model_family

    return model_family(model)


def family_hint(config: dict, tokenizer) -> str | None:
    """What the tokenizer's vocabulary and ``model_type`` suggest ("llama3", "phi" or None); used only to
    warn when the name rule misses a family."""
    model_type = str(config.get("model_type", "")).lower()
    try:
        vocab = tokenizer.get_vocab()
    except Exception:
        vocab = {}
    if "<|eot_id|>" in vocab:
        return "llama3"
    if model_type.startswith("phi"):
        return "phi"
    return None


def context_length(config: dict, tokenizer) -> int:
    for key in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = config.get(key) or (config.get("text_config") or {}).get(key)
        if isinstance(value, int) and value > 0:
            return value
    limit = getattr(tokenizer, "model_max_length", None)
    return limit if isinstance(limit, int) and 0 < limit < 1_000_000 else 2048


def accepts_system_role(tokenizer) -> bool:
    """Render a [system, user] conversation: the template must not raise and must keep the system text."""
    if tokenizer.chat_template is None:
        return False
    probe = "clue-system-probe-7731"
    try:
        text = tokenizer.apply_chat_template(
            [{"role": "system", "content": probe}, {"role": "user", "content": "hello"}],
            tokenize=False, add_generation_prompt=True,
        )
    except Exception:
        return False
    return probe in text


# ---------------------------------------------------------------- sampling

def row_seed(seed: int | None, prompt: str) -> int:
    """A per-prompt seed: the same (seed, prompt) always samples the same completion."""
    material = f"{seed if seed is not None else 0}\0{prompt}".encode()
    return int.from_bytes(hashlib.sha256(material).digest()[:8], "big") & ((1 << 63) - 1)


def _make_row_sampler(seeds: list[int], temperature: float, top_p: float):
    """A logits processor that samples each row with its own generator and forces that token.

    Run inside greedy generation, it turns ``generate`` into seeded sampling whose result for a
    row depends on that row alone (temperature, then nucleus filtering; no top-k, as in vLLM).
    """
    import torch
    from transformers import LogitsProcessor

    class RowSampler(LogitsProcessor):
        def __init__(self):
            self.generators = None

        def __call__(self, input_ids, scores):
            if self.generators is None:
                self.generators = []
                for seed in seeds:
                    generator = torch.Generator(device=scores.device)
                    generator.manual_seed(seed)
                    self.generators.append(generator)
            probs = sampling_probs(scores, temperature, top_p)
            forced = torch.full_like(scores, float("-inf"))
            for row, generator in enumerate(self.generators):
                token = torch.multinomial(probs[row], 1, generator=generator)
                forced[row, token] = 0.0
            return forced

    return RowSampler()


def sampling_probs(scores, temperature: float, top_p: float):
    """The distribution a seeded draw samples from: temperature, then nucleus (top-p), over the last dimension."""
    import torch

    probs = torch.softmax(scores.float() / max(temperature, 1e-5), dim=-1)
    if top_p < 1.0:
        sorted_probs, order = probs.sort(dim=-1, descending=True)
        drop = sorted_probs.cumsum(dim=-1) - sorted_probs > top_p
        sorted_probs[drop] = 0.0
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
    return probs


def cut_at_stop(text: str, stops: tuple[str, ...]) -> str:
    cut = len(text)
    for stop in stops:
        if stop:
            found = text.find(stop)
            if found != -1:
                cut = min(cut, found)
    return text[:cut]


# ---------------------------------------------------------------- the backend

# ``from_pretrained`` arguments that place the weights without changing what they compute: left out
# of the store key, so a run resumed with another device map or memory limit reuses its completions
PLACEMENT_ARGS = frozenset({"device_map", "max_memory", "offload_folder", "offload_state_dict",
                            "offload_buffers", "low_cpu_mem_usage"})
# ``--model-arg batching=…``: read by the kit (never passed to ``from_pretrained``), not in the store key
BATCHING = ("auto", "padded", "continuous")
PREFILL_TOKENS = 4096


class HFBackend:
    """Generation with ``transformers``; see the module docstring."""

    backend_name = "hf"
    needs_weights = True            # False for the tokenizer side of a served model (clue.backends.openai)

    @classmethod
    def from_options(cls, model: str, options) -> HFBackend:
        """Made by ``clue.backends.make_backend`` from a :class:`clue.backends.base.BackendOptions`."""
        return cls(model, revision=options.revision, dtype=options.dtype, device=options.device,
                   batch_size=options.batch_size, model_args=options.model_args)

    def __init__(self, model: str, *, revision: str | None = None, dtype: str = "auto",
                 device: str = "auto", batch_size: int = 8, model_args: tuple = ()):
        from transformers import AutoTokenizer

        if dtype not in DTYPES:
            raise InputError(f"--dtype {dtype}: expected one of {', '.join(DTYPES)}")
        if device not in DEVICES:
            raise InputError(f"--device {device}: expected one of {', '.join(DEVICES)}")
        self.model_args = dict(model_args)
        for key in ("dtype", "torch_dtype", "revision"):
            if key in self.model_args:
                raise InputError(f"--model-arg {key}: use --{key.replace('torch_', '')} instead")
        self.batching = str(self.model_args.pop("batching", "auto"))
        if self.batching not in BATCHING:
            raise InputError(f"--model-arg batching={self.batching}: expected one of {', '.join(BATCHING)}")
        self.model_id = model
        self.path, self.revision = resolve_model(model, revision, weights=self.needs_weights)
        self.requested_revision = revision
        self.batch_size = max(1, int(batch_size))
        self.config = json.loads((self.path / "config.json").read_text(encoding="utf-8"))
        self.device = self._pick_device(device)
        self.dtype = self._pick_dtype(dtype)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.path)
        except Exception as exc:
            raise InputError(f"{self.path}: the tokenizer could not be loaded ({type(exc).__name__})") from None
        if not getattr(self.tokenizer, "is_fast", False):
            raise InputError(f"{self.path}: a fast (tokenizers) tokenizer is needed; tokenizer.json is missing")
        self.tokenizer.padding_side = "left"
        if self.needs_weights and self.batching == "continuous":
            self.batching_mode()            # a forced mode the model cannot run stops here, before loading
        self._model = None
        self.load_seconds = 0.0
        # continuous batching: prompts entering together are prefilled in one forward, up to this many tokens
        self.prefill_tokens = PREFILL_TOKENS

    # -- identity and model facts ------------------------------------------------

    @staticmethod
    def _pick_device(device: str) -> str:
        import torch

        if device == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        if device == "cuda" and not torch.cuda.is_available():
            raise InputError("--device cuda: no CUDA device is visible (use --device cpu or auto)")
        return device

    def _pick_dtype(self, dtype: str) -> str:
        if dtype != "auto":
            return dtype
        if self.device == "cpu":
            return "float32"
        import torch

        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"

    def identity(self) -> dict:
        identity = {"model": self.model_id, "revision": self.revision, "backend": self.backend_name, "dtype": self.dtype}
        changing = self.output_model_args()
        if changing:   # only when given, so runs without model arguments keep their store keys
            identity["model_args"] = changing
        return identity

    def output_model_args(self) -> dict:
        """The ``--model-arg`` values that can change completions (everything but weight placement)."""
        return {k: v for k, v in sorted(self.model_args.items()) if k not in PLACEMENT_ARGS}

    def settings(self) -> dict:
        """What the manifest records beyond the identity."""
        settings = {"path": str(self.path), "requested_revision": self.requested_revision, "device": self.device,
                    "batch_size": self.batch_size, "family": self.model_info().family,
                    "context_length": self.model_info().context_length,
                    **({"model_args": dict(sorted(self.model_args.items()))} if self.model_args else {})}
        if self.needs_weights:
            settings["batching"] = {"requested": self.batching, "used": self.batching_mode()}
        return settings

    # -- how prompts are batched -----------------------------------------------------

    @functools.cached_property
    def _continuous_unsupported(self) -> str | None:
        """Why continuous batching cannot run this model here (None: it can)."""
        from transformers import GenerationConfig

        from clue.backends.continuous import unsupported_reason

        if "device_map" in self.model_args:
            return "the weights are placed by --model-arg device_map"
        if self.model_args.get("attn_implementation", "sdpa") != "sdpa":
            return f"--model-arg attn_implementation={self.model_args['attn_implementation']} (it computes with SDPA)"
        try:
            generation_config = GenerationConfig.from_pretrained(self.path)
        except Exception:   # no generation_config.json: the defaults add no logits processor
            generation_config = None
        return unsupported_reason(self.config, generation_config)

    def batching_mode(self) -> str:
        """``padded`` or ``continuous``: what ``--model-arg batching`` resolves to (rule: module docstring)."""
        reason = self._continuous_unsupported
        if self.batching == "continuous":
            if reason:
                raise InputError(f"--model-arg batching=continuous: {self.model_id} cannot use it ({reason}); "
                                 "use batching=padded or auto")
            return "continuous"
        if self.batching == "padded" or reason or self.device != "cpu":
            return "padded"
        return "continuous"

    @functools.cached_property
    def _info(self) -> ModelInfo:
        return ModelInfo(
            name=self.model_id,
            has_chat_template=self.tokenizer.chat_template is not None,
            accepts_system_role=accepts_system_role(self.tokenizer),
            context_length=context_length(self.config, self.tokenizer),
            family=detect_family(self.config, self.tokenizer, self.model_id),
            count_tokens=self.count_tokens,
            truncate_tokens=self.truncate_tokens,
        )

    def model_info(self) -> ModelInfo:
        return self._info

    def family_hint(self) -> str | None:
        return family_hint(self.config, self.tokenizer)

    # LongHealth's budget filling measures and cuts texts the way the original code does:
    # ``len(tokenizer.encode(text))`` (special tokens such as BOS included) and
    # ``tokenizer.decode(tokenizer.encode(text)[:n])`` (so a cut text keeps the BOS text and n-1 tokens).

    @functools.lru_cache(maxsize=65536)
    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text)["input_ids"])

    @functools.lru_cache(maxsize=65536)
    def truncate_tokens(self, text: str, n: int) -> str:
        """``decode(encode(text)[:n])``, as the original LongHealth code cuts the last document."""
        if n <= 0:
            return ""
        ids = self.tokenizer(text)["input_ids"]
        return text if len(ids) <= n else self.tokenizer.decode(ids[:n])

    # -- prompts -----------------------------------------------------------------

    def render(self, request: Request) -> str:
        if request.messages is not None:
            if self.tokenizer.chat_template is None:
                raise InputError(
                    f"{self.model_id}: task {request.task} item {request.item_id} is a chat conversation but the "
                    "tokenizer has no chat template (use --chat-layout base)"
                )
            try:
                prompt = self.tokenizer.apply_chat_template(
                    [dict(m) for m in request.messages], tokenize=False, add_generation_prompt=True)
            except Exception as exc:
                first_line = (str(exc).strip().splitlines() or [""])[0]
                raise InputError(
                    f"{self.model_id}: the chat template rejected task {request.task} item {request.item_id}"
                    f" ({first_line}); try --chat-layout chat-no-system or base"
                ) from None
        else:
            prompt = request.text or ""
        return prompt + request.prefill

    def _prompt_ids(self, request: Request, prompt: str) -> list[int]:
        # by default a chat template writes its own BOS text and a plain prompt gets the tokenizer's
        # special tokens; the paper protocol adds them to every prompt, as its text-generation server did
        special = request.decoding.special_tokens
        return self.tokenizer(prompt, add_special_tokens=request.messages is None if special is None else special)["input_ids"]

    def prompt_overflow(self, request: Request, prompt: str) -> tuple[int, int]:
        """(prompt tokens, the most the model takes for this request): what ``--overlong`` checks before
        generating; a prompt over the limit is cut from the left by generation."""
        return len(self._prompt_ids(request, prompt)), self.prompt_limit(request.decoding)

    def prompt_limit(self, decoding: Decoding) -> int:
        budget = self.model_info().context_length - decoding.max_new_tokens
        if decoding.truncate_left and decoding.max_prompt_tokens is not None:
            budget = min(budget, decoding.max_prompt_tokens)
        return max(1, budget)

    # -- generation ----------------------------------------------------------------

    def _load(self):
        if self._model is None:
            import torch
            from transformers import AutoModelForCausalLM
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()   # the run has its own progress bars
            started = time.perf_counter()
            try:
                model = AutoModelForCausalLM.from_pretrained(self.path, dtype=getattr(torch, self.dtype),
                                                             **self.model_args)
            except Exception as exc:
                first_line = (str(exc).strip().splitlines() or [""])[0][:200]
                raise InputError(f"{self.path}: the model could not be loaded ({type(exc).__name__}: {first_line})"
                                 + (f" with --model-arg {', '.join(self.model_args)}" if self.model_args else "")) from None
            # a device map (e.g. device_map=auto over several GPUs) has placed the weights already
            self._model = (model if "device_map" in self.model_args else model.to(self.device)).eval()
            self.load_seconds = time.perf_counter() - started
        return self._model

    def generate(self, requests: list[Request], prompts: list[str]) -> list[str]:
        return [g.completion for g in self.generate_detailed(requests, prompts)]

    def generate_detailed(self, requests: list[Request], prompts: list[str]) -> list[Generation]:
        """Complete every prompt (in the order given)."""
        results: list[Generation | None] = [None] * len(prompts)
        for index, generation in self.generate_stream(requests, prompts):
            results[index] = generation
        return results  # type: ignore[return-value]

    def generate_stream(self, requests: list[Request], prompts: list[str]):
        """Yield ``(index, Generation)`` as completions are done, longest prompts first."""
        encoded = [self._prompt_ids(r, p) for r, p in zip(requests, prompts)]
        if self.batching_mode() == "continuous":
            yield from self._generate_continuous(requests, prompts, encoded)
            return
        groups: dict[Decoding, list[int]] = {}
        for index, request in enumerate(requests):
            groups.setdefault(request.decoding, []).append(index)
        for decoding, indices in groups.items():
            indices.sort(key=lambda i: (-len(encoded[i]), i))
            for start in range(0, len(indices), self.batch_size):
                chunk = indices[start:start + self.batch_size]
                yield from zip(chunk, self._generate_split(
                    [encoded[i] for i in chunk], [prompts[i] for i in chunk], decoding))

    def _generate_continuous(self, requests: list[Request], prompts: list[str], encoded: list[list[int]]):
        from clue.backends.continuous import ContinuousBatcher, Job

        model = self._load()
        if model.config._attn_implementation != "sdpa":
            raise InputError(f"{self.model_id}: loaded with {model.config._attn_implementation} attention; continuous "
                             "batching computes with SDPA (use --model-arg batching=padded)")
        import torch
        from transformers import StopStringCriteria

        jobs = []
        for index in sorted(range(len(requests)), key=lambda i: (-len(encoded[i]), i)):
            decoding = requests[index].decoding
            sample = None if decoding.greedy else (row_seed(decoding.seed, prompts[index]), decoding.temperature,
                                                   decoding.top_p)
            jobs.append(Job(index, self._cut(encoded[index], decoding)[0], decoding.max_new_tokens, decoding.stop,
                            sample))

        criteria: dict[tuple[str, ...], object] = {}

        def stopped(job: Job, tokens: list[int]) -> bool:
            """``generate``'s own stop-string test (on token strings, prompt included), for equal completions."""
            if job.stop not in criteria:
                criteria[job.stop] = StopStringCriteria(tokenizer=self.tokenizer, stop_strings=list(job.stop))
            check = criteria[job.stop]
            n = check.maximum_token_len
            tail = (job.ids[-n:] + tokens)[-n:]            # the last n of prompt + completion, without copying all
            return bool(check(torch.tensor([tail], device=model.device), None)[0])

        batcher = ContinuousBatcher(model, self.batch_size, self._end_ids(model), stopped, self.prefill_tokens)
        for job, tokens, seconds in batcher.run(jobs):
            n_cut = len(encoded[job.index]) - len(job.ids)
            yield job.index, self._finish(tokens, len(job.ids), n_cut, requests[job.index].decoding, seconds,
                                          batcher.end_ids)

    def _cut(self, ids: list[int], decoding: Decoding) -> tuple[list[int], int]:
        """A prompt cut from the left to the model's limit, and how many tokens were cut."""
        limit = self.prompt_limit(decoding)       # at least 1
        return ids[-limit:], max(0, len(ids) - limit)

    def _end_ids(self, model) -> set[int]:
        """Tokens that end a completion: the end-of-sequence token(s) and the padding token."""
        eos = model.generation_config.eos_token_id
        return set(eos if isinstance(eos, list) else [eos] if eos is not None else []) | {self._pad_id()}

    def _pad_id(self) -> int:
        pad = self.tokenizer.pad_token_id
        if pad is None:
            pad = self.tokenizer.eos_token_id if self.tokenizer.eos_token_id is not None else 0
        return pad

    def _finish(self, row: list[int], prompt_tokens: int, n_cut: int, decoding: Decoding, seconds: float,
                end_ids: set[int]) -> Generation:
        """A completion from generated tokens: up to the first end token, decoded, cut at a stop string."""
        length = next((i for i, token in enumerate(row) if token in end_ids), len(row))
        text = self.tokenizer.decode(row[:length], skip_special_tokens=True)
        return Generation(completion=cut_at_stop(text, decoding.stop), prompt_tokens=prompt_tokens,
                          truncated_tokens=n_cut, new_tokens=length, seconds=seconds)

    def _generate_split(self, batch_ids: list[list[int]], prompts: list[str], decoding: Decoding) -> list[Generation]:
        """Generate a batch; on running out of GPU memory, generate its two halves instead."""
        import torch

        try:
            return self._generate_batch(batch_ids, prompts, decoding)
        except torch.cuda.OutOfMemoryError:
            if len(batch_ids) == 1:
                raise InputError(f"{self.model_id}: out of GPU memory for a single prompt of {len(batch_ids[0])} "
                                 "tokens; try --dtype bfloat16 or a GPU with more memory") from None
            torch.cuda.empty_cache()
            half = len(batch_ids) // 2
            return (self._generate_split(batch_ids[:half], prompts[:half], decoding)
                    + self._generate_split(batch_ids[half:], prompts[half:], decoding))

    def _generate_batch(self, batch_ids: list[list[int]], prompts: list[str], decoding: Decoding) -> list[Generation]:
        import torch

        model = self._load()
        cut = [self._cut(ids, decoding) for ids in batch_ids]
        batch_ids, truncated = [ids for ids, _ in cut], [n for _, n in cut]
        width = max(len(ids) for ids in batch_ids)
        pad = self._pad_id()
        input_ids = torch.tensor([[pad] * (width - len(ids)) + ids for ids in batch_ids], device=model.device)
        attention = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in batch_ids], device=model.device)

        kwargs = dict(max_new_tokens=decoding.max_new_tokens, do_sample=False, num_beams=1,
                      temperature=None, top_p=None, top_k=None, pad_token_id=pad)
        if decoding.stop:
            kwargs.update(stop_strings=list(decoding.stop), tokenizer=self.tokenizer)
        if not decoding.greedy:
            seeds = [row_seed(decoding.seed, prompt) for prompt in prompts]
            kwargs["logits_processor"] = [_make_row_sampler(seeds, decoding.temperature, decoding.top_p)]
        started = time.perf_counter()
        with torch.inference_mode():
            output = model.generate(input_ids=input_ids, attention_mask=attention, **kwargs)
        seconds = (time.perf_counter() - started) / len(batch_ids)

        end_ids = self._end_ids(model)
        return [self._finish(row, len(ids), n_cut, decoding, seconds, end_ids)
                for row, ids, n_cut in zip(output[:, width:].tolist(), batch_ids, truncated)]
