"""One recipe per task (``TaskSpec.recipe``). Each module defines ``TASK``, ``VERSION``, ``SOURCES`` (registry names
it cannot do without, maybe ``OPTIONAL_SOURCES``) and ``build(inputs, progress) -> list[dict]``,
plus a plain function over file paths that tests and benchmarks call directly."""

from __future__ import annotations

from types import ModuleType

from clue.taskinfo import task_info


def recipe(task_id: str) -> ModuleType:
    """The recipe module of a task (by id or paper name)."""
    return task_info(task_id).recipe_module()
