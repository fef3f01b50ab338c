"""The model pool: model aliases → endpoints, and the one chokepoint every LLM call goes through.

`ModelPool.complete(alias, messages, **params)` is that chokepoint. For each call it

1. resolves the alias (the models file's `default` when None) and, for an alias with a `serve:`
   entry and no reachable endpoint, starts the local server on first use (`maslab.serve`);
2. answers from the SQLite completion cache when the mode allows (key: the alias's identity —
   its name with each endpoint's model string and api_base, or a shared `cache_key` it declares —
   messages, sampling parameters, tools, agent, run namespace and the sample index, so the k-th
   of n samples is its own entry and two aliases on the same model string never share answers);
3. picks the endpoint with the fewest calls in flight relative to its `max_concurrency` and waits
   for a slot under that per-endpoint limit;
4. sends the request through the endpoint's transport (`maslab.transport`: the lean aiohttp client
   for OpenAI-compatible endpoints, litellm — imported only then — for other providers) or the
   scripted backend, under a per-request deadline; transient faults (timeouts, refused or dropped
   connections, 429, 5xx) are retried with exponential back-off by tenacity, possibly on another
   replica, waiting at least what a `Retry-After` header asks as long as the retries' total
   waiting stays within `max_retries × backoff_max`; other faults (400, context overflow, garbage
   or truncated bodies) fail at once with a message naming the alias and endpoint, never the key;
5. records usage (calls, tokens, latency, retries, cache hits) in the pool's ledger and in the
   current run's recorder, keyed by agent, role and alias.

An alias of a reasoning model can name its `strip_reasoning` family (`r1`, `openthinker`, `huatuo`):
the completion's text then keeps only the final answer (`strip_reasoning`), as X-MAS does per model
family (arXiv 2505.16997); the usage still counts the whole completion, and the cache keeps it whole.

The scripted backend (a list of replies, cycled, or a callable) runs through the same chokepoint,
so tests of orchestration logic see exactly the ledger, cache and concurrency a real run sees.
Scripted token counts are whitespace word counts.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import os
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from maslab.errors import (
    CacheMissError,
    ConfigError,
    ImageError,
    ModelCallError,
    UnknownAliasError,
)
from maslab.messages import Completion, ImagePart, Message, TextPart, Usage, as_messages
from maslab.sqlitefile import connect, located
from maslab.trace import TraceStep, UsageLedger, current_recorder, get_logger
from maslab.transport import Call, LeanClient, Transient, litellm_chat, route
from maslab.yamlfile import FileErrors, load_yaml

log = get_logger(__name__)

BUILTIN_MODELS_FILE = Path(__file__).parent / "data" / "models.yaml"
CacheMode = Literal["off", "read_write", "replay"]
ReasoningFamily = Literal["r1", "openthinker", "huatuo", "none"]


# --------------------------------------------------------------------------- configuration


class EndpointConfig(BaseModel):
    """One OpenAI-compatible server an alias can be answered by."""

    model_config = ConfigDict(extra="forbid")
    model: str  # litellm model string, e.g. hosted_vllm/Qwen/Qwen2.5-7B-Instruct
    api_base: str | None = None
    api_key_env: str | None = None  # name of the environment variable holding the key
    max_concurrency: int = Field(default=16, ge=1)
    timeout: float = Field(default=120.0, gt=0)  # a total deadline per request, seconds
    # `auto`: the lean client for `openai/…` and `hosted_vllm/…` models with an api_base, litellm otherwise
    transport: Literal["auto", "lean", "litellm"] = "auto"

    @model_validator(mode="after")
    def _lean_needs_api_base(self) -> EndpointConfig:
        if self.transport == "lean" and not self.api_base:
            raise ValueError("`transport: lean` needs an `api_base` (the server's /v1 URL)")
        return self


class AliasConfig(BaseModel):
    """An alias: its endpoints, how to serve it locally, retry policy and default parameters."""

    model_config = ConfigDict(extra="forbid")
    endpoints: list[EndpointConfig] = Field(default_factory=list)
    serve: dict[str, Any] | None = None  # validated as maslab.serve.ServeSpec when used
    scripted: list[str] | None = None  # replies cycled in order (tests and dry runs)
    max_retries: int = Field(default=5, ge=0)
    backoff_initial: float = Field(default=0.5, ge=0)
    backoff_max: float = Field(default=8.0, ge=0)
    params: dict[str, Any] = Field(default_factory=dict)  # default sampling parameters
    tool_calls: Literal["native", "json"] | None = None  # None: json for llama.cpp/scripted
    vision: bool | None = None  # accepts image parts; None: probed once with a tiny image (scripted: yes)
    strip_reasoning: ReasoningFamily = "none"  # reasoning models: keep only the text after the trace
    # completion-cache identity shared by aliases serving the same weights (default: the alias
    # name with its endpoints' model strings and api_bases; see `_cache_identity`)
    cache_key: str | None = None

    @model_validator(mode="after")
    def _has_backend(self) -> AliasConfig:
        if not self.endpoints and self.serve is None and self.scripted is None:
            raise ValueError("an alias needs `endpoints`, a `serve` entry or `scripted` replies")
        return self


class ModelsConfig(BaseModel):
    """The models file: a default alias and the aliases."""

    model_config = ConfigDict(extra="forbid")
    default: str
    models: dict[str, AliasConfig]

    @model_validator(mode="after")
    def _default_exists(self) -> ModelsConfig:
        if self.default not in self.models:
            raise ValueError(f"default alias {self.default!r} is not among models: {sorted(self.models)}")
        return self


def load_models_config(path: str | Path) -> ModelsConfig:
    """Read and validate a models file; `FileErrors` name the file, line and key of every problem."""
    data, loc = load_yaml(path)
    try:
        return ModelsConfig.model_validate(data)
    except ValidationError as e:
        loc.add_validation((), e)
        raise FileErrors(loc.errors) from None


def _format_validation(e: ValidationError) -> str:
    return "\n".join(f"  {'.'.join(str(p) for p in err['loc']) or '<top>'}: {err['msg']}" for err in e.errors())


def default_models_path() -> Path:
    """`models.yaml` in the working directory if present, else the built-in file."""
    local = Path("models.yaml")
    return local if local.exists() else BUILTIN_MODELS_FILE


# --------------------------------------------------------------------------- scripted backend


@dataclass
class ScriptedRequest:
    """What a scripted model sees of a call."""

    alias: str
    messages: list[Message]
    params: dict[str, Any]
    agent: str = ""
    role: str = ""
    sample_index: int = 0
    tools: list[dict[str, Any]] | None = None
    _wire: list[dict[str, Any]] | None = field(default=None, repr=False, compare=False)

    def wire_messages(self) -> list[dict[str, Any]]:
        """The messages as OpenAI dicts, built once per request (cache key and request body share them)."""
        if self._wire is None:
            self._wire = [m.to_openai() for m in self.messages]
        return self._wire

    @property
    def prompt(self) -> str:
        """The text of the last user message."""
        return next((m.text for m in reversed(self.messages) if m.role == "user"), "")

    @property
    def system(self) -> str:
        return "\n".join(m.text for m in self.messages if m.role == "system")

    @property
    def transcript(self) -> str:
        """Every message's text, joined (handy for asserting what an agent saw)."""
        return "\n".join(m.text for m in self.messages)


