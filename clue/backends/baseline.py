"""``--model baseline``: a parameterless pseudo-model that answers every task by a fixed rule.

It reads no prompt and loads no weights; each answer depends only on the item's own fields
(``Request.meta["record"]``, and ``meta["options"]`` for LongHealth). The rules are the kit's own:
the CLUE paper plots a "parameterless baseline" (Level 1 about 25.1, Level 2 about 24.9) but does
not publish its rule, so these numbers are not the paper's. Each task declares its rule
(``TaskSpec.baseline``: a constant, a copied record field, or the longest option):

| task | answer |
|---|---|
| MedNLI | always ``neutral`` (the test set is balanced, so any fixed label is right about a third of the time) |
| MeQSum | the consumer's question (``CHQ``) copied |
| Problem Summary | the Assessment section copied |
| MeDiSumQA | the question copied |
| MeDiSumCode | ``I10`` (essential hypertension), one fixed code |
| LongHealth | the longest option text (first letter on ties), as ``The correct answer is X: <text>`` |
"""

from __future__ import annotations

import json

from clue.backends.base import ModelInfo, Request
from clue.errors import InputError
from clue.taskinfo import BaselineRule, all_tasks

RULES_VERSION = "1"


def rules() -> dict[str, str]:
    """task id -> the description of its rule (``TaskSpec.baseline``), for every registered task."""
    return {t.id: t.baseline.description for t in all_tasks() if t.baseline is not None}


def _declared(task_id: str) -> BaselineRule | None:
    return next((t.baseline for t in all_tasks() if t.id == task_id), None)


def _rule(request: Request) -> BaselineRule:
    rule = _declared(request.task)
    if rule is None:
        raise InputError(f"baseline: no rule for task {request.task!r}")
    return rule


def _record(request: Request) -> dict:
    record = request.meta.get("record")
    if not isinstance(record, dict):
        raise InputError(f"baseline: task {request.task} item {request.item_id}: the request carries no record "
                         f"(meta['record'])")
    return record


def _field(request: Request, name: str) -> str:
    record = _record(request)
    if name not in record:
        raise InputError(f"baseline: task {request.task} item {request.item_id}: record has no field {name!r}")
    return str(record[name])


def _options(request: Request) -> dict[str, str]:
    options = request.meta.get("options")
    if options:
        return dict(options)
    record = _record(request)
    found = {letter.upper(): str(record[f"answer_{letter}"]) for letter in "abcde" if f"answer_{letter}" in record}
    if not found:
        raise InputError(f"baseline: {request.task} item {request.item_id}: no options (meta['options'] or answer_a..e)")
    return found


def _rule_inputs(request: Request) -> dict:
    rule = _declared(request.task)
    if rule is not None and rule.kind == "copy":
        return {rule.value: _field(request, rule.value)}
    if rule is not None and rule.kind == "longest_option":
        return {"options": _options(request)}
    return {}


def answer(request: Request) -> str:
    """The baseline's completion for one request."""
    rule = _rule(request)
    if rule.kind == "constant":
        return rule.value
    if rule.kind == "copy":
        return _field(request, rule.value)
    if rule.kind == "longest_option":
        options = _options(request)
        letter = max(options, key=lambda key: (len(options[key]), -ord(key[0])))
        return f"The correct answer is {letter}: {options[letter]}"
    raise InputError(f"baseline: task {request.task!r}: rule kind {rule.kind!r}, expected one of "
                     f"{', '.join(BaselineRule.KINDS)}")


class BaselineBackend:
    """The Backend protocol (identity, render, generate) plus ``model_info`` for the runner."""

    def identity(self) -> dict:
        return {"model": "baseline", "revision": None, "backend": "baseline", "rules_version": RULES_VERSION}

    def model_info(self) -> ModelInfo:
        # a chat "model" with a system role; tokens are whitespace-separated words (prompts are built
        # as for any model so that LongHealth's budget logic runs, but nothing reads them)
        return ModelInfo(name="baseline", has_chat_template=True, accepts_system_role=True,
                         context_length=1_000_000, family=None,
                         count_tokens=_count_words, truncate_tokens=_first_words)

    def render(self, request: Request) -> str:
        """A description of what the rule reads: unique per item, so the generation store (keyed by
        identity + prompt + decoding) keeps one completion per item and notices changed inputs."""
        declared = _declared(request.task)
        rule = declared.description if declared is not None else "none"
        inputs = json.dumps(_rule_inputs(request), ensure_ascii=False, sort_keys=True)
        return f"[baseline rule v{RULES_VERSION}] task {request.task}, item {request.item_id}: {rule}; reads {inputs}"

    def generate(self, requests: list[Request], prompts: list[str]) -> list[str]:
        if len(prompts) != len(requests):
            raise ValueError(f"baseline: {len(requests)} requests but {len(prompts)} prompts")
        return [answer(request) for request in requests]


def _count_words(text: str) -> int:
    return len(text.split())


def _first_words(text: str, n: int) -> str:
    if n <= 0:
        return ""
    words = text.split()
    if len(words) <= n:
        return text
    # cut just after the n-th word, keeping the original spacing before it
    position = 0
    for word in words[:n]:
        position = text.index(word, position) + len(word)
    return text[:position]
