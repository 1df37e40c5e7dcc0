"""Task modules (``clue/tasks/<task_id>.py``, or a plugin's, named by its ``TaskSpec.module``); the contract
is in ``clue.tasks.base``, the registry in ``clue.taskinfo``."""

from __future__ import annotations

from types import ModuleType

from clue.taskinfo import task_info


def get_task(task_id: str) -> ModuleType:
    """The module of a task, by id or paper name (``problem_summary`` or ``ProblemSummary``)."""
    return task_info(task_id).task_module()
