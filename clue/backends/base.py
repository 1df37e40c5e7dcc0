"""What every backend takes and returns.

A task turns records into :class:`Request` objects; a backend turns requests into
completions (plain strings, in request order). Nothing else crosses that boundary, so the
generation store can key a completion by the request alone.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Protocol


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


class Backend(Protocol):
    """A model that completes requests. ``identity`` goes into the store key and the manifest."""

    def identity(self) -> dict: ...

    def render(self, request: Request) -> str:
        """The exact prompt string the model will see (chat template applied, prefill appended)."""
        ...

    def generate(self, requests: list[Request], prompts: list[str]) -> list[str]:
        """Complete ``prompts`` (as returned by ``render``), one completion per request."""
        ...
