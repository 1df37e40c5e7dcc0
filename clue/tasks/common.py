"""What the CLUE task modules share: reading test sets, few-shot prompts, decoding, output clean-up,
text-metric scoring and averaging. Each rule is the protocol's (``ctx.protocol.settings``).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

from clue.backends.base import Decoding, Request
from clue.errors import NotReadyError
from clue.io import read_jsonl
from clue.protocol.layout import build_prompt, empty_answer, family_of, fill, require_layout
from clue.protocol.settings import LLAMA3_STOP, PHI_END, SELF_PROMPT_RE
from clue.tasks.base import EvalContext, TaskResult

FEW_SHOT_SEED = 1   # the original: random.seed(1); random.shuffle(rows)


def load_records(task_id: str, data_dir: str | Path) -> list[dict]:
    path = Path(data_dir) / task_id / "test.jsonl"
    if not path.exists():
        raise NotReadyError(f"{path}: test set not built; run `clue data build --task {task_id}`")
    return list(read_jsonl(path))


def select_few_shot(rows: Sequence[dict], k: int, shuffle: bool) -> tuple[list[dict], list[dict]]:
    """(few-shot rows, rows to score): the first ``k`` rows, after a seed-1 shuffle if ``shuffle``."""
    rows = list(rows)
    if shuffle:
        random.Random(FEW_SHOT_SEED).shuffle(rows)
    return rows[:k], rows[k:]


def task_layout(ctx: EvalContext) -> str:
    """Paper: the model's layout (detected or --chat-layout). Upstream: always [system, …] chat."""
    layout = ctx.layout if ctx.protocol.settings.paper_layouts else "chat-system"
    require_layout(ctx.model, layout)
    return layout


def decoding(task_id: str, ctx: EvalContext, *, stop_and_truncate: bool = True) -> Decoding:
    """Decoding parameters of ``task_id`` under the protocol (``--greedy`` / ``--seed`` from ``ctx``)."""
    settings = ctx.protocol.settings
    task = settings.task(task_id)
    greedy = settings.greedy if ctx.greedy is None else ctx.greedy
    seed = None if greedy else ctx.seed
    if not stop_and_truncate:
        return Decoding(max_new_tokens=task.max_new_tokens, greedy=greedy, seed=seed, truncate_left=False)
    stop: tuple[str, ...] = ()
    max_prompt = None
    if settings.paper_postprocess:      # the paper-era server call: stop strings and a truncate limit
        if family_of(ctx.model) == "llama3":
            stop = LLAMA3_STOP
        reserve = task.prompt_reserve if task.prompt_reserve is not None else task.max_new_tokens
        max_prompt = ctx.model.context_length - reserve
        if task.prompt_cap is not None:
            max_prompt = min(max_prompt, task.prompt_cap)
    return Decoding(max_new_tokens=task.max_new_tokens, greedy=greedy, seed=seed, stop=stop,
                    truncate_left=True, max_prompt_tokens=max_prompt)


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


def clean_output(completion: str, request: Request, ctx: EvalContext, *, strip: bool = True) -> str:
    """The paper-era clean-up: strip, cut at stop strings, cut Phi at " <|end|>", drop self-prompting
    (where the task's settings say so). ``upstream`` keeps the completion as generated.
    """
    if not ctx.protocol.settings.paper_postprocess:
        return completion
    out = completion.strip() if strip else completion
    for stop in request.decoding.stop:
        out = out.split(stop)[0]
    if family_of(ctx.model) == "phi" and PHI_END in out:
        out = out.split(PHI_END)[0]
    if ctx.protocol.settings.task(request.task).regex_cleanup:
        out = SELF_PROMPT_RE.sub("", out)
    return out


# ------------------------------------------------------------------------- scoring

def text_scores(task_id: str, predictions: list[str], references: list[str], ctx: EvalContext, resources,
                umls: bool) -> tuple[list[dict], list[str]]:
    """Per-item ROUGE-L/1/2, BERTScore F1 (the protocol's model and layer) and, if ``umls``, UMLS F1.

    Returns (per-item score dicts, metrics skipped because ``resources`` does not provide them).
    """
    from clue.metrics.rouge import rouge_scores

    task = ctx.protocol.settings.task(task_id)
    per_item = [dict(scores) for scores in rouge_scores(predictions, references)]
    missing = []

    scorer = bert_scorer(resources, *task.bertscore) if task.bertscore else None
    if scorer is None:
        missing.append("bertscore_f1")
    else:
        preds, refs = predictions, references
        if task.bertscore_lowercase:
            preds, refs = [p.lower() for p in preds], [r.lower() for r in refs]
        for scores, f1 in zip(per_item, scorer.score(preds, refs)["f1"]):
            scores["bertscore_f1"] = float(f1)

    if umls:
        linker = umls_linker(resources)
        if linker is None:
            missing.append("umls_f1")
        else:
            from clue.metrics.umls import umls_prf

            sets = linker.entity_sets(list(predictions) + list(references))
            pred_sets, gold_sets = sets[: len(predictions)], sets[len(predictions):]
            for scores, pred, gold in zip(per_item, pred_sets, gold_sets):
                scores["umls_f1"] = float(umls_prf(pred, gold)[2])
    return per_item, missing


def bert_scorer(resources, model: str, layer: int):
    """The BERTScore scorer of ``resources`` for (model, layer), or None when BERTScore is skipped."""
    return resources.bertscore(model, layer) if resources is not None else None


def umls_linker(resources):
    """The UMLS linker of ``resources``, or None when UMLS F1 is skipped."""
    return resources.umls() if resources is not None else None


def task_result(per_item: list[dict], averaging: str, missing: Sequence[str] = (),
                details: dict | None = None) -> TaskResult:
    """Average each metric over the items that have it: the protocol's rule and the plain mean, in percent."""
    from clue.metrics.aggregate import aggregate, plain_mean

    values: dict[str, list[float]] = {}
    for item in per_item:
        for key, value in item["scores"].items():
            values.setdefault(key, []).append(float(value))
    metrics = {key: 100.0 * aggregate(vals, averaging) for key, vals in values.items()}
    plain = {key: 100.0 * plain_mean(vals) for key, vals in values.items()}
    counts = {key: len(vals) for key, vals in values.items()}
    return TaskResult(per_item=per_item, metrics=metrics, metrics_plain=plain, averaging=averaging,
                      missing_metrics=sorted(set(missing)),
                      details={"n_items_by_metric": counts, **(details or {})})
