"""Backends turn requests into completions (``clue.backends.base``); ``make_backend`` picks one.

- ``hf``: transformers, CPU or GPU (``clue.backends.hf``);
- ``vllm``: vLLM on a GPU, the optional ``gpu`` extra (``clue.backends.vllm``);
- the model name ``baseline`` selects the pseudo-model of ``clue.backends.baseline`` (no weights).

Heavy libraries are imported only when a backend is made.
"""

from __future__ import annotations

from clue.errors import InputError

BACKENDS = ("hf", "vllm")


def make_backend(model: str, backend: str = "hf", *, revision: str | None = None, dtype: str = "auto",
                 device: str = "auto", batch_size: int = 8, **options):
    """A backend for ``model`` (local folder, Hub id, or ``baseline``)."""
    if model == "baseline":
        from clue.backends.baseline import BaselineBackend

        return BaselineBackend()
    if backend == "hf":
        from clue.backends.hf import HFBackend

        return HFBackend(model, revision=revision, dtype=dtype, device=device, batch_size=batch_size)
    if backend == "vllm":
        from clue.backends.vllm import VLLMBackend

        return VLLMBackend(model, revision=revision, dtype=dtype, device=device, batch_size=batch_size, **options)
    raise InputError(f"--backend {backend}: expected one of {', '.join(BACKENDS)}")