ScriptFn = Callable[[ScriptedRequest], "str | Message | dict[str, Any]"]


def _script_from_list(replies: Sequence[str]) -> ScriptFn:
    cycle = itertools.cycle(list(replies))
    lock = threading.Lock()

    def next_reply(_: ScriptedRequest) -> str:
        with lock:
            return next(cycle)

    return next_reply


# --------------------------------------------------------------------------- cache


class CompletionCache:
    """SQLite (WAL) store of completions keyed by a hash of everything that determines them.

    A damaged, read-only or unreadable file is a `DatabaseFileError` naming it (``replay`` mode
    opens the file read-only, so a read-only cache can still be replayed)."""

    WHAT = "completion cache"

    def __init__(self, path: str | Path, mode: CacheMode = "read_write") -> None:
        self.path = Path(path)
        self.mode: CacheMode = mode
        self._lock = threading.Lock()
        if mode == "replay":
            self._db = connect(self.path, self.WHAT, readonly=True)
            return
        self._db = connect(self.path, self.WHAT, pragmas=(
            "PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL",
            "CREATE TABLE IF NOT EXISTS completions (key TEXT PRIMARY KEY, model TEXT, "
            "sample_index INTEGER, request TEXT, completion TEXT, created REAL)"))

    @contextmanager
    def _use(self) -> Iterator[None]:
        with self._lock, located(self.path, self.WHAT):
            yield

    @staticmethod
    def key(identity: str, messages: Sequence[Message | dict[str, Any]], params: dict[str, Any],
            tools: list[dict[str, Any]] | None, sample_index: int, agent: str = "",
            namespace: str = "") -> tuple[str, str]:
        """(hash, request JSON). `identity` says who answers (`_cache_identity`); the agent is part of
        the key so that two agents sent the same prompt at temperature > 0 draw independent samples;
        the namespace separates e.g. sweep seeds; images enter as digests of their bytes (never a path,
        never a blob). `messages` may already be OpenAI dicts (the pool passes the ones it sends when
        they carry no image)."""
        request = json.dumps(
            {"model": identity,
             "messages": [m.to_openai(images="reference") if isinstance(m, Message) else m for m in messages],
             "params": params,
             "tools": tools, "sample_index": sample_index, "agent": agent, "namespace": namespace},
            sort_keys=True, default=str,
        )
        return hashlib.sha256(request.encode()).hexdigest(), request

    def get(self, key: str) -> Completion | None:
        with self._use():
            row = self._db.execute("SELECT completion FROM completions WHERE key=?", (key,)).fetchone()
        return Completion.model_validate_json(row[0]) if row else None

    def put(self, key: str, request: str, completion: Completion, sample_index: int) -> None:
        with self._use():
            self._db.execute(
                "INSERT OR REPLACE INTO completions VALUES (?,?,?,?,?,?)",
                (key, completion.model, sample_index, request, completion.model_dump_json(), time.time()),
            )

    def __len__(self) -> int:
        with self._use():
            return self._db.execute("SELECT COUNT(*) FROM completions").fetchone()[0]

    def hold_checkpoints(self) -> None:
        """Fold the WAL into the main file now, then keep new entries in the WAL only (no automatic
        checkpoint), so that readers elsewhere may open the main file as an immutable snapshot;
        `release_checkpoints()` ends that."""
        with self._lock:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._db.execute("PRAGMA wal_autocheckpoint=0")

    def release_checkpoints(self) -> None:
        with self._lock:
            self._db.execute("PRAGMA wal_autocheckpoint=1000")
            self._db.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def close(self) -> None:
        with self._lock:
            self._db.close()


