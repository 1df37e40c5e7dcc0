"""The six CLUE tasks: identifiers, display names, levels and the metrics the paper reports.

This is the single place that lists them; every other module (data recipes, task modules,
reports) refers to tasks by the ``id`` below.
"""

from __future__ import annotations

from dataclasses import dataclass

from clue.errors import InputError


@dataclass(frozen=True)
class TaskInfo:
    id: str            # used in paths and on the command line: data/<id>/test.jsonl
    name: str          # as in the paper and in results/paper/clue_v2_results.csv
    level: int         # 1 or 2
    metrics: tuple[str, ...]  # reported metrics; the task score is their unweighted mean
    licence: str = "physionet"  # "physionet": credentialed data (PhysioNet data use agreement); "public"


TASKS: tuple[TaskInfo, ...] = (
    TaskInfo("mednli", "MedNLI", 1, ("accuracy",)),
    TaskInfo("meqsum", "MeQSum", 1, ("rougeL", "rouge1", "rouge2", "bertscore_f1"), licence="public"),
    TaskInfo("problem_summary", "ProblemSummary", 1, ("rougeL", "rouge1", "rouge2", "bertscore_f1", "umls_f1")),
    TaskInfo("medisumqa", "MeDiSumQA", 2, ("rougeL", "rouge1", "rouge2", "bertscore_f1", "umls_f1")),
    TaskInfo("medisumcode", "MeDiSumCode", 2, ("em_f1", "ap_f1", "valid_codes")),
    TaskInfo("longhealth", "LongHealth", 2, ("task1", "task2", "task3"), licence="public"),
)

TASK_IDS: tuple[str, ...] = tuple(t.id for t in TASKS)
_BY_KEY = {t.id: t for t in TASKS} | {t.name.lower(): t for t in TASKS}


def task_info(key: str) -> TaskInfo:
    """Look a task up by id (``problem_summary``) or paper name (``ProblemSummary``), any case."""
    found = _BY_KEY.get(key.strip().lower().replace("-", "_"))
    if found is None:
        raise InputError(f"unknown task {key!r}: expected one of {', '.join(TASK_IDS)}")
    return found


def parse_tasks(value: str | None) -> list[TaskInfo]:
    """Parse a comma-separated ``--tasks`` value; None or 'all' means all six, in paper order."""
    if value is None or value.strip().lower() in ("", "all"):
        return list(TASKS)
    return [task_info(part) for part in value.split(",") if part.strip()]
