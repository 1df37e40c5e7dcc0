"""``clue demo``: the whole chain, offline, on a machine with no GPU, in a minute or two.

synthetic raw files (``clue.demo.synthetic``) → ``clue data build`` → the ``demo`` protocol (the
kit's own prompts) → a tiny Llama-style model with random weights, built on the spot → all six
tasks through ``clue.runner.evaluate`` (store, batching, scoring, files, manifest) → the summary
table. BERTScore runs on a tiny random BERT and UMLS F1 on a ten-concept knowledge base, both
built here, so every metric column is filled by the real code path.

The numbers are meaningless by construction and say so. Running the demo again re-uses the
stored completions (the model is rebuilt identically), so a second run generates nothing.
"""

from __future__ import annotations

from pathlib import Path

from clue.protocol.settings import BIO_CLINICALBERT, SCIBERT

BANNER = ("DEMO ONLY: synthetic data, a tiny randomly initialised model and the kit's own demo prompts. "
          "These are NOT CLUE numbers and say nothing about any model.")
DEMO_SCALE = 0.5
DEMO_CODE_NOTES = 20
DEMO_VOCAB = 1000             # BPE trained on the synthetic test sets
DEMO_CONTEXT = 2048           # tokens; longer prompts are cut from the left and counted


def demo_metric_resources(out: Path, enabled=None):
    """BERTScore on a tiny BERT and UMLS-F1 on a ten-concept KB, built (deterministically) in ``out``;
    runs made by the demo record ``demo_metrics``, and the runner rebuilds these through
    ``clue.metrics.resources.STAND_INS``, so `clue score` and `clue verify` re-score them alike."""
    from clue.metrics.resources import MetricResources
    from clue.metrics.umls import UmlsLinker, load_linker
    from clue.testing.tiny_bert import build_tiny_bert
    from clue.testing.tiny_umls import build_tiny_umls, tiny_mention_pipeline

    layers = max(SCIBERT[1], BIO_CLINICALBERT[1])
    bert = build_tiny_bert(out / "tiny-bert", num_layers=layers, hidden_size=32)
    linker_files, kb_path = build_tiny_umls(out / "tiny-umls")
    linker = UmlsLinker(tiny_mention_pipeline(), load_linker(linker_files, kb_path))
    return MetricResources(enabled, bertscore_paths={SCIBERT[0]: bert, BIO_CLINICALBERT[0]: bert}, umls_linker=linker,
                           batch_size=16, device="cpu")


def run_demo(out_dir: str | Path, *, limit: int = 6, seed: int = 0, progress: bool = True) -> str:
    """Run the demo into ``out_dir``; return the text to print (banner, table, where the files are)."""
    import torch

    from clue.data.build import build
    from clue.demo.synthetic import write_all
    from clue.protocol import load_protocol
    from clue.protocol.fetch import fetch_protocol
    from clue.runner import EvalOptions, evaluate, summary_table
    from clue.taskinfo import BUILTIN, all_tasks
    from clue.testing.tiny import build_tiny_model, corpus_from_test_sets

    from tqdm import tqdm

    torch.set_num_threads(1)    # a model this small runs fastest on one thread
    BUILTIN_IDS = {task.id for task in BUILTIN}
    out = Path(out_dir)
    raw, data, protocol_dir = out / "raw", out / "data", out / "protocol"
    steps = ("synthetic raw files", "test sets", "demo protocol", "tiny model", "tiny BERT and UMLS KB")
    with tqdm(total=len(steps), desc="demo set-up", unit="step", disable=not progress, leave=False) as bar:
        bar.set_postfix_str(steps[0])
        write_all(raw, seed=seed, scale=DEMO_SCALE)
        for task in all_tasks():                    # plugin tasks bring their own synthetic writer
            if task.id not in BUILTIN_IDS:
                task.synthetic_writer()(raw, seed=seed)
        bar.update()
        bar.set_postfix_str(steps[1])
        # the synthetic MeQSum file has no pinned hash; the synthetic notes are fewer than the 500 MeDiSumCode draws
        build(raw_dir=raw, out_dir=data, allow_unverified=True, params={"medisumcode": {"n": DEMO_CODE_NOTES}})
        bar.update()
        bar.set_postfix_str(steps[2])
        fetch_protocol("demo", protocol_dir=protocol_dir)
        load_protocol("demo", protocol_dir)
        bar.update()
        bar.set_postfix_str(steps[3])
        model = build_tiny_model(out / "tiny-model", chat="system", seed=seed, max_position_embeddings=DEMO_CONTEXT,
                                 vocab_size=DEMO_VOCAB, extra_corpus=corpus_from_test_sets(data))
        bar.update()
        bar.set_postfix_str(steps[4])
        resources = demo_metric_resources(out)      # handed to the run; recorded there as demo_metrics
        bar.update()
    outcome = evaluate(EvalOptions(model=str(model), protocol="demo", protocol_dir=str(protocol_dir),
                                   data_dir=str(data), results_dir=str(out / "results"), run="demo", limit=limit,
                                   batch_size=8, seed=seed, progress=progress, demo_metrics=str(out)),
                       resources=resources)
    return "\n".join([BANNER, "", summary_table(outcome), "", BANNER])