# --------------------------------------------------------------------------- endpoints


@dataclass
class _Endpoint:
    alias: str
    config: EndpointConfig
    scripted: ScriptFn | None = None
    in_flight: int = 0
    _sem: asyncio.Semaphore | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    client: LeanClient | None = None  # set for endpoints on the lean route

    def __post_init__(self) -> None:
        cfg = self.config
        if self.scripted is None and cfg.api_base and route(cfg.model, cfg.api_base, cfg.transport) == "lean":
            self.client = LeanClient(cfg.api_base)

    @property
    def label(self) -> str:
        return "scripted" if self.scripted else (self.config.api_base or self.config.model)

    def semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._sem is None or self._loop is not loop:
            self._sem, self._loop = asyncio.Semaphore(self.config.max_concurrency), loop
        return self._sem

    def load(self) -> float:
        return self.in_flight / self.config.max_concurrency


@dataclass
class _Alias:
    name: str
    config: AliasConfig
    endpoints: list[_Endpoint] = field(default_factory=list)
    ready: bool = False
    vision: bool | None = None
    lock: asyncio.Lock | None = None
    lock_loop: asyncio.AbstractEventLoop | None = None
    probe: asyncio.Lock | None = None
    probe_loop: asyncio.AbstractEventLoop | None = None

    def start_lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self.lock is None or self.lock_loop is not loop:
            self.lock, self.lock_loop = asyncio.Lock(), loop
        return self.lock

    def probe_lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self.probe is None or self.probe_loop is not loop:
            self.probe, self.probe_loop = asyncio.Lock(), loop
        return self.probe


