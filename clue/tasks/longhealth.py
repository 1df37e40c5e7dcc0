"""LongHealth (level 2): multiple-choice questions over a patient's long clinical documents.

One record per question (``question``, ``answer_a``…``answer_e``, ``correct``, ``answer_location``)
carrying the patient's ``texts``. Three sub-tasks, every prompt filled up to a token budget:

- task 1: 5 prompts per question; the patient's own documents; options A–E;
- tasks 2 and 3: 10 prompts per question, j = 0..9, each with 10 documents drawn from other
  patients; odd j = task 2 (answer documents + distractors), even j = task 3 (distractors only);
  options A–F, F = "cannot be answered". Task 3 is right iff the model answers F.

Budget filling: answer documents first (``answer_location`` order), then the others, each added
whole while it fits (counting the original's separator length per document); the first that does
not fit is cut to the remaining tokens and filling stops; the chosen documents are then shuffled.
All shuffles and draws come from one ``random.Random(seed)``, in the original's order (all task-1
prompts, then tasks 2/3), so a seed gives the prompts the original would give after ``random.seed``.
"""

from __future__ import annotations

import functools
import random
from pathlib import Path

from clue.backends.base import Decoding, Request
from clue.errors import InputError
from clue.protocol.layout import fill
from clue.protocol.settings import LONGHEALTH_COUNTED_SEPARATOR, LONGHEALTH_JOINER, LONGHEALTH_NO_ANSWER
from clue.tasks import common
from clue.tasks.base import EvalContext, TaskResult
from clue.taskinfo import task_info

TASK = task_info("longhealth")
TASK1_PROMPTS = 5
TASK23_PROMPTS = 10
DISTRACTORS = 10
QUESTION_FIELDS = ("id", "patient_id", "question_index", "question", "answer_a", "answer_b", "answer_c",
                   "answer_d", "answer_e", "correct", "answer_location")


def load_records(data_dir: str | Path) -> list[dict]:
    return common.load_records(TASK.id, data_dir)


def options_of(question: dict, letters: str) -> dict[str, str]:
    """{"A": text, ...}; letter F is the 'cannot be answered' option."""
    return {letter: question[f"answer_{letter.lower()}"] if letter != "F" else LONGHEALTH_NO_ANSWER
            for letter in letters}


def fill_budget(answer_docs: list[str], other_docs: list[str], used: int, budget: int, count, truncate) -> list[str]:
    """The documents that fit in ``budget`` tokens, ``used`` of which the template, question and options take."""
    separator = count(LONGHEALTH_COUNTED_SEPARATOR)
    chosen = []
    for documents in (answer_docs, other_docs):
        for document in documents:
            length = count(document)
            if used + length <= budget:
                chosen.append(document)
                used += length + separator
            else:   # cut to what is left and stop this group (the next group then adds one empty cut)
                chosen.append(truncate(document, max(budget - used, 0)))
                used = budget
                break
    return chosen


def build_prompt(question: dict, letters: str, answer_docs: list[str], other_docs: list[str], budget: int,
                 template: str, rng: random.Random, count, truncate) -> tuple[str, dict[str, str]]:
    options = options_of(question, letters)
    options_text = "\n".join(f"{letter}: {text}" for letter, text in options.items())
    used = count(question["question"]) + count(options_text) + count(template)
    documents = fill_budget(answer_docs, other_docs, used, budget, count, truncate)
    rng.shuffle(documents)
    prompt = fill(template, {"documents": LONGHEALTH_JOINER.join(documents), "question_text": question["question"],
                             "options": options_text}, "LongHealth prompt_template")
    return prompt, options


def layout_prompt(sys_prompt: str, prompt: str, layout: str) -> dict:
    """Paper-era placement of the system prompt (no few-shot turns in LongHealth)."""
    if layout == "chat-system":
        return {"messages": ({"role": "system", "content": sys_prompt}, {"role": "user", "content": prompt})}
    if layout == "chat-no-system":
        return {"messages": ({"role": "user", "content": sys_prompt + prompt},)}
    return {"messages": None, "text": sys_prompt + "\n\n\n" + prompt}


def _patients(records: list[dict]) -> dict[str, dict]:
    patients: dict[str, dict] = {}
    for record in records:
        patient = patients.setdefault(record["patient_id"], {"texts": record["texts"], "questions": []})
        patient["questions"].append(record)
    return patients


