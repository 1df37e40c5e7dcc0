"""Backends turn requests into completions (``clue.backends.base``); ``make_backend`` picks one.

``BACKENDS`` is the registry ``clue evaluate --backend`` offers; each entry names the class
(imported only when a backend is made, so heavy libraries load only when needed) and says what it
is. Every class has ``from_options(model, BackendOptions)`` and the methods of
``clue.backends.base.Backend``. The model name ``baseline`` selects the pseudo-model of
``clue.backends.baseline`` (no weights) whatever the backend.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from clue.backends.base import BackendOptions
from clue.errors import InputError


@dataclass(frozen=True)
class BackendSpec:
    name: str
    target: str          # "module:Class"
    summary: str         # one line for --help
    served: bool         # generation happens in another process, reached over HTTP


BACKENDS: dict[str, BackendSpec] = {spec.name: spec for spec in (
    BackendSpec("hf", "clue.backends.hf:HFBackend",
                "transformers in this process (CPU or GPU; --model-arg device_map=auto spreads a model over GPUs)", False),
    BackendSpec("openai", "clue.backends.openai:OpenAIBackend",
                "a model behind any OpenAI-compatible server at --base-url (vLLM, TGI, SGLang, transformers serve)", True),
    BackendSpec("vllm", "clue.backends.vllm:VLLMBackend",
                "vLLM started by the kit as a separate process (--engine-command or $CLUE_VLLM), stopped after the run",
                True),
)}


def backend_class(name: str):
    spec = BACKENDS.get(name)
    if spec is None:
        raise InputError(f"--backend {name}: expected one of {', '.join(BACKENDS)}")
    module, attribute = spec.target.split(":")
    return getattr(importlib.import_module(module), attribute)


def make_backend(model: str, backend: str = "hf", options: BackendOptions | None = None, **fields):
    """A backend for ``model`` (local folder, Hub id, or ``baseline``).

    ``options`` (or keyword fields of :class:`BackendOptions`) configure it.
    """
    options = options or BackendOptions(**fields)
    if model == "baseline":
        from clue.backends.baseline import BaselineBackend

        return BaselineBackend()
    return backend_class(backend).from_options(model, options)
