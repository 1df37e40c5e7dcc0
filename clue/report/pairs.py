"""The paper's biomedical-vs-base comparison on a run: Δ per level, interval, significance, declines.

For each pair (biomedical model, the general model it was adapted from) whose two models are both
among the rows, and for each level score both have: Δ = biomedical − base (from the rows' values,
the protocol aggregate unless ``--plain``), and, when both have per-item scores on the same items,
the paired-bootstrap 95% interval and sign-flip permutation p-value of the difference of plain
means (``clue.report.stats.paired_difference``).

A pair *declines* when Δ < 0 on every level both models have; the paper's "9 of 12 decline"
(../shared/paper/README.md) is reproduced by this criterion on the published rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from clue.errors import InputError
from clue.report.paper import PAPER_PAIRS, paper_name
from clue.report.runs import LEVEL_NAMES, ModelScores
from clue.report.stats import DEFAULT_RESAMPLES, DEFAULT_SEED, PairedResult, load_items, paired_difference
from clue.report.tables import Estimate, PValue, Table
from clue.taskinfo import TASKS


def _name(key: str) -> str:
    """A level's or a registered task's display name."""
    return LEVEL_NAMES.get(key) or next(t.name for t in TASKS if t.id == key)


ALPHA = 0.05


@dataclass
class PairLevel:
    bio: ModelScores
    base: ModelScores
    level: str                 # level1 / level2, or a task id (with by_task)
    bio_value: float
    base_value: float
    test: PairedResult | None  # None when per-item scores are not available for both
    paper_delta: float | None  # the same pair's Δ in the published rows, when known

    @property
    def delta(self) -> float:
        return self.bio_value - self.base_value


def parse_pairs(values: tuple[str, ...] | list[str]) -> list[tuple[str, str]]:
    """``BIO=BASE`` strings (the ``--pair`` option)."""
    pairs = []
    for value in values:
        bio, sep, base = value.partition("=")
        if not sep or not bio.strip() or not base.strip():
            raise InputError(f"--pair {value!r}: expected BIOMEDICAL_MODEL=BASE_MODEL")
        pairs.append((bio.strip(), base.strip()))
    return pairs


def _lookup(rows: list[ModelScores], name: str, names: list[str], aliases: dict[str, str] | None) -> ModelScores | None:
    hits = [r for r in rows if name in (r.model, r.model_dir, r.label)]
    if not hits:
        hits = [r for r in rows if paper_name(r.model, names, aliases) == name]
    if len(hits) > 1:
        raise InputError(f"model {name!r} appears in several rows ({', '.join(r.label for r in hits)}); give one run per model")
    return hits[0] if hits else None


def compare_pairs(rows: list[ModelScores], pairs: list[tuple[str, str]] | None = None, *,
                  paper: list[ModelScores] | None = None, aliases: dict[str, str] | None = None,
                  resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED, by_task: bool = False) -> list[PairLevel]:
    """Every (pair, level) that can be compared among ``rows``; pairs default to the paper's.

    ``by_task`` adds a line per task score before each pair's levels (declines count levels only).
    """
    keys = [t.id for t in TASKS] * by_task + ["level1", "level2"]
    pairs = list(PAPER_PAIRS if pairs is None else pairs)
    names = [p.model for p in paper or []] or [bio for bio, _ in PAPER_PAIRS] + [base for _, base in PAPER_PAIRS]
    published = {p.model: p.derived() for p in paper or []}
    out = []
    for bio_name, base_name in pairs:
        bio = _lookup(rows, bio_name, names, aliases)
        base = _lookup(rows, base_name, names, aliases)
        if bio is None or base is None:
            continue
        tests: dict = {}
        if bio.run_dir is not None and base.run_dir is not None:
            items_bio, items_base = load_items(bio), load_items(base)
            if items_bio and items_base:
                tests = paired_difference(items_bio, items_base, resamples, seed, labels=(bio.label, base.label))
        bio_levels, base_levels = bio.derived(), base.derived()
        paper_bio = published.get(paper_name(bio.model, list(published), aliases) or "", {})
        paper_base = published.get(paper_name(base.model, list(published), aliases) or "", {})
        for level in keys:
            if bio_levels[level] is None or base_levels[level] is None:
                continue
            paper_delta = None
            if paper_bio.get(level) is not None and paper_base.get(level) is not None:
                paper_delta = paper_bio[level] - paper_base[level]
            out.append(PairLevel(bio, base, level, bio_levels[level], base_levels[level], tests.get(level), paper_delta))
    return out


def declines(results: list[PairLevel]) -> dict[str, tuple[int, int]]:
    """(declines, comparisons) per level and for pairs (``pairs``: Δ < 0 on every level both have)."""
    counts = {}
    for level in ("level1", "level2"):
        at_level = [r for r in results if r.level == level]
        counts[level] = (sum(r.delta < 0 for r in at_level), len(at_level))
    by_pair: dict[tuple[str, str], list[PairLevel]] = {}
    for r in results:
        if r.level not in ("level1", "level2"):
            continue
        by_pair.setdefault((r.bio.label, r.base.label), []).append(r)
    counts["pairs"] = (sum(all(r.delta < 0 for r in group) for group in by_pair.values()), len(by_pair))
    return counts


def pairs_table(results: list[PairLevel], resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED) -> Table:
    table = Table("pairs", "Biomedical vs base model (Δ = biomedical − base)",
                  ["Biomedical", "Base", "Score", "Biomedical score", "Base score", "Δ", "p", f"p < {ALPHA}", "Paper Δ"], [])
    for r in results:
        delta = r.delta if r.test is None else Estimate(r.delta, r.test.low, r.test.high)
        significant = None if r.test is None else ("yes" if r.test.p_value < ALPHA else "no")
        table.rows.append([r.bio.label, r.base.label, _name(r.level), r.bio_value, r.base_value, delta,
                           None if r.test is None else PValue(r.test.p_value), significant, r.paper_delta])
        table.values.append(r.bio.aggregate)
    counts = declines(results)
    significant_declines = sum(1 for r in results if r.level in ("level1", "level2") and r.test is not None
                               and r.delta < 0 and r.test.p_value < ALPHA)
    table.notes.append(
        f"Declines: {counts['pairs'][0]} of {counts['pairs'][1]} pairs lower on every level both have "
        f"(Level 1: {counts['level1'][0]} of {counts['level1'][1]}; Level 2: {counts['level2'][0]} of {counts['level2'][1]}); "
        f"significant level declines (p < {ALPHA}): {significant_declines}.")
    table.notes.append(
        f"Δ uses the rows' level scores; brackets and p come from the per-item scores (plain means): paired bootstrap "
        f"95% interval and two-sided sign-flip permutation test, {resamples} resamples, seed {seed}. "
        "Empty where per-item scores are not available for both models.")
    if not results:
        table.notes.append("No pair has both of its models among the rows (add pairs with --pair BIO=BASE).")
    return table


def pairs_report(runs: list, *, pairs: list[tuple[str, str]] | None = None, paper_pairs: bool = True,
                 published: bool = False, plain: bool = False, aliases: dict[str, str] | None = None,
                 resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED, paper_csv=None,
                 by_task: bool = False) -> Table:
    """The pairs table for runs (or, with ``published``, for the paper's own rows)."""
    from clue.report.paper import load_paper
    from clue.report.runs import load_runs

    paper = load_paper(paper_csv)
    rows = (load_runs(runs, plain=plain) if runs else []) + (paper if published else [])
    if not rows:
        raise InputError("give at least one RUN, or --published to compare the paper's own rows")
    chosen = (list(PAPER_PAIRS) if paper_pairs else []) + list(pairs or [])
    if not chosen:
        raise InputError("no pairs to compare: give --pair BIO=BASE or keep the paper's pairs")
    results = compare_pairs(rows, chosen, paper=paper, aliases=aliases, resamples=resamples, seed=seed, by_task=by_task)
    return pairs_table(results, resamples, seed)
