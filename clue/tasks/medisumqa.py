"""MeDiSumQA (level 2): answer a patient's question about their discharge summary.

Records ``discharge_summary`` (the note without its discharge-instructions paragraph), ``Question``
and ``Answer``. The paper-era template names the note ``{without_discharge_summary}``, the upstream
one ``{discharge_summary}``: both are provided. 1 few-shot item (seed-1 shuffle), not scored.
Scored with ROUGE-L/1/2, BERTScore F1, UMLS F1; no self-prompting regex in either protocol.
"""

from __future__ import annotations

from pathlib import Path

from clue.backends.base import Request
from clue.tasks import common
from clue.tasks.base import EvalContext, TaskResult
from clue.taskinfo import task_info

TASK = task_info("medisumqa")


def load_records(data_dir: str | Path) -> list[dict]:
    return common.load_records(TASK.id, data_dir)


def build_requests(records: list[dict], ctx: EvalContext) -> list[Request]:
    rows = [dict(record, without_discharge_summary=record["discharge_summary"]) for record in records]
    return common.few_shot_requests(TASK.id, rows, ctx, reference_key="Answer")


def postprocess(completion: str, request: Request, ctx: EvalContext) -> str:
    return common.clean_output(completion, request, ctx)


def score(requests: list[Request], outputs: list[str], ctx: EvalContext, resources=None) -> TaskResult:
    return common.score_text_task(TASK, requests, outputs, ctx, resources, umls=True)
