"""The heavy metric machinery of one run: BERTScore models and the UMLS linker, loaded once.

The runner builds one :class:`MetricResources` from ``--metrics`` and the assets folder and hands
it to every task's ``score``. Which BERTScore model and layer a task uses is the protocol's
business (``clue.protocol.settings``); this class only loads what it is asked for, once, from
local files, and says clearly when something is missing:

    resources = MetricResources.from_options(metrics="all,-umls", assets_dir=assets_dir())
                                                       # checks the assets: NotReadyError naming `clue assets fetch`
    scorer = resources.bertscorer("allenai/scibert_scivocab_uncased", 8)   # None if left out with --metrics
    linker = resources.umls()                                              # None here (left out)
    missing = resources.missing_keys(TASK.metrics)     # ["umls_f1"]: shown as missing, never 0

Tests and the offline demo point the metrics at tiny stand-ins:
``MetricResources(bertscore_paths={"allenai/scibert_scivocab_uncased": tiny_dir}, umls_linker=linker)``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from clue.errors import InputError

# metric groups --metrics can name, and the reported metric keys each one produces
METRIC_GROUPS: dict[str, tuple[str, ...]] = {
    "accuracy": ("accuracy",),
    "rouge": ("rouge1", "rouge2", "rougeL"),
    "bertscore": ("bertscore_f1",),
    "umls": ("umls_f1",),
    "icd": ("em_f1", "ap_f1", "valid_codes"),
    "longhealth": ("task1", "task2", "task3"),
}
ALL_METRICS = frozenset(METRIC_GROUPS)
_ALIASES = {"bertscore_f1": "bertscore", "umls_f1": "umls", "umls-f1": "umls", "bert-score": "bertscore",
            "bert_score": "bertscore", "rougel": "rouge", "mednli": "accuracy", "codes": "icd"}


def parse_metrics(value: str | Iterable[str] | None) -> frozenset[str]:
    """``--metrics``: ``all`` (default), a comma list of groups, or ``all,-umls`` to leave groups out."""
    if value is None:
        return ALL_METRICS
    parts = value.split(",") if isinstance(value, str) else list(value)
    chosen: set[str] = set()
    removed: set[str] = set()
    for raw in parts:
        part = raw.strip().lower()
        if not part:
            continue
        target = removed if part.startswith("-") else chosen
        name = part.lstrip("-")
        if name == "all":
            target.update(ALL_METRICS)
            continue
        name = _ALIASES.get(name, name)
        if name not in METRIC_GROUPS:
            raise InputError(f"--metrics: unknown metric {raw.strip()!r}: expected all or any of "
                             f"{', '.join(METRIC_GROUPS)} (prefix with - to leave one out)")
        target.add(name)
    if not chosen:
        chosen = set(ALL_METRICS)
    return frozenset(chosen - removed)


class MetricResources:
    def __init__(self, enabled: Iterable[str] | None = None, assets_dir: str | os.PathLike | None = None, *,
                 bertscore_paths: Mapping[str, str | os.PathLike] | None = None, umls_linker=None,
                 lock=None, batch_size: int = 64, device: str | None = None):
        self._enabled = parse_metrics(None if enabled is None else list(enabled))
        self.assets_dir = Path(assets_dir) if assets_dir is not None else None
        self.bertscore_paths = {name: Path(path) for name, path in (bertscore_paths or {}).items()}
        self._umls = umls_linker
        self._lock = lock
        self.batch_size = batch_size
        self.device = device
        self._scorers: dict[tuple[str, int], object] = {}
        self.progress = False       # the scorers show progress bars with ETA on stderr (set by the run)

    @classmethod
    def from_options(cls, metrics: str | Iterable[str] | None = None, assets_dir: str | os.PathLike | None = None,
                     protocol=None, check: bool = True, **overrides) -> MetricResources:
        """From ``--metrics`` and ``--assets-dir``; checks (fast, no hashing) that the enabled metrics'
        assets are there, so a run fails before generating rather than after.

        ``protocol`` is accepted for the runner's convenience and not used: which model a task
        scores with is the protocol's business; every BERTScore model in the lock is required.
        """
        resources = cls(parse_metrics(metrics), assets_dir, **overrides)
        if check:
            resources.check()
        return resources

    # ------------------------------------------------------------------ what runs
    def enabled(self, name: str) -> bool:
        return _ALIASES.get(name, name) in self._enabled

    @property
    def skipped(self) -> list[str]:
        """Metric groups left out with --metrics."""
        return sorted(ALL_METRICS - self._enabled)

    def missing_keys(self, keys: Iterable[str]) -> list[str]:
        """The reported metric keys (of ``keys``) whose group was left out: shown as missing."""
        off = {key for group in self.skipped for key in METRIC_GROUPS[group]}
        return [key for key in keys if key in off]

    def check(self, groups: Iterable[str] = ("bertscore", "umls")) -> None:
        """Before any generation: NotReadyError if an enabled metric's assets are not there."""
        from clue import assets

        for group in groups:
            if not self.enabled(group):
                continue
            if group == "bertscore" and self.bertscore_paths:
                continue   # explicit model folders: checked when loaded
            if group == "umls" and self._umls is not None:
                continue
            assets.require(group, self.assets_dir, self._lock)

    # ------------------------------------------------------------------ loaded once
    def model_path(self, model_name: str) -> Path:
        if model_name in self.bertscore_paths:
            path = self.bertscore_paths[model_name]
            if not (path / "config.json").is_file():
                raise InputError(f"{path}: BERTScore model folder for {model_name} has no config.json")
            return path
        from clue import assets

        return assets.bertscore_model_dir(model_name, self.assets_dir, self._lock)

    def bertscorer(self, model_name: str, num_layers: int):
        """The run's one :class:`~clue.metrics.bertscore.BertScorer` for (model, layer); None if left out."""
        if not self.enabled("bertscore"):
            return None
        key = (model_name, num_layers)
        if key not in self._scorers:
            from clue.metrics.bertscore import BertScorer

            self._scorers[key] = BertScorer(self.model_path(model_name), num_layers,
                                            batch_size=self.batch_size, device=self.device)
        self._scorers[key].progress = self.progress
        return self._scorers[key]

    bertscore = bertscorer

    def umls(self):
        """The run's one :class:`~clue.metrics.umls.UmlsLinker` (its entity-set cache lives as long); None if left out."""
        if not self.enabled("umls"):
            return None
        if self._umls is None:
            from clue.metrics.umls import UmlsLinker

            self._umls = UmlsLinker.from_assets(self.assets_dir, self._lock)
        if hasattr(self._umls, "progress"):
            self._umls.progress = self.progress
        return self._umls

    def describe(self) -> dict:
        """For the run manifest: what was enabled and which scorers were loaded."""
        return {"enabled": sorted(self._enabled), "skipped": self.skipped,
                "bertscore": [scorer.identity() for scorer in self._scorers.values()],
                "umls": "loaded" if self._umls is not None else None}


# Stand-in resources a run can record by name (EvalOptions field -> "module:function"), rebuilt when the
# run is re-scored; the function takes (folder, enabled groups). Looked up lazily: the core imports no demo.
STAND_INS: dict[str, str] = {"demo_metrics": "clue.demo.run:demo_metric_resources"}


def stand_in_resources(option: str, folder: str | os.PathLike, enabled: frozenset[str]) -> MetricResources:
    """The stand-in resources recorded as ``option`` (e.g. ``demo_metrics``), built in ``folder``."""
    import importlib

    target = STAND_INS.get(option)
    if target is None:
        raise InputError(f"{option}: no stand-in metric resources of that name (known: {', '.join(STAND_INS)})")
    module, function = target.split(":")
    return getattr(importlib.import_module(module), function)(Path(folder), enabled)
