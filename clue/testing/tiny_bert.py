"""A tiny BERT (random weights, hand-built WordPiece vocabulary) for offline tests and the demo.

The folder looks like a hub BERT checkpoint (``config.json``, ``vocab.txt``, weights,
tokenizer config), so ``AutoModel``/``AutoTokenizer`` and bert-score load it by path. By
default the tokenizer declares no maximum length, like SciBERT, while the model has 512
positions: the case the BERTScore truncation must handle.
"""

from __future__ import annotations

import os
from pathlib import Path

from clue.io import apply_umask

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
DEFAULT_WORDS = (
    "the", "a", "of", "and", "with", "no", "is", "was", "has", "patient", "pain", "chest", "fever",
    "cough", "headache", "blood", "pressure", "heart", "failure", "diabetes", "kidney", "acute",
    "chronic", "history", "denies", "reports", "daily", "dose", "mg", "left", "right", "leg",
    "swelling", "shortness", "breath", "what", "how", "treat", "cause", "medication", "dr",
    ".", ",", "?", ":",
)
DEFAULT_SUFFIXES = ("##s", "##ing", "##ed", "##itis", "##ia")


def build_tiny_bert(out_dir: str | os.PathLike, words=DEFAULT_WORDS, suffixes=DEFAULT_SUFFIXES, *,
                    num_layers: int = 3, hidden_size: int = 32, heads: int = 2,
                    max_position_embeddings: int = 512, model_max_length: int | None = None,
                    seed: int = 0) -> Path:
    """Write a tiny uncased BERT to ``out_dir`` and return the folder."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    vocab = list(SPECIAL_TOKENS) + [w for w in words if w not in SPECIAL_TOKENS] + list(suffixes)
    if len(set(vocab)) != len(vocab):
        raise ValueError("build_tiny_bert: the vocabulary has duplicate entries")
    (out / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    kwargs = {"do_lower_case": True}
    if model_max_length is not None:
        kwargs["model_max_length"] = model_max_length
    tokenizer = BertTokenizer(str(out / "vocab.txt"), **kwargs)
    tokenizer.save_pretrained(out)
    if model_max_length is None:
        # like SciBERT: no maximum recorded at all
        import json

        config_path = out / "tokenizer_config.json"
        config = json.loads(config_path.read_text(encoding="utf-8"))
        config.pop("model_max_length", None)
        config_path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(vocab), hidden_size=hidden_size, num_hidden_layers=num_layers,
                        num_attention_heads=heads, intermediate_size=2 * hidden_size,
                        max_position_embeddings=max_position_embeddings)
    BertModel(config).eval().save_pretrained(out)
    apply_umask(out)
    return out
