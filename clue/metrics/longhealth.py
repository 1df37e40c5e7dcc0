"""LongHealth: reading the model's choice and finding the gold letter.

The choice is the letter of the first ``The correct answer is X:`` in the output (case and
punctuation as written; no such phrase means no choice, which is scored wrong). The gold letter
is the option whose text contains the question's ``correct`` text: the last such option in the
``paper`` protocol, the first in ``upstream``. Task 1 and 2 are right iff choice == gold;
task 3 (no answer documents given) is right iff the choice is ``F``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

CHOICE_PATTERN = re.compile(r"The correct answer is (\w):")


def parse_choice(output: str) -> str | None:
    match = CHOICE_PATTERN.search(output)
    return match.group(1) if match else None


def gold_letter(options: Mapping[str, str], correct: str, last: bool = True) -> str | None:
    """Letter of the option whose text contains ``correct`` (last or first match); None if none does."""
    matches = [letter for letter, text in options.items() if correct in text]
    if not matches:
        return None
    return matches[-1] if last else matches[0]


def choice_correct(output: str, expected: str | None) -> bool:
    """True iff the parsed choice equals ``expected`` (gold letter, or ``F`` for task 3)."""
    choice = parse_choice(output)
    return choice is not None and expected is not None and choice == expected
