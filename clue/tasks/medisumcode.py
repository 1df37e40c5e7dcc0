"""MeDiSumCode (level 2): list the ICD-10 codes of a discharge summary's diagnoses.

Records ``text`` (the summary) and ``icd_codes`` (``[{"code", "description"}]``); the gold answer
and the few-shot answer are the codes joined with ``", "`` (template field ``{codes}``). 1 few-shot
item (paper: the first row; upstream: seed-1 shuffle), not scored. Scored per document with exact
and 3-character (approximate) code P/R/F1 and the share of valid codes.
"""

from __future__ import annotations

from pathlib import Path

from clue.backends.base import Request
from clue.tasks import common
from clue.tasks.base import EvalContext, TaskResult
from clue.taskinfo import task_info

TASK = task_info("medisumcode")


def load_records(data_dir: str | Path) -> list[dict]:
    return common.load_records(TASK.id, data_dir)


def joined_codes(icd_codes: list[dict]) -> str:
    return ", ".join(entry["code"] for entry in icd_codes)


def build_requests(records: list[dict], ctx: EvalContext) -> list[Request]:
    rows = [dict(record, codes=joined_codes(record["icd_codes"])) for record in records]
    return common.few_shot_requests(TASK.id, rows, ctx, reference_key="codes")


def postprocess(completion: str, request: Request, ctx: EvalContext) -> str:
    return common.clean_output(completion, request, ctx)


def score(requests: list[Request], outputs: list[str], ctx: EvalContext, resources=None) -> TaskResult:
    from clue.metrics.icd import code_scores

    return common.score_each(TASK, requests, outputs, ctx, resources, code_scores)
