"""Tiny causal language models built on the spot, for tests, benchmarks and the offline demo.

Nothing is downloaded: a byte-level BPE tokenizer is trained on a few sentences written here,
and a Llama-style model with random (seeded) weights is saved beside it. Three flavours cover
the three message layouts a real model can need:

- ``chat="system"``: a chat template that accepts a system turn (an instruct model);
- ``chat="no-system"``: a chat template that raises on a system turn (like some instruct models);
- ``chat=None``: no chat template at all (a base model).

The models produce gibberish; they exist to exercise the machinery, never to produce scores.
"""

from __future__ import annotations

from pathlib import Path

from clue.io import apply_umask

# A small corpus in plain clinical English, so that common words get their own tokens.
_CORPUS = [
    "The patient is a 64 year old man admitted with chest pain and shortness of breath.",
    "She denies fever, chills, nausea or vomiting. Blood pressure was stable on arrival.",
    "Assessment: community acquired pneumonia, treated with antibiotics; improving.",
    "Plan: continue oxygen, repeat chest x-ray tomorrow, follow up with cardiology.",
    "Question: what medication should the patient take after discharge?",
    "Answer: the patient should take aspirin daily and return if the pain comes back.",
    "Summary: what are the side effects of metformin in older adults?",
    "Diagnoses/Patient problems: heart failure, diabetes mellitus, chronic kidney disease.",
    "ICD-10 Codes: I50.9, E11.9, N18.3, J18.9, I10, R07.9",
    "The correct answer is A: the patient was treated with surgery.",
    "Premise and hypothesis: entailment, contradiction or neutral.",
    "Discharge instructions: take your medicines, rest, drink fluids, call your doctor.",
    "History of present illness: two days of cough and worsening dyspnea at home.",
    "Laboratory results showed elevated white blood cell count and creatinine.",
    "You are a careful clinical assistant. Read the note and answer the question.",
]

OUTPUT_SCALE = 12.0
SPECIAL_TOKENS = ["<pad>", "<s>", "</s>", "<unk>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]

# Jinja chat templates, written for these toy models (same role markers as the special tokens).
CHAT_TEMPLATE_WITH_SYSTEM = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "<|{{ message['role'] }}|>\n{{ message['content'] }}<|end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
CHAT_TEMPLATE_NO_SYSTEM = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ raise_exception('This model has no system role') }}{% endif %}"
    "<|{{ message['role'] }}|>\n{{ message['content'] }}<|end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def _train_tokenizer(vocab_size: int, extra_corpus: list[str] | None):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_CORPUS * 4 + list(extra_corpus or []), trainer=trainer)
    # like Llama's tokenizers: encoding with special tokens puts BOS first
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", tokenizer.token_to_id("<s>"))])
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        additional_special_tokens=SPECIAL_TOKENS[4:],
        model_max_length=1 << 20,
    )


def build_tiny_model(
    out_dir: str | Path,
    *,
    chat: str | None = "system",
    vocab_size: int = 600,
    hidden_size: int = 48,
    num_layers: int = 2,
    max_position_embeddings: int = 1024,
    seed: int = 0,
    extra_corpus: list[str] | None = None,
) -> Path:
    """Save a tiny Llama-style model and its tokenizer in ``out_dir``; return the folder.

    ``chat`` is ``"system"``, ``"no-system"`` or ``None`` (base model, no chat template).
    The same arguments always give the same weights and tokenizer.
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    if chat not in ("system", "no-system", None):
        raise ValueError(f"chat must be 'system', 'no-system' or None, not {chat!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    tokenizer = _train_tokenizer(vocab_size, extra_corpus)
    if chat == "system":
        tokenizer.chat_template = CHAT_TEMPLATE_WITH_SYSTEM
    elif chat == "no-system":
        tokenizer.chat_template = CHAT_TEMPLATE_NO_SYSTEM
    tokenizer.padding_side = "left"

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=num_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=max_position_embeddings,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    # Random weights give a nearly flat next-token distribution; a larger output scale makes
    # greedy decoding decisive (no near-ties), so batched and single runs agree exactly.
    with torch.no_grad():
        model.get_output_embeddings().weight.mul_(OUTPUT_SCALE)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    apply_umask(out_dir)
    return out_dir


def corpus_from_test_sets(data_dir: str | Path, max_texts: int = 5000) -> list[str]:
    """Text fields of the built ``data/<task>/test.jsonl`` files, to train a tiny tokenizer on.

    A tokenizer trained on the texts it will read cuts them into about as many tokens as a real
    model's tokenizer would (4-5 characters per token instead of 2), so prompt lengths, and with
    them batching and truncation behaviour, resemble a real run.
    """
    from clue.io import read_jsonl

    texts: list[str] = []
    for path in sorted(Path(data_dir).glob("*/test.jsonl")):
        for record in read_jsonl(path):
            for value in record.values():
                values = value.values() if isinstance(value, dict) else [value]
                texts += [v for v in values if isinstance(v, str) and len(v) > 20]
            if len(texts) >= max_texts:
                return texts[:max_texts]
    return texts
