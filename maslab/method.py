"""The multi-agent-system contract, the registry of systems and their typed configurations.

A system (method) is a class registered under a name with `@register_method`. It declares

* `Config`: a pydantic model of its parameters with the published defaults (extra keys are
  errors), always including `roles`: role → model alias, or a list of aliases for a repeated
  role (debater 1 → qwen, debater 2 → llama …; the list is cycled when shorter);
* `roles`: the role names it uses; `citation`: its paper;
* `functions`: role → MAS function (`qa`, `revise`, `aggregate`, `plan`, `evaluate`), the data
  X-MAS assignment (arXiv 2505.16997) reads to give each role the best model for its function;
* `build(ctx)`: its LangGraph `StateGraph`, whose state starts as `{"task": Task}` and must end
  with `answer` set.

`Method` is generic over its Config (`class LLMDebate(Method[Config])`), so `self.config` is
typed. A method's graph is built and compiled **once per instance**; what differs between runs
— the pool, the task and the run's RNG (`RunData`) — reaches the nodes through LangGraph's
run-time context (`graph.ainvoke(..., context=RunData(...))`), which `RunContext.pool`,
`.task`, `.rng` and `.ask` read. A system whose *topology* depends on the run (MacNet's random
DAGs and drawn profiles) says so with `per_run_graph()` and is built for each run instead.

`await method.solve(task, pool=pool)` runs the graph with a fresh `RunRecorder` (so usage and
the message trace are the run's own even when runs share a pool) and returns a `Solution`. An
empty question is refused before any call; a graph that runs past its recursion limit ends in a
`RunawayGraphError` that says so.

Counts that multiply model calls (`rounds`, `agents`, `samples`, `layers`, … : the names in
`CALL_COUNTS`, or any field marked ``json_schema_extra={"count": True}``) are bounded at
validation by `COUNT_LIMIT` (100), which the environment variable ``MASLAB_MAX_COUNT`` raises
or lowers — one check here for every system, so that ``rounds: 1000000000`` is a located
error before a token is spent, not a runaway run.
YAML workflows, the CLI and Python all go through `load_method(name, **params)`. Systems are
found through the `maslab.methods` entry points (`maslab.plugins`), so a separate package can
add one without touching maslab.

Profiles and deviations (one mechanism for every system):

* a **profile** is a named set of parameter values, declared as data on the system's Config
  (`Config.profiles`); `profile: reference` in a workflow or sweep entry, `--profile reference` on
  the CLI and `load_method(name, profile="reference")` all set the Config field `profile`, whose
  validator fills in the profile's values under the parameters given explicitly (those win). The
  behaviour a profile changes is ordinary Config fields (switches such as DyLAN's `variant` or
  AgentVerse's `reviews`) that the system's build reads, so a profile is never plumbing. Every
  system has `default` (maslab's documented behaviour) and `reference` (its reference
  implementation: MASLab at commit 74265c7 for the MASLab baselines, the official code otherwise);
* every system lists its **deviations** from that reference as data (`Method.deviations`, each a
  `Deviation`: what differs, why, the profiles that have it and the effect on the call count);
  `maslab methods --deviations [NAME]` prints them and `maslab report` lists them under a sweep's
  tables. `Method.reference` names the reference implementation.

Sampling is never left to a server's defaults: `temperature` (0.5) and `max_tokens` (2048) are
explicit on every system (MASLab's protocol values; a system overrides them where its own
reference differs), and a pool's `max_tokens` override still caps them.
"""

from __future__ import annotations

import difflib
import os
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, TypeVar, cast

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from maslab import plugins
from maslab.agent import Agent
from maslab.errors import ConfigError, MaslabError, RunawayGraphError, UnknownMethodError, clip
from maslab.task import Solution, Task
from maslab.trace import RunRecorder, failure_position, recording

if TYPE_CHECKING:
    from maslab.models import ModelPool

RoleAssignment = dict[str, str | list[str]]
MAS_FUNCTIONS = ("qa", "revise", "aggregate", "plan", "evaluate")  # X-MAS-Bench's five functions

PROFILES = ("default", "reference")
"""The profiles every system has: maslab's documented behaviour, and its reference implementation's."""

COUNT_LIMIT = 100
COUNT_LIMIT_ENV = "MASLAB_MAX_COUNT"
CALL_COUNTS = frozenset({
    "agents", "rounds", "samples", "layers", "proposers", "num_agents", "num_rounds", "max_turn", "max_turns",
    "cnt_agents", "max_criticizing_rounds", "moa_layers", "chat_turn_limit", "option_num", "agent_num",
    "aggregate_retry_limit", "max_round", "max_rounds", "n_solutions", "n_max_verifiers", "max_trials",
    "max_tests", "max_iters", "repair_rounds", "top_n", "max_steps",
})


