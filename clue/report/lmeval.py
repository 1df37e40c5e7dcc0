"""`clue tables --format lm-eval`: a run's scores in lm-evaluation-harness's results layout.

One JSON object per model of a run, with the keys lm-eval's ``results_*.json`` files have and tools
built on them read: ``results`` (per task ``"<metric>,none"`` values as fractions in [0, 1], as
lm-eval reports accuracy, plus ``alias``; the kit's task score as ``score,none``), ``groups`` (the two
CLUE levels), ``configs`` (per task: decoding, few-shot count, dataset fingerprint, metric list with
its aggregation), ``versions``, ``n-shot``, ``higher_is_better``, ``n-samples`` (``original`` = rows
of the test set, ``effective`` = items scored) and ``config`` (model, its arguments, batch size,
device, limit, seed). Values come from the run's rows (``clue.report.runs``); a missing metric is
left out of ``results`` and listed under ``clue.missing_metrics``. No standard-error estimate is
made: ``<metric>_stderr,none`` is ``"N/A"``, as lm-eval writes for metrics without one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from clue.errors import InputError
from clue.io import atomic_write
from clue.records import manifest_document, read_scores
from clue.report.runs import LEVEL_NAMES, ModelScores
from clue.taskinfo import TASKS

FILTER = "none"


def _entry(row: ModelScores) -> dict:
    if row.run_dir is None or not (row.run_dir / "manifest.json").is_file():
        return {}
    return ((manifest_document(row.run_dir / "manifest.json").get("models") or {}).get(row.model_dir) or {})


def _scores_doc(row: ModelScores, task_id: str) -> dict:
    path = row.run_dir / row.model_dir / task_id / "scores.json" if row.run_dir else None
    return read_scores(path).to_dict() if path is not None and path.is_file() else {}


def lm_eval_results(row: ModelScores) -> dict[str, Any]:
    """The lm-eval results object for one run row."""
    from clue.protocol.settings import SETTINGS

    if row.run_dir is None:
        raise InputError(f"{row.label}: the lm-eval layout is written for run models, not published rows")
    entry = _entry(row)
    options, identity = entry.get("options") or {}, entry.get("identity") or {}
    settings = SETTINGS.get(options.get("protocol") or "")
    derived = row.derived()
    results, configs, versions, n_shot, higher, n_samples, missing = {}, {}, {}, {}, {}, {}, {}
    for task in TASKS:
        if task.id not in row.metrics:
            continue
        doc = _scores_doc(row, task.id)
        values: dict[str, Any] = {"alias": task.name}
        for metric in task.metrics:
            value = row.value(task, metric)
            if value is None:
                missing.setdefault(task.id, []).append(metric)
                continue
            values[f"{metric},{FILTER}"] = value / 100.0
            values[f"{metric}_stderr,{FILTER}"] = "N/A"
        if derived[task.id] is not None:
            values[f"score,{FILTER}"] = derived[task.id] / 100.0
            values[f"score_stderr,{FILTER}"] = "N/A"
        results[task.id] = values
        higher[task.id] = {m: True for m in (*task.metrics, "score")}
        dataset = (entry.get("datasets") or {}).get(task.id) or {}
        run_task = (entry.get("tasks") or {}).get(task.id) or {}
        decoding = (run_task.get("decoding") or [{}])[0]
        task_settings = settings.tasks.get(task.id) if settings is not None else None
        shots = task_settings.few_shot_k if task_settings is not None else None
        n_shot[task.id] = shots
        versions[task.id] = dataset.get("recipe_version")
        configs[task.id] = {
            "task": task.id, "tag": [f"clue_level{task.level}"], "dataset_path": dataset.get("path"),
            "dataset_sha256": dataset.get("sha256"), "test_split": "test", "output_type": "generate_until",
            "num_fewshot": shots,
            "metric_list": [{"metric": m, "aggregation": doc.get("averaging", "mean"), "higher_is_better": True}
                            for m in task.metrics],
            "generation_kwargs": {"until": decoding.get("stop", []), "max_gen_toks": decoding.get("max_new_tokens"),
                                  "do_sample": not decoding.get("greedy", True), "temperature": decoding.get("temperature"),
                                  "top_p": decoding.get("top_p")},
            "metadata": {"version": dataset.get("recipe_version"), "protocol": options.get("protocol"),
                         "layout": doc.get("layout")},
        }
        n_samples[task.id] = {"original": dataset.get("rows"), "effective": row.n_items.get(task.id, doc.get("n_items"))}
    groups = {}
    for key in ("level1", "level2"):
        group = {"alias": f"CLUE {LEVEL_NAMES[key]}"}
        if derived[key] is not None:
            group.update({f"score,{FILTER}": derived[key] / 100.0, f"score_stderr,{FILTER}": "N/A"})
        groups[f"clue_{key}"] = group
    model = identity.get("model") or options.get("model") or row.model
    model_args = ",".join(f"{k}={v}" for k, v in (("pretrained", model), ("revision", identity.get("revision")),
                                                   ("dtype", identity.get("dtype"))) if v is not None)
    kit = manifest_document(row.run_dir / "manifest.json").get("kit") or {}
    return {
        "results": results, "groups": groups, "configs": configs, "versions": versions, "n-shot": n_shot,
        "higher_is_better": higher, "n-samples": n_samples,
        "config": {"model": identity.get("backend") or options.get("backend"), "model_args": model_args,
                   "batch_size": options.get("batch_size"), "device": options.get("device"),
                   "limit": options.get("limit"), "random_seed": entry.get("seed"), "bootstrap_iters": 0,
                   "gen_kwargs": None},
        "git_hash": kit.get("git_commit"), "date": entry.get("finished_at"),
        "model_name": model, "model_name_sanitized": row.model_dir,
        "clue": {"run": row.source, "values": row.aggregate, "protocol": options.get("protocol"),
                 "missing_metrics": missing, "overall": derived["overall"]},
    }


def render_lm_eval(rows: list[ModelScores]) -> str:
    """One results object for one row; ``{row label: object}`` for several."""
    if not rows:
        raise InputError("no model rows to write")
    if len(rows) == 1:
        return json.dumps(lm_eval_results(rows[0]), indent=2, ensure_ascii=False) + "\n"
    return json.dumps({row.label: lm_eval_results(row) for row in rows}, indent=2, ensure_ascii=False) + "\n"


def write_lm_eval(rows: list[ModelScores], out: Path) -> list[Path]:
    """One row: the file ``out``; several rows: ``out/results_<run>__<model_dir>.json`` each."""
    out = Path(out)
    if len(rows) == 1 and not out.is_dir():
        targets = [(rows[0], out)]
    else:
        if out.exists() and not out.is_dir():
            raise InputError(f"--out {out}: with several models and --format lm-eval this must be a folder")
        targets = [(row, out / f"results_{row.source}__{row.model_dir}.json") for row in rows]
    written = []
    for row, path in targets:
        with atomic_write(path) as handle:
            handle.write(json.dumps(lm_eval_results(row), indent=2, ensure_ascii=False) + "\n")
        written.append(path)
    return written
