"""UMLS-F1 speed: the original two-pass way against the kit's once-per-text, batched, cached way.

Both use the same pipeline: a blank English spaCy pipeline with an entity ruler (en_core_sci_sm
cannot be downloaded offline) and scispaCy's real EntityLinker over the small knowledge base of
clue.testing.tiny_umls. The pairs are synthetic clinical-style sentences, all distinct.

    .venv/bin/python bench/umls_speed.py            # 1,000 pairs
    .venv/bin/python bench/umls_speed.py --pairs 200

Reported: seconds for the naive way (per pair: pipeline on the prediction and on the reference,
each run a second time on its own Doc, as the original code does), for the kit's way on the same
pairs, and for a second model scored against the same references (references already cached).
The entity sets must be identical, or the script fails.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time

from clue.metrics.umls import UmlsLinker, load_linker, umls_prf
from clue.testing.tiny_umls import DEFAULT_CONCEPTS, build_tiny_umls, tiny_mention_pipeline

FILLER = ("the", "patient", "was", "admitted", "with", "history", "of", "and", "denies", "reports", "no",
          "mild", "severe", "since", "yesterday", "treated", "for", "improved", "on", "discharge")


def sentences(rng: random.Random, n: int, tag: str) -> list[str]:
    phrases = [alias for _, name, aliases, _ in DEFAULT_CONCEPTS for alias in [name.lower(), *aliases]]
    phrases += ["feverish", "hypertensive", "coughs"]
    out = []
    for i in range(n):
        words = [rng.choice(FILLER) for _ in range(rng.randint(8, 30))]
        for _ in range(rng.randint(0, 4)):
            words.insert(rng.randrange(len(words) + 1), rng.choice(phrases))
        out.append(f"{tag} {i}: " + " ".join(words) + ".")
    return out


def naive_sets(nlp, linker, text):
    doc = linker(nlp(text))
    doc = linker(nlp(doc))
    return frozenset(linker.kb.cui_to_entity[e._.kb_ents[0][0]].canonical_name for e in doc.ents if e._.kb_ents)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    predictions, references = sentences(rng, args.pairs, "pred"), sentences(rng, args.pairs, "ref")
    second_model = sentences(rng, args.pairs, "pred2")

    with tempfile.TemporaryDirectory() as tmp:
        files, kb = build_tiny_umls(tmp)
        phrases = sorted({a for _, n, al, _ in DEFAULT_CONCEPTS for a in [n.lower(), *al]}
                         | {"feverish", "hypertensive", "coughs"})
        nlp, naive_linker = tiny_mention_pipeline(phrases), load_linker(files, kb)
        kit = UmlsLinker(tiny_mention_pipeline(phrases), load_linker(files, kb))

        started = time.perf_counter()
        naive = [(naive_sets(nlp, naive_linker, p), naive_sets(nlp, naive_linker, r))
                 for p, r in zip(predictions, references)]
        naive_s = time.perf_counter() - started
        naive_f1 = [umls_prf(p, g)[2] for p, g in naive]

        started = time.perf_counter()
        kit_scores = kit.scores(predictions, references)
        kit_s = time.perf_counter() - started

        started = time.perf_counter()
        kit.scores(second_model, references)
        kit_second_s = time.perf_counter() - started

    if kit.entity_sets(predictions) != [p for p, _ in naive] or kit.entity_sets(references) != [g for _, g in naive]:
        raise SystemExit("entity sets differ between the naive and the kit's way")
    if [f for _, _, f in kit_scores] != naive_f1:
        raise SystemExit("UMLS F1 differs between the naive and the kit's way")
    mentions = sum(len(s) for pair in naive for s in pair)
    print(f"{args.pairs} pairs, {mentions} linked concepts in all; entity sets identical")
    print(f"naive two-pass, per pair:         {naive_s:8.2f} s")
    print(f"kit, once per text, batched:      {kit_s:8.2f} s   speed-up {naive_s / kit_s:5.1f}x")
    print(f"kit, second model (refs cached):  {kit_second_s:8.2f} s   speed-up {naive_s / kit_second_s:5.1f}x")


if __name__ == "__main__":
    main()
