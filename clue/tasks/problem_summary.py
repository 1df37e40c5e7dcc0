"""Problem Summary (level 1): list a hospital stay's diagnoses and problems from a progress note.

Records ``Subjectives``, ``Objectives``, ``Assessment`` and ``Summary``. The gold list is ``Summary``
with every ``;`` replaced by ``", "`` (the original's attempt to drop a trailing ``;`` first has no
effect, so a trailing ``;`` becomes a trailing ``", "``); few-shot answers get the same rule.
3 few-shot items from the test file, not scored. Scored with ROUGE-L/1/2, BERTScore F1, UMLS F1.
"""

from __future__ import annotations

from pathlib import Path

from clue.backends.base import Request
from clue.tasks import common
from clue.tasks.base import EvalContext, TaskResult
from clue.taskinfo import task_info

TASK = task_info("problem_summary")


def load_records(data_dir: str | Path) -> list[dict]:
    return common.load_records(TASK.id, data_dir)


def gold_summary(summary: str) -> str:
    return summary.replace(";", ", ")


def build_requests(records: list[dict], ctx: EvalContext) -> list[Request]:
    rows = [dict(record, Summary=gold_summary(record["Summary"])) for record in records]
    return common.few_shot_requests(TASK.id, rows, ctx, reference_key="Summary")


def postprocess(completion: str, request: Request, ctx: EvalContext) -> str:
    return common.clean_output(completion, request, ctx)


def score(requests: list[Request], outputs: list[str], ctx: EvalContext, resources=None) -> TaskResult:
    return common.score_text_task(TASK, requests, outputs, ctx, resources, umls=True)
