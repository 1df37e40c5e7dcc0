"""``clue audit-upstream``: run the original CLUE evaluation scripts beside the kit and compare, item by item.

A reviewer points the kit at a checkout of TIO-IKIM/CLUE (``paper`` = the pinned paper-era commit,
``upstream`` = the pinned head). Nothing of the checkout is copied into the kit: its ``eval/`` scripts
are imported at run time, from the checkout, and each script's own ``main()`` runs with the arguments
its launch script (``scripts/launch_scripts/*.sh``) passes, on the kit's synthetic test sets and a tiny
locally built tokenizer per chat layout. Only what would reach the outside world is replaced by
recorders:

- the inference client: the paper era's ``huggingface_hub.InferenceClient.text_generation`` and the
  head's ``vllm.LLM`` / ``SamplingParams`` (a stand-in module: vLLM need not be installed; its ``chat``
  renders each conversation with the tokenizer's chat template, ``add_generation_prompt=True``, as vLLM
  0.6.6 does). Both return canned completions chosen by the prompt's hash, so the kit receives the very
  same completion for the very same prompt;
- the metric libraries: ``evaluate.load("rouge")`` (``rouge-score``, no stemmer, as ``evaluate`` 0.4.3),
  ``bert_score.score`` (the tiny BERT for every requested model, recording model and layer; the batch
  size the call asks for, 64 by default) and the scispaCy pipeline of ``eval/utils.py`` (the tiny UMLS
  knowledge base of ``clue.testing.tiny_umls``). ``icd10`` is the real package.

The original's global ``random`` is seeded with ``--seed`` before ``main()`` runs, as the kit seeds
LongHealth's shuffles and distractor draws, so those can be compared too. For every task and layout the
audit compares: rendered prompt bytes, the few-shot turns, decoding parameters, post-processing of the
canned completions, gold labels, per-item metric values and the averages. A script that raises is
reported with what raised and what was compared instead (what it had recorded before it raised).

Statuses: MATCH; MISMATCH (fails the audit); DEVIATION (a difference the kit labels and documents, e.g.
``--overlong truncate-left``); RAISED (the original script raised; details say what was compared
instead); N/A (the check does not apply, e.g. few-shot turns of LongHealth).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import importlib
import importlib.util
import io
import json
import os
import random
import re
import sys
import tempfile
import traceback
import types
from pathlib import Path
from typing import Any

from clue.errors import InputError
from clue.taskinfo import TASKS, task_info

CHECKS = ("prompt", "few-shot", "decoding", "post-processing", "gold", "metrics", "averages")
LAYOUTS = {"paper": ("chat-system", "chat-no-system", "base"), "upstream": ("chat-system",)}
LAYOUT_FLAGS = {"chat-system": ["--model_has_system", "--model_is_instruct"],
                "chat-no-system": ["--model_is_instruct"], "base": []}
TINY_CHAT = {"chat-system": "system", "chat-no-system": "no-system", "base": None}
# the tiny models are named so that the original's name rule applies both Llama-3 stop strings and the Phi cut
MODEL_NAME = "audit-llama3-phi-{layout}"
MODEL_ADDRESS = "http://127.0.0.1:9"      # never contacted: the client is a recorder
BERTSCORE_BOUND = 1e-6                    # batched vs one pair per call (float32); see bench/RESULTS.md
FLOAT_TOLERANCE = 1e-9                    # averaging arithmetic (statistics.mean vs a plain sum)

# the original's result keys -> the kit's per-item metric keys
METRIC_KEYS = {"ACCURACY": "accuracy", "ROUGE_L": "rougeL", "ROUGE1": "rouge1", "ROUGE2": "rouge2",
               "BERT_F1": "bertscore_f1", "UMLS_F1": "umls_f1", "ICD EM P": "em_p", "ICD EM R": "em_r",
               "ICD EM F1": "em_f1", "ICD AP P": "ap_p", "ICD AP R": "ap_r", "ICD AP F1": "ap_f1",
               "VALID CODES": "valid_codes", "Task1_Accuracy": "task1", "Task2_Accuracy": "task2",
               "Task3_Accuracy": "task3"}
NO_ANSWER = "Question cannot be answered with provided documents"
TEXT_TASKS = ("meqsum", "problem_summary", "medisumqa")   # compute_metrics(output, label, rouge) in the paper era

# Canned completions (none holds a stop string: the server would have stopped there); they exercise the
# Phi cut, the self-prompting regex, stripping, empty outputs and LongHealth's answer parsing.
CANNED = {
    "mednli": ["entailment", " NEUTRAL\nYou are an AI assistant. contradiction", "contradiction <|end|> entailment",
               "Neutral, not entailment or neutral", "[INST] entailment", "ENTAILMENT."],
    "text": ["  the patient has chest pain and fever  ", "heart failure, diabetes <|end|> You are an AI",
             "what dose of aspirin daily?\n<|user|> next question", "", "kidney failure\n[INST] more",
             "Chronic kidney disease; hypertension; pain"],
    "medisumcode": ["I10, E11.9, J18.9", "Codes: I50.9 and N18.3 <|end|> Z99.9", "A00.1 B2 I10\nYou are an AI I10",
                    "none", " E119 I509 i10 "],
    "longhealth": ["The correct answer is B: it is B", f"The correct answer is F: {NO_ANSWER}", "I think A",
                   "The correct answer is C: x <|end|> The correct answer is A: y", "The correct answer is E:"],
}


def canned(task_id: str, prompt: str) -> str:
    pool = CANNED.get(task_id, CANNED["text"])
    return pool[int(hashlib.sha256(prompt.encode("utf-8")).hexdigest(), 16) % len(pool)]


# ------------------------------------------------------------------------------------- report

@dataclasses.dataclass
class Cell:
    task: str
    layout: str
    check: str
    status: str            # MATCH / MISMATCH / DEVIATION / RAISED / N/A
    detail: str = ""


@dataclasses.dataclass
class AuditReport:
    protocol: str
    upstream_dir: str
    cells: list[Cell]
    files: dict[str, dict]                 # checkout file -> {sha256, pinned, status}
    raised: list[dict]                     # scripts that raised: task, layout, error, where, compared_instead
    notes: list[str]

    @property
    def mismatches(self) -> list[Cell]:
        return [c for c in self.cells if c.status == "MISMATCH"]

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def as_dict(self) -> dict:
        return {"protocol": self.protocol, "upstream_dir": self.upstream_dir, "ok": self.ok,
                "files": self.files, "raised": self.raised, "notes": self.notes,
                "cells": [dataclasses.asdict(c) for c in self.cells]}

    def table(self) -> str:
        """The task x layout x check table; every cell that is not MATCH or N/A gets a numbered note below
        it (a MISMATCH also shows its first differing characters in the cell)."""
        from tabulate import tabulate

        layouts = LAYOUTS.get(self.protocol, ())
        rows, notes, numbers = [], [], {}
        for task in TASKS:
            for layout in layouts:
                found = {c.check: c for c in self.cells if c.task == task.id and c.layout == layout}
                if not found:
                    continue
                row = [task.name, layout]
                for check in CHECKS:
                    cell = found.get(check)
                    if cell is None or cell.status in ("MATCH", "N/A"):
                        row.append(cell.status if cell else "–")
                        continue
                    if cell.detail not in numbers:
                        numbers[cell.detail] = len(numbers) + 1
                        notes.append(f"[{numbers[cell.detail]}] {cell.detail}")
                    text = f"{cell.status} [{numbers[cell.detail]}]"
                    if cell.status == "MISMATCH":
                        text += ": " + _short(cell.detail)
                    row.append(text)
                rows.append(row)
        table = tabulate(rows, headers=["Task", "Layout", *CHECKS], tablefmt="github")
        return table + ("\n\n" + "\n".join(notes) if notes else "")


def _short(detail: str, width: int = 70) -> str:
    detail = detail.replace("\n", "\\n").replace("|", "¦")
    return detail[:width] + ("…" if len(detail) > width else "")


def first_difference(kit: str, original: str, width: int = 24) -> str:
    """Where two texts first differ, with ``width`` characters of each from there (repr)."""
    index = next((i for i, (a, b) in enumerate(zip(kit, original)) if a != b), min(len(kit), len(original)))
    start = max(0, index - 8)
    return (f"char {index}: kit {kit[start:index + width]!r} vs original {original[start:index + width]!r}"
            f"{'' if len(kit) == len(original) else f' (lengths {len(kit)} vs {len(original)})'}")


# ------------------------------------------------------------------------------------- the checkout

def launch_arguments(upstream_dir: Path, script: str) -> dict[str, str]:
    """The per-task settings the checkout's launch script passes to ``script`` (e.g. eval/eval_mednli.py):
    ``num_few_shot_examples``, ``max_len`` (LongHealth). Read as text, never executed."""
    folder = upstream_dir / "scripts" / "launch_scripts"
    for path in sorted(folder.glob("*.sh")) if folder.is_dir() else []:
        text = path.read_text(encoding="utf-8", errors="replace")
        named = re.search(r'^\s*eval_script="?([^"\s]+)"?', text, re.M)
        if named and named.group(1) == script:
            found = {"launch_script": str(path.relative_to(upstream_dir))}
            for key in ("num_few_shot_examples", "max_len"):
                match = re.search(rf'^\s*{key}="?(\d+)"?', text, re.M)
                if match:
                    found[key] = match.group(1)
            return found
    raise InputError(f"{folder}: no launch script runs {script} (expected eval_script=\"{script}\" in a *.sh file)")


def _clue_files() -> list[str]:
    """The prompt files of the six CLUE tasks (a plugin task's prompt file is not in a CLUE checkout)."""
    from clue.taskinfo import BUILTIN

    return [task.upstream_file for task in BUILTIN]


def check_files(upstream_dir: Path, protocol: str) -> dict[str, dict]:
    from clue.protocol.fetch import pinned

    pins = pinned(protocol)["files"]
    out = {}
    for rel in _clue_files():
        path = upstream_dir / rel
        if not path.is_file():
            raise InputError(f"{path}: not found; --upstream-dir must be a checkout of TIO-IKIM/CLUE "
                             f"(commit {pinned(protocol)['commit'][:7]} for protocol {protocol})")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        out[rel] = {"sha256": digest, "pinned": pins.get(rel), "status": "MATCH" if digest == pins.get(rel) else "DIFFERS"}
    return out


# ------------------------------------------------------------------------------------- stand-ins

class _Recorder:
    """Everything one run of an original script sent out or computed."""

    def __init__(self, task_id: str, tokenizer_path: Path):
        self.task_id = task_id
        self.tokenizer_path = tokenizer_path
        self.calls: list[dict] = []           # one per prompt sent: prompt, params, completion
        self.few_shot: list[Any] = []         # returns of utils.build_few_shot_examples / build_first_turn
        self.model_inputs: list[Any] = []     # returns of utils.build_model_input
        self.metric_calls: list[dict] = []    # compute_metrics: args, kwargs, result
        self.bertscore: list[tuple[str, int]] = []

    def send(self, prompt: str, params: dict) -> str:
        completion = canned(self.task_id, prompt)
        self.calls.append({"prompt": prompt, "params": params, "completion": completion})
        return completion


def _inference_client_class(recorder: _Recorder):
    class InferenceClient:        # the paper era's text-generation client, recording instead of sending
        def __init__(self, model=None, *args, **kwargs):
            self.model = model

        def text_generation(self, prompt, **kwargs):
            if kwargs.get("stream") or kwargs.get("details"):
                raise NotImplementedError("audit stand-in: only stream=False, details=False is recorded")
            params = {k: v for k, v in kwargs.items() if k not in ("stream", "details")}
            return recorder.send(prompt, params)

    return InferenceClient


def _vllm_module(recorder: _Recorder) -> types.ModuleType:
    module = types.ModuleType("vllm")

    class SamplingParams:         # vLLM 0.6.6 defaults for what the head sets or relies on
        def __init__(self, **kwargs):
            self.kwargs = dict(kwargs)
            self.max_tokens = kwargs.get("max_tokens", 16)
            self.temperature = kwargs.get("temperature", 1.0)
            self.top_p = kwargs.get("top_p", 1.0)
            self.stop = kwargs.get("stop")
            self.seed = kwargs.get("seed")

    class LLM:
        def __init__(self, model, *args, **kwargs):
            from transformers import AutoConfig, AutoTokenizer

            self.tokenizer = AutoTokenizer.from_pretrained(model)
            config = AutoConfig.from_pretrained(model)
            max_len = kwargs.get("max_model_len") or config.max_position_embeddings
            self.llm_engine = types.SimpleNamespace(model_config=types.SimpleNamespace(max_model_len=max_len))

        def chat(self, messages, sampling_params=None, **kwargs):
            conversations = messages if messages and isinstance(messages[0], list) else [messages]
            params = sampling_params or SamplingParams()
            outputs = []
            for conversation in conversations:
                prompt = self.tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)
                completion = recorder.send(prompt, {"max_tokens": params.max_tokens, "temperature": params.temperature,
                                                    "top_p": params.top_p, "stop": params.stop, "seed": params.seed})
                outputs.append(types.SimpleNamespace(prompt=prompt, outputs=[types.SimpleNamespace(text=completion)]))
            return outputs

    module.LLM, module.SamplingParams = LLM, SamplingParams
    return module


