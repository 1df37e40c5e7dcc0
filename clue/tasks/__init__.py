"""The six CLUE task modules (``clue/tasks/<task_id>.py``); the contract is in ``clue.tasks.base``."""

from __future__ import annotations

import importlib
from types import ModuleType

from clue.taskinfo import task_info


def get_task(task_id: str) -> ModuleType:
    """The module of a task, by id or paper name (``problem_summary`` or ``ProblemSummary``)."""
    return importlib.import_module(f"clue.tasks.{task_info(task_id).id}")
