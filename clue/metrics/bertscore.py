"""BERTScore with ``bert-score`` 0.3.13: no idf, no baseline rescaling, a given model and layer.

One :class:`BertScorer` holds one loaded model (``clue.metrics.resources.MetricResources`` keeps
one per (model, layer) for a whole run) and scores any number of pairs in batches.

Two adjustments keep bert-score 0.3.13 working under transformers 5 without patching it, and
neither changes a score:

* Truncation. bert-score encodes each text with ``max_length=tokenizer.model_max_length`` and
  ``truncation=True``. SciBERT and Bio_ClinicalBERT declare no maximum, so the tokenizer reports
  about 1e30: transformers 4 then let over-long texts through and the 512-position model crashed;
  transformers 5's tokenizers backend cannot even take that number and fails on every text. We set
  ``model_max_length`` to ``max_length`` (512), so every text is cut to its first 510 word pieces
  plus ``[CLS]``/``[SEP]`` — the truncation the protocol asks for.
* Empty texts. For a text that is empty after ``strip()`` bert-score calls
  ``tokenizer.build_inputs_with_special_tokens([])``, which transformers 5 tokenizers no longer
  have. We give the tokenizer object that method (``[CLS] [SEP]``, what BERT tokenizers returned),
  so bert-score's own empty-text rule applies unchanged: P = R = F1 = 0 for the pair.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from pathlib import Path


class BertScorer:
    def __init__(self, model_name_or_path: str | os.PathLike, num_layers: int, batch_size: int = 64,
                 max_length: int = 512, device: str | None = None):
        from bert_score import BERTScorer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()   # a run has its own progress bars
        self.model = str(model_name_or_path)
        self.num_layers = num_layers
        self.batch_size = batch_size
        self.max_length = max_length
        self.progress = False               # progress bars with ETA on stderr (set by the run)
        self._scorer = BERTScorer(model_type=self.model, num_layers=num_layers, idf=False,
                                  rescale_with_baseline=False, batch_size=batch_size, device=device)
        tokenizer = self._scorer._tokenizer
        declared = getattr(tokenizer, "model_max_length", None)
        if declared is None or declared > max_length:
            tokenizer.model_max_length = max_length
        if not _has_attr(tokenizer, "build_inputs_with_special_tokens"):
            cls_id, sep_id = tokenizer.cls_token_id, tokenizer.sep_token_id
            tokenizer.build_inputs_with_special_tokens = lambda ids, pair=None: [cls_id, *ids, sep_id]

    @property
    def tokenizer(self):
        return self._scorer._tokenizer

    def identity(self) -> dict:
        """What a run manifest records about this scorer."""
        import bert_score

        return {"model": Path(self.model).name if os.path.isdir(self.model) else self.model,
                "num_layers": self.num_layers, "idf": False, "rescale_with_baseline": False,
                "max_length": self.max_length, "bert_score": bert_score.__version__}

    def score(self, predictions: list[str], references: list[str]) -> dict[str, list[float]]:
        """Per-pair ``{"precision": [...], "recall": [...], "f1": [...]}`` in [0, 1] (cosine-based)."""
        if len(predictions) != len(references):
            raise ValueError(f"BertScorer.score: {len(predictions)} predictions but {len(references)} references")
        if not predictions:
            return {"precision": [], "recall": [], "f1": []}
        with _progress_bars(f"BERTScore {Path(self.model).name} L{self.num_layers}", self.progress):
            precision, recall, f1 = self._scorer.score(list(predictions), list(references), batch_size=self.batch_size,
                                                       verbose=self.progress)
        return {"precision": precision.tolist(), "recall": recall.tolist(), "f1": f1.tolist()}


@contextlib.contextmanager
def _progress_bars(label: str, enabled: bool):
    """bert-score's own progress bars (embedding batches, then greedy matching), labelled, with ETA, on
    stderr; its status lines (printed to stdout) are swallowed. Same call, same numbers as without."""
    if not enabled:
        yield
        return
    import bert_score.utils as utils

    original = utils.tqdm
    steps = iter(("embedding", "matching"))
    utils.tqdm = lambda iterable, **kw: original(iterable, desc=f"{label} {next(steps, '')}".rstrip(), unit="batch",
                                                 file=sys.stderr, leave=False, **kw)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        utils.tqdm = original


def _has_attr(obj, name: str) -> bool:
    try:
        getattr(obj, name)
    except AttributeError:
        return False
    return True