def build_requests(records: list[dict], ctx: EvalContext) -> list[Request]:
    protocol, model = ctx.protocol, ctx.model
    lh = protocol.settings.longhealth
    prompts = protocol.task_prompts(TASK.id)
    sys_prompt, template = prompts["sys_prompt"], prompts["prompt_template"]
    if model.count_tokens is None or model.truncate_tokens is None:
        raise InputError(f"model {model.name}: LongHealth needs the model's tokenizer to fill its token budget")
    count = functools.lru_cache(maxsize=None)(model.count_tokens)   # each document is measured once per run
    truncate = model.truncate_tokens

    layout = common.task_layout(ctx)
    budget1 = lh.budget - count(sys_prompt)
    budget23 = (model.context_length if lh.distractor_budget_is_context else lh.budget) - count(sys_prompt)
    decoding1 = common.decoding(TASK.id, ctx)
    decoding23 = common.decoding(TASK.id, ctx, stop_and_truncate=lh.task23_stop_and_truncate)
    rng = random.Random(ctx.seed)
    patients = _patients(records)
    requests: list[Request] = []

    def add(question, subtask, j, prompt, options, params: Decoding):
        expected = "F" if subtask == 3 else gold_of(options, question["correct"], lh.gold_last)
        requests.append(Request(
            task=TASK.id, item_id=f"{question['id']}/task{subtask}/{j}", prefill="", decoding=params,
            **layout_prompt(sys_prompt, prompt, layout),
            meta={"record": {k: question[k] for k in QUESTION_FIELDS if k in question}, "options": options,
                  "subtask": subtask, "reference": expected, "seed": ctx.seed, "layout": layout},
        ))

    for patient in patients.values():
        texts = patient["texts"]
        for question in patient["questions"]:
            answer_docs = [texts[text_id] for text_id in question["answer_location"]]
            other_docs = [text for text_id, text in texts.items() if text_id not in question["answer_location"]]
            for j in range(TASK1_PROMPTS):
                prompt, options = build_prompt(question, "ABCDE", answer_docs, other_docs, budget1, template,
                                               rng, count, truncate)
                add(question, 1, j, prompt, options, decoding1)

    for patient_id, patient in patients.items():
        pool = [text for other_id, other in patients.items() if other_id != patient_id
                for text in other["texts"].values()]
        texts = patient["texts"]
        for question in patient["questions"]:
            for j in range(TASK23_PROMPTS):
                distractors = rng.sample(pool, min(DISTRACTORS, len(pool)))
                subtask = 3 if j % 2 == 0 else 2
                answer_docs = [] if subtask == 3 else [texts[text_id] for text_id in question["answer_location"]]
                prompt, options = build_prompt(question, "ABCDEF", answer_docs, distractors, budget23, template,
                                               rng, count, truncate)
                add(question, subtask, j, prompt, options, decoding23)

    if ctx.limit is not None:
        kept = {record["id"] for record in records[: ctx.limit]}
        requests = [request for request in requests if request.meta["record"]["id"] in kept]
    return requests


def gold_of(options: dict[str, str], correct: str, last: bool) -> str | None:
    from clue.metrics.longhealth import gold_letter

    return gold_letter(options, correct, last=last)


def postprocess(completion: str, request: Request, ctx: EvalContext) -> str:
    """Paper era: task 1 is cut at the stop strings and (Phi) at " <|end|>"; tasks 2/3 are used as generated."""
    if request.meta["subtask"] != 1 and not ctx.protocol.settings.longhealth.task23_stop_and_truncate:
        return completion
    return common.clean_output(completion, request, ctx)


def score(requests: list[Request], outputs: list[str], ctx: EvalContext, resources=None) -> TaskResult:
    from clue.metrics.longhealth import choice_correct, parse_choice

    per_item = []
    for request, output in zip(requests, outputs, strict=True):
        subtask = request.meta["subtask"]
        per_item.append({
            "id": request.item_id, "reference": request.meta["reference"], "subtask": subtask,
            "choice": parse_choice(output),
            "scores": {f"task{subtask}": float(choice_correct(output, request.meta["reference"]))},
        })
    # a question whose `correct` text is in no option: the paper-era code raises on it
    # (UnboundLocalError), the kit scores its task 1/2 prompts wrong; listed so that nobody misses it
    no_match = sorted({r.meta["record"]["id"] for r in requests if r.meta["subtask"] != 3 and r.meta["reference"] is None})
    details = {"gold_no_match": {
        "questions": no_match,
        "prompts": sum(1 for r in requests if r.meta["subtask"] != 3 and r.meta["reference"] is None),
        "rule": "the question's `correct` text is in none of its options: its task 1 and 2 prompts are scored "
                "wrong (the paper-era code raises UnboundLocalError on such a question)"}}
    return common.task_result(TASK, per_item, ctx.protocol.settings.task(TASK.id).averaging,
                              common.metric_resources(resources), details=details)
