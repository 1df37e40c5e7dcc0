"""``--backend openai``: a model behind any OpenAI-compatible server (vLLM, TGI, SGLang, ``transformers serve``).

The kit keeps the prompt path it has in process: it renders every prompt with the model's own
tokenizer (chat template, prefill), counts and cuts over-long prompts from the left exactly as
the transformers backend does, and sends the finished string to ``/v1/completions`` — as CLUE's
original scripts sent finished strings to their text-generation server. Only the tokenizer and
config are loaded here (no weights), so ``clue score`` re-renders a served run on any machine.

- **Special tokens.** A first short request asks whether the server takes vLLM's
  ``add_special_tokens`` field. If it does, every request says whether the server should add the
  tokenizer's special tokens (BOS), as the kit's own tokenization did. If it does not (it then
  adds them itself, as ``transformers serve`` does), a prompt that should get none but starts with
  the BOS text (a chat template that writes its own) is sent without that text, so that the server's
  BOS takes its place. The server's count of prompt tokens is compared with the kit's for every
  request; differences are counted and recorded in the manifest (``backend_settings``).
- **Over-long prompts** are cut from the left to the protocol's limit with the kit's tokenizer; the
  text sent starts at the first kept token (character offsets of the fast tokenizer).
- ``--api chat`` sends the messages to ``/v1/chat/completions`` instead (for endpoints without raw
  completions): the server's own chat template renders them and a prefill cannot be sent. Such runs
  are labelled as not the paper's prompt path (``prompt_path`` in the manifest and in the tables).
- **Decoding** as the protocol says: greedy = temperature 0; sampling sends temperature, top-p and a
  per-request seed derived from the run seed and the prompt (``clue.backends.hf.row_seed``), so a
  completion does not depend on which requests share the server's batches. Stop strings are sent
  and applied again to the returned text.
- **Transport**: ``--concurrency`` requests in flight (daemon threads, so Ctrl-C never waits for a
  hanging server); 429, 5xx, dropped or refused connections, time-outs and malformed answers are
  retried with exponential backoff (``Retry-After`` honoured); an error that persists stops the run
  with a one-line message naming the task and item. Completions are handed to the runner one by one
  as they arrive (``generate_stream``), so the store keeps everything finished before an error.
- The API key is read from the environment variable named by ``--api-key-env`` and sent only in
  the ``Authorization`` header; it is never logged or recorded (``clue.manifest.scrub`` knows it).
"""

from __future__ import annotations

import json
import os
import queue
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

from clue.backends.base import Generation, Request
from clue.backends.hf import HFBackend, cut_at_stop, row_seed
from clue.errors import ClueError, InputError

APIS = ("completions", "chat")
RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


class EndpointError(ClueError):
    """The server failed a request for good (after retries), or answered something unusable."""


class _Retryable(Exception):
    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


def _first_line(text: str, limit: int = 200) -> str:
    return (str(text).strip().splitlines() or [""])[0][:limit]


