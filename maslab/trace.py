"""Run records: structlog set-up, the usage ledger and JSONL run traces.

Every model call made through the pool is recorded twice: into the pool's lifetime ledger and,
when a run is in progress (`recording(...)`), into that run's own `RunRecorder`, which keeps
the per-run ledger, the message trace and, if given a path, appends one JSON line per call.
The recorder travels in a context variable, so concurrent runs sharing one pool stay apart.

A trace line is one event: `start`/`end` of a run, `call` (one model call: agent, role, alias,
endpoint, tokens, latency, cache hit, retries, the `messages` it saw and its `reply`), `tool` (a
tool an agent ran, with its arguments and result), `error` (where a call or a run failed) and
events of individual systems. Every line carries `t` (Unix time) and, when it was written inside a
LangGraph node, that `node` and the graph's superstep `step`. Images in messages are written as
references (path, URL, or the SHA-256 and size of inline data), never as blobs; values of
secret-looking keys and the values of secret-looking environment variables are written as ***.
`maslab view` reads these lines back (`maslab.view`).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import json
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import structlog
from pydantic import BaseModel, Field

from maslab.messages import ImagePart, Message

_configured = False


def configure_logging(level: str | None = None) -> None:
    """Configure structlog once: key-value lines on stderr, level from MASLAB_LOG (default warning)."""
    global _configured
    if _configured:
        return
    name = (level or os.environ.get("MASLAB_LOG", "warning")).upper()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            _redact_secrets,
            structlog.dev.ConsoleRenderer(colors=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, name, logging.WARNING)),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    _configured = True


_SECRET_KEY = re.compile(r"(api_?key|authorization|password|passwd|secret|bearer|credential|^token$|_token$)",
                         re.IGNORECASE)
_COUNTERS = {"prompt_tokens", "completion_tokens", "total_tokens", "max_tokens"}


_secret_keys: dict[str, bool] = {}  # key → secret-looking? (keys are few; every event asks)


def _redact_secrets(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    """Replace the values of secret-looking keys (api_key, authorization, access_token …) with ***."""
    for key in list(event):
        secret = _secret_keys.get(key)
        if secret is None:
            secret = _secret_keys[key] = key not in _COUNTERS and bool(_SECRET_KEY.search(key))
        if secret:
            event[key] = "***"
    return event


def get_logger(name: str) -> Any:
    configure_logging()
    return structlog.get_logger(name)


class UsageRow(BaseModel):
    """Usage of one (agent, role, alias) triple."""

    agent: str
    role: str
    alias: str
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    retries: int = 0
    cache_hits: int = 0
    errors: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class LedgerSnapshot(BaseModel):
    """A frozen copy of a ledger, with totals and group-bys."""

    rows: list[UsageRow] = Field(default_factory=list)

    def _sum(self, field: str) -> Any:
        return sum(getattr(r, field) for r in self.rows)

    @property
    def calls(self) -> int:
        return self._sum("calls")

    @property
    def prompt_tokens(self) -> int:
        return self._sum("prompt_tokens")

    @property
    def completion_tokens(self) -> int:
        return self._sum("completion_tokens")

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def cache_hits(self) -> int:
        return self._sum("cache_hits")

    @property
    def retries(self) -> int:
        return self._sum("retries")

    @property
    def errors(self) -> int:
        return self._sum("errors")

    @property
    def latency_s(self) -> float:
        return self._sum("latency_s")

    def by(self, key: str) -> dict[str, UsageRow]:
        """Rows merged by 'agent', 'role' or 'alias'."""
        out: dict[str, UsageRow] = {}
        for r in self.rows:
            k = getattr(r, key)
            acc = out.setdefault(k, UsageRow(agent=r.agent if key == "agent" else "*",
                                              role=r.role if key == "role" else "*",
                                              alias=r.alias if key == "alias" else "*"))
            for f in ("calls", "prompt_tokens", "completion_tokens", "latency_s", "retries", "cache_hits", "errors"):
                setattr(acc, f, getattr(acc, f) + getattr(r, f))
        return out


class UsageLedger:
    """Thread-safe running totals per (agent, role, alias)."""

    def __init__(self) -> None:
        self._rows: dict[tuple[str, str, str], UsageRow] = {}
        self._lock = threading.Lock()

    def record(
        self,
        *,
        agent: str,
        role: str,
        alias: str,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        latency_s: float = 0.0,
        retries: int = 0,
        cache_hit: bool = False,
        error: bool = False,
    ) -> None:
        with self._lock:
            row = self._rows.get((agent, role, alias))
            if row is None:
                row = self._rows[(agent, role, alias)] = UsageRow(agent=agent, role=role, alias=alias)
            row.calls += 1
            row.prompt_tokens += prompt_tokens
            row.completion_tokens += completion_tokens
            row.latency_s += latency_s
            row.retries += retries
            row.cache_hits += int(cache_hit)
            row.errors += int(error)

    def snapshot(self) -> LedgerSnapshot:
        with self._lock:
            return LedgerSnapshot(rows=[r.model_copy() for r in self._rows.values()])


class TraceStep(BaseModel):
    """One model call of a run: who asked, what they saw, what came back, and in which graph node."""

    agent: str
    role: str
    alias: str
    messages: list[Message]
    reply: Message
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    cache_hit: bool = False
    node: str | None = None  # the LangGraph node the call was made in (None outside a graph)
    step: int | None = None  # that graph run's superstep


def graph_position() -> dict[str, Any]:
    """`{"node": ..., "step": ...}` of the LangGraph node the caller runs in; {} outside one.

    Read from LangGraph's run-time config (`metadata.langgraph_node` / `langgraph_step`). When
    langgraph was never imported no graph can be running, so nothing is imported here."""
    config = sys.modules.get("langgraph.config")
    if config is None:
        return {}
    try:
        metadata = config.get_config().get("metadata") or {}
    except RuntimeError:  # not inside a runnable
        return {}
    node = metadata.get("langgraph_node")
    return {"node": node, "step": metadata.get("langgraph_step")} if node else {}


_TASK_NOTE = re.compile(r"During task with name '(.+?)' and id")


def failure_position(error: BaseException) -> dict[str, Any]:
    """`{"node": ...}` of the LangGraph node an exception escaped from (LangGraph notes it on the exception)."""
    for note in getattr(error, "__notes__", None) or []:
        m = _TASK_NOTE.search(str(note))
        if m:
            return {"node": m.group(1)}
    return {}


_SECRET_ENV = re.compile(r"(api_?key|token|secret|password|passwd|credential|auth)", re.IGNORECASE)
_SECRET_SHAPES = re.compile(r"\b(sk-[A-Za-z0-9_-]{16,}|hf_[A-Za-z0-9]{16,}|Bearer\s+[A-Za-z0-9._~+/=-]{16,})")


def _secret_values() -> list[str]:
    """Values (8+ characters) of environment variables whose names look secret (…_API_KEY, …TOKEN, …)."""
    return [v for k, v in os.environ.items() if len(v) >= 8 and _SECRET_ENV.search(k)]


def redact_text(text: str, secrets: list[str] | None = None) -> str:
    """`text` with the values of secret-looking environment variables and key-shaped strings as ***."""
    for value in _secret_values() if secrets is None else secrets:
        if value in text:
            text = text.replace(value, "***")
    if "sk-" in text or "hf_" in text or "Bearer" in text:
        text = _SECRET_SHAPES.sub("***", text)
    return text


@functools.lru_cache(maxsize=4096)
def _secret_key(key: str) -> bool:
    return key not in _COUNTERS and bool(_SECRET_KEY.search(key))


def _scrub(value: Any, secrets: list[str]) -> Any:
    """Redact a trace value: secret-looking keys of mappings, secrets inside strings, recursively."""
    if isinstance(value, str):
        return redact_text(value, secrets)
    if isinstance(value, dict):
        return {k: "***" if _secret_key(str(k)) else _scrub(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v, secrets) for v in value]
    return value


def message_record(message: Message) -> dict[str, Any]:
    """A message as a trace writes it: OpenAI-shaped, with images as references rather than data."""
    out: dict[str, Any] = {"role": message.role}
    if isinstance(message.content, list):
        out["content"] = [{"type": "text", "text": p.text} if not isinstance(p, ImagePart)
                          else {"type": "image", **p.reference()} for p in message.content]
    else:
        out["content"] = message.content
    if message.name is not None:
        out["name"] = message.name
    if message.tool_calls:
        out["tool_calls"] = [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in message.tool_calls]
    if message.tool_call_id is not None:
        out["tool_call_id"] = message.tool_call_id
    return out



_made_dirs: set[Path] = set()  # trace folders known to exist (a sweep makes one recorder per row)


class RunRecorder:
    """Everything one run produced: its ledger, its message trace and (optionally) a JSONL file.

    Trace lines are buffered and appended in one write when the run ends (`flush`, which
    `Method.solve` calls however the run ends) or when 64 lines are pending.
    """

    FLUSH_EVERY = 64

    def __init__(self, trace_path: str | Path | None = None, run_id: str = "", cache_namespace: str = "") -> None:
        self.ledger = UsageLedger()
        self.cache_namespace = cache_namespace  # part of every cache key made in this run (e.g. "seed=1")
        self.steps: list[TraceStep] = []
        self.run_id = run_id
        self.trace_path = Path(trace_path) if trace_path else None
        self._lock = threading.Lock()
        self._pending: list[str] = []
        self._secrets = _secret_values()  # redacted from every line (read once: the environment of the run)
        if self.trace_path and self.trace_path.parent not in _made_dirs:
            self.trace_path.parent.mkdir(parents=True, exist_ok=True)
            _made_dirs.add(self.trace_path.parent)

    def add_step(self, step: TraceStep, *, endpoint: str, retries: int, finish_reason: str | None = None) -> None:
        """Keep one model call (placed in its graph node when made inside one) and write its trace line."""
        if step.node is None:
            step = step.model_copy(update=graph_position())
        with self._lock:
            self.steps.append(step)
        if self.trace_path is None:
            return
        self.event(
            "call",
            agent=step.agent,
            role=step.role,
            alias=step.alias,
            endpoint=endpoint,
            prompt_tokens=step.prompt_tokens,
            completion_tokens=step.completion_tokens,
            latency_s=round(step.latency_s, 4),
            cache_hit=step.cache_hit,
            retries=retries,
            node=step.node,
            step=step.step,
            messages=[message_record(m) for m in step.messages],
            reply=message_record(step.reply),
            finish_reason=finish_reason,
        )

    def event(self, kind: str, **fields: Any) -> None:
        """Add one event line to the trace (no-op without a path); written by `flush`.

        The line gets the time and, inside a graph node, the node and superstep (unless given)."""
        if self.trace_path is None:
            return
        if "node" not in fields:
            fields.update(graph_position())
        line = json.dumps({"event": kind, "run_id": self.run_id, "t": round(time.time(), 3),
                           **_scrub(fields, self._secrets)},
                          default=str)
        with self._lock:
            self._pending.append(line + "\n")
            full = len(self._pending) >= self.FLUSH_EVERY
        if full:
            self.flush()

    def flush(self) -> None:
        """Append the pending trace lines to the file in one write."""
        with self._lock:
            if not self._pending or self.trace_path is None:
                return
            text, self._pending = "".join(self._pending), []
            try:
                f = self.trace_path.open("a")
            except FileNotFoundError:  # its folder was removed since this process made it
                self.trace_path.parent.mkdir(parents=True, exist_ok=True)
                f = self.trace_path.open("a")
            with f:
                f.write(text)


_current: contextvars.ContextVar[RunRecorder | None] = contextvars.ContextVar("maslab_run", default=None)


def current_recorder() -> RunRecorder | None:
    return _current.get()


@contextlib.contextmanager
def recording(recorder: RunRecorder) -> Iterator[RunRecorder]:
    """Make `recorder` receive every model call made in this context (tasks spawned inside inherit it)."""
    token = _current.set(recorder)
    try:
        yield recorder
    finally:
        _current.reset(token)
