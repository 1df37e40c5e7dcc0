"""How each protocol behaves, beyond its prompt text: the table of differences between ``paper`` and
``upstream`` (see the kit's PROTOCOLS notes). ``demo`` behaves like ``paper``.

Everything a task module needs to decide (few-shot selection, layout, prefill, decoding, output
clean-up, LongHealth budgets, BERTScore model, averaging) is read from here, never hard-coded in a
task, so that the two protocols differ in exactly one place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from clue.errors import InputError

SCIBERT = ("allenai/scibert_scivocab_uncased", 8)
BIO_CLINICALBERT = ("emilyalsentzer/Bio_ClinicalBERT", 9)

# Paper era: stop strings passed to the server for Llama-3 models; cut Phi outputs at " <|end|>";
# remove self-prompting (the regex has no DOTALL: each match runs to the end of its line).
LLAMA3_STOP = ("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "<|im_end|>")
PHI_END = " <|end|>"
SELF_PROMPT_RE = re.compile(r"(You are an AI.*)|(\[INST\].*)|((<\|user\|>).*)")

# LongHealth: the documents' joiner in the prompt, and the (longer) separator the original counts
# for each added document when it fills the token budget.
LONGHEALTH_JOINER = "\n\n--------------\n\n"
LONGHEALTH_COUNTED_SEPARATOR = "\n\n-------------- NEW DOCUMENT --------------\n\n"
LONGHEALTH_NO_ANSWER = "Question cannot be answered with provided documents"


@dataclass(frozen=True)
class TaskSettings:
    few_shot_k: int
    few_shot_shuffle: bool              # True: random.seed(1); random.shuffle(rows); first k. False: first k rows.
    max_new_tokens: int
    averaging: str = "plain"            # "first-item-twice" (the original running-average helper) or "plain"
    bertscore: tuple[str, int] | None = None  # (model, layer)
    bertscore_lowercase: bool = False   # lower-case prediction and reference before BERTScore
    regex_cleanup: bool = False         # apply SELF_PROMPT_RE to outputs
    strip_output: bool = False          # strip() the output first (paper era: MeDiSumQA only)
    prompt_reserve: int | None = None   # left-truncate prompts to context - prompt_reserve tokens (None: max_new_tokens)
    prompt_cap: int | None = None       # ... and to at most this many tokens


@dataclass(frozen=True)
class LongHealthSettings:
    budget: int = 8140                  # tokens for template + question + options + documents (minus sys prompt)
    distractor_budget_is_context: bool = False  # tasks 2/3: the model's context length instead of ``budget``
    gold_last: bool = True              # gold letter = last option containing the correct text (paper) or first
    task23_stop_and_truncate: bool = False  # tasks 2/3 generate with the stop strings and left truncation


@dataclass(frozen=True)
class ProtocolSettings:
    name: str
    paper_layouts: bool                 # True: layout per model (chat-system, chat-no-system, base); False: always chat-system
    prefill: bool                       # append the assistant template with its answer field emptied
    paper_postprocess: bool             # strip, Llama-3 stop strings, Phi cut, regex (where the task says)
    prompt_special_tokens: bool         # tokenize every rendered prompt with BOS (paper: the server did; upstream: vLLM chat did not)
    greedy: bool                        # default decoding (upstream: sampling at T=1, top-p 1, seeded by the kit)
    tasks: dict[str, TaskSettings]
    longhealth: LongHealthSettings = field(default_factory=LongHealthSettings)
    notes: tuple[str, ...] = ()         # the kit's labelled choices where the original is silent or crashes

    def task(self, task_id: str) -> TaskSettings:
        """The table's row for a CLUE task; a plugin task's own ``TaskSpec.settings`` otherwise."""
        if task_id in self.tasks:
            return self.tasks[task_id]
        from clue.taskinfo import task_info

        own = task_info(task_id).settings
        if not isinstance(own, TaskSettings):
            raise InputError(f"task {task_id}: field 'settings' is {own!r}, expected a TaskSettings "
                             f"(the protocol {self.name!r} has no row for it)")
        return own


PAPER = ProtocolSettings(
    name="paper",
    paper_layouts=True,
    prefill=True,
    paper_postprocess=True,
    prompt_special_tokens=True,
    greedy=True,
    tasks={
        "mednli": TaskSettings(3, False, 20, "first-item-twice", regex_cleanup=True, prompt_reserve=200),
        "meqsum": TaskSettings(3, False, 200, "first-item-twice", SCIBERT, regex_cleanup=True, prompt_cap=24576),
        "problem_summary": TaskSettings(3, False, 100, "first-item-twice", BIO_CLINICALBERT,
                                        bertscore_lowercase=True, regex_cleanup=True),
        "medisumqa": TaskSettings(1, True, 200, "first-item-twice", BIO_CLINICALBERT, strip_output=True),
        "medisumcode": TaskSettings(1, False, 200, "first-item-twice", regex_cleanup=True),
        "longhealth": TaskSettings(0, False, 50, "plain"),
    },
    longhealth=LongHealthSettings(budget=8140, distractor_budget_is_context=False, gold_last=True),
    notes=(
        "MeDiSumQA prefill 'Answer: ' (the original formats a wrongly-cased field name and crashes)",
        "LongHealth task 1 counted once per prompt (as the pinned file does and the published values require)",
        "LongHealth document shuffles and distractor draws seeded with --seed",
        "every rendered prompt tokenized with the tokenizer's special tokens, as the text-generation server "
        "did (a chat template that writes its own BOS then starts with two)",
    ),
)

UPSTREAM = ProtocolSettings(
    name="upstream",
    paper_layouts=False,
    prefill=False,
    paper_postprocess=False,
    prompt_special_tokens=False,
    greedy=False,
    tasks={
        "mednli": TaskSettings(3, True, 20, "first-item-twice"),
        "meqsum": TaskSettings(3, True, 512, "plain", SCIBERT),
        "problem_summary": TaskSettings(3, True, 512, "plain", SCIBERT),
        "medisumqa": TaskSettings(1, True, 512, "plain", SCIBERT),
        "medisumcode": TaskSettings(1, True, 512, "first-item-twice"),
        "longhealth": TaskSettings(0, False, 50, "plain"),
    },
    longhealth=LongHealthSettings(budget=8140, distractor_budget_is_context=True, gold_last=False,
                                  task23_stop_and_truncate=False),
    notes=(
        "sampling (T=1, top-p 1) seeded with --seed (the original is unseeded); --greedy offered",
        "over-long prompts cut from the left to context - max_new_tokens (the original's vLLM rejects them)",
        "LongHealth document shuffles and distractor draws seeded with --seed",
    ),
)

# The offline demo: the kit's own prompts, paper behaviour. Its numbers are not CLUE numbers.
DEMO = ProtocolSettings(
    name="demo",
    paper_layouts=PAPER.paper_layouts,
    prefill=PAPER.prefill,
    paper_postprocess=PAPER.paper_postprocess,
    prompt_special_tokens=PAPER.prompt_special_tokens,
    greedy=PAPER.greedy,
    tasks=dict(PAPER.tasks),
    longhealth=PAPER.longhealth,
    notes=("demo prompts written for the kit; not the CLUE prompts, not CLUE numbers",),
)

SETTINGS: dict[str, ProtocolSettings] = {s.name: s for s in (PAPER, UPSTREAM, DEMO)}


def settings_for(name: str) -> ProtocolSettings:
    if name not in SETTINGS:
        raise InputError(f"unknown protocol {name!r}: expected one of {', '.join(SETTINGS)}")
    return SETTINGS[name]
