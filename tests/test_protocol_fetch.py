"""`clue protocol fetch`: sha256 pins, the ast reader, local folders and the URL pattern."""

from __future__ import annotations

import functools
import http.server
import json
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from clue.cli import cli
from clue.errors import ChecksumError, InputError, NotReadyError
from clue.protocol import load_protocol
from clue.protocol.fetch import DEMO_DIR, extract_constants, fetch_protocol, load_pins, task_constants
from protocol_standin import STANDIN_DIR, standin_hashes


# ----------------------------------------------------------------------------- ast reader

def test_extract_folds_plus_and_earlier_names():
    source = 'a = "x"\nb = a + """y{f}"""\nc = ("p" "q") + b\nn = 20\n'
    assert extract_constants(source) == {"a": "x", "b": "xy{f}", "c": "pqxy{f}", "n": 20}


def test_extract_skips_anything_that_is_not_a_constant():
    source = ('import os\nx = os.getcwd()\ny = "a".upper()\nz = f"{x}"\nw = 1 + "a"\n'
              'def f():\n    inner = "no"\nclass C:\n    attr = "no"\nok = "yes"\n')
    assert extract_constants(source) == {"ok": "yes"}


def test_extract_later_non_constant_rebinding_hides_the_constant():
    assert extract_constants('p = "a"\np = compute()\n') == {}


def test_extract_never_executes_the_file(tmp_path):
    marker = tmp_path / "ran"
    source = (f'open({str(marker)!r}, "w").write("x")\n'
              f'sys_prompt = "s" + __import__("os").system("touch {marker}").__str__()\n'
              'user_prompt_template = "u"\nraise SystemExit(3)\n')
    constants = extract_constants(source)
    assert constants == {"user_prompt_template": "u"}
    assert not marker.exists()


def test_task_constants_names_file_and_missing_constant():
    with pytest.raises(InputError, match=r"eval_x\.py: missing string constant 'assistant_response_template'"):
        task_constants("meqsum", b'sys_prompt = "s"\nuser_prompt_template = "u"\nground_truth_key = "g"\n',
                       "eval_x.py")
    with pytest.raises(InputError, match="missing string constant 'prompt_template'"):
        task_constants("longhealth", b'sys_prompt = "s"\n', "eval_LongHealth.py")


def test_ground_truth_key_is_optional():
    # the paper-era MeDiSumQA file defines no ground_truth_key (its code names the gold field)
    source = b'sys_prompt = "s"\nuser_prompt_template = "u {Question}"\nassistant_response_template = "A: {Answer}"\n'
    entry = task_constants("medisumqa", source, "eval_MeDiSumQA.py")
    assert entry == {"sys_prompt": "s", "user_prompt_template": "u {Question}",
                     "assistant_response_template": "A: {Answer}"}
    assert task_constants("medisumqa", source + b'ground_truth_key = "Answer"\n', "f")["ground_truth_key"] == "Answer"
    with pytest.raises(InputError, match="missing string constant 'sys_prompt'"):
        task_constants("medisumqa", source.replace(b"sys_prompt", b"system"), "f")


def test_task_constants_normalises_max_tokens():
    entry = task_constants("meqsum", (STANDIN_DIR / "upstream/eval/eval_meqsum.py").read_bytes(), "f")
    assert entry["max_new_tokens"] == 512
    assert entry["assistant_response_template"] == "{Summary}"


def test_syntax_error_is_one_line():
    with pytest.raises(InputError, match=r"f\.py: not valid Python \(line 1\)"):
        extract_constants("x = (", "f.py")


# ----------------------------------------------------------------------------- fetch