class EndpointClient:
    """JSON over HTTP to one OpenAI-compatible base URL, with retries. Uses only the standard library."""

    def __init__(self, base_url: str, *, api_key_env: str | None = None, timeout: float = 600.0,
                 max_retries: int = 6, retry_base: float = 0.5, retry_cap: float = 60.0):
        self.base_url = base_url.rstrip("/")
        if not self.base_url.startswith(("http://", "https://")):
            raise InputError(f"--base-url {base_url}: expected an http:// or https:// URL, e.g. http://127.0.0.1:8000/v1")
        self.timeout = timeout
        self.max_retries = max(0, int(max_retries))
        self.retry_base = retry_base
        self.retry_cap = retry_cap
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if api_key_env:
            key = os.environ.get(api_key_env)
            if not key:
                raise InputError(f"--api-key-env {api_key_env}: that environment variable is not set")
            from clue.manifest import add_secret_variable

            add_secret_variable(api_key_env)
            self._headers["Authorization"] = f"Bearer {key}"

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def _once(self, method: str, path: str, body: dict | None) -> dict:
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(self.url(path), data=data, method=method, headers=self._headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            detail = _first_line(exc.read().decode("utf-8", "replace")) if exc.fp else ""
            message = f"HTTP {exc.code}" + (f": {detail}" if detail else "")
            if exc.code in RETRY_STATUS or exc.code >= 500:
                after = exc.headers.get("Retry-After") if exc.headers else None
                try:
                    retry_after = float(after) if after else None
                except ValueError:
                    retry_after = None
                raise _Retryable(message, retry_after) from None
            raise EndpointError(message) from None
        except (urllib.error.URLError, OSError, TimeoutError) as exc:   # refused, reset, time-out, DNS
            reason = getattr(exc, "reason", exc)
            raise _Retryable(f"{type(reason).__name__}: {_first_line(reason) or 'connection failed'}") from None
        try:
            parsed = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise _Retryable(f"malformed JSON in the answer ({_first_line(raw.decode('utf-8', 'replace'), 80)!r})") from None
        if not isinstance(parsed, dict):
            raise _Retryable("malformed answer: not a JSON object")
        return parsed

    def call(self, method: str, path: str, body: dict | None = None, *, what: str = "",
             check=None, stop: threading.Event | None = None) -> dict:
        """One request with retries; ``check(answer)`` raises ``ValueError`` for an unusable answer (retried)."""
        attempt = 0
        while True:
            try:
                answer = self._once(method, path, body)
                if check is not None:
                    try:
                        check(answer)
                    except (ValueError, KeyError, IndexError, TypeError) as exc:
                        raise _Retryable(f"malformed answer: {exc}") from None
                return answer
            except _Retryable as exc:
                attempt += 1
                if attempt > self.max_retries or (stop is not None and stop.is_set()):
                    raise EndpointError(f"{what}{method} {self.url(path)} failed after {attempt} attempt(s): {exc}"
                                        ) from None
                delay = min(self.retry_cap, self.retry_base * 2 ** (attempt - 1))
                if exc.retry_after is not None:
                    delay = min(self.retry_cap, max(delay, exc.retry_after))
                time.sleep(delay)
            except EndpointError as exc:
                raise EndpointError(f"{what}{method} {self.url(path)}: {exc}") from None


def _completion_text(answer: dict, api: str) -> str:
    choice = answer["choices"][0]
    text = choice["message"]["content"] if api == "chat" else choice["text"]
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise ValueError(f"choices[0] {'message.content' if api == 'chat' else 'text'} is not a string")
    return text


class OpenAIBackend(HFBackend):
    """A served model: the kit's tokenizer side (render, count, cut) plus HTTP generation."""

    backend_name = "openai"
    needs_weights = False

    @classmethod
    def from_options(cls, model: str, options) -> OpenAIBackend:
        if options.model_args:
            raise InputError("--model-arg applies to --backend hf and --backend vllm; a model behind --base-url "
                             "is configured where it is served")
        if not options.base_url:
            raise InputError("--backend openai needs --base-url, e.g. http://127.0.0.1:8000/v1")
        return cls(model, base_url=options.base_url, api=options.api, revision=options.revision,
                   concurrency=options.concurrency, api_key_env=options.api_key_env,
                   request_timeout=options.request_timeout, max_retries=options.max_retries,
                   served_model=options.served_model, for_scoring=options.for_scoring, retry_base=options.retry_base)

    def __init__(self, model: str, *, base_url: str, api: str = "completions", revision: str | None = None,
                 concurrency: int = 8, api_key_env: str | None = None, request_timeout: float = 600.0,
                 max_retries: int = 6, served_model: str | None = None, for_scoring: bool = False,
                 retry_base: float = 0.5):
        if api not in APIS:
            raise InputError(f"--api {api}: expected one of {', '.join(APIS)}")
        super().__init__(model, revision=revision, dtype="auto", device="cpu", batch_size=concurrency)
        self.api = api
        self.concurrency = max(1, int(concurrency))
        self.base_url = base_url
        self.for_scoring = for_scoring
        self.client = None if for_scoring else EndpointClient(
            base_url, api_key_env=api_key_env, timeout=request_timeout, max_retries=max_retries,
            retry_base=retry_base)
        self._requested_model = served_model or model
        self._served_model = served_model if for_scoring else None
        self._special_param: bool | None = None      # does the server take add_special_tokens?
        self._server_adds_special: bool | None = None
        self.token_mismatches = 0                     # requests whose server prompt-token count differed
        self.prefills_dropped = 0                     # chat API: prefills that could not be sent
        self.requests_sent = 0
        self._lock = threading.Lock()

    def _pick_device(self, device: str) -> str:   # the tokenizer side runs on the CPU
        return "cpu"

    def _pick_dtype(self, dtype: str) -> str:      # the server's business; not part of the identity
        return "server"

    # -- identity --------------------------------------------------------------------

    @property
    def served_model(self) -> str:
        if self._served_model is None:
            self._connect()
        return self._served_model

    def identity(self) -> dict:
        return {"model": self.model_id, "revision": self.revision, "backend": self.backend_name,
                "served_model": self.served_model, "api": self.api}

    def settings(self) -> dict:
        info = self.model_info()
        return {"base_url": self.base_url, "api": self.api, "concurrency": self.concurrency,
                "prompt_path": self.prompt_path, "requested_revision": self.requested_revision,
                "tokenizer_path": str(self.path), "family": info.family, "context_length": info.context_length,
                "special_tokens_field": self._special_param, "server_adds_special_tokens": self._server_adds_special,
                "requests_sent": self.requests_sent, "prompt_token_mismatches": self.token_mismatches,
                "prefills_dropped": self.prefills_dropped}

    @property
    def prompt_path(self) -> str:
        """``kit-rendered`` (the paper's: finished strings to /v1/completions) or ``server-chat-template``."""
        return "kit-rendered" if self.api == "completions" else "server-chat-template"

    def _connect(self) -> None:
        """Ask the server who it is (and, for completions, whether it takes ``add_special_tokens``)."""
        if self.client is None:
            raise InputError(f"{self.model_id}: the served model's id is not recorded; cannot re-score without it")
        if self.api == "chat":
            answer = self.client.call("POST", "chat/completions", {
                "model": self._requested_model, "messages": [{"role": "user", "content": "Hello"}],
                "max_tokens": 1, "temperature": 0}, what="probe request: ", check=lambda a: _completion_text(a, "chat"))
        else:
            body = {"model": self._requested_model, "prompt": "Hello", "max_tokens": 1, "temperature": 0}
            try:
                answer = self.client.call("POST", "completions", {**body, "add_special_tokens": True},
                                          what="probe request: ", check=lambda a: _completion_text(a, "completions"))
                self._special_param = True
            except EndpointError as exc:
                if "HTTP 4" not in str(exc):
                    raise
                answer = self.client.call("POST", "completions", body, what="probe request: ",
                                          check=lambda a: _completion_text(a, "completions"))
                self._special_param = False
                server_count = (answer.get("usage") or {}).get("prompt_tokens")
                with_special = len(self.tokenizer("Hello", add_special_tokens=True)["input_ids"])
                without = len(self.tokenizer("Hello", add_special_tokens=False)["input_ids"])
                if isinstance(server_count, int) and with_special != without:
                    self._server_adds_special = server_count == with_special
        reported = answer.get("model")
        self._served_model = reported if isinstance(reported, str) and reported else self._requested_model

    # -- what goes over the wire ----------------------------------------------------------

    def _special(self, request: Request) -> bool:
        special = request.decoding.special_tokens
        return request.messages is None if special is None else special

    def wire_prompt(self, request: Request, prompt: str) -> tuple[dict, int, int]:
        """The request body's prompt part, the prompt tokens the model should see, and the tokens cut."""
        if self.api == "chat":
            return self._wire_chat(request, prompt)
        special = self._special(request)
        encoded = self.tokenizer(prompt, add_special_tokens=special, return_offsets_mapping=True)
        ids, offsets = encoded["input_ids"], encoded["offset_mapping"]
        limit = self.prompt_limit(request.decoding)
        cut = max(0, len(ids) - limit)
        text, want_special = prompt, special
        if cut:   # keep the last `limit` tokens: the text from the first kept token's first character on
            text, want_special = prompt[offsets[cut][0]:], False
        body: dict = {"prompt": text}
        if self._special_param:
            body["add_special_tokens"] = want_special
        elif not want_special and self._server_adds_special is not False:
            bos = self.tokenizer.bos_token
            if bos and text.startswith(bos):   # the server's own BOS stands in for the template's
                body["prompt"] = text[len(bos):]
        return body, len(ids) - cut, cut

    def _wire_chat(self, request: Request, prompt: str) -> tuple[dict, int, int]:
        if request.messages is None:
            raise InputError(f"task {request.task} item {request.item_id}: a plain-text prompt (layout base) cannot be "
                             "sent to /v1/chat/completions; use --api completions")
        n_tokens = len(self._prompt_ids(request, prompt))
        limit = self.prompt_limit(request.decoding)
        if n_tokens > limit:
            raise InputError(f"task {request.task} item {request.item_id}: the prompt has {n_tokens} tokens, over the "
                             f"limit of {limit}; over-long prompts can only be cut with --api completions")
        if request.prefill:
            with self._lock:
                self.prefills_dropped += 1
        return {"messages": [dict(m) for m in request.messages]}, n_tokens, 0

    def request_body(self, request: Request, prompt: str) -> tuple[dict, int, int]:
        _ = self.served_model   # connects first: the wire format depends on what the server takes
        wire, n_tokens, cut = self.wire_prompt(request, prompt)
        decoding = request.decoding
        # the name asked for (the server may report it differently, e.g. with a revision appended)
        body = {"model": self._requested_model, **wire, "max_tokens": decoding.max_new_tokens}
        if decoding.greedy:
            body["temperature"] = 0.0
        else:
            body.update(temperature=decoding.temperature, top_p=decoding.top_p,
                        seed=row_seed(decoding.seed, prompt) % (2**31))
        if decoding.stop:
            body["stop"] = list(decoding.stop)
        return body, n_tokens, cut

    # -- generation ----------------------------------------------------------------------

    def _complete(self, request: Request, prompt: str, stop: threading.Event) -> Generation:
        body, n_tokens, cut = self.request_body(request, prompt)
        path = "chat/completions" if self.api == "chat" else "completions"
        started = time.perf_counter()
        answer = self.client.call("POST", path, body, what=f"task {request.task} item {request.item_id}: ",
                                  check=lambda a: _completion_text(a, self.api), stop=stop)
        seconds = time.perf_counter() - started
        usage = answer.get("usage") or {}
        server_tokens = usage.get("prompt_tokens") if isinstance(usage.get("prompt_tokens"), int) else None
        with self._lock:
            self.requests_sent += 1
            if self.api == "completions" and server_tokens is not None and server_tokens != n_tokens:
                self.token_mismatches += 1
        new_tokens = usage.get("completion_tokens") if isinstance(usage.get("completion_tokens"), int) else None
        return Generation(completion=cut_at_stop(_completion_text(answer, self.api), request.decoding.stop),
                          prompt_tokens=server_tokens if server_tokens is not None else n_tokens,
                          truncated_tokens=cut, new_tokens=new_tokens, seconds=seconds)

    def generate_stream(self, requests: list[Request], prompts: list[str]) -> Iterator[tuple[int, Generation]]:
        """Yield ``(index, generation)`` as completions arrive, ``concurrency`` requests in flight.

        The first request that fails for good stops the others (none is started after it) and is
        raised once every completion that did arrive has been yielded.
        """
        if self.client is None:
            raise InputError(f"{self.model_id}: this backend was made for re-scoring only")
        _ = self.served_model   # connect (probe) before starting the workers
        todo: queue.Queue = queue.Queue()
        for index in range(len(requests)):
            todo.put(index)
        done: queue.Queue = queue.Queue()
        stop = threading.Event()

        def worker():
            while not stop.is_set():
                try:
                    index = todo.get_nowait()
                except queue.Empty:
                    return
                try:
                    done.put((index, self._complete(requests[index], prompts[index], stop), None))
                except BaseException as exc:   # handed to the consuming thread
                    done.put((index, None, exc))

        for _ in range(min(self.concurrency, len(requests))):
            threading.Thread(target=worker, daemon=True, name="clue-openai").start()
        failure = None
        try:
            for _ in range(len(requests)):
                index, generation, error = done.get()
                if error is not None:
                    failure = error
                    break
                yield index, generation
            if failure is not None:
                stop.set()   # nothing new starts; keep what has already arrived, abandon the rest
                while True:
                    try:
                        index, generation, error = done.get_nowait()
                    except queue.Empty:
                        break
                    if error is None:
                        yield index, generation
        finally:
            stop.set()
        if failure is not None:
            raise failure

    def generate_detailed(self, requests: list[Request], prompts: list[str]) -> list[Generation]:
        results: list[Generation | None] = [None] * len(requests)
        for index, generation in self.generate_stream(requests, prompts):
            results[index] = generation
        return results  # type: ignore[return-value]
