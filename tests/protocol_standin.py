"""Helpers for the protocol and task tests: stand-in upstream files and a fake model description."""

from __future__ import annotations

import hashlib
from pathlib import Path

from clue.protocol import Protocol, load_protocol
from clue.protocol.fetch import fetch_protocol, load_pins
from clue.tasks.base import EvalContext, ModelInfo

STANDIN_DIR = Path(__file__).parent / "fixtures" / "upstream_standin"


def standin_hashes(name: str) -> dict[str, str]:
    """{path: sha256} of the stand-in files of protocol ``name`` (paper or upstream)."""
    return {rel: hashlib.sha256((STANDIN_DIR / name / rel).read_bytes()).hexdigest()
            for rel in load_pins()["task_files"].values()}


def standin_protocol(name: str, protocol_dir: Path) -> Protocol:
    fetch_protocol(name, protocol_dir, from_dir=STANDIN_DIR / name, expected_sha256=standin_hashes(name))
    return load_protocol(name, protocol_dir)


def words(text: str) -> list[str]:
    return text.split()


def fake_model(name: str = "org/test-model", layout: str = "chat-system", context_length: int = 4096,
               family: str | None = None) -> ModelInfo:
    """A model whose 'tokens' are whitespace-separated words (so budgets can be checked by hand)."""
    return ModelInfo(
        name=name,
        has_chat_template=layout != "base",
        accepts_system_role=layout == "chat-system",
        context_length=context_length,
        family=family,
        count_tokens=lambda text: len(words(text)),
        truncate_tokens=lambda text, n: " ".join(words(text)[:n]) if n > 0 else "",
    )


def context(protocol: Protocol, layout: str = "chat-system", **model_options) -> EvalContext:
    options = {k: model_options.pop(k) for k in ("seed", "greedy", "limit") if k in model_options}
    return EvalContext(protocol=protocol, model=fake_model(layout=layout, **model_options), layout=layout, **options)
