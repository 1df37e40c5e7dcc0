"""Requests rendered with real chat templates (a tokenizer built here), as the backends render them
(layout detection by the backend's ``accepts_system_role``):
``apply_chat_template(messages, tokenize=False, add_generation_prompt=True) + prefill``."""

from __future__ import annotations

import pytest

from clue.errors import InputError
from clue.backends.hf import accepts_system_role
from clue.protocol.layout import resolve_layout
from clue.tasks import get_task
from clue.tasks.base import EvalContext, ModelInfo
from clue.testing.tiny import CHAT_TEMPLATE_NO_SYSTEM, CHAT_TEMPLATE_WITH_SYSTEM
from protocol_standin import standin_protocol
from test_tasks_prompts import QS


def tokenizer(template):
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_object=Tokenizer(WordLevel({"<s>": 0, "<unk>": 1}, unk_token="<unk>")),
                                   bos_token="<s>", unk_token="<unk>", chat_template=template)


@pytest.fixture(scope="module")
def protocols(tmp_path_factory):
    folder = tmp_path_factory.mktemp("proto")
    return {name: standin_protocol(name, folder) for name in ("paper", "upstream")}


def model_info(tok) -> ModelInfo:
    return ModelInfo(name="org/tiny", has_chat_template=tok.chat_template is not None,
                     accepts_system_role=accepts_system_role(tok), context_length=2048)


def render(tok, request) -> str:
    if request.messages is None:
        return request.text + request.prefill
    return tok.apply_chat_template(list(request.messages), tokenize=False, add_generation_prompt=True) + request.prefill


def test_detection():
    assert accepts_system_role(tokenizer(CHAT_TEMPLATE_WITH_SYSTEM))
    assert not accepts_system_role(tokenizer(CHAT_TEMPLATE_NO_SYSTEM))
    dropping = "{% for m in messages %}{% if m['role'] != 'system' %}{{ m['content'] }}{% endif %}{% endfor %}"
    assert not accepts_system_role(tokenizer(dropping))   # silently drops the system turn


def test_paper_chat_system_rendered(protocols):
    tok = tokenizer(CHAT_TEMPLATE_WITH_SYSTEM)
    info = model_info(tok)
    ctx = EvalContext(protocol=protocols["paper"], model=info, layout=resolve_layout(info))
    request = get_task("meqsum").build_requests(QS, ctx)[0]
    assert render(tok, request) == (
        "<s><|system|>\nQS-SYS: shorten the question.<|end|>\n"
        "<|user|>\n<<long question 0>><|end|>\n<|assistant|>\nQuestion: short 0?<|end|>\n"
        "<|user|>\n<<long question 1>><|end|>\n<|assistant|>\nQuestion: short 1?<|end|>\n"
        "<|user|>\n<<long question 2>><|end|>\n<|assistant|>\nQuestion: short 2?<|end|>\n"
        "<|user|>\n<<long question 3>><|end|>\n<|assistant|>\nQuestion: ")


def test_paper_chat_no_system_rendered(protocols):
    tok = tokenizer(CHAT_TEMPLATE_NO_SYSTEM)
    info = model_info(tok)
    ctx = EvalContext(protocol=protocols["paper"], model=info, layout=resolve_layout(info))
    assert ctx.layout == "chat-no-system"
    request = get_task("meqsum").build_requests(QS, ctx)[1]
    assert render(tok, request) == (
        "<s><|user|>\nQS-SYS: shorten the question.\n\n<<long question 0>><|end|>\n"
        "<|assistant|>\nQuestion: short 0?<|end|>\n"
        "<|user|>\n<<long question 1>><|end|>\n<|assistant|>\nQuestion: short 1?<|end|>\n"
        "<|user|>\n<<long question 2>><|end|>\n<|assistant|>\nQuestion: short 2?<|end|>\n"
        "<|user|>\n<<long question 4>><|end|>\n<|assistant|>\nQuestion: ")


def test_upstream_rendered(protocols):
    tok = tokenizer(CHAT_TEMPLATE_WITH_SYSTEM)
    info = model_info(tok)
    ctx = EvalContext(protocol=protocols["upstream"], model=info, layout="chat-system")
    request = get_task("meqsum").build_requests(QS, ctx)[0]   # seed-1 order of 5 rows: 2, 3, 4 | 0, 1
    assert render(tok, request) == (
        "<s><|system|>\nQS-UP: shorten the question.<|end|>\n"
        "<|user|>\n<<long question 2>><|end|>\n<|assistant|>\nshort 2?<|end|>\n"
        "<|user|>\n<<long question 3>><|end|>\n<|assistant|>\nshort 3?<|end|>\n"
        "<|user|>\n<<long question 4>><|end|>\n<|assistant|>\nshort 4?<|end|>\n"
        "<|user|>\n<<long question 0>><|end|>\n<|assistant|>\n")


def test_forcing_a_system_turn_on_a_template_that_rejects_it(protocols):
    tok = tokenizer(CHAT_TEMPLATE_NO_SYSTEM)
    info = model_info(tok)
    with pytest.raises(InputError) as caught:
        resolve_layout(info, "chat-system")
    assert str(caught.value) == ("model org/tiny: its chat template rejects a system turn (layout chat-system); "
                                 "use --chat-layout chat-no-system")
    # the template itself would raise on the request
    ctx = EvalContext(protocol=protocols["paper"], model=info, layout="chat-system")
    with pytest.raises(InputError, match="rejects a system turn"):
        get_task("meqsum").build_requests(QS, ctx)
