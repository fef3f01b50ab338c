"""How a model call reaches its server: a lean client for OpenAI-compatible endpoints, litellm for the rest.

Two routes, chosen per endpoint by `route()`:

* **lean** — an endpoint whose model string is `openai/NAME` or `hosted_vllm/NAME` *and* that has an
  `api_base` (vLLM, llama.cpp, the embedded model, any server speaking `/v1/chat/completions`).
  `LeanClient` keeps one `aiohttp.ClientSession` per endpoint (per event loop; closed when the loop
  shuts down), builds the request body directly from the OpenAI wire messages (`NAME` is sent as
  the model) and parses the reply itself. Measured against the zero-latency fake server at 64 calls
  in flight (`benchmarks/overhead.py`), aiohttp costs ~0.3 ms of client CPU per call, httpx and the
  openai SDK ~3 ms, litellm ~5 ms — hence aiohttp.
* **litellm** — every other provider (`anthropic/…`, `openai/…` without `api_base`, …), through
  `litellm.acompletion`, imported only when an endpoint needs it (`import_litellm`), so a run that
  touches only local endpoints never imports litellm.

Both routes return the same `Completion` and fail the same way, so the pool's retry policy does not
care which one ran:

* `Transient(error, retry_after)` — worth retrying: timeouts, refused or dropped connections, 408,
  409, 425, 429 and 5xx; `retry_after` is the server's `Retry-After` (seconds or an HTTP date), in
  seconds, when it sent one;
* `BadResponseError` — the server answered with something that is not a chat completion (not JSON,
  a truncated body, no choices, `content: null` without tool calls unless the finish reason
  explains it); never retried;
* `ModelCallError` — any other refusal (400, 401, 404, context overflow); never retried.

Every message names the alias and endpoint, states what happened ("connection refused",
"truncated body", "timed out after 3.2 s"), and never contains the API key.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import os
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal

from maslab.errors import BadResponseError, ModelCallError, ModelTimeoutError
from maslab.messages import Completion, Message, ToolCall, Usage
from maslab.trace import get_logger

log = get_logger(__name__)

Route = Literal["lean", "litellm"]
LEAN_PREFIXES = ("openai/", "hosted_vllm/")
TRANSIENT_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
# A finish reason that explains an answer with neither text nor tool calls.
EMPTY_EXPLAINED = {"length": "the completion-token cap was reached before any text",
                   "content_filter": "the server's content filter withheld the text"}


def route(model: str, api_base: str | None, choice: str = "auto") -> Route:
    """`lean` for `openai/` or `hosted_vllm/` models with an `api_base`, else `litellm` (or `choice`)."""
    if choice in ("lean", "litellm"):
        return choice  # type: ignore[return-value]
    return "lean" if api_base and model.startswith(LEAN_PREFIXES) else "litellm"


@dataclass(slots=True)
class Call:
    """One request, as both routes need it."""

    alias: str
    endpoint: str  # the label errors name: the api_base, or the model string
    model: str  # the configured (litellm-style) model string
    api_base: str | None
    api_key: str | None
    timeout: float
    messages: list[dict[str, Any]]  # OpenAI wire dicts
    params: dict[str, Any]
    tools: list[dict[str, Any]] | None = None

    @property
    def where(self) -> str:
        return f"alias {self.alias!r} endpoint {self.endpoint}"

    def error(self, text: str, kind: type[ModelCallError] = ModelCallError, transient: bool = False) -> ModelCallError:
        if self.api_key:
            text = text.replace(self.api_key, "***")
        return kind(f"{self.where}: {text}", alias=self.alias, endpoint=self.endpoint, transient=transient)


class Transient(Exception):
    """A fault worth retrying, with the server's `Retry-After` in seconds when it sent one."""

    def __init__(self, error: ModelCallError, retry_after: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a `Retry-After` header: a number of seconds or an HTTP date (None if absent)."""
    if value is None or not value.strip():
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _short(text: str, limit: int = 600) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _timed_out(call: Call, started: float) -> Transient:
    elapsed = time.monotonic() - started
    return Transient(call.error(f"timed out: no complete answer after {elapsed:.1f}s (timeout {call.timeout:g}s)",
                                ModelTimeoutError, transient=True))


def status_error(call: Call, status: int, text: str, retry_after: float | None = None) -> Exception:
    """The error for an HTTP error status: transient (retried) or final."""
    text = _short(text)
    lowered = text.lower()
    if status == 400 and ("context length" in lowered or "context window" in lowered
                          or "context_length_exceeded" in lowered):
        return call.error(f"context window exceeded (status 400): {text}")
    if status in TRANSIENT_STATUS:
        return Transient(call.error(f"transient fault (status {status}): {text}", transient=True), retry_after)
    if status in (401, 403):
        return call.error(f"authentication refused (status {status}): {text}")
    return call.error(f"request refused (status {status}): {text}")


def _error_text(raw: bytes) -> str:
    """The `error.message` of an OpenAI error body, else the body's text."""
    try:
        data = json.loads(raw)
        message = data["error"]["message"] if isinstance(data.get("error"), dict) else data.get("error") or data
        return message if isinstance(message, str) else json.dumps(message)
    except (ValueError, TypeError, KeyError, AttributeError):
        return raw.decode("utf-8", "replace").strip()


def completion_from_body(data: Any, call: Call) -> Completion:
    """A `Completion` from an OpenAI chat-completion body (a parsed JSON dict), checked field by field;
    anything off is a `BadResponseError` naming what is wrong."""
    try:
        choice = data["choices"][0]
        message = choice["message"]
        if not isinstance(message, dict):
            raise TypeError("message is not an object")
    except (KeyError, IndexError, TypeError) as e:
        raise call.error(f"malformed chat completion (no choices[0].message: {e!r}): {_short(json.dumps(data))}",
                         BadResponseError) from None
    content = message.get("content")
    if isinstance(content, list):  # some servers answer in content parts
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    if content is not None and not isinstance(content, str):
        raise call.error(f"malformed chat completion: content is {type(content).__name__}", BadResponseError)
    calls: list[ToolCall] = []
    for i, c in enumerate(message.get("tool_calls") or []):
        try:
            function = c["function"]
            arguments = function.get("arguments")
            arguments = "{}" if arguments is None else arguments if isinstance(arguments, str) else json.dumps(arguments)
            calls.append(ToolCall(id=str(c.get("id") or f"call_{i}"), name=str(function["name"]),
                                  arguments=arguments))
        except (KeyError, TypeError, AttributeError, ValueError) as e:
            raise call.error(f"malformed tool call {i} ({e!r})", BadResponseError) from None
    finish = choice.get("finish_reason")
    usage = data.get("usage") or {}
    completion_tokens = int(usage.get("completion_tokens") or 0)
    if content is None and not calls:
        why = EMPTY_EXPLAINED.get(finish or "")
        if why is None:
            raise call.error(f"the server returned no content and no tool calls (finish_reason {finish!r})",
                             BadResponseError)
        content = ""
        log.warning("empty_completion", alias=call.alias, endpoint=call.endpoint, finish_reason=finish,
                    completion_tokens=completion_tokens, max_tokens=call.params.get("max_tokens"),
                    reason=f"{why} ({completion_tokens} completion tokens)")
    # (pydantic's validating constructors are faster than `model_construct` here, and check the types)
    return Completion(message=Message(role="assistant", content=content, tool_calls=calls or None),
                      usage=Usage(prompt_tokens=int(usage.get("prompt_tokens") or 0),
                                  completion_tokens=completion_tokens),
                      alias=call.alias, model=call.model, endpoint=call.endpoint, finish_reason=finish)


def connection_fault(e: BaseException, call: Call, started: float) -> Exception | None:
    """The error for a fault below HTTP — a timeout, a refused or dropped connection, a truncated body —
    or None. Both routes use it: litellm's own OpenAI client runs on aiohttp too."""
    if isinstance(e, TimeoutError):
        return _timed_out(call, started)
    if isinstance(e, ConnectionRefusedError):
        return Transient(call.error("connection refused (is the server running?)", transient=True))
    text = str(e)
    if "without sending complete message body" in text or "incomplete chunked read" in text:  # httpx's words
        return call.error(f"truncated body: the connection closed before the response was complete ({text})",
                          BadResponseError)
    if "Server disconnected without sending a response" in text:
        return Transient(call.error("the server closed the connection without answering", transient=True))
    aiohttp = sys.modules.get("aiohttp")
    if aiohttp is None or not isinstance(e, aiohttp.ClientError):
        return None
    if isinstance(e, aiohttp.ClientConnectorError):
        if isinstance(e.os_error, ConnectionRefusedError):
            return Transient(call.error("connection refused (is the server running?)", transient=True))
        return Transient(call.error(f"cannot connect: {e.os_error}", transient=True))
    if isinstance(e, aiohttp.ServerDisconnectedError):
        return Transient(call.error("the server closed the connection without answering", transient=True))
    if isinstance(e, aiohttp.ClientPayloadError):
        return call.error(f"truncated body: the connection closed before the response was complete ({text})",
                          BadResponseError)
    if isinstance(e, aiohttp.ClientResponseError):
        return call.error(f"malformed HTTP response ({e.message})", BadResponseError)
    return Transient(call.error(f"connection failed ({type(e).__name__}: {text})", transient=True))


# --------------------------------------------------------------------------- the lean route


class _Sessions:
    """The aiohttp sessions: one per (event loop, api_base), shared by every pool in that loop and closed
    when the loop shuts down (`asyncio.run` and `asyncio.Runner` finalise async generators on exit)."""

    def __init__(self) -> None:
        self._by_loop: dict[int, tuple[asyncio.AbstractEventLoop, dict[str, Any], Any]] = {}

    async def get(self, api_base: str) -> Any:
        loop = asyncio.get_running_loop()
        entry = self._by_loop.get(id(loop))
        if entry is None or entry[0] is not loop:
            sessions: dict[str, Any] = {}
            closer = self._close_at_loop_end(id(loop), sessions)
            await closer.asend(None)
            entry = self._by_loop[id(loop)] = (loop, sessions, closer)
        session = entry[1].get(api_base)
        if session is None or session.closed:
            import aiohttp

            # No connection cap here: the pool's per-endpoint semaphore bounds the calls in flight.
            session = entry[1][api_base] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        return session

    async def close(self, api_base: str) -> None:
        """Close this loop's session for `api_base` now (the next call opens a new one)."""
        entry = self._by_loop.get(id(asyncio.get_running_loop()))
        session = entry[1].pop(api_base, None) if entry else None
        if session is not None:
            await session.close()

    async def _close_at_loop_end(self, key: int, sessions: dict[str, Any]) -> AsyncIterator[None]:
        try:
            yield
        finally:
            self._by_loop.pop(key, None)
            for session in sessions.values():
                await session.close()


_sessions = _Sessions()


class LeanClient:
    """One OpenAI-compatible endpoint's chat call over the shared aiohttp session of its api_base."""

    def __init__(self, api_base: str) -> None:
        self.api_base = api_base
        self.url = api_base.rstrip("/") + "/chat/completions"
        self._timeouts: dict[float, Any] = {}

    async def aclose(self) -> None:
        await _sessions.close(self.api_base)

    def _timeout(self, seconds: float) -> Any:
        timeout = self._timeouts.get(seconds)
        if timeout is None:
            import aiohttp

            timeout = self._timeouts[seconds] = aiohttp.ClientTimeout(total=seconds)
        return timeout

    async def chat(self, call: Call) -> Completion:
        body = {**call.params, "model": call.model.split("/", 1)[1], "messages": call.messages}
        if call.tools:
            body["tools"] = call.tools
        headers = {"Content-Type": "application/json"}
        if call.api_key:
            headers["Authorization"] = f"Bearer {call.api_key}"
        session = await _sessions.get(self.api_base)
        started = time.monotonic()
        try:
            async with session.post(self.url, data=json.dumps(body).encode(), headers=headers,
                                    timeout=self._timeout(call.timeout)) as response:
                raw = await response.read()
                status = response.status
                retry_after = response.headers.get("Retry-After")
        except Exception as e:
            fault = connection_fault(e, call, started)
            if fault is None:
                raise
            raise fault from None
        if status >= 400:
            raise status_error(call, status, _error_text(raw), parse_retry_after(retry_after))
        try:
            data = json.loads(raw)
        except ValueError:
            raise call.error("the server returned a body that is not a JSON chat completion: "
                             f"{_short(raw.decode('utf-8', 'replace'))}", BadResponseError) from None
        return completion_from_body(data, call)


# --------------------------------------------------------------------------- the litellm route

_litellm: Any = None


def import_litellm() -> Any:
    """Import litellm once, offline: local cost map, no telemetry, no SDK-level retries."""
    global _litellm
    if _litellm is None:
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        os.environ.setdefault("LITELLM_LOG", "ERROR")
        import litellm

        litellm.telemetry = False
        litellm.suppress_debug_info = True
        litellm.drop_params = True
        _litellm = litellm
    return _litellm


async def litellm_chat(call: Call) -> Completion:
    """The call through `litellm.acompletion`, its faults mapped as the lean route maps them."""
    litellm = import_litellm()
    kwargs: dict[str, Any] = dict(call.params)
    if call.tools:
        kwargs["tools"] = call.tools
        # litellm >= 1.106 routes any call with tools through its MCP bridge, which imports the
        # optional `mcp` package; plain OpenAI-compatible tool calls never need it.
        kwargs["_skip_mcp_handler"] = True
    started = time.monotonic()
    try:
        async with asyncio.timeout(call.timeout):  # a total deadline, as on the lean route
            response = await litellm.acompletion(model=call.model, messages=call.messages, api_base=call.api_base,
                                                 api_key=call.api_key or "no-key", timeout=call.timeout,
                                                 max_retries=0, **kwargs)
    except TimeoutError:
        raise _timed_out(call, started) from None
    except Exception as e:  # litellm maps every provider fault to its own exception types
        raise _classify_litellm(e, call, started) from None
    return completion_from_body(response.model_dump(), call)


def _causes(e: BaseException) -> list[BaseException]:
    chain, seen = [], set()
    cur: BaseException | None = e
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        chain.append(cur)
        cur = cur.__cause__ or cur.__context__
    return chain


def _classify_litellm(e: Exception, call: Call, started: float) -> Exception:
    """Turn a litellm/openai/httpx exception into what the lean route raises for the same fault."""
    chain = _causes(e)
    for cause in reversed(chain):  # the innermost cause is the most specific
        fault = connection_fault(cause, call, started)
        if fault is not None:
            return fault
    names = {type(c).__name__ for c in chain}
    texts = " | ".join(str(c) for c in chain)
    if any("Timeout" in n for n in names):
        return _timed_out(call, started)
    status = getattr(e, "status_code", None)
    text = str(e)
    if ("JSONDecodeError" in names or "Expecting value" in texts or "invalid response from LLM endpoint" in texts
            or "APIResponseValidationError" in names):
        return call.error(f"the server returned a body that is not a JSON chat completion: {_short(text)}",
                          BadResponseError)
    if "ContextWindowExceededError" in names:
        return call.error(f"context window exceeded (status {status}): {_short(text)}")
    headers = getattr(e, "litellm_response_headers", None) or getattr(getattr(e, "response", None), "headers", None)
    retry_after = parse_retry_after(headers.get("retry-after")) if headers is not None else None
    if isinstance(status, int) and status >= 400 and "APIConnectionError" not in names:
        return status_error(call, status, text, retry_after)
    if names & {"APIConnectionError", "RateLimitError", "InternalServerError", "ServiceUnavailableError",
                "BadGatewayError"}:
        return Transient(call.error(f"transient fault ({type(e).__name__}): {_short(text)}", transient=True),
                         retry_after)
    return call.error(f"{type(e).__name__} (status {status}): {_short(text)}")


__all__ = [
    "Call",
    "LeanClient",
    "Transient",
    "completion_from_body",
    "import_litellm",
    "litellm_chat",
    "parse_retry_after",
    "route",
]
