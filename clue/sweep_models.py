"""Model lists for ``clue sweep``: the paper's 25 models as data, a user's list, and what each needs.

``data_recipes/paper_models.json`` holds, per published model, its paper name (as in
``results/paper/``), hub id, revision (``pinned: false`` where no public source states a commit: the
branch is evaluated and the runner records the commit it resolved to), chat layout under the
``paper`` protocol, context length, parameter count, the bf16 memory estimate and GPU count (by the
rule stored beside them, :class:`GpuRule`), its biomedical/base pair and the tasks the paper reports.

A user's list is the same JSON (only ``model`` or ``hub_id`` is required per entry) or a text file
with one model per line (a local folder, a hub id or ``baseline``; ``#`` starts a comment). Entries
without a parameter count need no GPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from clue.errors import InputError
from clue.io import read_json, read_text
from clue.paths import recipes_dir
from clue.taskinfo import TASK_IDS

PAPER = "paper"
LAYOUTS = ("auto", "chat-system", "chat-no-system", "base")
ENGINES = ("hf", "vllm", "openai")          # how `clue sweep` runs each model


def paper_models_path() -> Path:
    return recipes_dir() / "paper_models.json"


@dataclass(frozen=True)
class GpuRule:
    """bf16 memory = parameters x bytes_per_parameter x (1 + margin); GPUs = the smallest power of two whose
    usable memory (gpu_memory_gib x usable_fraction) holds it (tensor-parallel sizes are powers of two)."""

    gpu_memory_gib: float = 80.0
    usable_fraction: float = 0.9
    bytes_per_parameter: float = 2.0
    margin_fraction: float = 0.2

    def memory_gib(self, parameters_b: float) -> float:
        return parameters_b * 1e9 * self.bytes_per_parameter * (1 + self.margin_fraction) / 2**30

    def gpus(self, parameters_b: float, gpu_memory_gib: float | None = None) -> int:
        usable = (gpu_memory_gib or self.gpu_memory_gib) * self.usable_fraction
        needed = max(1, math.ceil(self.memory_gib(parameters_b) / usable))
        return 1 << (needed - 1).bit_length()


@dataclass(frozen=True)
class CostRule:
    """GPU-hours from a model's size: prefill FLOPs (2 x active parameters x prompt tokens) at ``mfu`` of the
    GPU's peak, decoding as memory-bound steps (all weights read once per step for ``decode_batch`` sequences),
    plus ``setup_hours`` per GPU for loading. Token counts per task are assumptions, stated in the JSON."""

    peak_tflops: float = 312.0
    mfu: float = 0.3
    memory_tb_s: float = 2.0
    decode_batch: int = 32
    setup_hours: float = 0.1
    tasks: dict = field(default_factory=dict)     # task -> {"prompts", "prompt_tokens", "new_tokens"}

    def gpu_hours(self, model: SweepModel) -> float | None:
        if model.parameters_b is None or not model.gpus:
            return None
        active = (model.active_parameters_b or model.parameters_b) * 1e9
        tasks = model.tasks or TASK_IDS
        prompt_tokens = sum(self.tasks[t]["prompts"] * self.tasks[t]["prompt_tokens"] for t in tasks if t in self.tasks)
        new_tokens = sum(self.tasks[t]["prompts"] * self.tasks[t]["new_tokens"] for t in tasks if t in self.tasks)
        prefill_s = 2 * active * prompt_tokens / (self.peak_tflops * 1e12 * self.mfu)
        step_s = model.parameters_b * 1e9 * 2 / (self.memory_tb_s * 1e12 * model.gpus)
        decode_s = new_tokens / self.decode_batch * step_s * model.gpus
        return prefill_s / 3600 + decode_s / 3600 + self.setup_hours * model.gpus


@dataclass(frozen=True)
class SweepModel:
    name: str                          # paper name, or the model as given
    model: str                         # hub id, local folder or "baseline"
    revision: str | None = None        # None: local folder / baseline
    pinned: bool = False
    type: str | None = None            # bio / general
    base: str | None = None            # name of the general model a biomedical one was adapted from
    chat_layout: str = "auto"
    context_length: int | None = None
    parameters_b: float | None = None
    active_parameters_b: float | None = None
    memory_gib: float | None = None
    gpus: int = 0                      # 0: runs anywhere (CPU is enough)
    tasks: tuple[str, ...] | None = None
    note: str | None = None

    @property
    def key(self) -> str:
        """The model's folder in the run (``clue.runner.model_dir_name``)."""
        from clue.runner import model_dir_name

        return model_dir_name(self.model)


@dataclass
class ModelList:
    models: list[SweepModel]
    gpu_rule: GpuRule
    cost_rule: CostRule
    path: Path | None = None

    @property
    def aliases(self) -> dict[str, str]:
        """model id -> name, for the tables (``--alias``) where they differ."""
        return {m.model: m.name for m in self.models if m.name != m.model}

    @property
    def pairs(self) -> list[tuple[str, str]]:
        """(biomedical, base) by name, where both are in the list."""
        names = {m.name for m in self.models}
        return [(m.name, m.base) for m in self.models if m.base and m.base in names]


def load_models(spec: str | Path) -> ModelList:
    """``paper`` (the shipped list), a JSON list, or a text file of models (see the module docstring)."""
    path = paper_models_path() if str(spec) == PAPER else Path(spec)
    if not path.exists():
        raise InputError(f"--models {spec}: no such file (expected 'paper', a JSON model list or a text file "
                         "with one model per line)")
    if path.suffix.lower() == ".json":
        return _from_json(path)
    return _from_text(path)


