"""ROUGE-1/2/L F-measures, computed by ``rouge-score`` exactly as the CLUE protocol says.

No stemmer, the package's default tokenizer (lower-cases, keeps ``[a-z0-9]`` runs), the
sentence-agnostic ``rougeL`` (not ``rougeLsum``). Per item; averaging is the caller's.
"""

from __future__ import annotations

from functools import lru_cache

ROUGE_KEYS = ("rouge1", "rouge2", "rougeL")


@lru_cache(maxsize=1)
def _scorer():
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(list(ROUGE_KEYS), use_stemmer=False)


def rouge_scores(predictions: list[str], references: list[str]) -> list[dict[str, float]]:
    """One ``{"rouge1", "rouge2", "rougeL"}`` dict of F-measures in [0, 1] per pair."""
    if len(predictions) != len(references):
        raise ValueError(f"rouge_scores: {len(predictions)} predictions but {len(references)} references")
    scorer = _scorer()
    results = []
    for prediction, reference in zip(predictions, references):
        scores = scorer.score(target=reference, prediction=prediction)
        results.append({key: float(scores[key].fmeasure) for key in ROUGE_KEYS})
    return results
