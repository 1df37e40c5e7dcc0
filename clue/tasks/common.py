"""What the CLUE task modules share: reading test sets, few-shot prompts, decoding, output clean-up,
text-metric scoring and averaging. Each rule is the protocol's (``ctx.protocol.settings``).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from pathlib import Path

from clue.backends.base import Decoding, Request
from clue.errors import InputError, NotReadyError
from clue.io import read_jsonl_numbered
from clue.protocol.layout import build_prompt, empty_answer, fill, has_family, require_layout
from clue.protocol.settings import LLAMA3_STOP, PHI_END, SELF_PROMPT_RE
from clue.taskinfo import task_info
from clue.tasks.base import EvalContext, TaskResult

FEW_SHOT_SEED = 1   # the original: random.seed(1); random.shuffle(rows)


def load_records(task_id: str, data_dir: str | Path) -> list[dict]:
    path = Path(data_dir) / task_id / "test.jsonl"
    if not path.exists():
        raise NotReadyError(f"{path}: test set not built; run `clue data build --task {task_id}`")
    records, fields = [], task_info(task_id).record_fields   # docs/INTERNALS.md, "Test-set records"
    for line, record in read_jsonl_numbered(path):
        for name in fields:
            if not isinstance(record.get(name), str):
                found = "missing" if name not in record else f"{str(record[name])[:40]!r} ({type(record[name]).__name__})"
                raise InputError(f"{path}: line {line}: field {name!r} is {found}, expected text "
                                 f"(rebuild it with `clue data build --task {task_id}`)")
        records.append(record)
    return records


def select_few_shot(rows: Sequence[dict], k: int, shuffle: bool) -> tuple[list[dict], list[dict]]:
    """(few-shot rows, rows to score): the first ``k`` rows, after a seed-1 shuffle if ``shuffle``."""
    rows = list(rows)
    if shuffle:
        random.Random(FEW_SHOT_SEED).shuffle(rows)
    return rows[:k], rows[k:]


def task_layout(ctx: EvalContext) -> str:
    """Paper: the model's layout (detected or --chat-layout). Upstream: always [system, …] chat."""
    if ctx.protocol.settings.paper_layouts:
        require_layout(ctx.model, ctx.layout)
        return ctx.layout
    if not (ctx.model.has_chat_template and ctx.model.accepts_system_role):
        raise InputError(f"model {ctx.model.name}: protocol {ctx.protocol.name} always sends a system turn, which "
                         "this model's chat template cannot render; use --protocol paper (layout per model)")
    return "chat-system"


def decoding(task_id: str, ctx: EvalContext, *, stop_and_truncate: bool = True) -> Decoding:
    """Decoding parameters of ``task_id`` under the protocol (``--greedy`` / ``--seed`` from ``ctx``)."""
    settings = ctx.protocol.settings
    task = settings.task(task_id)
    greedy = settings.greedy if ctx.greedy is None else ctx.greedy
    seed = None if greedy else ctx.seed
    special_tokens = True if settings.prompt_special_tokens else None
    if not stop_and_truncate:
        return Decoding(max_new_tokens=task.max_new_tokens, greedy=greedy, seed=seed, truncate_left=False,
                        special_tokens=special_tokens)
    stop: tuple[str, ...] = ()
    max_prompt = None
    if settings.paper_postprocess:      # the paper-era server call: stop strings and a truncate limit
        if has_family(ctx.model, "llama3"):
            stop = LLAMA3_STOP
        reserve = task.prompt_reserve if task.prompt_reserve is not None else task.max_new_tokens
        max_prompt = ctx.model.context_length - reserve
        if task.prompt_cap is not None:
            max_prompt = min(max_prompt, task.prompt_cap)
    return Decoding(max_new_tokens=task.max_new_tokens, greedy=greedy, seed=seed, stop=stop,
                    truncate_left=True, max_prompt_tokens=max_prompt, special_tokens=special_tokens)


def few_shot_requests(task_id: str, rows: Sequence[dict], ctx: EvalContext, reference_key: str) -> list[Request]:
    """One request per scored row: system prompt, k few-shot turns, the row's query, prefill, decoding.

    ``rows`` are the records with every field the templates use; ``reference_key`` names the gold field.
    """
    protocol = ctx.protocol
    task = protocol.settings.task(task_id)
    prompts = protocol.task_prompts(task_id)
    where = f"protocol {protocol.name} ({protocol.path or 'in memory'}), task {task_id}"
    user_template, answer_template = prompts["user_prompt_template"], prompts["assistant_response_template"]

    shots, scored = select_few_shot(rows, task.few_shot_k, task.few_shot_shuffle)
    shot_turns = [(fill(user_template, shot, where), fill(answer_template, shot, where)) for shot in shots]
    layout = task_layout(ctx)
    prefill = empty_answer(answer_template) if protocol.settings.prefill else ""
    params = decoding(task_id, ctx)
    if ctx.limit is not None:
        scored = scored[: ctx.limit]

    requests = []
    for row in scored:
        prompt = build_prompt(prompts["sys_prompt"], shot_turns, fill(user_template, row, where), layout)
        messages = prompt.get("messages")
        requests.append(Request(
            task=task_id, item_id=str(row["id"]),
            messages=tuple(messages) if messages is not None else None, text=prompt.get("text"),
            prefill=prefill, decoding=params,
            meta={"record": row, "reference": row[reference_key], "layout": layout},
        ))
    return requests


