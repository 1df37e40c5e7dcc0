"""MeQSum (level 1): summarise a consumer health question into one short question.

Records ``CHQ`` (the consumer's question) and ``Summary`` (the reference question); 3 few-shot items
from the test file, not scored. Scored with ROUGE-L/1/2 and BERTScore F1.
"""

from __future__ import annotations

from pathlib import Path

from clue.backends.base import Request
from clue.tasks import common
from clue.tasks.base import EvalContext, TaskResult
from clue.taskinfo import task_info

TASK = task_info("meqsum")


def load_records(data_dir: str | Path) -> list[dict]:
    return common.load_records(TASK.id, data_dir)


def build_requests(records: list[dict], ctx: EvalContext) -> list[Request]:
    return common.few_shot_requests(TASK.id, records, ctx, reference_key="Summary")


def postprocess(completion: str, request: Request, ctx: EvalContext) -> str:
    return common.clean_output(completion, request, ctx)


def score(requests: list[Request], outputs: list[str], ctx: EvalContext, resources=None) -> TaskResult:
    return common.score_text_task(TASK, requests, outputs, ctx, resources, umls=False)
