"""Continuous batching for the transformers backend: prompts scheduled without padding.

Up to ``slots`` prompts are in flight at once. Prompts entering together are prefilled in one
forward, their tokens side by side (up to ``prefill_tokens``; 0: each prompt in its own forward, as
one-at-a-time generation runs it); then every step decodes one token for all prompts in flight in a
single forward whose rows are the prompts' last tokens. Attention is computed per prompt over that
prompt's own key/value buffer, so no prompt is padded and no mask is built. A prompt that ends
(end-of-sequence, its ``max_new_tokens``, a stop string) leaves at once and the next waiting prompt
takes its slot.

Each attention call is transformers' own SDPA function, given the shapes one-at-a-time generation
gives it (the projections and MLP see several prompts' rows at once, as in a padded batch), so
completions equal one-at-a-time greedy generation (float32 on CPU; the tests check all six tasks).
Sampling keeps a generator per prompt, seeded as the padded path seeds it
(``clue.backends.hf.row_seed``), and draws one token per step exactly as its row sampler does.

Only models whose attention is plain causal self-attention over all past tokens are accepted
(:func:`unsupported_reason`); a sliding window, rotary scaling that depends on the longest sequence
in a forward (dynamic, LongRoPE), or a generation config that adds logits processors (repetition
penalty, suppressed tokens, …) needs ``generate`` and the padded path.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

ATTENTION_NAME = "clue_ragged"
# families whose decoder layers pass keyword arguments through to the attention function and use
# full causal attention (checked: transformers 5.20)
FAMILIES = frozenset({"llama", "mistral", "qwen2", "qwen3", "phi3", "granite", "olmo2"})


@dataclass
class Job:
    """One prompt to complete: its token ids (already cut to the model's limit) and decoding."""

    index: int
    ids: list[int]
    max_new_tokens: int
    stop: tuple[str, ...] = ()
    sample: tuple[int, float, float] | None = None   # (row seed, temperature, top_p); None = greedy


@dataclass
class _Slot:
    job: Job
    started: float
    position: int = 0                     # tokens already in the key/value buffers
    tokens: list[int] = field(default_factory=list)
    keys: list = field(default_factory=list)
    values: list = field(default_factory=list)
    generator: object = None

    @property
    def capacity(self) -> int:
        """Tokens its key/value buffers hold: the prompt and every token it may generate."""
        return len(self.job.ids) + self.job.max_new_tokens


@dataclass
class _Step:
    """What the attention function needs to know about the forward being run."""

    segments: list[tuple[_Slot, int, int]]   # (slot, first row of its tokens, number of its tokens)


def unsupported_reason(config: dict, generation_config) -> str | None:
    """Why a model cannot use this path (None: it can)."""
    model_type = str(config.get("model_type", ""))
    if model_type not in FAMILIES:
        return f"model type {model_type or '?'} is not one of {', '.join(sorted(FAMILIES))}"
    window = config.get("sliding_window")
    if window and config.get("use_sliding_window", True) and "layer_types" not in config:
        limit = config.get("max_position_embeddings") or 0
        if window < limit:
            return f"sliding-window attention ({window} tokens)"
    if any(t != "full_attention" for t in config.get("layer_types") or []):
        return "layers other than full attention"
    rope = config.get("rope_scaling") or config.get("rope_parameters") or {}
    rope_type = rope.get("rope_type", rope.get("type")) if isinstance(rope, dict) else None
    if rope_type in ("dynamic", "longrope"):   # scaled by the longest sequence in the forward, not the prompt's own
        return f"{rope_type} rotary scaling"
    processors = _greedy_processors(generation_config)
    if processors:
        return f"its generation config adds logits processors ({', '.join(processors)})"
    return None


def _greedy_processors(generation_config) -> list[str]:
    """The settings of ``generation_config`` that would add a logits processor to greedy ``generate``."""
    if generation_config is None:
        return []
    checks = {
        "repetition_penalty": lambda v: v not in (None, 1.0),
        "encoder_repetition_penalty": lambda v: v not in (None, 1.0),
        "no_repeat_ngram_size": lambda v: bool(v),
        "encoder_no_repeat_ngram_size": lambda v: bool(v),
        "bad_words_ids": lambda v: bool(v),
        "min_length": lambda v: bool(v),
        "min_new_tokens": lambda v: bool(v),
        "forced_bos_token_id": lambda v: v is not None,
        "forced_eos_token_id": lambda v: v is not None,
        "suppress_tokens": lambda v: bool(v),
        "begin_suppress_tokens": lambda v: bool(v),
        "sequence_bias": lambda v: bool(v),
        "exponential_decay_length_penalty": lambda v: v is not None,
        "guidance_scale": lambda v: v not in (None, 1.0),
        "renormalize_logits": lambda v: bool(v),
        "watermarking_config": lambda v: v is not None,
    }
    return [name for name, active in checks.items() if active(getattr(generation_config, name, None))]


def _ragged_attention(module, query, key, value, attention_mask, dropout=0.0, scaling=None,
                      clue_step: _Step | None = None, **kwargs):
    """Attention per prompt: write its new keys/values into its buffer, attend over the buffer."""
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if clue_step is None:   # a forward not run by this module
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      **kwargs)
    layer = module.layer_idx
    outputs = []
    for slot, start, length in clue_step.segments:
        if len(slot.keys) <= layer:
            shape = (1, key.shape[1], slot.capacity, key.shape[3])
            slot.keys.append(key.new_empty(shape))
            slot.values.append(value.new_empty(shape))
        end = slot.position + length
        slot.keys[layer][:, :, slot.position:end] = key[:, :, start:start + length]
        slot.values[layer][:, :, slot.position:end] = value[:, :, start:start + length]
        out, _ = sdpa_attention_forward(module, query[:, :, start:start + length], slot.keys[layer][:, :, :end],
                                        slot.values[layer][:, :, :end], None, dropout=dropout, scaling=scaling,
                                        **kwargs)
        outputs.append(out)
    return (outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=1)), None