def _gave_up(t: Transient, attempts: int, why: str = "") -> ModelCallError:
    err = t.error
    return type(err)(f"{err} (gave up after {attempts} attempts{why})", alias=err.alias, endpoint=err.endpoint,
                     transient=True)


def _cache_identity(a: _Alias) -> str:
    """Who answers, in cache keys — known before any server is started or contacted: the alias's
    declared `cache_key` (replicas of the same weights under several aliases may share one), else
    the alias name with every endpoint's model string and api_base (or its `serve:` entry)."""
    if a.config.cache_key:
        return json.dumps({"cache_key": a.config.cache_key})
    if a.config.endpoints:
        answered_by: Any = [[e.model, e.api_base] for e in a.config.endpoints]
    elif a.config.serve:
        answered_by = {"serve": a.config.serve}
    else:
        answered_by = "scripted"
    return json.dumps({"alias": a.name, "endpoints": answered_by}, sort_keys=True, default=str)


def _tiny_png() -> bytes:
    """An 8×8 grey PNG: the vision probe's image."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    rows = b"".join(b"\x00" + b"\x80" * 8 for _ in range(8))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


# --------------------------------------------------------------------------- the pool


class ModelPool:
    """Aliases → endpoints; `complete()` is the single chokepoint of every model call."""

    def __init__(
        self,
        config: ModelsConfig,
        *,
        cache_path: str | Path | None = None,
        cache_mode: CacheMode = "read_write",
        scripted: dict[str, ScriptFn | Sequence[str]] | None = None,
        overrides: dict[str, Any] | None = None,
    ) -> None:
        """`overrides` apply to every call: `max_tokens` caps the requested value (fairness in sweeps,
        small budgets in tests); any other key replaces the caller's value."""
        self.config = config
        self.ledger = UsageLedger()
        self.overrides = dict(overrides or {})
        self.cache = CompletionCache(cache_path, cache_mode) if cache_path and cache_mode != "off" else None
        self._aliases: dict[str, _Alias] = {}
        scripted = dict(scripted or {})
        for name, cfg in config.models.items():
            alias = _Alias(name, cfg)
            script = scripted.pop(name, None)
            if script is None and cfg.scripted is not None:
                script = cfg.scripted
            if script is not None:
                fn = script if callable(script) else _script_from_list(script)
                alias.endpoints = [_Endpoint(name, EndpointConfig(model=f"scripted/{name}", max_concurrency=1024), fn)]
                alias.ready = True
                alias.vision = True if cfg.vision is None else cfg.vision  # a script sees the image parts
            else:
                alias.vision = cfg.vision
                alias.endpoints = [_Endpoint(name, e) for e in cfg.endpoints]
                alias.ready = cfg.serve is None
            self._aliases[name] = alias
        if scripted:
            raise UnknownAliasError(f"scripted backends given for unknown aliases: {sorted(scripted)}")

    # ---- construction

    @classmethod
    def from_dict(cls, config: dict[str, Any], cache_path: str | Path | None = None, **kwargs: Any) -> ModelPool:
        try:
            parsed = ModelsConfig.model_validate(config)
        except ValidationError as e:
            raise ConfigError(f"invalid models config:\n{_format_validation(e)}") from e
        return cls(parsed, cache_path=cache_path, **kwargs)

    @classmethod
    def from_yaml(cls, path: str | Path, cache_path: str | Path | None = None, **kwargs: Any) -> ModelPool:
        return cls(load_models_config(path), cache_path=cache_path, **kwargs)

    @classmethod
    def default(cls, **kwargs: Any) -> ModelPool:
        """The pool of `models.yaml` in the working directory, else the built-in one (the embedded model)."""
        return cls.from_yaml(default_models_path(), **kwargs)

    @classmethod
    def scripted(cls, script: ScriptFn | Sequence[str], *aliases: str, **kwargs: Any) -> ModelPool:
        """A pool whose aliases (default: one called `scripted`) all answer from `script`."""
        names = aliases or ("scripted",)
        cfg = ModelsConfig(default=names[0], models={n: AliasConfig(scripted=[""]) for n in names})
        return cls(cfg, scripted=dict.fromkeys(names, script), **kwargs)

    # ---- introspection

    @property
    def default_alias(self) -> str:
        return self.config.default

    @property
    def aliases(self) -> list[str]:
        return list(self._aliases)

    def resolve(self, alias: str | None) -> str:
        """The alias name itself, or the default for None; unknown names raise UnknownAliasError."""
        name = alias or self.config.default
        if name not in self._aliases:
            raise UnknownAliasError(f"unknown model alias {name!r}; defined aliases: {', '.join(self._aliases)}")
        return name

    def tool_protocol(self, alias: str | None) -> Literal["native", "json"]:
        """How an agent should offer tools to this alias: native tool calls or JSON in text."""
        a = self._aliases[self.resolve(alias)]
        if a.config.tool_calls:
            return a.config.tool_calls
        if a.config.scripted is not None or any(e.scripted for e in a.endpoints):
            return "json"
        if a.config.serve and a.config.serve.get("engine") == "llama.cpp":
            return "json"
        return "native"

    def endpoints(self, alias: str) -> list[str]:
        return [e.label for e in self._aliases[self.resolve(alias)].endpoints]

    async def supports_images(self, alias: str | None) -> bool:
        """Whether the alias accepts image parts: its models-file `vision:` entry, else (scripted aliases
        aside, which accept them) one probe per pool — a one-token request carrying a tiny PNG, sent once
        without retries. If the server answers, the alias takes images; if it fails (text-only servers
        answer 400 or 500), the same request without the image decides: answered, the alias is text only;
        failed too, the server's error is raised. A server that silently ignores images passes the probe,
        so declare `vision:` where it matters."""
        a = self._aliases[self.resolve(alias)]
        if a.vision is not None:
            return a.vision
        async with a.probe_lock():
            if a.vision is None:
                await self._ensure_ready(a)
                params = {"max_tokens": 1, "temperature": 0}
                image = ImagePart(data=base64.b64encode(_tiny_png()).decode())
                probe = ScriptedRequest(a.name, [Message.user([TextPart(text="Reply OK."), image])], params,
                                        agent="vision_probe", role="vision_probe")
                try:
                    completion = await self._call_once(a, probe)
                    a.vision = True
                except (Transient, ModelCallError) as e:
                    log.info("vision probe rejected", alias=a.name, error=str(e)[:300])
                    completion = await self._call_with_retries(a, ScriptedRequest(
                        a.name, [Message.user("Reply OK.")], params, agent="vision_probe", role="vision_probe"))
                    a.vision = False
                self.ledger.record(agent="vision_probe", role="vision_probe", alias=a.name,
                                   prompt_tokens=completion.usage.prompt_tokens,
                                   completion_tokens=completion.usage.completion_tokens, latency_s=completion.latency_s)
        return bool(a.vision)

    async def check(self, alias: str) -> dict[str, bool]:
        """Health of each configured endpoint of an alias (GET /models)."""
        from maslab.serve import is_reachable

        a = self._aliases[self.resolve(alias)]
        return {e.label: (True if e.scripted else await is_reachable(e.config.api_base or ""))
                for e in a.endpoints}

    # ---- the chokepoint

    async def complete(
        self,
        alias: str | None,
        messages: str | Message | Sequence[Message | dict[str, Any]],
        *,
        agent: str = "",
        role: str = "",
        sample_index: int = 0,
        tools: list[dict[str, Any]] | None = None,
        cache: bool = True,
        **params: Any,
    ) -> Completion:
        """One chat completion from `alias` (None: the default alias), recorded, cached and retried."""
        name = self.resolve(alias)
        a = self._aliases[name]
        msgs = as_messages(list(messages) if isinstance(messages, Sequence) and not isinstance(messages, str)
                           else messages)
        merged = {**a.config.params, **{k: v for k, v in params.items() if v is not None}}
        for key, value in self.overrides.items():  # max_tokens is a cap; other overrides replace
            merged[key] = min(merged.get(key, value), value) if key == "max_tokens" else value
        agent, role = agent or role or "anonymous", role or agent or "anonymous"
        if any(m.images for m in msgs) and not await self.supports_images(name):
            raise ImageError(f"alias {name!r} does not accept images (agent {agent!r} sent some); use a vision "
                             "model, or declare `vision: true` for this alias in the models file if its server "
                             "takes image parts")
        req = ScriptedRequest(name, msgs, merged, agent, role, sample_index, tools)

        key = request = None
        if self.cache is not None and cache:
            recorder = current_recorder()
            # text-only messages are encoded once: the key hashes the very dicts the request will send
            # (with images, the key holds the digests of their bytes, the request the bytes themselves)
            keyed = msgs if any(m.images for m in msgs) else req.wire_messages()
            key, request = CompletionCache.key(_cache_identity(a), keyed, merged, tools, sample_index,
                                               agent, recorder.cache_namespace if recorder else "")
            hit = self.cache.get(key)
            if hit is not None:
                hit.cache_hit, hit.latency_s, hit.retries = True, 0.0, 0
                hit = strip_reasoning(hit, a.config.strip_reasoning)
                self._record(hit, msgs, agent, role)
                return hit
            if self.cache.mode == "replay":
                raise CacheMissError(f"replay-only cache {self.cache.path} has no entry for alias {name!r} "
                                     f"(agent {agent!r}, sample {sample_index})")

        await self._ensure_ready(a)
        try:
            completion = await self._call_with_retries(a, req)
        except ModelCallError as e:
            self._record_error(name, agent, role, e)
            raise
        if key is not None and request is not None and self.cache is not None:
            self.cache.put(key, request, completion, sample_index)
        completion = strip_reasoning(completion, a.config.strip_reasoning)
        self._record(completion, msgs, agent, role)
        return completion

    async def aclose(self) -> None:
        """Close the lean transport's HTTP sessions now (they are also closed when their event loop ends)."""
        for a in self._aliases.values():
            for e in a.endpoints:
                if e.client is not None:
                    await e.client.aclose()

    async def _ensure_ready(self, a: _Alias) -> None:
        if a.ready:
            return
        async with a.start_lock():
            if a.ready:
                return
            from maslab import serve

            reachable = [e for e in a.endpoints if e.config.api_base and await serve.is_reachable(e.config.api_base)]
            if reachable:
                a.endpoints = reachable
            else:
                try:
                    spec = serve.ServeSpec.model_validate(a.config.serve)
                except ValidationError as e:
                    raise ConfigError(f"alias {a.name!r}: invalid serve entry:\n{_format_validation(e)}") from e
                api_base = await serve.ensure_server(a.name, spec)
                a.endpoints = [_Endpoint(a.name, EndpointConfig(model=serve.litellm_model(spec), api_base=api_base,
                                                                max_concurrency=4, timeout=300.0))]
            a.ready = True

    async def _call_with_retries(self, a: _Alias, req: ScriptedRequest) -> Completion:
        """`_call_once`, retried on transient faults with tenacity: exponential back-off with jitter, at least
        what the server's `Retry-After` asks, within a budget of `max_retries × backoff_max` seconds of waiting."""
        try:  # the common case costs no retry machinery
            return await self._call_once(a, req)
        except Transient as first:
            if a.config.max_retries == 0:
                raise _gave_up(first, 1) from first
            failure = first
        from tenacity import (
            AsyncRetrying,
            RetryCallState,
            retry_if_exception_type,
            stop_after_attempt,
            wait_random_exponential,
        )

        cfg = a.config
        budget = cfg.max_retries * cfg.backoff_max
        backoff = wait_random_exponential(multiplier=cfg.backoff_initial, max=cfg.backoff_max)
        first_wait = max(min(cfg.backoff_initial, cfg.backoff_max), failure.retry_after or 0.0)
        asked_too_long: list[float] = []

        def beyond_budget(asked: float | None, waited: float) -> bool:
            if asked is not None and waited + asked > budget:
                asked_too_long.append(asked)
                return True
            return False

        def wait(rs: RetryCallState) -> float:
            exc = rs.outcome.exception() if rs.outcome else None
            return max(backoff(rs), getattr(exc, "retry_after", None) or 0.0)

        def stop(rs: RetryCallState) -> bool:
            exc = rs.outcome.exception() if rs.outcome else None
            return beyond_budget(getattr(exc, "retry_after", None), first_wait + rs.idle_for)

        def why() -> str:
            if not asked_too_long:
                return ""
            return (f"; the server asked to wait {asked_too_long[-1]:.1f}s (Retry-After), beyond the retry "
                    f"budget of {budget:g}s (max_retries × backoff_max)")

        if beyond_budget(failure.retry_after, 0.0):
            raise _gave_up(failure, 1, why()) from failure
        attempts = 1
        retrying = AsyncRetrying(stop=stop_after_attempt(cfg.max_retries) | stop, wait=wait,
                                 retry=retry_if_exception_type(Transient), reraise=True)
        await asyncio.sleep(first_wait)  # back off before the first retry
        try:
            async for attempt in retrying:
                with attempt:
                    attempts += 1
                    completion = await self._call_once(a, req)
        except Transient as t:
            raise _gave_up(t, attempts, why()) from t
        completion.retries = attempts - 1
        return completion

    async def _call_once(self, a: _Alias, req: ScriptedRequest) -> Completion:
        endpoint = a.endpoints[0] if len(a.endpoints) == 1 else min(a.endpoints, key=_Endpoint.load)
        endpoint.in_flight += 1
        try:
            async with endpoint.semaphore():
                start = time.perf_counter()
                if endpoint.scripted is not None:
                    completion = await self._call_scripted(endpoint, req)
                else:
                    completion = await self._call_http(endpoint, req)
                completion.latency_s = time.perf_counter() - start
                return completion
        finally:
            endpoint.in_flight -= 1

    async def _call_scripted(self, endpoint: _Endpoint, req: ScriptedRequest) -> Completion:
        assert endpoint.scripted is not None
        out = endpoint.scripted(req)
        if asyncio.iscoroutine(out):
            out = await out
        if isinstance(out, Exception):
            raise out
        message = out if isinstance(out, Message) else (
            Message.from_openai(out) if isinstance(out, dict) else Message.assistant(str(out)))
        prompt_words = sum(len(m.text.split()) for m in req.messages)
        return Completion(
            message=message,
            usage=Usage(prompt_tokens=prompt_words, completion_tokens=len(message.text.split())),
            alias=endpoint.alias, model=endpoint.config.model, endpoint="scripted", finish_reason="stop",
        )

    async def _call_http(self, endpoint: _Endpoint, req: ScriptedRequest) -> Completion:
        """The call over HTTP: the endpoint's lean client, or litellm for other providers."""
        cfg = endpoint.config
        key = os.environ.get(cfg.api_key_env) if cfg.api_key_env else None
        if cfg.api_key_env and not key:
            raise ModelCallError(f"alias {endpoint.alias!r}: environment variable {cfg.api_key_env} is not set",
                                 alias=endpoint.alias, endpoint=endpoint.label)
        call = Call(endpoint.alias, endpoint.label, cfg.model, cfg.api_base, key, cfg.timeout, req.wire_messages(),
                    req.params, req.tools)
        if endpoint.client is not None:
            return await endpoint.client.chat(call)
        return await litellm_chat(call)

    # ---- accounting

    def _record(self, completion: Completion, msgs: list[Message], agent: str, role: str) -> None:
        usage = completion.usage
        self.ledger.record(agent=agent, role=role, alias=completion.alias, prompt_tokens=usage.prompt_tokens,
                           completion_tokens=usage.completion_tokens, latency_s=completion.latency_s,
                           retries=completion.retries, cache_hit=completion.cache_hit)
        recorder = current_recorder()
        if recorder is None:
            return
        recorder.ledger.record(agent=agent, role=role, alias=completion.alias, prompt_tokens=usage.prompt_tokens,
                               completion_tokens=usage.completion_tokens, latency_s=completion.latency_s,
                               retries=completion.retries, cache_hit=completion.cache_hit)
        recorder.add_step(
            TraceStep(agent=agent, role=role, alias=completion.alias, messages=msgs, reply=completion.message,
                      prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens,
                      latency_s=completion.latency_s, cache_hit=completion.cache_hit),
            endpoint=completion.endpoint, retries=completion.retries, finish_reason=completion.finish_reason,
        )

    def _record_error(self, alias: str, agent: str, role: str, error: ModelCallError) -> None:
        self.ledger.record(agent=agent, role=role, alias=alias, error=True)
        recorder = current_recorder()
        if recorder is not None:
            recorder.ledger.record(agent=agent, role=role, alias=alias, error=True)
            recorder.event("error", agent=agent, role=role, alias=alias, error=f"{type(error).__name__}: {error}")