def _evaluate_module() -> types.ModuleType:
    module = types.ModuleType("evaluate")

    class Rouge:                  # what evaluate 0.4.3's "rouge" computes (rouge-score, no stemmer)
        def compute(self, predictions, references, rouge_types=None, use_aggregator=True, use_stemmer=False,
                    tokenizer=None):
            from rouge_score import rouge_scorer

            types_ = rouge_types or ["rouge1", "rouge2", "rougeL", "rougeLsum"]
            scorer = rouge_scorer.RougeScorer(types_, use_stemmer=use_stemmer, tokenizer=tokenizer)
            scores = [scorer.score(ref, pred) for ref, pred in zip(references, predictions)]
            if use_aggregator:
                if len(scores) != 1:
                    raise NotImplementedError("audit stand-in: aggregated ROUGE over several pairs")
                return {key: scores[0][key].fmeasure for key in types_}
            return {key: [s[key].fmeasure for s in scores] for key in types_}

    def load(name, *args, **kwargs):
        if name != "rouge":
            raise NotImplementedError(f"audit stand-in: evaluate.load({name!r})")
        return Rouge()

    module.load = load
    return module


def _bert_score_module(recorder: _Recorder, bert_dir: Path, scorers: dict) -> types.ModuleType:
    from clue.protocol.settings import BIO_CLINICALBERT, SCIBERT

    import bert_score as real

    module = types.ModuleType("bert_score")
    module.BERTScorer = real.BERTScorer       # what the kit's own BertScorer builds on
    module.__version__ = real.__version__
    layers = {SCIBERT[0]: SCIBERT[1], BIO_CLINICALBERT[0]: BIO_CLINICALBERT[1]}   # bert-score / the fork's table

    def score(cands, refs, model_type=None, num_layers=None, lang=None, batch_size=64, idf=False,
              rescale_with_baseline=False, **kwargs):
        import torch

        from clue.metrics.bertscore import BertScorer

        if model_type is None:
            if lang != "en-sci":
                raise NotImplementedError(f"audit stand-in: bert_score lang={lang!r}")
            model_type = SCIBERT[0]
        layer = num_layers if num_layers is not None else layers.get(model_type)
        if layer is None or idf or rescale_with_baseline:
            raise NotImplementedError(f"audit stand-in: bert_score model {model_type} idf={idf} "
                                      f"rescale={rescale_with_baseline}")
        recorder.bertscore.append((model_type, layer))
        key = (layer, batch_size)
        if key not in scorers:
            scorers[key] = BertScorer(bert_dir, layer, batch_size=batch_size, device="cpu")
        found = scorers[key].score(list(cands), list(refs))
        return tuple(torch.tensor(found[k]) for k in ("precision", "recall", "f1"))

    module.score = score
    return module


