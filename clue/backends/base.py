"""What every backend takes and returns.

A task turns records into :class:`Request` objects; a backend turns requests into
completions (plain strings, in request order). Nothing else crosses that boundary, so the
generation store can key a completion by the request alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Protocol

from clue.errors import InputError


@dataclass(frozen=True)
class Decoding:
    max_new_tokens: int
    greedy: bool = True
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()        # stop strings; generation ends at the first one
    truncate_left: bool = True        # cut over-long prompts from the left
    max_prompt_tokens: int | None = None  # left-truncation limit; None = context - max_new_tokens
    # tokenize the rendered prompt with the tokenizer's special tokens (BOS)? None: only plain-text
    # prompts (a chat template writes its own). The paper-era server added them to every prompt.
    special_tokens: bool | None = None

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Request:
    """One generation: a chat conversation (or plain text) plus decoding parameters."""

    task: str                           # task id (clue.taskinfo)
    item_id: str                        # record id; LongHealth adds the prompt index
    messages: tuple[dict, ...] | None   # [{"role": ..., "content": ...}], rendered with the chat template
    text: str | None = None             # a plain-text prompt (base models); exactly one of messages/text
    prefill: str = ""                   # appended after the rendered prompt (paper protocol)
    decoding: Decoding = field(default_factory=lambda: Decoding(max_new_tokens=20))
    meta: dict = field(default_factory=dict, compare=False, hash=False)  # task data the scorer or baseline needs


@dataclass(frozen=True)
class ModelInfo:
    """What a task needs to know about the model (filled by the backend)."""

    name: str                         # model id as the user gave it
    has_chat_template: bool
    accepts_system_role: bool
    context_length: int               # max_position_embeddings (or the backend's limit)
    family: str | None = None         # "llama3", "phi", ... (paper post-processing and stop strings)
    count_tokens: Callable[[str], int] | None = field(default=None, compare=False)
    truncate_tokens: Callable[[str, int], str] | None = field(default=None, compare=False)  # keep the first n tokens

    @property
    def detected_layout(self) -> str:
        if not self.has_chat_template:
            return "base"
        return "chat-system" if self.accepts_system_role else "chat-no-system"


@dataclass(frozen=True)
class Generation:
    """One completion and what the backend reports about it."""

    completion: str
    prompt_tokens: int | None = None
    truncated_tokens: int = 0         # tokens cut from the left of an over-long prompt
    new_tokens: int | None = None
    seconds: float | None = None      # this completion's share of its batch's wall time


class Backend(Protocol):
    """Everything the runner calls on a backend (``clue.backends.BACKENDS`` lists the implementations).

    ``identity`` goes into the store key and the manifest: it names what changes outputs (model,
    resolved revision, backend, dtype, output-changing model arguments) and nothing else.
    """

    def identity(self) -> dict: ...

    def model_info(self):
        """The :class:`clue.tasks.base.ModelInfo` the tasks build their requests for."""
        ...

    def render(self, request: Request) -> str:
        """The exact prompt string the model will see (chat template applied, prefill appended)."""
        ...

    def generate(self, requests: list[Request], prompts: list[str]) -> list[str]:
        """Complete ``prompts`` (as returned by ``render``), one completion per request."""
        ...

    # Optional: ``settings() -> dict`` (recorded in the manifest), ``generate_detailed(requests,
    # prompts) -> list[Generation]``, ``generate_stream(requests, prompts)`` yielding ``(index,
    # Generation)`` as each completes (the runner stores each at once), ``close()`` (called when the
    # run ends, also on error and Ctrl-C).


# ---------------------------------------------------------------- options every backend is made from

@dataclass(frozen=True)
class BackendOptions:
    """What ``clue evaluate`` passes to a backend; each backend reads the fields it uses.

    ``model_args`` are ``--model-arg KEY=VALUE`` pairs (values JSON-decoded where they parse):
    ``from_pretrained`` arguments for ``hf``, ``vllm serve`` flags for ``vllm``.
    """

    revision: str | None = None
    dtype: str = "auto"
    device: str = "auto"
    batch_size: int = 8
    model_args: tuple[tuple[str, object], ...] = ()
    # served models (openai, vllm)
    base_url: str | None = None
    api: str = "completions"            # completions | chat
    concurrency: int = 8
    api_key_env: str | None = None      # the NAME of the environment variable holding the key
    request_timeout: float = 600.0
    max_retries: int = 6
    retry_base: float = 0.5             # first backoff wait (seconds), doubled per retry
    served_model: str | None = None     # the id the server reports; None = ask the server
    engine_command: str | None = None   # vllm: the executable (else $CLUE_VLLM, else `vllm`)
    engine_timeout: float = 1800.0
    log_dir: str | None = None          # where a managed engine keeps its log
    for_scoring: bool = False           # re-scoring: tokenizer only, never contact a server or start an engine


def parse_model_args(pairs) -> tuple[tuple[str, object], ...]:
    """``["device_map=auto", "max_memory={\\"0\\": \\"70GiB\\"}"]`` -> ``(("device_map", "auto"), ...)``.

    A value that parses as JSON (numbers, true/false, objects) is taken as such, anything else as text.
    """
    import json

    parsed: dict[str, object] = {}
    for pair in pairs or ():
        key, sep, raw = str(pair).partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key or not key.replace("_", "").isalnum():
            raise InputError(f"--model-arg {pair!r}: expected KEY=VALUE, e.g. device_map=auto or tensor_parallel_size=4")
        if key in parsed:
            raise InputError(f"--model-arg {key}: given twice")
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        parsed[key] = value
    return tuple(sorted(parsed.items()))