def _from_text(path: Path) -> ModelList:
    models = []
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        model = line.split("#", 1)[0].strip()
        if not model:
            continue
        if any(ch.isspace() for ch in model):
            raise InputError(f"{path}: line {number}: expected one model per line (a folder, hub id or baseline), "
                             f"found {model!r}")
        models.append(SweepModel(name=model, model=model))
    _check_unique(path, models)
    return ModelList(models, GpuRule(), CostRule(), path)


def _from_json(path: Path) -> ModelList:
    document = read_json(path)
    entries = document.get("models") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not entries:
        raise InputError(f"{path}: expected an object with a non-empty 'models' list")
    rule = _rule(path, document.get("gpu_rule") or {}, GpuRule, "gpu_rule")
    cost = _rule(path, document.get("gpu_hours_rule") or {}, CostRule, "gpu_hours_rule")
    models = [_entry(path, index, entry, rule) for index, entry in enumerate(entries)]
    _check_unique(path, models)
    return ModelList(models, rule, cost, path)


def _rule(path: Path, values: dict, cls, where: str):
    if not isinstance(values, dict):
        raise InputError(f"{path}: field {where}: expected an object")
    known = set(cls.__dataclass_fields__)
    fields = {k: v for k, v in values.items() if k in known}
    for key, value in fields.items():
        expected = dict if key == "tasks" else (int, float)
        if not isinstance(value, expected) or isinstance(value, bool):
            raise InputError(f"{path}: field {where}.{key}: expected a {'object' if key == 'tasks' else 'number'}, "
                             f"found {value!r}")
    return cls(**fields)


def _entry(path: Path, index: int, entry, rule: GpuRule) -> SweepModel:
    where = f"{path}: models[{index}]"
    if not isinstance(entry, dict):
        raise InputError(f"{where}: expected an object with at least 'model' or 'hub_id'")
    model = entry.get("model") or entry.get("hub_id")
    if not isinstance(model, str) or not model.strip():
        raise InputError(f"{where}: field 'hub_id' (or 'model'): expected a hub id, a folder or 'baseline'")
    where = f"{where} ({entry.get('name') or model})"
    name = entry.get("name", model)
    _typed(where, "name", name, str)
    layout = entry.get("chat_layout", "auto")
    if layout not in LAYOUTS:
        raise InputError(f"{where}: field 'chat_layout': expected one of {', '.join(LAYOUTS)}, found {layout!r}")
    parameters = _number(where, "parameters_b", entry.get("parameters_b"))
    tasks = entry.get("tasks")
    if tasks is not None:
        if not isinstance(tasks, list) or not tasks or any(t not in TASK_IDS for t in tasks):
            raise InputError(f"{where}: field 'tasks': expected a non-empty list of {', '.join(TASK_IDS)}, found {tasks!r}")
        tasks = tuple(tasks)
    gpus = entry.get("gpus_bf16")
    if gpus is None:
        gpus = rule.gpus(parameters) if parameters else 0
    elif not isinstance(gpus, int) or isinstance(gpus, bool) or gpus < 0:
        raise InputError(f"{where}: field 'gpus_bf16': expected a whole number >= 0, found {gpus!r}")
    revision = entry.get("revision")
    _typed(where, "revision", revision, str, optional=True)
    if revision is None and "/" in model and not Path(model).expanduser().exists() and model != "baseline":
        revision = "main"
    return SweepModel(
        name=name, model=model, revision=revision, pinned=bool(entry.get("pinned", False)), type=entry.get("type"),
        base=entry.get("base"), chat_layout=layout, context_length=entry.get("context_length"),
        parameters_b=parameters, active_parameters_b=_number(where, "active_parameters_b", entry.get("active_parameters_b")),
        memory_gib=_number(where, "memory_gib_bf16", entry.get("memory_gib_bf16")) or
        (round(rule.memory_gib(parameters), 1) if parameters else None),
        gpus=gpus, tasks=tasks, note=entry.get("note"))


def _typed(where: str, key: str, value, kind, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, kind) or not value:
        raise InputError(f"{where}: field {key!r}: expected a non-empty {kind.__name__}, found {value!r}")


def _number(where: str, key: str, value) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise InputError(f"{where}: field {key!r}: expected a positive number, found {value!r}")
    return float(value)


def _check_unique(path: Path, models: list[SweepModel]) -> None:
    seen: dict[str, str] = {}
    for m in models:
        for label in {m.name, m.key}:
            if label in seen and seen[label] != m.model:
                raise InputError(f"{path}: two entries are both called {label!r} ({seen[label]} and {m.model})")
            if label in seen:
                raise InputError(f"{path}: model {m.model} is listed twice")
            seen[label] = m.model


def select(models: list[SweepModel], only: str | None) -> list[SweepModel]:
    """``--only NAMES``: comma-separated names, hub ids or model folders, in the list's order."""
    if not only:
        return list(models)
    wanted = [w.strip() for w in only.split(",") if w.strip()]
    known = {label: m for m in models for label in (m.name, m.model, m.key)}
    unknown = [w for w in wanted if w not in known]
    if unknown:
        raise InputError(f"--only {', '.join(unknown)}: not in the model list (names: "
                         f"{', '.join(m.name for m in models[:6])}{', …' if len(models) > 6 else ''})")
    chosen = {id(known[w]) for w in wanted}
    return [m for m in models if id(m) in chosen]
