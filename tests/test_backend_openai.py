"""`--backend openai` against a real OpenAI-compatible server (`transformers serve` on 127.0.0.1 running the tiny
chat model): equal completions and prompt token counts to the in-process backend, a server killed mid-run, a
fault-injecting proxy, the chat API label, and the data-use guard (no socket opened for a refused endpoint)."""

from __future__ import annotations

import json
import socket
import sqlite3
import threading
import time

import pytest

from clue.backends.openai import EndpointError
from clue.errors import InputError
from clue.runner import EvalOptions, evaluate
from clue.store import GenerationStore
from clue.taskinfo import TASK_IDS

from runner_helpers import read_scores
from serving_helpers import FaultProxy, Server, completions_by_item

pytestmark = pytest.mark.slow      # a real server or engine process per test

NO_HEAVY_METRICS = "all,-bertscore,-umls"


def _options(model, ws, results, run, **changes) -> EvalOptions:
    base = dict(model=str(model), protocol="paper", protocol_dir=str(ws["protocol"]), data_dir=str(ws["data"]),
                results_dir=str(results), run=run, limit=1, batch_size=4, metrics=NO_HEAVY_METRICS, progress=False,
                retry_base=0.05)
    return EvalOptions(**{**base, **changes})


def _prompt_tokens(run_dir) -> dict[tuple[str, str], int]:
    with sqlite3.connect(run_dir / "store.sqlite") as db:
        return {(task, item): n for task, item, n in db.execute("SELECT task, item_id, prompt_tokens FROM completions")}


@pytest.fixture(scope="module")
def served(tiny_models, tmp_path_factory):
    server = Server(tiny_models["chat"], tmp_path_factory.mktemp("served") / "server.log").start()
    yield server
    server.kill()


@pytest.fixture(scope="module")
def reference(tiny_models, workspace, tmp_path_factory):
    """The in-process transformers backend on the same prompts (paper protocol, greedy)."""
    results = tmp_path_factory.mktemp("reference")
    return evaluate(_options(tiny_models["chat"], workspace, results, "hf"))


@pytest.fixture(scope="module")
def served_run(served, tiny_models, workspace, tmp_path_factory):
    results = tmp_path_factory.mktemp("served-run")
    return evaluate(_options(tiny_models["chat"], workspace, results, "openai", backend="openai",
                             base_url=served.base_url, concurrency=4))


def test_six_tasks_equal_the_in_process_backend(reference, served_run):
    assert [t.task for t in served_run.tasks] == list(TASK_IDS)
    for task in TASK_IDS:
        ours, theirs = completions_by_item(served_run.model_dir, task), completions_by_item(reference.model_dir, task)
        assert ours == theirs, task
        assert read_scores(served_run.model_dir / task)["metrics"] == read_scores(reference.model_dir / task)["metrics"]
    # the server tokenized each prompt into exactly the tokens the in-process backend fed its model
    assert _prompt_tokens(served_run.run_dir) == _prompt_tokens(reference.run_dir)
    entry = json.loads((served_run.run_dir / "manifest.json").read_text())["models"]["chat"]
    assert entry["identity"]["backend"] == "openai" and entry["identity"]["served_model"].endswith("@main")
    settings = entry["backend_settings"]
    assert settings["prompt_token_mismatches"] == 0 and settings["requests_sent"] == sum(t.n_generated for t in served_run.tasks)
    assert settings["special_tokens_field"] is False and settings["server_adds_special_tokens"] is True
    assert settings["prompt_path"] == "kit-rendered" and entry["endpoint"]["scope"] == "local"


def test_upstream_chat_template_bos_is_not_doubled(served, tiny_models, workspace, tmp_path):
    """Upstream prompts are chat-templated (their BOS is text): the server's own BOS replaces it."""
    common = dict(protocol="upstream", greedy=True, tasks="mednli,meqsum")
    local = evaluate(_options(tiny_models["chat"], workspace, tmp_path / "a", "hf", **common))
    remote = evaluate(_options(tiny_models["chat"], workspace, tmp_path / "b", "oa", backend="openai",
                               base_url=served.base_url, **common))
    for task in ("mednli", "meqsum"):
        assert completions_by_item(remote.model_dir, task) == completions_by_item(local.model_dir, task)
    assert _prompt_tokens(remote.run_dir) == _prompt_tokens(local.run_dir)