# X-MAS (arXiv 2505.16997) keeps, per model family, only the text after the reasoning trace.
_REASONING_SPLIT: dict[str, tuple[str, str | None]] = {
    "r1": ("</think>", None),  # DeepSeek-R1 distills, QwQ
    "openthinker": ("<|begin_of_solution|>", "<|end_of_solution|>"),
    "huatuo": ("## Final Response", None),  # HuatuoGPT-o1
}


def strip_reasoning(completion: Completion, family: ReasoningFamily) -> Completion:
    """`completion` with its text cut to the final answer of a reasoning model of `family`: the text after
    the last `</think>` (r1), between `<|begin_of_solution|>` and `<|end_of_solution|>` (openthinker) or
    after `## Final Response` (huatuo); a text without the marker is kept whole. Usage is untouched: the
    tokens of the whole completion were spent."""
    if family == "none" or not isinstance(completion.message.content, str):
        return completion
    start, end = _REASONING_SPLIT[family]
    text = completion.message.content.split(start)[-1]
    if end is not None:
        text = text.split(end)[0]
    message = completion.message.model_copy(update={"content": text.strip()})
    return completion.model_copy(update={"message": message})


__all__ = [
    "AliasConfig",
    "CompletionCache",
    "EndpointConfig",
    "ModelPool",
    "ModelsConfig",
    "ScriptedRequest",
    "default_models_path",
    "load_models_config",
    "strip_reasoning",
]
