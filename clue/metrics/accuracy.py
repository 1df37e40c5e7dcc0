"""MedNLI accuracy: the rule of the original evaluation, not a label classifier.

An output is correct iff the gold label, upper-cased, occurs exactly once in the upper-cased
output. "entailment entailment" is therefore wrong, and so is an output that names the gold
label and another one that contains it (none of the three MedNLI labels contains another).
"""

from __future__ import annotations

import re


def mednli_correct(output: str, gold_label: str) -> bool:
    """True iff ``gold_label`` occurs exactly once in ``output`` (case-insensitive, substring count).

    The original counts regex matches of the label; the labels are plain words, so an escaped
    pattern finds exactly the same occurrences (non-overlapping, left to right).
    """
    if not gold_label:
        raise ValueError("mednli_correct: the gold label is empty")
    return len(re.findall(re.escape(gold_label.upper()), output.upper())) == 1
