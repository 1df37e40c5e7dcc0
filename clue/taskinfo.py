"""The task registry: one typed :class:`TaskSpec` per task, the six CLUE tasks declared as data.

This is the single place that lists tasks; every other module (CLI choices, data recipes, task
modules, the baseline, protocol fetch, reports) iterates :func:`all_tasks` (or the live views
``TASKS`` and ``TASK_IDS``) and refers to tasks by ``id``. A lab adds its own task without editing
the kit: a module that calls :func:`register_task`, named in the environment variable
``CLUE_TASK_PLUGINS`` (comma-separated module names) or in a package's ``clue.tasks`` entry point.
Plugins are imported the first time the registry is read (docs/INTERNALS.md, "Extending the kit").
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from clue.errors import InputError

PLUGINS_ENV = "CLUE_TASK_PLUGINS"
ENTRY_POINT_GROUP = "clue.tasks"

# Module-level prompt constants a task's upstream file must define (clue.protocol.fetch reads them).
CHAT_PROMPT_FIELDS = ("sys_prompt", "user_prompt_template", "assistant_response_template")


@dataclass(frozen=True)
class BaselineRule:
    """What ``--model baseline`` answers: a constant, a copied record field, or the longest option."""
    description: str          # shown in the store's prompt text: changing it invalidates stored answers
    kind: str                 # "constant" | "copy" | "longest_option"
    value: str = ""           # the constant, or the record field copied

    KINDS = ("constant", "copy", "longest_option")


@dataclass(frozen=True)
class TaskSpec:
    id: str            # used in paths and on the command line: data/<id>/test.jsonl
    name: str          # as in the paper and in results/paper/clue_v2_results.csv
    level: int         # 1 or 2
    metrics: tuple[str, ...]  # reported metrics; the task score is their unweighted mean
    licence: str = "physionet"  # "physionet": credentialed data (PhysioNet data use agreement); "public"
    module: str = ""            # task module: load_records, build_requests, postprocess, score (clue.tasks.base)
    recipe: str = ""            # data recipe module: SOURCES, VERSION, build (clue.data.recipes)
    record_fields: tuple[str, ...] = ()   # record fields the prompts and scorers read as text
    prompt_fields: tuple[str, ...] = CHAT_PROMPT_FIELDS   # prompt constants the upstream file defines
    upstream_file: str = ""     # the prompt file, relative to the upstream checkout (eval/eval_<task>.py)
    baseline: BaselineRule | None = field(default=None, compare=False)
    synthetic: str = ""         # "module:function" writing synthetic raw files: f(raw_dir, seed) -> {source: path}
    metric_per_subtask: bool = False   # each metric is the mean over the items whose ``subtask`` names it
    # A plugin task brings its own prompt file, pins, protocol settings and raw sources (built-ins
    # keep theirs in clue/protocol/pins.json, clue/protocol/settings.py and data_recipes/sources.json):
    prompt_dir: str | None = None                                  # folder holding ``upstream_file``
    pins: dict = field(default_factory=dict, compare=False)        # protocol -> sha256 of the prompt file
    settings: Any = field(default=None, compare=False)             # a TaskSettings for every protocol
    sources: dict = field(default_factory=dict, compare=False)     # name -> sources.json-style entry

    def task_module(self):
        return importlib.import_module(self.module)

    def recipe_module(self):
        return importlib.import_module(self.recipe)

    def synthetic_writer(self) -> Callable:
        """The function named by ``synthetic`` (looked up now, so the module may move)."""
        module, _, name = self.synthetic.partition(":")
        if not module or not name:
            raise InputError(f"task {self.id}: field 'synthetic' is {self.synthetic!r}, expected 'module:function'")
        return getattr(importlib.import_module(module), name)


TaskInfo = TaskSpec   # the name earlier callers import


def _builtin(id: str, name: str, level: int, metrics: tuple[str, ...], upstream: str, fields: tuple[str, ...],
             baseline: BaselineRule, **more) -> TaskSpec:
    return TaskSpec(id, name, level, metrics, module=f"clue.tasks.{id}", recipe=f"clue.data.recipes.{id}",
                    record_fields=fields, upstream_file=upstream, baseline=baseline,
                    synthetic=f"clue.demo.synthetic:raw_{id}", **more)


ROUGE = ("rougeL", "rouge1", "rouge2")

BUILTIN: tuple[TaskSpec, ...] = (
    _builtin("mednli", "MedNLI", 1, ("accuracy",), "eval/eval_mednli.py",
             ("sentence1", "sentence2", "gold_label"), BaselineRule("always 'neutral'", "constant", "neutral")),
    _builtin("meqsum", "MeQSum", 1, ROUGE + ("bertscore_f1",), "eval/eval_meqsum.py", ("CHQ", "Summary"),
             BaselineRule("copy the consumer health question (CHQ)", "copy", "CHQ"), licence="public"),
    _builtin("problem_summary", "ProblemSummary", 1, ROUGE + ("bertscore_f1", "umls_f1"),
             "eval/eval_ProblemSummary.py", ("Subjectives", "Assessment", "Summary"),
             BaselineRule("copy the Assessment", "copy", "Assessment")),
    _builtin("medisumqa", "MeDiSumQA", 2, ROUGE + ("bertscore_f1", "umls_f1"), "eval/eval_MeDiSumQA.py",
             ("discharge_summary", "Question", "Answer"), BaselineRule("copy the question", "copy", "Question")),
    _builtin("medisumcode", "MeDiSumCode", 2, ("em_f1", "ap_f1", "valid_codes"), "eval/eval_MeDiSumCode.py",
             ("text",), BaselineRule("the single code I10", "constant", "I10")),
    _builtin("longhealth", "LongHealth", 2, ("task1", "task2", "task3"), "eval/eval_LongHealth.py",
             ("question", "answer_a", "answer_b", "answer_c", "answer_d", "answer_e", "correct"),
             BaselineRule("the longest option (first on ties)", "longest_option"), licence="public",
             prompt_fields=("sys_prompt", "prompt_template"), metric_per_subtask=True),
)

_REGISTRY: dict[str, TaskSpec] = {t.id: t for t in BUILTIN}
_loaded_plugins: set[str] = set()
_entry_points_read = False


def register_task(spec: TaskSpec) -> TaskSpec:
    """Add a task after the built-in ones (registering the same spec again is a no-op)."""
    if not isinstance(spec, TaskSpec):
        raise InputError(f"register_task: expected a TaskSpec, found {type(spec).__name__}")
    if spec.id in _REGISTRY and _REGISTRY[spec.id] is not spec:
        raise InputError(f"register_task: task {spec.id!r} is already registered")
    if spec.level not in (1, 2):
        raise InputError(f"register_task: task {spec.id!r}: level {spec.level!r}, expected 1 or 2")
    if not spec.module or not spec.recipe or not spec.upstream_file:
        raise InputError(f"register_task: task {spec.id!r}: fields 'module', 'recipe' and 'upstream_file' are required")
    if spec.baseline is not None and spec.baseline.kind not in BaselineRule.KINDS:
        raise InputError(f"register_task: task {spec.id!r}: baseline kind {spec.baseline.kind!r}, "
                         f"expected one of {', '.join(BaselineRule.KINDS)}")
    from clue.protocol.settings import TaskSettings

    if not isinstance(spec.settings, TaskSettings):
        raise InputError(f"register_task: task {spec.id!r}: field 'settings' is {spec.settings!r}, "
                         "expected a TaskSettings (few-shot, decoding and averaging for every protocol)")
    _REGISTRY[spec.id] = spec
    return spec


def unregister_task(task_id: str) -> None:
    """Remove a plugin task (tests; a built-in task cannot be removed)."""
    if any(t.id == task_id for t in BUILTIN):
        raise InputError(f"unregister_task: {task_id!r} is a built-in CLUE task")
    _REGISTRY.pop(task_id, None)


def load_plugins() -> None:
    """Import the modules named in ``CLUE_TASK_PLUGINS`` and the ``clue.tasks`` entry points (once each)."""
    global _entry_points_read
    names = [n.strip() for n in os.environ.get(PLUGINS_ENV, "").split(",") if n.strip()]
    for name in names:
        if name not in _loaded_plugins:
            _loaded_plugins.add(name)
            try:
                importlib.import_module(name)
            except ImportError as exc:
                _loaded_plugins.discard(name)
                raise InputError(f"{PLUGINS_ENV}: cannot import task plugin {name!r} ({exc})") from None
    if not _entry_points_read:
        _entry_points_read = True
        from importlib.metadata import entry_points

        for point in entry_points(group=ENTRY_POINT_GROUP):
            point.load()


def all_tasks() -> tuple[TaskSpec, ...]:
    """Every registered task: the six CLUE tasks in paper order, then plugin tasks."""
    load_plugins()
    return tuple(_REGISTRY.values())


class _LiveView(Sequence):
    """A read-only sequence that reads the registry on every use, so late registrations show."""

    def __init__(self, pick: Callable[[TaskSpec], Any]):
        self._pick = pick

    def _items(self) -> tuple:
        return tuple(self._pick(t) for t in all_tasks())

    def __getitem__(self, index):
        return self._items()[index]

    def __len__(self) -> int:
        return len(self._items())

    def __iter__(self):
        return iter(self._items())

    def __eq__(self, other) -> bool:
        return self._items() == (tuple(other) if isinstance(other, (tuple, list, _LiveView)) else other)

    __hash__ = None

    def __repr__(self) -> str:
        return repr(self._items())


TASKS: Sequence[TaskSpec] = _LiveView(lambda t: t)
TASK_IDS: Sequence[str] = _LiveView(lambda t: t.id)


def task_info(key: str) -> TaskSpec:
    """Look a task up by id (``problem_summary``) or paper name (``ProblemSummary``), any case."""
    wanted = key.strip().lower().replace("-", "_")
    for task in all_tasks():
        if wanted in (task.id, task.name.lower()):
            return task
    raise InputError(f"unknown task {key!r}: expected one of {', '.join(TASK_IDS)}")


def parse_tasks(value: str | None) -> list[TaskSpec]:
    """Parse a comma-separated ``--tasks`` value; None or 'all' means every registered task, in order."""
    if value is None or value.strip().lower() in ("", "all"):
        return list(all_tasks())
    return [task_info(part) for part in value.split(",") if part.strip()]


def level_tasks(level: int) -> list[TaskSpec]:
    """The registered tasks of a level, in order."""
    return [t for t in all_tasks() if t.level == level]