def test_pins_hold_the_published_hashes():
    pins = load_pins()
    assert pins["protocols"]["paper"]["commit"] == "ff75877284133361d15f12e4ab290d230f449dd0"
    assert pins["protocols"]["upstream"]["commit"] == "2de4314cfaf2651a362a2df2ac8336ca0937ea52"
    assert pins["protocols"]["paper"]["files"]["eval/eval_mednli.py"].startswith("3df0b73b")
    assert pins["protocols"]["upstream"]["files"]["eval/eval_MeDiSumCode.py"].startswith("bfbe0dd9")
    assert all(len(sha) == 64 for p in pins["protocols"].values() for sha in p["files"].values())


def test_fetch_from_dir_with_standin_hashes(tmp_path):
    out = fetch_protocol("paper", tmp_path, from_dir=STANDIN_DIR / "paper", expected_sha256=standin_hashes("paper"))
    document = json.loads(out.read_text())
    assert out == tmp_path / "paper.json"
    assert document["commit"] == "ff75877284133361d15f12e4ab290d230f449dd0"
    assert document["pins_overridden"] is True
    assert document["files"] == standin_hashes("paper")
    meqsum = document["tasks"]["meqsum"]
    assert meqsum["assistant_response_template"] == "Question: {Summary}"   # `+` folded
    assert meqsum["max_new_tokens"] == 200 and meqsum["file"] == "eval/eval_meqsum.py"
    assert "ground_truth_key" not in document["tasks"]["medisumqa"]        # as in the paper-era file
    assert document["tasks"]["medisumcode"]["ground_truth_key"] == "codes"
    assert document["tasks"]["longhealth"] == {"file": "eval/eval_LongHealth.py", "sys_prompt": "LH-SYS",
                                               "prompt_template": "<{documents}>\n{question_text}\n{options}",
                                               "max_new_tokens": 50}
    assert not list(tmp_path.glob(".*.tmp"))


def test_fetch_sha_mismatch_names_file_expected_and_actual(tmp_path):
    with pytest.raises(ChecksumError) as caught:
        fetch_protocol("paper", tmp_path, from_dir=STANDIN_DIR / "paper")
    message = str(caught.value)
    actual = standin_hashes("paper")["eval/eval_mednli.py"]
    assert "eval/eval_mednli.py: sha256 mismatch" in message
    assert "expected 3df0b73b6feef4e062d820dba7c98a4f05fb68d98be6840d13b7bf33ea3506c2" in message
    assert f"got {actual}" in message and "\n" not in message
    assert not (tmp_path / "paper.json").exists()


def test_fetch_pins_override_from_env(tmp_path, monkeypatch):
    pins_file = tmp_path / "pins.json"
    pins_file.write_text(json.dumps(standin_hashes("upstream")))
    monkeypatch.setenv("CLUE_PROTOCOL_PINS", str(pins_file))
    fetch_protocol("upstream", tmp_path / "p", from_dir=STANDIN_DIR / "upstream")
    protocol = load_protocol("upstream", tmp_path / "p")
    assert protocol.prompts["medisumqa"]["user_prompt_template"] == "L: {discharge_summary}\nQ: {Question}"
    assert protocol.identity()["pins_overridden"] is True


def test_fetch_missing_file_in_local_dir(tmp_path):
    with pytest.raises(InputError, match=r"eval_mednli\.py: file not found"):
        fetch_protocol("paper", tmp_path, from_dir=tmp_path, expected_sha256=standin_hashes("paper"))


def test_fetch_missing_constant_names_file(tmp_path):
    checkout = tmp_path / "checkout"
    for rel in standin_hashes("paper"):
        (checkout / rel).parent.mkdir(parents=True, exist_ok=True)
        (checkout / rel).write_bytes((STANDIN_DIR / "paper" / rel).read_bytes())
    broken = checkout / "eval/eval_meqsum.py"
    broken.write_text(broken.read_text().replace("user_prompt_template", "user_template"))
    hashes = {rel: __import__("hashlib").sha256((checkout / rel).read_bytes()).hexdigest() for rel in standin_hashes("paper")}
    with pytest.raises(InputError, match=r"eval_meqsum\.py: missing string constant 'user_prompt_template'"):
        fetch_protocol("paper", tmp_path, from_dir=checkout, expected_sha256=hashes)


