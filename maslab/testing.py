"""A real OpenAI-compatible HTTP server on loopback, with fault injection, for tests and benchmarks.

`FakeOpenAIServer` runs an aiohttp application in a background thread with its own event loop and
serves `GET /v1/models` and `POST /v1/chat/completions` (plain JSON or `stream: true` SSE) in the
OpenAI wire format. Everything the model pool does over HTTP (both transports, retries, timeouts,
cache) runs against it exactly as against vLLM or llama.cpp, at zero model cost.

    with FakeOpenAIServer(reply="42", transient_rate=0.2) as srv:
        pool = ModelPool.from_dict({"default": "m", "models": {"m": {"endpoints": [
            {"model": "openai/fake", "api_base": srv.api_base}]}}})
        ...
        assert srv.faults > 0

Configuration is plain attributes, changeable while the server runs (or via `configure(...)`):

- `reply`: a fixed string, or a callable `(request_json) -> str | dict`; a dict is used as the
  assistant message itself (e.g. with `tool_calls`). Default: `"echo: <last user message>"`.
  A dict may also carry `finish_reason` (e.g. `{"content": None, "finish_reason": "length"}`), which
  is moved out of the message into the choice.
- `latency`: seconds added to every request.
- `transient_rate`: probability (seeded RNG) that a request gets a transient fault; faults cycle
  through HTTP 500, 503, 429 (OpenAI error bodies) and a dropped connection (no response at all).
- `retry_after`: the `Retry-After` header sent with every 429 and 503 (seconds or an HTTP date; None:
  none).
- `queue_faults(*kinds)`: the next requests get exactly these faults, in order, before anything else:
  `500`, `503`, `429`, `drop` (connection closed before any response) or `truncated` (a 200 whose
  body stops half-way: the connection closes before the promised `Content-Length`).
- `mode`: `ok` | `bad_request` (400) | `non_json` (200 with an HTML body) | `hang` (never answers
  until `close()`) | `context_overflow` (400 with the vLLM/OpenAI context-length message) |
  `truncated` (every body stops half-way) | `slow_drip` (a 200 whose body arrives one byte every
  `drip_interval` seconds, so no single read ever waits long).

Counters: `requests` (received), `faults` (injected), `received` (the last `max_bodies` request
bodies, oldest first), `arrivals` (their `time.monotonic()` arrival times), `first_request_at` /
`last_response_at` (wall-clock `time.time()`, for measuring a client's span from another process:
`GET /maslab/stats` returns them with the counters, `POST /maslab/reset` zeroes them). `close()`
returns promptly even while requests hang.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, Literal

from maslab.trace import get_logger

_log = get_logger("maslab.testing")

Mode = Literal["ok", "bad_request", "non_json", "hang", "context_overflow", "truncated", "slow_drip"]
ReplyFn = Callable[[dict[str, Any]], "str | dict[str, Any]"]

FAULT_KINDS: tuple[str, ...] = ("500", "503", "429", "drop")
QUEUEABLE_FAULTS: tuple[str, ...] = (*FAULT_KINDS, "truncated")
MODES: tuple[str, ...] = ("ok", "bad_request", "non_json", "hang", "context_overflow", "truncated", "slow_drip")


def _error_body(
    message: str, type_: str, code: str | int | None = None, param: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def _text_of(content: Any) -> str:
    """The text of an OpenAI message `content` (a string or a list of parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") == "text"
        )
    return ""