class _UmlsPipeline:
    """``nlp(text)`` of eval/utils.py: mentions (tiny entity ruler) linked by scispaCy's EntityLinker."""

    def __init__(self, mentions, linker):
        self.mentions, self.linker = mentions, linker

    def __call__(self, text_or_doc):
        text = text_or_doc if isinstance(text_or_doc, str) else text_or_doc.text
        return self.linker(self.mentions(text))


def _wrap(recorder_list: list, function):
    def wrapper(*args, **kwargs):
        result = function(*args, **kwargs)
        recorder_list.append(result)
        return result

    wrapper.__wrapped__ = function
    return wrapper


def _wrap_metrics(recorder: _Recorder, function):
    def compute_metrics(*args, **kwargs):
        result = function(*args, **kwargs)
        recorder.metric_calls.append({"args": args, "kwargs": kwargs, "result": result})
        return result

    return compute_metrics


@contextlib.contextmanager
def _patched(recorder: _Recorder, eval_dir: Path, bert_dir: Path, scorers: dict):
    """Stand-in modules and patched client classes for one script run; everything restored afterwards."""
    import huggingface_hub

    names = ("vllm", "evaluate", "bert_score", "utils")
    saved_modules = {name: sys.modules.get(name) for name in names}
    saved_hub = {name: getattr(huggingface_hub, name, None) for name in ("InferenceClient", "login")}
    saved_path, saved_argv, saved_cwd = list(sys.path), list(sys.argv), os.getcwd()
    saved_random = random.getstate()
    sys.modules.pop("utils", None)
    sys.modules["vllm"] = _vllm_module(recorder)
    sys.modules["evaluate"] = _evaluate_module()
    sys.modules["bert_score"] = _bert_score_module(recorder, bert_dir, scorers)
    huggingface_hub.InferenceClient = _inference_client_class(recorder)
    huggingface_hub.login = lambda *args, **kwargs: None
    sys.path.insert(0, str(eval_dir))
    try:
        yield
    finally:
        sys.path[:] = saved_path
        sys.argv[:] = saved_argv
        os.chdir(saved_cwd)
        random.setstate(saved_random)
        for name, module in saved_modules.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
        for name, value in saved_hub.items():
            if value is None:
                with contextlib.suppress(AttributeError):
                    delattr(huggingface_hub, name)
            else:
                setattr(huggingface_hub, name, value)