def clean_output(completion: str, request: Request, ctx: EvalContext) -> str:
    """The paper-era clean-up, where the task's settings say so: strip (MeDiSumQA only), cut at the stop
    strings, cut at " <|end|>" for a Phi model, drop self-prompting. ``upstream`` keeps the completion
    as generated.
    """
    if not ctx.protocol.settings.paper_postprocess:
        return completion
    task = ctx.protocol.settings.task(request.task)
    out = completion.strip() if task.strip_output else completion
    for stop in request.decoding.stop:
        out = out.split(stop)[0]
    # the original tests the model name for "phi" on its own, whatever else the name matches ("llama3+phi")
    if has_family(ctx.model, "phi") and PHI_END in out:
        out = out.split(PHI_END)[0]
    if task.regex_cleanup:
        out = SELF_PROMPT_RE.sub("", out)
    return out


# ------------------------------------------------------------------------- scoring

def metric_resources(resources):
    """``resources`` as given, or (None) one with the cheap metrics only: no BERTScore, no UMLS."""
    if resources is not None:
        return resources
    from clue.metrics.resources import MetricResources

    return MetricResources(enabled=["accuracy", "rouge", "icd", "longhealth"])


def text_scores(task_id: str, predictions: list[str], references: list[str], ctx: EvalContext,
                resources, umls: bool) -> list[dict]:
    """Per-item ROUGE-L/1/2, BERTScore F1 (the protocol's model and layer) and, if ``umls``, UMLS F1,
    each only when ``resources`` has it enabled."""
    from clue.metrics.rouge import rouge_scores

    task = ctx.protocol.settings.task(task_id)
    if len(predictions) != len(references):
        raise ValueError(f"{task_id}: {len(predictions)} outputs for {len(references)} requests")
    per_item: list[dict] = [{} for _ in predictions]
    if resources.enabled("rouge"):
        for scores, rouge in zip(per_item, rouge_scores(predictions, references)):
            scores.update(rouge)
    if task.bertscore and resources.enabled("bertscore"):
        preds, refs = predictions, references
        if task.bertscore_lowercase:
            preds, refs = [p.lower() for p in preds], [r.lower() for r in refs]
        for scores, f1 in zip(per_item, resources.bertscorer(*task.bertscore).score(preds, refs)["f1"]):
            scores["bertscore_f1"] = float(f1)
    if umls and resources.enabled("umls"):
        for scores, (_, _, f1) in zip(per_item, resources.umls().scores(predictions, references)):
            scores["umls_f1"] = float(f1)
    return per_item


def score_text_task(task_info, requests: list[Request], outputs: list[str], ctx: EvalContext, resources,
                    umls: bool) -> TaskResult:
    """A free-text task's result: :func:`text_scores` of each output against ``meta["reference"]``."""
    resources = metric_resources(resources)
    references = [request.meta["reference"] for request in requests]
    scores = text_scores(task_info.id, list(outputs), references, ctx, resources, umls=umls)
    per_item = [{"id": r.item_id, "reference": ref, "scores": s} for r, ref, s in zip(requests, references, scores)]
    return task_result(task_info, per_item, ctx.protocol.settings.task(task_info.id).averaging, resources)


def score_each(task_info, requests: list[Request], outputs: list[str], ctx: EvalContext, resources,
               item_scores: Callable[[str, str], dict]) -> TaskResult:
    """A task scored item by item: ``item_scores(output, meta["reference"])`` gives each item's metrics."""
    per_item = [
        {"id": request.item_id, "reference": request.meta["reference"],
         "scores": item_scores(output, request.meta["reference"])}
        for request, output in zip(requests, outputs, strict=True)
    ]
    return task_result(task_info, per_item, ctx.protocol.settings.task(task_info.id).averaging,
                       metric_resources(resources))


def task_result(task_info, per_item: list[dict], averaging: str, resources, details: dict | None = None) -> TaskResult:
    """Average each metric over the items that have it: the protocol's rule and the plain mean, in percent.

    Metrics left out with ``--metrics`` are dropped from the items and listed as missing (never 0).
    """
    from clue.metrics.aggregate import aggregate, plain_mean

    missing = resources.missing_keys(task_info.metrics)
    values: dict[str, list[float]] = {key: [] for key in task_info.metrics if key not in missing}   # reported first
    for item in per_item:
        item["scores"] = {key: float(value) for key, value in item["scores"].items() if key not in missing}
        for key, value in item["scores"].items():
            values.setdefault(key, []).append(value)
    values = {key: vals for key, vals in values.items() if vals}
    metrics = {key: 100.0 * aggregate(vals, averaging) for key, vals in values.items()}
    plain = {key: 100.0 * plain_mean(vals) for key, vals in values.items()}
    counts = {key: len(vals) for key, vals in values.items()}
    return TaskResult(per_item=per_item, metrics=metrics, metrics_plain=plain, averaging=averaging,
                      missing_metrics=missing, details={"n_items_by_metric": counts, **(details or {})})
