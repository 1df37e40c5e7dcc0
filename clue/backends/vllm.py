"""The vLLM backend (GPU; the optional ``gpu`` extra: ``pip install 'clue-kit[gpu]'``).

Prompts are rendered, tokenized and left-truncated exactly as in the transformers backend (this
class reuses its tokenizer side), then handed to vLLM as token ids, so both backends see the same
prompt tokens. Sampling is seeded per prompt (``SamplingParams.seed``, from the decoding seed and
the prompt), so completions do not depend on how vLLM schedules its batches.

vLLM is imported only when the first batch is generated. This module is not exercised by the
kit's offline tests (no GPU, no vLLM there); ``clue evaluate --backend vllm`` is its only caller.
"""

from __future__ import annotations

import time

from clue.backends.base import Decoding, Request
from clue.backends.hf import HFBackend, cut_at_stop, row_seed
from clue.errors import InputError
from clue.store import Generation


class VLLMBackend(HFBackend):
    backend_name = "vllm"

    def __init__(self, model: str, *, revision: str | None = None, dtype: str = "auto", device: str = "auto",
                 batch_size: int = 64, gpu_memory_utilization: float = 0.9, tensor_parallel_size: int = 1):
        if device == "cpu":
            raise InputError("--backend vllm runs on a GPU; use --backend hf for --device cpu")
        # the transformers side only tokenizes and renders (no weights), so it needs no GPU: `clue score`
        # re-renders a vLLM run's prompts on any machine
        super().__init__(model, revision=revision, dtype=dtype, device="cpu", batch_size=batch_size)
        self.device = "cuda"
        self.engine_options = {"gpu_memory_utilization": gpu_memory_utilization,
                               "tensor_parallel_size": tensor_parallel_size}
        self._llm = None

    def _pick_dtype(self, dtype: str) -> str:
        """``auto``: the dtype the checkpoint declares (what vLLM picks), so the identity is machine-independent."""
        if dtype != "auto":
            return dtype
        declared = str(self.config.get("torch_dtype") or self.config.get("dtype") or "bfloat16")
        return declared if declared in ("float32", "bfloat16", "float16") else "bfloat16"

    def settings(self) -> dict:
        return {**super().settings(), **self.engine_options}

    def _engine(self):
        if self._llm is None:
            try:
                from vllm import LLM
            except ImportError:
                raise InputError("--backend vllm: vLLM is not installed (pip install 'clue-kit[gpu]')") from None
            started = time.perf_counter()
            self._llm = LLM(model=str(self.path), tokenizer=str(self.path), dtype=self.dtype, seed=0,
                            max_model_len=self.model_info().context_length, **self.engine_options)
            self.load_seconds = time.perf_counter() - started
        return self._llm

    def _sampling_params(self, decoding: Decoding, prompt: str):
        from vllm import SamplingParams

        common = dict(max_tokens=decoding.max_new_tokens, stop=list(decoding.stop) or None,
                      skip_special_tokens=True)
        if decoding.greedy:
            return SamplingParams(temperature=0.0, **common)
        return SamplingParams(temperature=decoding.temperature, top_p=decoding.top_p, top_k=-1,
                              seed=row_seed(decoding.seed, prompt) % (2**31), **common)

    def generate_detailed(self, requests: list[Request], prompts: list[str]) -> list[Generation]:
        llm = self._engine()
        inputs, params, truncated = [], [], []
        for request, prompt in zip(requests, prompts):
            ids = self._prompt_ids(request, prompt)
            limit = self.prompt_limit(request.decoding)
            truncated.append(max(0, len(ids) - limit))
            inputs.append({"prompt_token_ids": ids[-limit:] if len(ids) > limit else ids})
            params.append(self._sampling_params(request.decoding, prompt))
        started = time.perf_counter()
        outputs = llm.generate(inputs, params, use_tqdm=False)
        seconds = (time.perf_counter() - started) / max(1, len(inputs))
        generations = []
        for request, item, output, n_cut in zip(requests, inputs, outputs, truncated):
            completion = output.outputs[0]
            generations.append(Generation(
                completion=cut_at_stop(completion.text, request.decoding.stop),
                prompt_tokens=len(item["prompt_token_ids"]), truncated_tokens=n_cut,
                new_tokens=len(completion.token_ids), seconds=seconds))
        return generations