def run_original(upstream_dir: Path, task_id: str, protocol: str, layout: str, model_dir: Path, data_path: Path,
                 log_dir: Path, seed: int, bert_dir: Path, scorers: dict, umls) -> tuple[_Recorder, dict | None, str]:
    """Import the checkout's script for ``task_id`` and run its ``main()`` with its launch-script arguments.

    Returns (what was recorded, what raised or None, the script's captured output)."""
    from clue.protocol.fetch import load_pins

    script = load_pins()["task_files"][task_id]
    launch = launch_arguments(upstream_dir, script)
    if protocol == "paper":
        argv = ["--model_address", MODEL_ADDRESS, "--model_name_or_path", str(model_dir), *LAYOUT_FLAGS[layout]]
    else:
        argv = ["--model", str(model_dir)]
    if "num_few_shot_examples" in launch:
        argv += ["--num_few_shot_examples", launch["num_few_shot_examples"]]
    argv += ["--data_path", str(data_path), "--log_path", str(log_dir)]
    if "max_len" in launch:
        argv += ["--max_len", launch["max_len"]]

    recorder = _Recorder(task_id, model_dir)
    eval_dir = upstream_dir / Path(script).parent
    output = io.StringIO()
    raised = None
    with _patched(recorder, eval_dir, bert_dir, scorers), contextlib.redirect_stdout(output), \
            contextlib.redirect_stderr(output):
        log_dir.parent.mkdir(parents=True, exist_ok=True)
        os.chdir(log_dir.parent)
        try:
            utils = importlib.import_module("utils")
            for name, sink in (("build_few_shot_examples", recorder.few_shot), ("build_first_turn", recorder.few_shot),
                               ("build_model_input", recorder.model_inputs)):
                if hasattr(utils, name):
                    setattr(utils, name, _wrap(sink, getattr(utils, name)))
            if umls is not None:
                utils.nlp = _UmlsPipeline(*umls)
                utils.linker = umls[1]
            spec = importlib.util.spec_from_file_location(f"clue_audit_{protocol}_{task_id}", upstream_dir / script)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            if hasattr(module, "compute_metrics"):
                recorder.compute_metrics = module.compute_metrics      # type: ignore[attr-defined]
                module.compute_metrics = _wrap_metrics(recorder, module.compute_metrics)
            sys.argv[:] = [str(upstream_dir / script), *argv]
            random.seed(seed)
            module.main()
        except BaseException as exc:     # noqa: BLE001 - a raising script is a finding, never the audit's crash
            if isinstance(exc, KeyboardInterrupt):
                raise
            frames = [f for f in traceback.extract_tb(exc.__traceback__) if str(upstream_dir) in f.filename]
            where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno} {frames[-1].line}" if frames else "?"
            raised = {"error": f"{type(exc).__name__}: {exc}", "where": where}
    recorder.launch = launch          # type: ignore[attr-defined]
    recorder.argv = argv              # type: ignore[attr-defined]
    return recorder, raised, output.getvalue()


# ------------------------------------------------------------------------------------- inputs