def echo_reply(request: dict[str, Any]) -> str:
    """The default reply: `echo: ` followed by the last user message's text."""
    for message in reversed(request.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            return f"echo: {_text_of(message.get('content'))}"
    return "echo: "


def count_tokens(text: str) -> int:
    """A deterministic stand-in for a tokenizer: whitespace-separated words."""
    return len(text.split())


class FakeOpenAIServer:
    """An OpenAI-compatible chat server on 127.0.0.1 in a background thread (see module docstring)."""

    def __init__(
        self,
        reply: str | ReplyFn | None = None,
        *,
        latency: float = 0.0,
        transient_rate: float = 0.0,
        mode: Mode = "ok",
        seed: int = 0,
        model_name: str = "fake-model",
        max_bodies: int = 1000,
        context_length: int = 2048,
        retry_after: str | None = "0",
        drip_interval: float = 0.2,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.reply: str | ReplyFn | None = reply
        self.latency = latency
        self.transient_rate = transient_rate
        self.retry_after = retry_after
        self.drip_interval = drip_interval
        self.mode: Mode = mode
        self.model_name = model_name
        self.context_length = context_length
        self.host = host
        self.requests = 0
        self.faults = 0
        self.fault_counts: collections.Counter[str] = collections.Counter()
        self.received: collections.deque[dict[str, Any]] = collections.deque(maxlen=max_bodies)
        self.arrivals: collections.deque[float] = collections.deque(maxlen=max_bodies)
        self.first_request_at: float | None = None
        self.last_response_at: float | None = None
        self._queued: collections.deque[str] = collections.deque()
        self._rng = random.Random(seed)
        self._fault_cycle = 0
        self._requested_port = port
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: Any = None
        self._closing: asyncio.Event | None = None
        self._started = threading.Event()
        self._start_error: BaseException | None = None
        self._lock = threading.Lock()

    # ---------------------------------------------------------------- configuration

    def configure(self, **changes: Any) -> None:
        """Change configuration attributes while running, e.g. `srv.configure(mode="hang")`."""
        for key, value in changes.items():
            if key not in {"reply", "latency", "transient_rate", "mode", "model_name", "context_length",
                           "retry_after", "drip_interval"}:
                raise AttributeError(f"FakeOpenAIServer has no setting {key!r}")
            if key == "mode" and value not in MODES:
                raise ValueError(f"mode must be one of {MODES}, not {value!r}")
            setattr(self, key, value)

    def reseed(self, seed: int) -> None:
        """Restart the fault RNG and the fault cycle from `seed`."""
        with self._lock:
            self._rng = random.Random(seed)
            self._fault_cycle = 0

    def queue_faults(self, *kinds: str) -> None:
        """Give the next `len(kinds)` requests exactly these faults, in order (see the module docstring)."""
        unknown = [k for k in kinds if k not in QUEUEABLE_FAULTS]
        if unknown:
            raise ValueError(f"unknown fault kind(s) {unknown}; known: {QUEUEABLE_FAULTS}")
        with self._lock:
            self._queued.extend(kinds)

    def reset_counters(self) -> None:
        """Zero `requests`, `faults`, `fault_counts`, the span times and clear `received` and `arrivals`."""
        with self._lock:
            self.requests = 0
            self.faults = 0
            self.fault_counts.clear()
            self.received.clear()
            self.arrivals.clear()
            self.first_request_at = self.last_response_at = None

    def stats(self) -> dict[str, Any]:
        """The counters and span times (what `GET /maslab/stats` returns)."""
        with self._lock:
            return {"requests": self.requests, "faults": self.faults, "first_request_at": self.first_request_at,
                    "last_response_at": self.last_response_at}

    @property
    def api_base(self) -> str:
        """The OpenAI base URL, ending in `/v1`."""
        if not self.port:
            raise RuntimeError("FakeOpenAIServer is not started")
        return f"http://{self.host}:{self.port}/v1"

    @property
    def last_request(self) -> dict[str, Any] | None:
        """The most recently received request body, if any."""
        return self.received[-1] if self.received else None

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> FakeOpenAIServer:
        """Bind a port and start serving; returns once the server accepts connections."""
        if self._thread is not None:
            return self
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self._requested_port))
        sock.listen(1024)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        self._thread = threading.Thread(
            target=self._run, args=(sock,), name=f"fake-openai-{self.port}", daemon=True
        )
        self._thread.start()
        self._started.wait(10)
        if self._start_error is not None:
            raise RuntimeError(
                f"FakeOpenAIServer failed to start: {self._start_error}"
            ) from self._start_error
        _log.debug("fake_openai_started", api_base=self.api_base)
        return self

    def close(self, timeout: float = 5.0) -> None:
        """Stop serving; hanging requests are dropped. Idempotent and prompt."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        if loop.is_running():
            with contextlib.suppress(RuntimeError):
                fut = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
                with contextlib.suppress(Exception):
                    fut.result(timeout)
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        self._thread = None
        _log.debug("fake_openai_closed", port=self.port)

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # best effort; tests should use `with` or close()
        with contextlib.suppress(Exception):
            self.close(timeout=1.0)

    def _run(self, sock: socket.socket) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._setup(sock))
        except BaseException as exc:  # surfaced by start()
            self._start_error = exc
            self._started.set()
            loop.close()
            return
        self._started.set()
        try:
            loop.run_forever()
        finally:
            with contextlib.suppress(Exception):
                pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
                for task in pending:
                    task.cancel()
                if pending:
                    loop.run_until_complete(asyncio.wait(pending, timeout=1.0))
            loop.close()

    async def _setup(self, sock: socket.socket) -> None:
        from aiohttp import web

        self._closing = asyncio.Event()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/maslab/stats", self._stats)
        app.router.add_post("/maslab/reset", self._reset)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5, handle_signals=False)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        self._runner = runner

    async def _shutdown(self) -> None:
        if self._closing is not None:
            self._closing.set()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            with contextlib.suppress(Exception):
                await asyncio.wait_for(runner.cleanup(), 2.0)

    # ---------------------------------------------------------------- handlers

    async def _models(self, request: Any) -> Any:
        from aiohttp import web

        return web.json_response(
            {
                "object": "list",
                "data": [{"id": self.model_name, "object": "model", "created": 0, "owned_by": "maslab"}],
            }
        )

    async def _stats(self, request: Any) -> Any:
        from aiohttp import web

        return web.json_response(self.stats())

    async def _reset(self, request: Any) -> Any:
        from aiohttp import web

        self.reset_counters()
        return web.json_response(self.stats())

    def _draw_fault(self) -> str | None:
        with self._lock:
            if self._queued:
                kind = self._queued.popleft()
                self.faults += 1
                self.fault_counts[kind] += 1
                return kind
            if self.transient_rate <= 0 or self._rng.random() >= self.transient_rate:
                return None
            kind = FAULT_KINDS[self._fault_cycle % len(FAULT_KINDS)]
            self._fault_cycle += 1
            self.faults += 1
            self.fault_counts[kind] += 1
            return kind

    async def _sleep_or_close(self, seconds: float | None) -> bool:
        """Sleep `seconds` (forever if None); True if the server started closing meanwhile."""
        assert self._closing is not None
        if self._closing.is_set():
            return True
        try:
            await asyncio.wait_for(self._closing.wait(), seconds)
            return True
        except TimeoutError:
            return False

    @staticmethod
    def _drop(request: Any) -> Any:
        from aiohttp import web

        transport = request.transport
        if transport is not None:
            transport.abort()
        return web.Response(status=500)  # never reaches the client: the connection is gone

    async def _chat(self, request: Any) -> Any:
        try:
            return await self._answer(request)
        finally:
            self.last_response_at = time.time()

    async def _answer(self, request: Any) -> Any:
        from aiohttp import web

        arrived = time.monotonic()
        if self.first_request_at is None:
            self.first_request_at = time.time()
        raw = await request.read()
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        with self._lock:
            self.requests += 1
            if isinstance(body, dict):
                self.received.append(body)
                self.arrivals.append(arrived)
        if not isinstance(body, dict):
            return web.json_response(
                _error_body("Request body is not a JSON object.", "invalid_request_error"), status=400
            )

        if self.latency > 0 and await self._sleep_or_close(self.latency):
            return self._drop(request)

        mode = self.mode
        if mode == "hang":
            await self._sleep_or_close(None)
            return self._drop(request)
        if mode == "bad_request":
            return web.json_response(
                _error_body(
                    "Invalid request: 'messages' is malformed.", "invalid_request_error", None, "messages"
                ),
                status=400,
            )
        if mode == "non_json":
            return web.Response(status=200, text="<html>garbage</html>", content_type="text/html")
        if mode == "context_overflow":
            prompt = sum(
                count_tokens(_text_of(m.get("content")))
                for m in body.get("messages") or []
                if isinstance(m, dict)
            )
            asked = int(body.get("max_tokens") or body.get("max_completion_tokens") or 0)
            message = (
                f"This model's maximum context length is {self.context_length} tokens. However, you requested "
                f"{self.context_length + prompt + asked + 1} tokens ({self.context_length + prompt + 1} in the "
                f"messages, {asked} in the completion). Please reduce the length of the messages or completion."
            )
            return web.json_response(
                _error_body(message, "invalid_request_error", "context_length_exceeded", "messages"),
                status=400,
            )

        fault = self._draw_fault()
        if fault == "drop":
            return self._drop(request)
        if fault == "truncated" or mode == "truncated":
            return await self._truncated(request)
        if mode == "slow_drip":
            return await self._slow_drip(request, body)
        if fault is not None:
            status = int(fault)
            messages = {
                500: ("The server had an error while processing your request.", "server_error"),
                503: ("The engine is currently overloaded, please try again later.", "server_error"),
                429: ("Rate limit reached for requests. Please try again.", "requests"),
            }
            text, type_ = messages[status]
            code = "rate_limit_exceeded" if status == 429 else None
            retry_after = self.retry_after if status in (429, 503) else None
            headers = {"retry-after": retry_after} if retry_after is not None else None
            return web.json_response(_error_body(text, type_, code), status=status, headers=headers)

        return await self._complete(request, body)

    async def _truncated(self, request: Any) -> Any:
        """A 200 that promises a full chat completion (`Content-Length`) and closes half-way through it."""
        from aiohttp import web

        payload = json.dumps({"id": "chatcmpl-truncated", "object": "chat.completion", "created": 0,
                              "model": self.model_name, "choices": [{"index": 0, "finish_reason": "stop",
                              "message": {"role": "assistant", "content": "this body never ends"}}]}).encode()
        response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        response.content_length = len(payload)
        await response.prepare(request)
        await response.write(payload[: len(payload) // 2])
        if request.transport is not None:
            request.transport.abort()
        return response

    async def _slow_drip(self, request: Any, body: dict[str, Any]) -> Any:
        """A 200 whose (valid) body arrives one byte every `drip_interval` seconds."""
        from aiohttp import web

        payload = json.dumps({"id": "chatcmpl-drip", "object": "chat.completion", "created": 0,
                              "model": self.model_name, "choices": [{"index": 0, "finish_reason": "stop",
                              "message": {"role": "assistant", "content": echo_reply(body)}}]}).encode()
        response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        response.content_length = len(payload)
        await response.prepare(request)
        try:
            for i in range(len(payload)):
                if await self._sleep_or_close(self.drip_interval):
                    break
                await response.write(payload[i : i + 1])
            else:
                await response.write_eof()
                return response
        except ConnectionError:  # the client gave up (its timeout): nothing left to send
            pass
        if request.transport is not None:
            request.transport.abort()
        return response

    async def _complete(self, request: Any, body: dict[str, Any]) -> Any:
        from aiohttp import web

        reply = self.reply
        try:
            produced = echo_reply(body) if reply is None else reply if isinstance(reply, str) else reply(body)
        except Exception as exc:  # a test's reply function failed: tell the client, loudly
            _log.warning("fake_openai_reply_failed", error=repr(exc))
            return web.json_response(
                _error_body(f"reply function failed: {exc!r}", "server_error"), status=500
            )
        finish: str | None = None
        if isinstance(produced, dict):
            message = {"role": "assistant", "content": None, **produced}
            finish = message.pop("finish_reason", None)
        else:
            message = {"role": "assistant", "content": str(produced)}
        finish = finish or ("tool_calls" if message.get("tool_calls") else "stop")
        prompt_tokens = max(
            1,
            sum(
                count_tokens(_text_of(m.get("content")))
                for m in body.get("messages") or []
                if isinstance(m, dict)
            ),
        )
        completion_tokens = count_tokens(message.get("content") or "") + len(message.get("tool_calls") or [])
        n = max(1, int(body.get("n") or 1))
        model = str(body.get("model") or self.model_name)
        cid = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens * n,
            "total_tokens": prompt_tokens + completion_tokens * n,
        }
        if body.get("stream"):
            return await self._stream(request, cid, created, model, message, finish, n, usage, body)
        return web.json_response(
            {
                "id": cid,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [
                    {"index": i, "message": dict(message), "finish_reason": finish, "logprobs": None}
                    for i in range(n)
                ],
                "usage": usage,
            }
        )

    async def _stream(
        self,
        request: Any,
        cid: str,
        created: int,
        model: str,
        message: dict[str, Any],
        finish: str,
        n: int,
        usage: dict[str, int],
        body: dict[str, Any],
    ) -> Any:
        from aiohttp import web

        response = web.StreamResponse(status=200, headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)

        def chunk(index: int, delta: dict[str, Any], finish_reason: str | None) -> bytes:
            payload = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": index, "delta": delta, "finish_reason": finish_reason}],
            }
            return f"data: {json.dumps(payload)}\n\n".encode()

        content = message.get("content") or ""
        pieces = [p + " " for p in content.split(" ")] if content else []
        if pieces:
            pieces[-1] = pieces[-1][:-1]
        for i in range(n):
            await response.write(chunk(i, {"role": "assistant", "content": ""}, None))
            for piece in pieces:
                await response.write(chunk(i, {"content": piece}, None))
            if message.get("tool_calls"):
                calls = [{"index": k, **c} for k, c in enumerate(message["tool_calls"])]
                await response.write(chunk(i, {"tool_calls": calls}, None))
            await response.write(chunk(i, {}, finish))
        if (body.get("stream_options") or {}).get("include_usage"):
            payload = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [],
                "usage": usage,
            }
            await response.write(f"data: {json.dumps(payload)}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response


@contextlib.contextmanager
def server_process(reply: str, *args: str) -> Iterator[str]:
    """`python -m maslab.testing --reply REPLY ARGS` in its own process (its CPU is not the client's, as in the
    benchmarks); yields its api_base and stops it on exit."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "maslab.testing", "--reply", reply, *args],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip()
    finally:
        proc.terminate()
        proc.wait(10)


def main(argv: list[str] | None = None) -> None:
    """`python -m maslab.testing [--port P] [--reply TEXT] [--latency S] [--transient-rate R]`: serve a fake
    OpenAI-compatible endpoint in this process until killed (dry runs, out-of-process benchmarks). Prints
    the api_base on its first line."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m maslab.testing", description=main.__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--reply", default=None)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--transient-rate", type=float, default=0.0)
    args = parser.parse_args(argv)
    server = FakeOpenAIServer(args.reply, port=args.port, latency=args.latency,
                              transient_rate=args.transient_rate).start()
    sys.stdout.write(server.api_base + "\n")
    sys.stdout.flush()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.close()


if __name__ == "__main__":
    main()