@pytest.fixture
def http_root(tmp_path):
    """A local HTTP server holding the stand-in files at <root>/<commit>/eval/…, and the paths it served."""
    commit = load_pins()["protocols"]["upstream"]["commit"]
    (tmp_path / "www" / commit).mkdir(parents=True)
    for rel in standin_hashes("upstream"):
        target = tmp_path / "www" / commit / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((STANDIN_DIR / "upstream" / rel).read_bytes())
    served: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            served.append(self.path)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(Handler, directory=str(tmp_path / "www")))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", commit, served
    server.shutdown()
    server.server_close()


def test_fetch_over_http_uses_the_raw_url_pattern(tmp_path, http_root):
    base, commit, served = http_root
    out = fetch_protocol("upstream", tmp_path / "p", base_url=base, expected_sha256=standin_hashes("upstream"))
    document = json.loads(out.read_text())
    assert document["source"] == f"{base.rstrip('/')}/{commit}/"
    assert any(f"/{commit}/eval/eval_LongHealth.py" in line for line in served)
    assert document["tasks"]["mednli"]["sys_prompt"] == "NLI-UP: relate two statements."


def test_fetch_over_http_404_is_one_line(tmp_path, http_root):
    base, _, _ = http_root
    with pytest.raises(InputError, match=r"eval_mednli\.py: download failed with HTTP 404"):
        fetch_protocol("paper", tmp_path, base_url=base, expected_sha256=standin_hashes("paper"))


def test_demo_protocol_is_pinned_to_the_shipped_files(tmp_path):
    out = fetch_protocol("demo", tmp_path)       # no override: the pins must match the package's files
    document = json.loads(out.read_text())
    assert document["pins_overridden"] is False
    assert Path(document["source"]) == DEMO_DIR.resolve()
    assert document["tasks"]["medisumqa"]["assistant_response_template"] == "Answer: {Answer}"


# ----------------------------------------------------------------------------- loading

def test_load_not_fetched_names_the_command(tmp_path):
    with pytest.raises(NotReadyError, match=r"run `clue protocol fetch --protocol upstream`"):
        load_protocol("upstream", tmp_path)


def test_unknown_protocol(tmp_path):
    with pytest.raises(InputError, match=r"unknown protocol 'v3'"):
        load_protocol("v3", tmp_path)
    with pytest.raises(InputError, match=r"unknown protocol 'v3'"):
        fetch_protocol("v3", tmp_path)


def test_load_rejects_incomplete_file(tmp_path):
    (tmp_path / "paper.json").write_text(json.dumps({"name": "paper", "tasks": {"mednli": {}}}))
    with pytest.raises(InputError, match=r"task 'meqsum' missing"):
        load_protocol("paper", tmp_path)


# ----------------------------------------------------------------------------- command line

def test_cli_fetch_and_show(tmp_path, monkeypatch):
    pins_file = tmp_path / "pins.json"
    pins_file.write_text(json.dumps(standin_hashes("paper")))
    monkeypatch.setenv("CLUE_PROTOCOL_PINS", str(pins_file))
    runner = CliRunner()
    result = runner.invoke(cli, ["protocol", "fetch", "--from-dir", str(STANDIN_DIR / "paper"),
                                 "--protocol-dir", str(tmp_path / "p")])
    assert result.exit_code == 0, result.output
    assert "6 files verified" in result.output
    result = runner.invoke(cli, ["protocol", "show", "--protocol-dir", str(tmp_path / "p"), "--prompts"])
    assert result.exit_code == 0, result.output
    assert "ff75877284133361d15f12e4ab290d230f449dd0" in result.output
    assert "sha256 pins overridden" in result.output
    assert "emilyalsentzer/Bio_ClinicalBERT L9" in result.output
    assert "QS-SYS: shorten the question." in result.output