def test_chat_api_is_labelled_not_the_paper_path(served, tiny_models, workspace, tmp_path):
    from clue.report.runs import load_run
    from clue.report.tables import build_tables, render

    outcome = evaluate(_options(tiny_models["chat"], workspace, tmp_path, "chat", backend="openai",
                                base_url=served.base_url, api="chat", tasks="mednli,medisumcode"))
    scores = read_scores(outcome.model_dir / "medisumcode")
    assert scores["prompt_path"] == "server-chat-template"
    entry = json.loads((outcome.run_dir / "manifest.json").read_text())["models"]["chat"]
    assert entry["identity"]["api"] == "chat" and entry["backend_settings"]["prefills_dropped"] == 1
    rows = load_run(outcome.run_dir)
    assert rows[0].source == "chat [chat API]"
    assert "not the paper's prompt path" in render(build_tables(rows), "md")
    with pytest.raises(InputError, match="plain-text prompt .* --api completions"):
        evaluate(_options(tiny_models["chat"], workspace, tmp_path, "chat-base", backend="openai",
                          base_url=served.base_url, api="chat", tasks="mednli", chat_layout="base"))


def test_transient_faults_are_retried_to_the_same_result(served, reference, tiny_models, workspace, tmp_path):
    proxy = FaultProxy(served.base_url, faults=[429, 503, "reset", "malformed", "slow", 502], slow_seconds=2.5)
    try:
        outcome = evaluate(_options(tiny_models["chat"], workspace, tmp_path, "faults", backend="openai",
                                    base_url=proxy.base_url, concurrency=1, request_timeout=1.0, tasks="mednli"))
    finally:
        proxy.close()
    assert completions_by_item(outcome.model_dir, "mednli") == completions_by_item(reference.model_dir, "mednli")
    # two probes (with add_special_tokens, refused by this server with 422, then without), one item,
    # and one retry per injected fault
    assert proxy.completions() == 3 + 6
    with GenerationStore(outcome.run_dir / "store.sqlite") as store:
        assert store.count() == 1 and store.max_times_generated() == 1


@pytest.mark.parametrize("fault", [503, "malformed", 400])
def test_persistent_fault_stops_with_the_item_named_and_stores_nothing(fault, served, tiny_models, workspace,
                                                                      tmp_path):
    proxy = FaultProxy(served.base_url, always=fault, pass_first=2)    # the two probe requests pass
    try:
        with pytest.raises(EndpointError) as caught:
            evaluate(_options(tiny_models["chat"], workspace, tmp_path, "broken", backend="openai",
                              base_url=proxy.base_url, concurrency=1, max_retries=2, tasks="mednli"))
    finally:
        proxy.close()
    message = str(caught.value)
    assert "task mednli item" in message and "\n" not in message
    assert ("after 3 attempt(s)" in message) == (fault != 400)      # a 400 is not retried
    with GenerationStore(tmp_path / "broken" / "store.sqlite") as store:
        assert store.count() == 0


def test_server_killed_mid_run_then_resumed(served, served_run, tiny_models, workspace, tmp_path):
    server = Server(tiny_models["chat"], tmp_path / "server.log").start()
    options = _options(tiny_models["chat"], workspace, tmp_path, "killed", backend="openai", base_url=server.base_url,
                       concurrency=1, max_retries=1)
    failure: list[BaseException] = []

    def run():
        try:
            evaluate(options)
        except BaseException as exc:
            failure.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    store_path = tmp_path / "killed" / "store.sqlite"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and worker.is_alive():
        if store_path.exists():
            with sqlite3.connect(store_path) as db:
                if db.execute("SELECT COUNT(*) FROM completions").fetchone()[0] >= 3:
                    break
        time.sleep(0.05)
    server.kill()
    worker.join(timeout=120)
    assert failure and isinstance(failure[0], EndpointError), failure
    assert "task " in str(failure[0]) and "item " in str(failure[0])
    with GenerationStore(store_path) as store:
        stored_before = store.count()
    assert 3 <= stored_before < sum(t.n_generated for t in served_run.tasks)

    server.start()       # the same port again
    try:
        resumed = evaluate(options)
    finally:
        server.kill()
    assert sum(t.n_generated for t in resumed.tasks) == sum(t.n_generated for t in served_run.tasks) - stored_before
    with GenerationStore(store_path) as store:
        assert store.max_times_generated() == 1
    for task in TASK_IDS:
        assert read_scores(resumed.model_dir / task)["metrics"] == read_scores(served_run.model_dir / task)["metrics"]


