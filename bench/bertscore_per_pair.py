"""BERTScore: one pair per call (what the paper-era code did) against padded batches of 64 (the kit's default).

Both ways keep the model loaded (the original also re-loaded the model for every pair; that cost is not
the question here). Measures wall time per pair and the largest per-pair F1 difference, on CPU, for the
tiny test BERT and for a BERT-base-sized model (hidden 768, 12 layers, 12 heads, random weights, built
offline), since the cost of padding depends on the model's size.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/bertscore_per_pair.py [--pairs 256] [--threads 1] [--sizes tiny,base]

Texts: MeQSum-like pairs (a 10-40 word prediction against a 6-20 word reference) made of the tiny
vocabulary's words, so the word-piece lengths vary the way summaries do.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

SIZES = {"tiny": dict(num_layers=3, hidden_size=32, heads=2),
         "base": dict(num_layers=12, hidden_size=768, heads=12)}


def pairs(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    from clue.testing.tiny_bert import DEFAULT_WORDS

    rng = random.Random(seed)
    words = [w for w in DEFAULT_WORDS if w.isalpha()]
    preds = [" ".join(rng.choice(words) for _ in range(rng.randint(10, 40))) for _ in range(n)]
    refs = [" ".join(rng.choice(words) for _ in range(rng.randint(6, 20))) for _ in range(n)]
    return preds, refs


def build(kind: str, folder: Path) -> Path:
    from transformers import BertConfig, BertModel

    from clue.testing.tiny_bert import build_tiny_bert

    spec = SIZES[kind]
    out = build_tiny_bert(folder / kind, num_layers=spec["num_layers"], hidden_size=spec["hidden_size"],
                          heads=spec["heads"])
    if kind == "base":   # BERT-base's feed-forward width (build_tiny_bert uses 2 x hidden)
        import torch

        config = BertConfig.from_pretrained(out)
        config.intermediate_size = 3072
        torch.manual_seed(0)
        BertModel(config).eval().save_pretrained(out)
    return out


def measure(path: Path, layers: int, preds: list[str], refs: list[str], repeats: int) -> dict:
    from clue.metrics.bertscore import BertScorer

    scorer = BertScorer(path, num_layers=layers, batch_size=64)
    scorer.score(preds[:4], refs[:4])          # warm-up
    best_batch, best_single, batched, single = float("inf"), float("inf"), None, None
    for _ in range(repeats):
        started = time.perf_counter()
        batched = scorer.score(preds, refs)["f1"]
        best_batch = min(best_batch, time.perf_counter() - started)
        started = time.perf_counter()
        single = [scorer.score([p], [r])["f1"][0] for p, r in zip(preds, refs)]
        best_single = min(best_single, time.perf_counter() - started)
    diff = max(abs(a - b) for a, b in zip(batched, single))
    return {"pairs": len(preds), "batch64_s": best_batch, "per_pair_s": best_single,
            "ratio": best_single / best_batch, "max_abs_f1_diff": diff}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2, help="best of N timings")
    parser.add_argument("--sizes", default="tiny,base")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    preds, refs = pairs(args.pairs)
    print(f"torch {torch.__version__}, {args.threads} thread(s), {args.pairs} pairs, best of {args.repeats}")
    print("| model | pairs | batches of 64 (s) | one pair per call (s) | per-pair / batched | max |ΔF1| |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.sizes.split(","):
            path = build(kind, Path(tmp))
            r = measure(path, SIZES[kind]["num_layers"], preds, refs, args.repeats)
            print(f"| {kind} ({SIZES[kind]['num_layers']} layers, hidden {SIZES[kind]['hidden_size']}) | {r['pairs']} | "
                  f"{r['batch64_s']:.2f} | {r['per_pair_s']:.2f} | {r['ratio']:.2f}x | {r['max_abs_f1_diff']:.1e} |",
                  flush=True)


if __name__ == "__main__":
    main()
