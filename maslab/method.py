"""The multi-agent-system contract, the registry of systems and their typed configurations.

A system (method) is a class registered under a name with `@register_method`. It declares

* `Config`: a pydantic model of its parameters with the published defaults (extra keys are
  errors), always including `roles`: role → model alias, or a list of aliases for a repeated
  role (debater 1 → qwen, debater 2 → llama …; the list is cycled when shorter);
* `roles`: the role names it uses; `citation`: its paper;
* `build(ctx)`: its LangGraph `StateGraph`, whose state starts as `{"task": Task}` and must end
  with `answer` set.

`await method.solve(task, pool=pool)` compiles the graph, runs it with a fresh `RunRecorder`
(so usage and the message trace are the run's own even when runs share a pool) and returns a
`Solution`. YAML workflows, the CLI and Python all go through `load_method(name, **params)`.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
import random
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from maslab.agent import Agent
from maslab.errors import ConfigError, UnknownMethodError
from maslab.task import Solution, Task
from maslab.trace import RunRecorder, recording

if TYPE_CHECKING:
    from maslab.models import ModelPool

RoleAssignment = dict[str, str | list[str]]


class MethodConfig(BaseModel):
    """Base of every system's parameters: `roles` plus the system's own fields."""

    model_config = ConfigDict(extra="forbid")
    roles: RoleAssignment = Field(default_factory=dict)
    model: str | None = Field(default=None, description="alias for every role not in `roles`")
    seed: int = Field(default=0, description="seed of the system's own randomness (orders, sampling)")
    temperature: float | None = Field(default=None, description="sampling temperature of every agent")
    max_tokens: int | None = Field(default=None, description="completion-token cap of every call")


class RunContext:
    """What a system's nodes need at run time: the pool, the role→alias map and the run's RNG."""

    def __init__(self, pool: ModelPool | None, config: MethodConfig, task: Task | None = None) -> None:
        self.pool = pool
        self.config = config
        self.task = task
        self.rng = random.Random(f"{config.seed}:{task.id if task else ''}")

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
        assert self.pool is not None, "RunContext without a pool (drawing only)"
        return await agent.ask(messages, pool=self.pool, **params)


class Method:
    """Base class of registered systems."""

    name: ClassVar[str] = ""
    citation: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    roles: ClassVar[tuple[str, ...]] = ()
    Config: ClassVar[type[MethodConfig]] = MethodConfig
    recursion_limit: ClassVar[int] = 200

    def __init__(self, config: MethodConfig | None = None) -> None:
        self.config = config if config is not None else self.Config()

    def build(self, ctx: RunContext) -> Any:
        """Return this system's (uncompiled) LangGraph StateGraph."""
        raise NotImplementedError

    async def solve(self, task: Task | str, *, pool: ModelPool | None = None,
                    recorder: RunRecorder | None = None) -> Solution:
        """Run the system on one task; the Solution carries the answer, the message trace and usage."""
        if isinstance(task, str):
            task = Task(question=task)
        if pool is None:
            from maslab.models import ModelPool

            pool = ModelPool.default()
        for role in self.config.roles:
            for alias in _as_list(self.config.roles[role]):
                pool.resolve(alias)
        if self.config.model:
            pool.resolve(self.config.model)
        recorder = recorder or RunRecorder()
        ctx = RunContext(pool, self.config, task)
        graph = self.build(ctx).compile()
        with recording(recorder):
            recorder.event("start", method=self.name, task_id=task.id)
            state = await graph.ainvoke({"task": task}, {"recursion_limit": self.recursion_limit})
            recorder.event("end", method=self.name, task_id=task.id)
        answer = state.get("answer")
        if not isinstance(answer, str):
            raise ConfigError(f"system {self.name!r} finished without a string answer (got {type(answer).__name__})")
        return Solution(answer=answer, messages=list(recorder.steps), usage=recorder.ledger.snapshot(),
                        metadata=dict(state.get("metadata") or {}))

    def mermaid(self) -> str:
        """The system's graph as Mermaid text (built without a pool)."""
        from maslab.graph import to_mermaid

        return to_mermaid(self.build(RunContext(None, self.config)).compile())


def _as_list(x: str | list[str]) -> list[str]:
    return x if isinstance(x, list) else [x]


_REGISTRY: dict[str, type[Method]] = {}
_discovered = False


def register_method(cls: type[Method]) -> type[Method]:
    """Class decorator: register a system under `cls.name`."""
    if not cls.name:
        raise ConfigError(f"{cls.__qualname__} has no `name`")
    existing = _REGISTRY.get(cls.name)
    if existing is not None and existing.__qualname__ != cls.__qualname__:
        raise ConfigError(f"method name {cls.name!r} registered twice ({existing.__qualname__}, {cls.__qualname__})")
    _REGISTRY[cls.name] = cls
    return cls


def _discover() -> None:
    global _discovered
    if _discovered:
        return
    import maslab.agents

    for info in pkgutil.iter_modules(maslab.agents.__path__):
        importlib.import_module(f"maslab.agents.{info.name}")
    _discovered = True


def list_methods() -> dict[str, type[Method]]:
    """Every registered system by name (importing `maslab.agents.*` once)."""
    _discover()
    return dict(sorted(_REGISTRY.items()))


def method_class(name: str) -> type[Method]:
    methods = list_methods()
    if name not in methods:
        close = difflib.get_close_matches(name, methods, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UnknownMethodError(f"unknown method {name!r}{hint} (known: {', '.join(methods)})")
    return methods[name]


def load_method(name: str, **params: Any) -> Method:
    """A configured system: `load_method("llm_debate", rounds=2, roles={"debater": [...]})`."""
    cls = method_class(name)
    try:
        config = cls.Config.model_validate(params)
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors())
        raise ConfigError(f"method {name!r}: invalid parameters: {problems}") from e
    unknown = sorted(set(config.roles) - set(cls.roles))
    if unknown:
        raise ConfigError(f"method {name!r} has no role(s) {', '.join(unknown)}; its roles: {', '.join(cls.roles)}")
    return cls(config)