def _register() -> None:
    from transformers import AttentionInterface

    AttentionInterface.register(ATTENTION_NAME, _ragged_attention)


class ContinuousBatcher:
    """Runs :class:`Job` s through ``model`` with at most ``slots`` in flight; see the module docstring.

    ``stopped(job, tokens)`` says whether the tokens so far end the completion at a stop string;
    ``end_ids`` end a completion (end-of-sequence and padding tokens).
    """

    def __init__(self, model, slots: int, end_ids: set[int], stopped: Callable[[Job, list[int]], bool],
                 prefill_tokens: int = 0):
        self.model = model
        self.slots = max(1, int(slots))
        self.prefill_tokens = prefill_tokens
        self.end_ids = end_ids
        self.stopped = stopped

    def run(self, jobs: list[Job]) -> Iterator[tuple[Job, list[int], float]]:
        """Yield ``(job, generated tokens, seconds in flight)`` as each job finishes."""
        import torch

        _register()
        model = self.model
        original = model.config._attn_implementation
        model.set_attn_implementation(ATTENTION_NAME)
        waiting = deque(jobs)
        active: list[_Slot] = []
        try:
            with torch.inference_mode():
                while waiting or active:
                    entering: list[_Slot] = []
                    while waiting and len(active) + len(entering) < self.slots:
                        entering.append(_Slot(waiting.popleft(), time.perf_counter()))
                    for group in self._prefill_groups(entering):
                        self._prefill(group)
                    for slot in entering:
                        if self._finished(slot):
                            yield self._release(slot)
                        else:
                            active.append(slot)
                    if active:
                        self._decode(active)
                        still = []
                        for slot in active:
                            if self._finished(slot):
                                yield self._release(slot)
                            else:
                                still.append(slot)
                        active = still
        finally:
            model.set_attn_implementation(original)

    # -- steps -------------------------------------------------------------------

    def _forward(self, slots: list[_Slot], ids: list[int], positions: list[int], lengths: list[int], last_only: bool):
        import torch

        device = self.model.device
        segments, start = [], 0
        for slot, length in zip(slots, lengths):
            segments.append((slot, start, length))
            start += length
        step = _Step(segments)
        if not last_only:
            keep = 0                                            # every row is a prompt's last token
        elif len(slots) == 1:
            keep = 1
        else:                                                   # the last token of each prompt
            keep = torch.tensor([start + length - 1 for _, start, length in segments], device=device)
        output = self.model(input_ids=torch.tensor([ids], device=device),
                            position_ids=torch.tensor([positions], device=device),
                            use_cache=False, logits_to_keep=keep, clue_step=step)
        for slot, length in zip(slots, lengths):
            slot.position += length
        return output.logits[0].to(dtype=torch.float32)        # [rows, vocabulary]

    def _prefill_groups(self, slots: list[_Slot]) -> list[list[_Slot]]:
        """Prompts prefilled in one forward: each alone, or (``prefill_tokens``) side by side up to that many tokens."""
        if not self.prefill_tokens:
            return [[slot] for slot in slots]
        groups: list[list[_Slot]] = []
        tokens = 0
        for slot in slots:
            if not groups or tokens + len(slot.job.ids) > self.prefill_tokens:
                groups.append([])
                tokens = 0
            groups[-1].append(slot)
            tokens += len(slot.job.ids)
        return groups

    def _prefill(self, slots: list[_Slot]) -> None:
        import torch

        ids, positions = [], []
        for slot in slots:
            ids += slot.job.ids
            positions += range(len(slot.job.ids))
            if slot.job.sample is not None:
                slot.generator = torch.Generator(device=self.model.device)
                slot.generator.manual_seed(slot.job.sample[0])
        logits = self._forward(slots, ids, positions, [len(slot.job.ids) for slot in slots], last_only=True)
        self._choose(slots, logits)

    def _decode(self, active: list[_Slot]) -> None:
        ids = [slot.tokens[-1] for slot in active]
        positions = [slot.position for slot in active]
        logits = self._forward(active, ids, positions, [1] * len(active), last_only=False)
        self._choose(active, logits)

    def _choose(self, slots: list[_Slot], logits) -> None:
        """The next token of each slot: greedy argmax, or its own seeded draw."""
        import torch

        greedy = [i for i, slot in enumerate(slots) if slot.job.sample is None]
        chosen = [0] * len(slots)
        if greedy:
            picks = torch.argmax(logits[greedy], dim=-1).tolist()
            for i, token in zip(greedy, picks):
                chosen[i] = token
        for i, slot in enumerate(slots):
            if slot.job.sample is not None:
                chosen[i] = _draw(logits[i], slot.job.sample[1], slot.job.sample[2], slot.generator)
        for slot, token in zip(slots, chosen):
            slot.tokens.append(int(token))

    def _finished(self, slot: _Slot) -> bool:
        tokens = slot.tokens
        return (len(tokens) >= slot.job.max_new_tokens or tokens[-1] in self.end_ids
                or (bool(slot.job.stop) and self.stopped(slot.job, tokens)))

    def _release(self, slot: _Slot) -> tuple[Job, list[int], float]:
        slot.keys, slot.values = [], []
        return slot.job, slot.tokens, time.perf_counter() - slot.started


def _draw(scores, temperature: float, top_p: float, generator) -> int:
    """One token as ``clue.backends.hf``'s row sampler draws it (temperature, nucleus, multinomial)."""
    import torch

    from clue.backends.hf import sampling_probs

    return int(torch.multinomial(sampling_probs(scores, temperature, top_p), 1, generator=generator))