def write_original_inputs(task_id: str, protocol: str, raw: dict[str, Path], records: list[dict], folder: Path) -> Path:
    """The file the original script reads: the raw file itself where the original read one, else the JSON
    its data-generation code wrote (MeDiSumQA, MeDiSumCode), made from the kit's built records."""
    if task_id in ("mednli", "meqsum", "problem_summary"):
        return raw[{"mednli": "mednli_test", "meqsum": "meqsum", "problem_summary": "problem_summary_test"}[task_id]]
    folder.mkdir(parents=True, exist_ok=True)
    if task_id == "longhealth":
        # the raw file without its top-level canary string: the original iterates every top-level entry as
        # a patient (the synthetic file carries a canary to test that the kit keeps it)
        document = json.loads(raw["longhealth"].read_text(encoding="utf-8"))
        patients = {key: value for key, value in document.items() if isinstance(value, dict)}
        path = folder / "benchmark_v5.json"
        path.write_text(json.dumps(patients, ensure_ascii=False), encoding="utf-8")
        return path
    if task_id == "medisumqa":
        items = [{"note_id": r["note_id"], "without_discharge_summary": r["discharge_summary"],
                  "discharge_summary": r["discharge_summary"], "Question": r["Question"], "Answer": r["Answer"]}
                 for r in records]
    else:
        items = [{"hadm_id": r["hadm_id"], "text": r["text"], "icd_codes": r["icd_codes"]} for r in records]
    path = folder / f"{task_id}.json"
    path.write_text(json.dumps(items, ensure_ascii=False), encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------- comparisons

def _kit_order(requests: list, task_id: str, protocol: str) -> list[int]:
    """Request indices in the order the original sends them (the head sends LongHealth per sub-task)."""
    indices = list(range(len(requests)))
    if task_id == "longhealth" and protocol == "upstream":
        indices.sort(key=lambda i: requests[i].meta["subtask"])
    return indices


def _compare_sequences(kit: list, original: list, what: str, show=repr) -> tuple[str, str]:
    if len(kit) != len(original):
        return "MISMATCH", f"{len(kit)} {what} in the kit, {len(original)} in the original"
    for index, (a, b) in enumerate(zip(kit, original)):
        if a != b:
            if isinstance(a, str) and isinstance(b, str):
                return "MISMATCH", f"item {index}: {first_difference(a, b)}"
            return "MISMATCH", f"item {index}: kit {show(a)[:80]} vs original {show(b)[:80]}"
    return "MATCH", f"{len(kit)} {what} identical"


def _decoding_kit(request, backend) -> tuple[dict, int | None]:
    d = request.decoding
    truncate = d.max_prompt_tokens if d.truncate_left and d.max_prompt_tokens is not None else None
    implicit = None if truncate is not None else backend.prompt_limit(d)
    return ({"max_new_tokens": d.max_new_tokens, "truncate": truncate, "stop": list(d.stop),
             "sampling": "greedy" if d.greedy else f"temperature {d.temperature}, top_p {d.top_p}"}, implicit)


def _decoding_original(params: dict, protocol: str) -> dict:
    if protocol == "paper":
        greedy = not params.get("do_sample") and params.get("temperature") is None and params.get("top_p") is None
        return {"max_new_tokens": params.get("max_new_tokens"), "truncate": params.get("truncate"),
                "stop": list(params.get("stop_sequences") or []),
                "sampling": "greedy" if greedy else f"temperature {params.get('temperature')}, top_p {params.get('top_p')}"}
    return {"max_new_tokens": params.get("max_tokens"), "truncate": None, "stop": list(params.get("stop") or []),
            "sampling": "greedy" if params.get("temperature") == 0 else
            f"temperature {float(params.get('temperature'))}, top_p {float(params.get('top_p'))}"}


def _kit_few_shot(request, protocol_obj, task_id: str) -> Any:
    from clue.protocol.layout import fill

    if request.messages is not None:
        return [dict(m) for m in request.messages[:-1]]
    query = fill(protocol_obj.task_prompts(task_id)["user_prompt_template"], request.meta["record"], task_id)
    tail = f"\n\n{query}\n\n"
    return request.text[: -len(tail)] if request.text.endswith(tail) else request.text


def _original_items(task_id: str, protocol: str, recorder: _Recorder, log_dir: Path) -> dict[str, list]:
    """Per prompt, in sending order: post-processed output, gold label, metric values (the kit's keys)."""
    outputs, golds, metrics = [], [], []
    for call in recorder.metric_calls:
        args, result = call["args"], call["result"]
        if task_id == "longhealth":
            if protocol == "paper":
                correct, gold = result
                outputs.append(args[0])
                # task 3 expects F; the paper-era function returns the A-E gold letter when nothing was parsed
                task3 = call["kwargs"].get("task3", args[2] if len(args) > 2 else False)
                golds.append("F" if task3 or gold == NO_ANSWER else gold)
            else:
                correct = result
                outputs.append(args[0])
                golds.append(args[1])
            metrics.append({"correct": float(bool(correct))})
        elif isinstance(args[0], list) and task_id != "medisumcode":      # the head scores a whole list at once
            outputs.extend(args[0])
            golds.extend(args[1])
            n = len(args[0])
            metrics.extend({METRIC_KEYS[k]: float(v[i]) for k, v in result.items() if k in METRIC_KEYS}
                           for i in range(n))
        else:
            if task_id != "medisumcode":
                outputs.append(args[0])
            golds.append(args[1])
            metrics.append({METRIC_KEYS[k]: float(v) for k, v in result.items() if k in METRIC_KEYS})
    if task_id == "medisumcode":   # compute_metrics gets the parsed codes; the output text is in predictions.json
        path = log_dir / "predictions.json"
        if path.exists():
            outputs = [json.loads(line)["Model Answer"] for line in path.read_text(encoding="utf-8").splitlines()
                       if line.strip()]
    return {"outputs": outputs, "golds": golds, "metrics": metrics}


def _metric_cell(kit_items: list[dict], original_items: list[dict], task_id: str) -> tuple[str, str]:
    if len(kit_items) != len(original_items):
        return "MISMATCH", f"{len(kit_items)} scored items in the kit, {len(original_items)} in the original"
    worst_bert, compared = 0.0, set()
    for index, (kit, original) in enumerate(zip(kit_items, original_items)):
        for key, value in original.items():
            if key not in kit:
                continue
            compared.add(key)
            diff = abs(kit[key] - value)
            if key == "bertscore_f1":
                worst_bert = max(worst_bert, diff)
                if diff > BERTSCORE_BOUND:
                    return "MISMATCH", f"item {index} {key}: kit {kit[key]!r} vs original {value!r}"
            elif diff > 1e-12:
                return "MISMATCH", f"item {index} {key}: kit {kit[key]!r} vs original {value!r}"
    if not compared:
        return "MISMATCH", "no metric in common between kit and original"
    if worst_bert > 0:
        return "DEVIATION", (f"{', '.join(sorted(compared))} equal; BERTScore F1 differs by at most {worst_bert:.1e} "
                             f"(batched vs one pair per call, bound {BERTSCORE_BOUND:g}; bench/RESULTS.md)")
    return "MATCH", f"{', '.join(sorted(compared))} equal on {len(kit_items)} items"


def _average_cell(kit_metrics: dict, results: dict, task_id: str, protocol: str) -> tuple[str, str]:
    compared = []
    for key, value in results.items():
        kit_key = METRIC_KEYS.get(key)
        if kit_key is None or kit_key not in kit_metrics:
            continue
        kit_value = kit_metrics[kit_key]
        if isinstance(value, str):      # the head writes 2-decimal fraction strings
            if f"{kit_value / 100:.2f}" != value:
                return "MISMATCH", f"{key}: kit {kit_value / 100:.2f} vs original {value}"
        else:
            original = float(value) if task_id == "longhealth" else 100.0 * float(value)
            if abs(kit_value - original) > FLOAT_TOLERANCE * max(1.0, abs(original)):
                if kit_key == "bertscore_f1" and abs(kit_value - original) <= 100 * BERTSCORE_BOUND:
                    compared.append(f"{kit_key} (within the BERTScore bound)")
                    continue
                return "MISMATCH", f"{key}: kit {kit_value!r} vs original {original!r} (percent)"
        compared.append(kit_key)
    if not compared:
        return "MISMATCH", "no average in common between kit and original results.json"
    return "MATCH", "equal: " + ", ".join(compared)


# ------------------------------------------------------------------------------------- the audit

def _prepare_inputs(work: Path, protocol: str, upstream_dir: Path, own_hashes: bool, seed: int):
    from clue.data.build import build
    from clue.demo.synthetic import write_all
    from clue.protocol import load_protocol
    from clue.protocol.fetch import fetch_protocol

    raw_dir, data_dir, protocol_dir = work / "raw", work / "data", work / "protocol"
    raw = write_all(raw_dir, seed=seed, scale=0.5)
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        build(raw_dir=raw_dir, out_dir=data_dir, allow_unverified=True, params={"medisumcode": {"n": 8}})
    hashes = None
    if own_hashes:
        hashes = {rel: hashlib.sha256((upstream_dir / rel).read_bytes()).hexdigest() for rel in _clue_files()}
    fetch_protocol(protocol, protocol_dir, from_dir=upstream_dir, expected_sha256=hashes)
    return raw, data_dir, load_protocol(protocol, protocol_dir)


@functools.lru_cache(maxsize=4)
def _tiny_umls(folder: str):
    from clue.metrics.umls import load_linker
    from clue.testing.tiny_umls import build_tiny_umls, tiny_mention_pipeline

    linker_files, kb_path = build_tiny_umls(Path(folder))
    return tiny_mention_pipeline(), load_linker(linker_files, kb_path)


def _tiny_assets(folder: Path, layouts: tuple[str, ...], notes: list[str], with_umls: bool = True):
    """Tiny models (one per layout), a tiny BERT, a tiny UMLS linker: built once in ``folder``, reused after."""
    from clue.protocol.settings import BIO_CLINICALBERT, SCIBERT
    from clue.testing.tiny import build_tiny_model
    from clue.testing.tiny_bert import build_tiny_bert

    models = {}
    for layout in layouts:
        path = folder / "models" / MODEL_NAME.format(layout=layout)
        models[layout] = path if (path / "config.json").is_file() else build_tiny_model(path, chat=TINY_CHAT[layout])
    bert_dir = folder / "tiny-bert"
    if not (bert_dir / "config.json").is_file():
        build_tiny_bert(bert_dir, num_layers=max(SCIBERT[1], BIO_CLINICALBERT[1]))
    umls = None
    if not with_umls:
        return models, bert_dir, umls
    try:
        umls = _tiny_umls(str(folder / "tiny-umls"))
    except ImportError as exc:
        notes.append(f"UMLS-F1 not compared: scispaCy is not importable ({exc})")
    return models, bert_dir, umls


def audit_upstream(upstream_dir: str | os.PathLike, protocol: str = "paper", *, tasks: str | None = None,
                   layouts: str | None = None, seed: int = 0, unpinned: bool = False,
                   workdir: str | os.PathLike | None = None, tiny_dir: str | os.PathLike | None = None,
                   progress=None) -> AuditReport:
    """Run the audit (see the module docstring); ``progress(message)`` is called as each part starts.

    ``layouts``: comma-separated subset of the protocol's layouts (default all); ``tiny_dir``: a folder
    where the tiny models, BERT and UMLS knowledge base are built once and reused (default: the work folder).
    """
    from clue.backends.hf import HFBackend
    from clue.metrics.resources import MetricResources
    from clue.metrics.umls import UmlsLinker
    from clue.protocol.layout import resolve_family
    from clue.protocol.settings import BIO_CLINICALBERT, SCIBERT
    from clue.taskinfo import BUILTIN, parse_tasks
    from clue.tasks import get_task
    from clue.tasks.base import EvalContext

    if protocol not in LAYOUTS:
        raise InputError(f"--protocol {protocol}: expected one of {', '.join(LAYOUTS)}")
    upstream_dir = Path(upstream_dir).resolve()
    if not (upstream_dir / "eval").is_dir():
        raise InputError(f"{upstream_dir}: no eval/ folder; expected a checkout of TIO-IKIM/CLUE")
    say = progress or (lambda message: None)
    files = check_files(upstream_dir, protocol)
    clue_ids = {task.id for task in BUILTIN}
    selected = [task for task in parse_tasks(tasks) if task.id in clue_ids or tasks]
    for task in selected:
        if task.id not in clue_ids:
            raise InputError(f"--tasks {tasks}: {task.id!r} is not a CLUE task; the audit compares the six CLUE "
                             "tasks with the original scripts")
    chosen_layouts = LAYOUTS[protocol] if not layouts else tuple(x.strip() for x in layouts.split(",") if x.strip())
    for layout in chosen_layouts:
        if layout not in LAYOUTS[protocol]:
            raise InputError(f"--layouts {layouts}: {layout!r} is not a layout of protocol {protocol} "
                             f"({', '.join(LAYOUTS[protocol])})")
    cells: list[Cell] = []
    raised_list: list[dict] = []
    notes = [
        "canned completions are chosen by the prompt's sha256, so both sides get the same text for the same prompt; "
        "none holds a stop string (the server would have stopped before it)",
        f"tiny models are named {MODEL_NAME.format(layout='<layout>')}: the original's name rule applies the "
        "Llama-3 stop strings and the Phi cut",
        f"the original's global random is seeded with {seed} before main(), as the kit seeds LongHealth",
        "LongHealth: the original reads the synthetic benchmark without its top-level canary string (it treats "
        "every top-level entry as a patient)",
    ]
    if any(f["status"] != "MATCH" for f in files.values()):
        notes.append("the checkout's files differ from the pinned hashes" + (" (--unpinned: audited anyway)"
                                                                             if unpinned else ""))
        if not unpinned:
            for rel, f in files.items():
                if f["status"] != "MATCH":
                    cells.append(Cell("-", "-", "sha256", "MISMATCH", f"{rel}: {f['sha256'][:12]}… is not the pin "
                                                                          f"{(f['pinned'] or '')[:12]}…"))

    with tempfile.TemporaryDirectory(prefix="clue-audit-") if workdir is None else contextlib.nullcontext(workdir) as tmp:
        work = Path(tmp)
        say("synthetic raw files, test sets, protocol from the checkout")
        # files that differ from the pins are audited with their own hashes (reported above as MISMATCH
        # unless --unpinned), so that a stand-in or patched checkout can be compared at all
        differs = any(f["status"] != "MATCH" for f in files.values())
        raw, data_dir, protocol_obj = _prepare_inputs(work, protocol, upstream_dir, differs, seed)
        say("tiny tokenizers, tiny BERT, tiny UMLS knowledge base")
        with_umls = any(task_info(t.id).metrics.count("umls_f1") for t in selected)
        models, bert_dir, umls = _tiny_assets(Path(tiny_dir) if tiny_dir else work, chosen_layouts, notes, with_umls)
        backends = {layout: HFBackend(str(path)) for layout, path in models.items()}
        scorers: dict = {}
        resources = MetricResources(None if umls else ["accuracy", "rouge", "bertscore", "icd", "longhealth"],
                                    bertscore_paths={SCIBERT[0]: bert_dir, BIO_CLINICALBERT[0]: bert_dir},
                                    umls_linker=UmlsLinker(*umls) if umls else None, device="cpu")

        for task in selected:
            module = get_task(task.id)
            records = module.load_records(data_dir)
            data_path = write_original_inputs(task.id, protocol, raw, records, work / "original-data")
            for layout in chosen_layouts:
                say(f"{task.name} / {layout}")
                backend = backends[layout]
                info = dataclasses.replace(backend.model_info(), family=resolve_family(backend.model_id))
                ctx = EvalContext(protocol=protocol_obj, model=info, layout=layout, seed=seed)
                log_dir = work / "logs" / task.id / layout
                recorder, raised, _ = run_original(upstream_dir, task.id, protocol, layout, models[layout], data_path,
                                                   log_dir, seed, bert_dir, scorers, umls)
                cells += _compare(task.id, protocol, layout, module, records, ctx, backend, resources, protocol_obj,
                                  recorder, raised, log_dir, raised_list)
    return AuditReport(protocol, str(upstream_dir), cells, files, raised_list, notes)


def _compare(task_id, protocol, layout, module, records, ctx, backend, resources, protocol_obj, recorder: _Recorder,
             raised, log_dir: Path, raised_list: list) -> list[Cell]:
    cells: list[Cell] = []

    def add(check: str, status: str, detail: str = "") -> None:
        cells.append(Cell(task_id, layout, check, status, detail))

    try:
        requests = module.build_requests(records, ctx)
    except InputError as exc:
        for check in CHECKS:
            add(check, "MISMATCH", f"the kit cannot build the requests: {exc}")
        return cells
    order = _kit_order(requests, task_id, protocol)
    requests = [requests[i] for i in order]
    kit_prompts = [backend.render(r) for r in requests]
    original_prompts = [c["prompt"] for c in recorder.calls]

    compared_instead = []
    if raised is not None and not original_prompts and recorder.model_inputs:
        # the script raised before sending: compare what it had built (build_model_input), without the kit's prefill
        built = recorder.model_inputs
        kit_built = [p[: len(p) - len(r.prefill)] if r.prefill and p.endswith(r.prefill) else p
                     for p, r in zip(kit_prompts[: len(built)], requests)]
        status, detail = _compare_sequences(kit_built, built, "prompts (before the prefill)")
        add("prompt", status if status == "MISMATCH" else "RAISED",
            f"{detail}; the original raised before sending, compared its build_model_input output without the "
            f"kit's prefill {requests[0].prefill!r}")
        compared_instead.append(f"prompt of the first {len(built)} item(s) as built before the prefill")
    elif raised is not None and not original_prompts:
        add("prompt", "RAISED", "the original raised before building any prompt; nothing to compare")
    else:
        status, detail = _compare_sequences(kit_prompts[: len(original_prompts)] if raised else kit_prompts,
                                            original_prompts, "prompts")
        add("prompt", status, detail)

    # few-shot turns
    if protocol_obj.settings.task(task_id).few_shot_k == 0:
        add("few-shot", "N/A", "zero-shot task")
    elif not recorder.few_shot:
        add("few-shot", "RAISED" if raised else "MISMATCH", "the original built no few-shot turns")
    else:
        kit_shots = _kit_few_shot(requests[0], protocol_obj, task_id)
        original_shots = recorder.few_shot[-1]
        if kit_shots == original_shots:
            add("few-shot", "MATCH", f"{protocol_obj.settings.task(task_id).few_shot_k} shot(s) identical")
        else:
            a, b = json.dumps(kit_shots, ensure_ascii=False), json.dumps(original_shots, ensure_ascii=False)
            add("few-shot", "MISMATCH", first_difference(a, b))

    # decoding parameters
    if not recorder.calls:
        add("decoding", "RAISED" if raised else "MISMATCH", "the original sent nothing")
    else:
        status, detail, deviations, n_uncut = "MATCH", "", set(), 0
        for index, (request, call) in enumerate(zip(requests, recorder.calls)):
            kit, implicit = _decoding_kit(request, backend)
            original = _decoding_original(call["params"], protocol)
            if kit["truncate"] is None and original["truncate"] is None and implicit is not None:
                deviations.add(implicit)
                n_uncut += 1
            if kit != original:
                diff = {k: (kit[k], original[k]) for k in kit if kit[k] != original.get(k)}
                status, detail = "MISMATCH", f"item {index}: " + "; ".join(
                    f"{k}: kit {a!r} vs original {b!r}" for k, (a, b) in diff.items())
                break
        if status == "MATCH":
            first = _decoding_original(recorder.calls[0]["params"], protocol)
            detail = ", ".join(f"{k} {v}" for k, v in first.items())
            if deviations:
                status = "DEVIATION"
                detail += (f"; on the {n_uncut} prompt(s) where the original sends no truncation limit the kit cuts "
                           f"prompts over "
                           f"{', '.join(map(str, sorted(deviations)))} tokens from the left "
                           "(--overlong truncate-left, labelled; `clue evaluate --overlong error` refuses them, as the "
                           "original's server did)")
        add("decoding", status, detail)

    # post-processing, gold labels, metrics
    kit_completions = [canned(task_id, p) for p in kit_prompts]
    kit_outputs = [module.postprocess(c, r, ctx) for c, r in zip(kit_completions, requests)]
    original = _original_items(task_id, protocol, recorder, log_dir)
    n = len(original["golds"])
    fallback = getattr(recorder, "compute_metrics", None)
    if raised and n == 0 and fallback is not None and protocol == "paper" and task_id in TEXT_TASKS:
        # the script's own metric function on the kit's outputs and gold labels (paper era: one pair per call)
        for check in ("post-processing", "gold", "averages"):
            add(check, "RAISED", "nothing scored before the original raised")
        golds = [r.meta["reference"] for r in requests]
        rouge = _evaluate_module().load("rouge")
        try:
            original_items = [{METRIC_KEYS[k]: float(v) for k, v in fallback(o, g, rouge).items() if k in METRIC_KEYS}
                              for o, g in zip(kit_outputs, golds)]
        except Exception as exc:      # noqa: BLE001 - reported, not fatal
            add("metrics", "RAISED", f"its compute_metrics also raised ({type(exc).__name__}: {exc})")
        else:
            result = module.score(requests, kit_outputs, ctx, resources)
            status, detail = _metric_cell([dict(i["scores"]) for i in result.per_item], original_items, task_id)
            add("metrics", "MISMATCH" if status == "MISMATCH" else "RAISED",
                f"{detail}; compared instead: the original's compute_metrics on the kit's outputs and gold labels")
            compared_instead.append(f"metrics: the script's compute_metrics on the kit's {len(golds)} outputs and gold "
                                    "labels")
    elif raised and n == 0:
        for check in ("post-processing", "gold", "metrics", "averages"):
            add(check, "RAISED", "nothing scored before the original raised")
    else:
        status, detail = _compare_sequences(kit_outputs[: n] if raised else kit_outputs, original["outputs"], "outputs")
        add("post-processing", status, detail)
        kit_golds = [r.meta["reference"] for r in requests]
        status, detail = _compare_sequences(kit_golds[: n] if raised else kit_golds, original["golds"], "gold labels")
        add("gold", status, detail)
        result = module.score(requests, kit_outputs, ctx, resources)
        kit_items = []
        for item in result.per_item:
            scores = dict(item["scores"])
            if task_id == "longhealth":
                scores = {"correct": next(iter(scores.values()))}
            kit_items.append(scores)
        status, detail = _metric_cell(kit_items[: n] if raised else kit_items, original["metrics"], task_id)
        add("metrics", status, detail)
        results_path = log_dir / "results.json"
        if raised or not results_path.exists():
            add("averages", "RAISED" if raised else "MISMATCH", "the original wrote no results.json")
        else:
            status, detail = _average_cell(result.metrics, json.loads(results_path.read_text(encoding="utf-8")),
                                           task_id, protocol)
            add("averages", status, detail)
    if raised:
        if not compared_instead:
            compared_instead = [f"the {len(original_prompts)} prompt(s) sent and {n} item(s) scored before it raised"
                                if original_prompts else "nothing: it raised before building a prompt"]
        raised_list.append({"task": task_id, "layout": layout, **raised, "compared_instead": compared_instead})
        for cell in cells:
            if cell.status == "RAISED" and raised["error"] not in cell.detail:
                cell.detail = f"{raised['error']} at {raised['where']}; {cell.detail}"
    return cells


def write_report(report: AuditReport, path: str | os.PathLike) -> Path:
    from clue.io import write_json

    path = Path(path)
    write_json(path, report.as_dict())
    return path
