"""A readable summary of a protocol: provenance of its prompt files and its behaviour table."""

from __future__ import annotations

import os

from tabulate import tabulate

from clue.errors import NotReadyError
from clue.protocol import load_protocol
from clue.protocol.fetch import pinned
from clue.protocol.settings import settings_for
from clue.taskinfo import TASK_IDS


def describe_protocol(name: str, protocol_dir: str | os.PathLike | None = None, with_prompts: bool = False) -> str:
    settings = settings_for(name)
    pin = pinned(name)
    lines = [f"protocol {name}: commit {pin['commit']}" + (f" ({pin['date']})" if pin.get("date") else "")]
    try:
        loaded = load_protocol(name, protocol_dir)
    except NotReadyError as exc:
        loaded = None
        lines.append(f"  not fetched: {exc}")
    else:
        lines.append(f"  fetched {loaded.provenance.get('fetched_at')} from {loaded.provenance.get('source')}"
                     + ("  (sha256 pins overridden)" if loaded.provenance.get("pins_overridden") else ""))

    lines.append(f"  layout: {'per model (chat-system / chat-no-system / base)' if settings.paper_layouts else 'always [system, user, ...] chat'}"
                 f"; prefill: {'yes' if settings.prefill else 'no'}"
                 f"; decoding: {'greedy' if settings.greedy else 'sampling T=1 top-p 1 (seeded)'}"
                 f"; output clean-up: {'paper rules' if settings.paper_postprocess else 'none'}")
    lh = settings.longhealth
    lines.append(f"  LongHealth: budget {lh.budget} (tasks 2/3: {'model context' if lh.distractor_budget_is_context else lh.budget})"
                 f" minus system prompt; gold = {'last' if lh.gold_last else 'first'} matching option")
    rows = []
    for task_id in TASK_IDS:                       # the CLUE tasks, then registered plugin tasks
        task = settings.task(task_id)
        rows.append([task_id, task.few_shot_k, "-" if not task.few_shot_k else "seed-1 shuffle" if task.few_shot_shuffle else "first rows",
                     task.max_new_tokens, f"{task.bertscore[0]} L{task.bertscore[1]}" if task.bertscore else "-",
                     task.averaging, "yes" if task.regex_cleanup and settings.paper_postprocess else "no"])
    lines.append(tabulate(rows, headers=["task", "k", "few-shot", "max new", "BERTScore", "averaging", "regex"]))
    for note in settings.notes:
        lines.append(f"  note: {note}")
    if with_prompts and loaded is not None:
        for task_id, prompts in loaded.prompts.items():
            lines.append(f"\n== {task_id} ({prompts.get('file')})")
            for key, value in prompts.items():
                if key != "file":
                    lines.append(f"-- {key}:\n{value}")
    return "\n".join(lines)



