"""MedNLI (level 1): does the hypothesis follow from, contradict, or stay neutral to the premise?

Records ``sentence1`` (premise), ``sentence2`` (hypothesis), ``gold_label``; 3 few-shot pairs from the
test file, not scored. Correct iff the gold label occurs exactly once in the output (case-insensitive).
"""

from __future__ import annotations

from pathlib import Path

from clue.backends.base import Request
from clue.tasks import common
from clue.tasks.base import EvalContext, TaskResult
from clue.taskinfo import task_info

TASK = task_info("mednli")


def load_records(data_dir: str | Path) -> list[dict]:
    return common.load_records(TASK.id, data_dir)


def build_requests(records: list[dict], ctx: EvalContext) -> list[Request]:
    return common.few_shot_requests(TASK.id, records, ctx, reference_key="gold_label")


def postprocess(completion: str, request: Request, ctx: EvalContext) -> str:
    return common.clean_output(completion, request, ctx)


def score(requests: list[Request], outputs: list[str], ctx: EvalContext, resources=None) -> TaskResult:
    from clue.metrics.accuracy import mednli_correct

    return common.score_each(TASK, requests, outputs, ctx, resources,
                             lambda output, reference: {"accuracy": float(mednli_correct(output, reference))})