# ---------------------------------------------------------------------------------------------- data-use guard

@pytest.fixture
def no_sockets(monkeypatch):
    """Any attempt to connect anywhere fails the test (and is recorded)."""
    attempts = []

    def refuse(self, address, *args):
        attempts.append(address)
        raise AssertionError(f"a socket connected to {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: attempts.append(a) or (_ for _ in ()).throw(
        AssertionError("a name was looked up")))
    return attempts


def test_credentialed_tasks_are_refused_for_a_public_address_before_any_socket(no_sockets, tiny_models, workspace,
                                                                               tmp_path):
    for tasks in ("mednli", "meqsum,problem_summary", None):
        with pytest.raises(InputError, match="PhysioNet") as caught:
            evaluate(_options(tiny_models["chat"], workspace, tmp_path, "guard", backend="openai",
                              base_url="http://203.0.113.5:8000/v1", tasks=tasks))
        assert "--allow-remote-endpoint" in str(caught.value)
    assert no_sockets == []
    assert not (tmp_path / "guard").exists()          # nothing written either


def test_public_tasks_and_the_acknowledgement_pass_the_guard(no_sockets, tiny_models, workspace, tmp_path):
    from clue.backends.guard import check_endpoint, endpoint_scope
    from clue.taskinfo import parse_tasks

    assert check_endpoint("http://203.0.113.5:8000/v1", parse_tasks("meqsum,longhealth")) == "remote"
    assert check_endpoint("http://203.0.113.5/v1", parse_tasks(None), allow_remote=True) == "remote"
    for local in ("http://127.0.0.1:8000/v1", "http://10.1.2.3/v1", "http://192.168.0.7/v1", "http://[::1]:80/v1",
                  "http://172.20.0.2/v1", "http://localhost:9/v1"):
        assert endpoint_scope(local) == "local", local
    assert no_sockets == []
    # past the guard, a public task reaches the connection attempt (refused here by the fixture)
    with pytest.raises((AssertionError, EndpointError)):
        evaluate(_options(tiny_models["chat"], workspace, tmp_path, "public", backend="openai",
                          base_url="http://203.0.113.5:8000/v1", tasks="meqsum", max_retries=0))
    assert no_sockets and no_sockets[0][0] == "203.0.113.5"


def test_api_key_comes_from_the_named_variable_and_is_never_recorded(served, tiny_models, workspace, tmp_path,
                                                                     monkeypatch):
    secret = "sk-test-NEVER-written-0123456789"
    monkeypatch.setenv("MY_ENDPOINT_KEY", secret)
    seen = []
    proxy = FaultProxy(served.base_url)
    original = proxy.httpd.RequestHandlerClass.do_POST

    def spy(handler):
        seen.append(handler.headers.get("Authorization"))
        original(handler)

    proxy.httpd.RequestHandlerClass.do_POST = spy
    try:
        outcome = evaluate(_options(tiny_models["chat"], workspace, tmp_path, "key", backend="openai",
                                    base_url=proxy.base_url, api_key_env="MY_ENDPOINT_KEY", tasks="mednli"))
    finally:
        proxy.close()
    assert seen and all(value == f"Bearer {secret}" for value in seen)
    for path in outcome.run_dir.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    monkeypatch.delenv("MY_ENDPOINT_KEY")
    with pytest.raises(InputError, match="MY_ENDPOINT_KEY"):
        evaluate(_options(tiny_models["chat"], workspace, tmp_path, "key2", backend="openai",
                          base_url=served.base_url, api_key_env="MY_ENDPOINT_KEY", tasks="mednli"))
