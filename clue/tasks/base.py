"""The shape every task module (``clue/tasks/<task_id>.py``) has.

A task module defines, top to bottom:

    TASK = task_info("<task_id>")
    def load_records(data_dir: Path) -> list[dict]
        read data/<task_id>/test.jsonl; NotReadyError naming `clue data build --task <id>` if absent
    def build_requests(records: list[dict], ctx: EvalContext) -> list[Request]
        few-shot selection, message layout, prefill, decoding; few-shot items are not scored;
        ``Request.meta["record"]`` carries the record fields a scorer or the baseline needs
    def postprocess(completion: str, request: Request, ctx: EvalContext) -> str
        the protocol's output clean-up (strip, stop strings, regex removal)
    def score(requests: list[Request], outputs: list[str], ctx: EvalContext,
              resources: "clue.metrics.resources.MetricResources") -> TaskResult

``clue.tasks.get_task(task_id)`` returns the module. The runner (``clue.runner``) owns
generation, the store and the files; task modules own everything task-specific.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from clue.backends.base import ModelInfo  # noqa: F401  (re-exported: tasks build requests for it)

CHAT_LAYOUTS = ("chat-system", "chat-no-system", "base")


@dataclass(frozen=True)
class EvalContext:
    protocol: Any                     # clue.protocol.Protocol (prompts + settings)
    model: ModelInfo
    layout: str                       # one of CHAT_LAYOUTS (detected, or --chat-layout)
    seed: int = 0
    greedy: bool | None = None        # None: the protocol's default decoding
    limit: int | None = None          # score only the first N items (after few-shot removal)


@dataclass
class TaskResult:
    per_item: list[dict]              # one dict per scored request: {"id", "reference", "scores": {...}, ...}
    metrics: dict[str, float]         # percent; the protocol's aggregate (first-item-twice where it applies)
    metrics_plain: dict[str, float]   # percent; plain mean
    averaging: str                    # "first-item-twice" or "plain"
    missing_metrics: list[str] = field(default_factory=list)
    details: dict = field(default_factory=dict)
