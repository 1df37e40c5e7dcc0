"""Message layouts: how a system prompt, few-shot turns and the query become a chat or a plain text.

Three layouts (``clue.tasks.base.CHAT_LAYOUTS``):

- ``chat-system``: ``[system, (user, assistant) x k, user]``, rendered with the model's chat template;
- ``chat-no-system``: the same without a system turn; the system prompt is prepended to the first
  user turn as ``sys_prompt + "\\n\\n" + user``;
- ``base``: plain text ``sys_prompt\\n\\n{user 1}\\n\\n{answer 1}\\n\\n…\\n\\n{query}\\n\\n``.

Whether a template accepts a system turn is detected by the backend
(``clue.backends.hf.accepts_system_role``) into ``ModelInfo``; ``resolve_layout`` turns that (or
``--chat-layout``) into the layout. The backend renders ``messages`` with ``tokenizer.apply_chat_template(messages, tokenize=False,
add_generation_prompt=True)`` (or takes ``text`` as is) and appends the request's prefill.
"""

from __future__ import annotations

import string
from collections.abc import Sequence

from clue.errors import InputError
from clue.tasks.base import CHAT_LAYOUTS, ModelInfo

Shot = tuple[str, str]   # (user turn, assistant answer)


FAMILIES = ("llama3", "phi")          # what the paper-era code acts on; a model may be both ("llama3+phi")
FAMILY_CHOICES = ("auto", "llama3", "phi", "llama3+phi", "none")


def model_family(model_name: str) -> str | None:
    """The original's rule, on the model's NAME only: "llama3" (stop strings) iff the lower-cased name
    contains "llama-3" or "llama3"; "phi" (cut at " <|end|>") iff it contains "phi"; both tests are
    independent (``org/dolphin-llama3`` is "llama3+phi"). None: neither."""
    lowered = model_name.lower()
    parts = [name for name, hit in (("llama3", "llama-3" in lowered or "llama3" in lowered),
                                     ("phi", "phi" in lowered)) if hit]
    return "+".join(parts) or None


def resolve_family(model_name: str, requested: str | None = "auto") -> str:
    """``--model-family``: auto = the name rule; otherwise the choice. "none" when no family applies."""
    if requested is None or requested == "auto":
        return model_family(model_name) or "none"
    if requested not in FAMILY_CHOICES:
        raise InputError(f"--model-family {requested}: expected one of {', '.join(FAMILY_CHOICES)}")
    return requested


def family_of(model: ModelInfo) -> str | None:
    """The model's family as resolved (``ModelInfo.family``); unset: the name rule."""
    if model.family is None:
        return model_family(model.name)
    return None if model.family == "none" else model.family


def has_family(model: ModelInfo, family: str) -> bool:
    """Does the paper-era behaviour of ``family`` ("llama3" or "phi") apply to this model?"""
    return family in (family_of(model) or "").split("+")


def resolve_layout(model: ModelInfo, requested: str | None = None) -> str:
    """The layout to use: ``requested`` (``--chat-layout``) if given, else the one detected from the model.

    A chat layout for a model without a chat template, or ``chat-system`` for a template that
    rejects a system turn, is refused with a one-line error.
    """
    if requested is None or requested == "auto":
        return model.detected_layout
    if requested not in CHAT_LAYOUTS:
        raise InputError(f"unknown chat layout {requested!r}: expected auto or one of {', '.join(CHAT_LAYOUTS)}")
    require_layout(model, requested)
    return requested


def require_layout(model: ModelInfo, layout: str) -> None:
    if layout != "base" and not model.has_chat_template:
        raise InputError(f"model {model.name}: has no chat template, so layout {layout!r} cannot be rendered; "
                         "use --chat-layout base")
    if layout == "chat-system" and not model.accepts_system_role:
        raise InputError(f"model {model.name}: its chat template rejects a system turn (layout chat-system); "
                         "use --chat-layout chat-no-system")


def build_prompt(sys_prompt: str, shots: Sequence[Shot], query: str, layout: str) -> dict:
    """``{"messages": [...]}`` for the chat layouts or ``{"text": ...}`` for ``base`` (paper-era rules)."""
    if layout == "base":
        parts = [sys_prompt]
        for user, answer in shots:
            parts += [user, answer]
        return {"text": "\n\n".join(parts) + f"\n\n{query}\n\n"}
    if layout == "chat-system":
        messages = [{"role": "system", "content": sys_prompt}]
        for user, answer in shots:
            messages += [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]
        messages.append({"role": "user", "content": query})
        return {"messages": messages}
    if layout == "chat-no-system":
        messages = []
        for user, answer in shots:
            messages += [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]
        messages.append({"role": "user", "content": query})
        if shots:
            messages[0] = {"role": "user", "content": f"{sys_prompt}\n\n{messages[0]['content']}"}
        else:   # the original keeps the system prompt as a user turn of its own when there are no shots
            messages.insert(0, {"role": "user", "content": sys_prompt})
        return {"messages": messages}
    raise InputError(f"unknown chat layout {layout!r}: expected one of {', '.join(CHAT_LAYOUTS)}")


def template_fields(template: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(template) if name]


def empty_answer(assistant_template: str) -> str:
    """The paper-era prefill: the assistant template with its answer field(s) formatted to ''."""
    return assistant_template.format(**{name: "" for name in template_fields(assistant_template)})


def fill(template: str, fields: dict, where: str) -> str:
    """``template.format(**fields)``; a field the record lacks is a one-line error naming ``where``."""
    try:
        return template.format(**fields)
    except KeyError as exc:
        raise InputError(f"{where}: the template uses field {{{exc.args[0]}}}, which the records do not have "
                         f"(available: {', '.join(sorted(fields))})") from None
    except (IndexError, ValueError) as exc:
        raise InputError(f"{where}: the template is not a valid str.format template ({exc})") from None