def count_limit() -> int:
    """The largest value a call-multiplying count may take: ``MASLAB_MAX_COUNT``, else `COUNT_LIMIT`."""
    raw = os.environ.get(COUNT_LIMIT_ENV)
    if not raw:
        return COUNT_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        raise ConfigError(f"{COUNT_LIMIT_ENV}={clip(raw)!r} is not a whole number") from None
    if limit < 1:
        raise ConfigError(f"{COUNT_LIMIT_ENV}={limit} must be at least 1")
    return limit


def check_count(name: str, value: Any) -> Any:
    """`value`, unless it is a count above `count_limit()` (then a ValueError naming it and the limit)."""
    if isinstance(value, int) and not isinstance(value, bool) and value > (limit := count_limit()):
        raise ValueError(f"{name}={value} is above the maximum of {limit} for counts that multiply model calls "
                         f"(set {COUNT_LIMIT_ENV} to allow more)")
    return value


class MethodConfig(BaseModel):
    """Base of every system's parameters: `roles`, `profile`, sampling, plus the system's own fields.

    `profiles` (class data) maps a profile name to the parameter values it sets; a system's Config
    overrides it to declare what its `reference` profile changes. Explicit parameters win over the
    profile's values.
    """

    model_config = ConfigDict(extra="forbid")
    profiles: ClassVar[Mapping[str, Mapping[str, Any]]] = {"default": {}, "reference": {}}

    profile: str = Field(default="default", description="named parameter set: default (maslab) or reference")
    roles: RoleAssignment = Field(default_factory=dict)
    model: str | None = Field(default=None, description="alias for every role not in `roles`")
    seed: int = Field(default=0, description="seed of the system's own randomness (orders, sampling)")
    temperature: float | None = Field(default=0.5, description="sampling temperature of every agent (MASLab: 0.5)")
    max_tokens: int | None = Field(default=2048, description="completion-token cap of every call (MASLab: 2048)")

    @model_validator(mode="before")
    @classmethod
    def _apply_profile(cls, data: Any) -> Any:
        """Fill in the named profile's values under the parameters given explicitly."""
        if not isinstance(data, Mapping):
            return data
        name = data.get("profile") or "default"
        if name not in cls.profiles:
            raise ValueError(f"unknown profile {name!r}; profiles: {', '.join(cls.profiles)}")
        return {**cls.profiles[name], **data, "profile": name}

    @field_validator("*", mode="after")
    @classmethod
    def _bounded_counts(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        extra = field.json_schema_extra if field is not None and isinstance(field.json_schema_extra, dict) else {}
        if info.field_name in CALL_COUNTS or extra.get("count"):
            return check_count(info.field_name or "", value)
        return value


class Deviation(BaseModel):
    """One difference between maslab's system and its reference implementation, declared as data."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    what: str = Field(description="what maslab does differently from the reference")
    why: str = Field(description="the reason (a reference bug, the spec, a licence, our choice …)")
    profiles: tuple[str, ...] = Field(default=PROFILES, description="the profiles that have this difference")
    calls: str = Field(default="none", description="effect on the number of model calls")
    kind: Literal["bug", "spec", "choice", "wording", "missing"] = Field(
        default="choice", description="bug: the reference is broken and we do what it intends; spec: the spec "
        "asks for it; choice: our decision; wording: prompts in our own words; missing: not reproduced")


def reference_variant(task: Task | None, variants: Sequence[str], default: str) -> str:
    """MASLab's per-dataset variant for a task: the first of `variants` whose name occurs in the task's
    dataset name (else, for a task without one, its domain), as MASLab picks `dylan_math` for MATH
    and `mav_gpqa` for GPQA; `default` otherwise (MASLab's `*_main`)."""
    if task is None:
        return default
    label = (task.dataset_name() or task.domain or "").lower()
    return next((v for v in variants if v in label), default)


ConfigT = TypeVar("ConfigT", bound=MethodConfig)


@dataclass(frozen=True)
class RunData:
    """What one run brings to a compiled graph (LangGraph's run-time context): pool, task, RNG."""

    pool: ModelPool | None
    task: Task | None
    rng: random.Random


class NoRunError(MaslabError):
    """A node asked for the run's pool, task or RNG outside a run (e.g. while drawing)."""


class RunContext(Generic[ConfigT]):
    """A system's view while it builds its graph.

    Build-time: `config`, `alias(role)`, `agent(role, ...)`. Run-time, read from the current run
    (LangGraph's run-time context, or the `run` given for a per-run build): `pool`, `task`, `rng`
    and `ask(agent, messages)`.
    """

    def __init__(self, config: ConfigT, run: RunData | None = None) -> None:
        self.config = config
        self._run = run

    @property
    def run(self) -> RunData:
        if self._run is not None:
            return self._run
        from langgraph.runtime import get_runtime

        try:
            data = get_runtime().context
        except RuntimeError:
            data = None
        if not isinstance(data, RunData):
            raise NoRunError("the run's pool, task and RNG are only available while a task runs")
        return data

    @property
    def pool(self) -> ModelPool:
        pool = self.run.pool
        if pool is None:
            raise NoRunError("this run has no model pool (drawing only)")
        return pool

    @property
    def task(self) -> Task:
        task = self.run.task
        if task is None:
            raise NoRunError("this run has no task (drawing only)")
        return task

    @property
    def rng(self) -> random.Random:
        return self.run.rng

    def alias(self, role: str, index: int | None = None) -> str | None:
        """The alias assigned to `role` (the `index`-th of a list), else the system's `model`, else None."""
        assigned = self.config.roles.get(role)
        if isinstance(assigned, list):
            return assigned[(index or 0) % len(assigned)] if assigned else self.config.model
        return assigned or self.config.model

    def agent(self, role: str, prompt: str = "", *, index: int | None = None, name: str | None = None,
              **kwargs: Any) -> Agent:
        """An Agent for `role` (the `index`-th instance of a repeated role), on its assigned alias."""
        default_name = role if index is None else f"{role}_{index + 1}"
        params = {k: v for k, v in (("temperature", self.config.temperature),
                                    ("max_tokens", self.config.max_tokens)) if v is not None}
        params.update(kwargs.pop("params", {}))
        return Agent(name=name or default_name, role=role, model=self.alias(role, index), prompt=prompt,
                     params=params, **kwargs)

    async def ask(self, agent: Agent, messages: Any, **params: Any) -> str:
        """`agent.ask` on this run's pool."""
        return await agent.ask(messages, pool=self.pool, **params)


def run_rng(config: MethodConfig, task: Task | None) -> random.Random:
    """The run's RNG: seeded by the system's seed and the task id, so re-runs draw the same."""
    return random.Random(f"{config.seed}:{task.id if task else ''}")


class Method(Generic[ConfigT]):
    """Base class of registered systems."""

    name: ClassVar[str] = ""
    citation: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    roles: tuple[str, ...] = ()
    functions: ClassVar[dict[str, str]] = {}  # role -> one of MAS_FUNCTIONS (X-MAS assignment)
    Config: ClassVar[type[MethodConfig]] = MethodConfig
    recursion_limit: int = 200
    reference: ClassVar[str] = ""  # the reference implementation its `reference` profile reproduces
    deviations: ClassVar[tuple[Deviation, ...]] = ()  # differences from that reference, as data

    def __init__(self, config: ConfigT | None = None) -> None:
        self.config: ConfigT = config if config is not None else cast(ConfigT, self.Config())
        self._compiled: Any = None

    def build(self, ctx: RunContext[ConfigT]) -> Any:
        """Return this system's (uncompiled) LangGraph StateGraph."""
        raise NotImplementedError

    def per_run_graph(self) -> bool:
        """True when the graph's topology depends on the run (its task or RNG): built per run then."""
        return False

    def compiled(self, run: RunData | None = None) -> Any:
        """The compiled graph: built once per instance, or for `run` when `per_run_graph()`."""
        if self.per_run_graph():
            return self.build(RunContext(self.config, run or RunData(None, None, run_rng(self.config, None)))).compile()
        if self._compiled is None:
            self._compiled = self.build(RunContext(self.config)).compile()
        return self._compiled

    async def solve(self, task: Task | str, *, pool: ModelPool | None = None,
                    recorder: RunRecorder | None = None) -> Solution:
        """Run the system on one task; the Solution carries the answer, the message trace and usage."""
        if isinstance(task, str):
            task = Task(question=task)
        if not task.question.strip() and not task.metadata:
            raise ConfigError("the question is empty: nothing to ask (no model was called)")
        if pool is None:
            from maslab.models import ModelPool

            pool = ModelPool.default()
        for role in self.config.roles:
            for alias in _as_list(self.config.roles[role]):
                pool.resolve(alias)
        if self.config.model:
            pool.resolve(self.config.model)
        recorder = recorder or RunRecorder()
        run = RunData(pool=pool, task=task, rng=run_rng(self.config, task))
        graph = self.compiled(run)
        with recording(recorder):
            recorder.event("start", method=self.name, task_id=task.id, profile=self.config.profile)
            from langgraph.errors import GraphRecursionError

            try:
                state = await graph.ainvoke({"task": task}, {"recursion_limit": self.recursion_limit}, context=run)
                recorder.event("end", method=self.name, task_id=task.id)
            except GraphRecursionError as e:
                error = RunawayGraphError(
                    f"system {self.name!r} took more than {self.recursion_limit} graph steps without finishing "
                    f"(task {task.id}, {recorder.ledger.snapshot().calls} model calls made): a loop that never "
                    "ends, or counts too large for its recursion limit")
                recorder.event("error", error=f"{type(error).__name__}: {error}", **failure_position(e))
                raise error from None
            except Exception as e:  # the trace says what failed and in which node
                recorder.event("error", error=f"{type(e).__name__}: {e}", **failure_position(e))
                raise
            finally:
                recorder.flush()
        answer = state.get("answer")
        if not isinstance(answer, str):
            raise ConfigError(f"system {self.name!r} finished without a string answer (got {type(answer).__name__})")
        return Solution(answer=answer, messages=list(recorder.steps), usage=recorder.ledger.snapshot(),
                        metadata=dict(state.get("metadata") or {}))


def _as_list(x: str | list[str]) -> list[str]:
    return x if isinstance(x, list) else [x]


_REGISTRY: dict[str, type[Method[Any]]] = {}

M = TypeVar("M", bound=type[Method[Any]])


def register_method(cls: M) -> M:
    """Class decorator: register a system under `cls.name`."""
    if not cls.name:
        raise ConfigError(f"{cls.__qualname__} has no `name`")
    existing = _REGISTRY.get(cls.name)
    if existing is not None and existing.__qualname__ != cls.__qualname__:
        raise ConfigError(f"method name {cls.name!r} registered twice ({existing.__qualname__}, {cls.__qualname__})")
    bad = {r: f for r, f in cls.functions.items() if r not in cls.roles or f not in MAS_FUNCTIONS}
    if bad:
        raise ConfigError(f"{cls.__qualname__}.functions maps {bad}: keys must be its roles {cls.roles}, "
                          f"values one of {MAS_FUNCTIONS}")
    _REGISTRY[cls.name] = cls
    return cls


def list_methods() -> dict[str, type[Method[Any]]]:
    """Every registered system by name (the `maslab.methods` plug-ins are imported once)."""
    plugins.load_group(plugins.METHODS)
    return dict(sorted(_REGISTRY.items()))


def method_class(name: str) -> type[Method[Any]]:
    methods = list_methods()
    if name not in methods:
        close = difflib.get_close_matches(name, methods, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UnknownMethodError(f"unknown method {name!r}{hint} (known: {', '.join(methods)})"
                                 + plugins.failure_hint(plugins.METHODS))
    return methods[name]


def resolve_paths(cls: type[Method[Any]], params: dict[str, Any], base: str | Path) -> dict[str, Any]:
    """`params` with every relative path parameter (a Config field marked ``json_schema_extra={"path": True}``)
    resolved against `base`, the folder of the workflow or sweep file that names it."""
    out = dict(params)
    for name, field in cls.Config.model_fields.items():
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        value = out.get(name)
        if extra.get("path") and isinstance(value, str) and value and not Path(value).expanduser().is_absolute():
            out[name] = str((Path(base) / Path(value).expanduser()).resolve())
    return out


def load_method(name: str, profile: str | None = None, **params: Any) -> Method[Any]:
    """A configured system: `load_method("llm_debate", rounds=2, roles={"debater": [...]})`;
    `profile="reference"` starts from the system's reference profile (explicit parameters still win)."""
    cls = method_class(name)
    if profile is not None:
        params["profile"] = profile
    try:
        config = cls.Config.model_validate(params)
    except ValidationError as e:
        problems = "; ".join((f"{'.'.join(str(p) for p in err['loc'])}: " if err["loc"] else "") + clip(err["msg"])
                             for err in e.errors())
        raise ConfigError(f"method {name!r}: invalid parameters: {problems}") from e
    unknown = sorted(set(config.roles) - set(cls.roles))
    if unknown:
        raise ConfigError(f"method {name!r} has no role(s) {', '.join(unknown)}; its roles: {', '.join(cls.roles)}")
    return cls(config)


def deviations_of(name: str, profile: str | None = None) -> list[Deviation]:
    """System `name`'s declared deviations from its reference (only those `profile` has, if given)."""
    cls = method_class(name)
    if profile is not None and profile not in cls.Config.profiles:
        raise ConfigError(f"method {name!r} has no profile {profile!r}; profiles: {', '.join(cls.Config.profiles)}")
    return [d for d in cls.deviations if profile is None or profile in d.profiles]
