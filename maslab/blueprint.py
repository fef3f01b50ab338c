"""Blueprints after Know-The-Ropes (arXiv 2505.16979): typed well-posed tasks, leaf agents and a
controller that is plain code and enforces every hand-off's contract.

The paper's definitions (spec §1) and our primitives (spec §2):

* **Well-posed task** T = (I, O, R) — `WellPosedTask[I, O]`: pydantic models for the input domain
  and the output codomain, and `check(i, o)` implementing the requirement relation R (given as a
  `relation`, or as equality with the exact step function `solve`, which doubles as the *step
  oracle*). An output model may validate its shape against the input it answers: the controller
  validates with ``context={"input": i}``.
* **Blueprint** 𝔅 = (𝒯, 𝒫) — `Blueprint(name, tasks, protocol)`: the leaves' tasks by leaf name
  and the orchestration protocol, deterministic async Python (loops, branches) that calls leaves
  with ``await ctl.call(leaf, typed_input)``. Its input and output models are read off the
  protocol's annotations.
* **Leaf agent** — `LeafAgent(alias, prompt, augmentation)`, one per leaf, with the augmentation
  ladder ``none | cot | tool(name) | self_check(k) | finetuned(alias)`` (`Augmentation`): CoT
  asks for reasoning before the JSON; ``tool(name)`` runs the agent's tool loop with that tool;
  ``self_check(k)`` shows the agent its own input and output up to k times and asks it to verify
  and correct (stopping early when it keeps its output; a malformed check reply keeps the last
  valid output — ours); ``finetuned(alias)`` is just another alias, the tuned model's.
* **Controller** — `Controller`: runs the protocol; for each call it renders the typed input as
  JSON (the leaf's whole user message: context isolation — an agent never sees another agent's
  text, only its own typed input), parses the reply as JSON into the output model
  (`maslab.answers.extract_json_object`, the one lenient JSON parse) and validates it; on a parse
  or validation failure it retries up to `contract_retries` times (default 2) with the
  validation error appended to the agent's own conversation, then raises `ContractViolation`.
  A leaf may also be ``"exact"``: its task's step function runs instead of a model.
* **Per-agent accuracy** (spec §2) from the step oracle (`oracle`: the protocol with every leaf
  exact, recording each step's input and output): *isolated* — each leaf gets the oracle's input
  for every step and its output is checked by R (`isolated_steps`); *propagated* — in the real
  run each leaf's output is checked by R against the input it actually received, so an upstream
  error is charged upstream (our reading; the spec says only that the agent "gets the real
  upstream output"). `BlueprintRecord` is what a run keeps of both (a system's
  ``solution.metadata["blueprint"]``); `agent_accuracy` pools records and ranks leaves by
  isolated accuracy — the lowest is the bottleneck the design loop refines first.

The controller is plain code, not an LLM (spec §1: our reading of "controller-mediated").
`BlueprintFailure` (a `ContractViolation`, or a protocol's own guard such as a loop cap) ends one
instance: the systems built on this module answer with the failure, the instance scores wrong
and a sweep goes on.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import re
import typing
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from maslab.agent import Agent
from maslab.answers import extract_json_object
from maslab.errors import ConfigError, MaslabError
from maslab.messages import Message
from maslab.task import Task

if TYPE_CHECKING:
    from maslab.models import ModelPool

__all__ = [
    "AgentAccuracy",
    "Augmentation",
    "Blueprint",
    "BlueprintFailure",
    "BlueprintRecord",
    "ContractViolation",
    "Controller",
    "LeafAgent",
    "ProtocolGuardError",
    "StepRecord",
    "WellPosedTask",
    "agent_accuracy",
    "finetune_pairs",
    "isolated_steps",
    "load_blueprint",
    "make_record",
    "oracle",
]

I = TypeVar("I", bound=BaseModel)  # noqa: E741 - the paper's names: T = (I, O, R)
O = TypeVar("O", bound=BaseModel)  # noqa: E741

RECORD_FORMAT = "ktr-blueprint/1"
ISOLATED_SUFFIX = "[isolated]"  # agent and role name of a leaf's isolated-accuracy calls

# Prompt wording is ours ([reconstructed]: the paper publishes no prompts).
OUTPUT_CUES = {
    "none": "Reply with the JSON object only.",
    "cot": "Think step by step first; then end your reply with the JSON object.",
    "tool": "You may use the tool {arg} while you work; end your reply with the JSON object.",
}
RETRY_PROMPT = ("Your reply does not satisfy the output contract: {error}\n"
                "Reply again with one JSON object that follows the output schema.")
SELF_CHECK_PROMPT = ("Check your output against the task and the input, step by step. If it is correct, reply "
                     "with the same JSON object; otherwise reply with the corrected JSON object. End your reply "
                     "with the JSON object.")


# =========================================================================== failures


class BlueprintFailure(MaslabError):
    """An instance the blueprint cannot finish; it scores wrong and a sweep goes on."""

    kind = "failure"

    def __init__(self, message: str, *, leaf: str = "", task: str = "", attempts: int = 0) -> None:
        super().__init__(message)
        self.leaf, self.task, self.attempts = leaf, task, attempts

    def record(self) -> dict[str, Any]:
        return {"kind": self.kind, "leaf": self.leaf, "task": self.task, "attempts": self.attempts,
                "error": str(self)}


class ContractViolation(BlueprintFailure):
    """A leaf's reply broke its output contract on every attempt (1 + `contract_retries`)."""

    kind = "contract_violation"


class ProtocolGuardError(BlueprintFailure):
    """A protocol's own guard (e.g. a loop cap) stopped the instance."""

    kind = "protocol_guard"


class ContractError(ValueError):
    """One reply that breaks the contract (the message is what the agent is told)."""


# =========================================================================== tasks


@functools.cache
def schema_shape(model: type[BaseModel]) -> str:
    """A model's JSON shape, compactly: ``{"states": [{"items": [int], "weight": int}], "capacity": int}``
    (JSON Schema's $refs resolved; shorter than the schema itself, which small context windows need)."""
    schema = model.model_json_schema()
    defs = schema.get("$defs", {})

    def shape(node: dict[str, Any]) -> str:
        if "$ref" in node:
            return shape(defs[node["$ref"].rsplit("/", 1)[-1]])
        if "anyOf" in node:
            return " | ".join(shape(n) for n in node["anyOf"])
        kind = node.get("type")
        if kind == "object" and "properties" in node:
            return "{" + ", ".join(f'"{k}": {shape(v)}' for k, v in node["properties"].items()) + "}"
        if kind == "array":
            if "prefixItems" in node:
                return "[" + ", ".join(shape(n) for n in node["prefixItems"]) + "]"
            return f"[{shape(node.get('items', {}))}, ...]"
        return {"integer": "int", "number": "number", "string": "str", "boolean": "bool", "null": "null",
                "object": "{...}"}.get(kind or "", "any")

    return shape(schema)


class WellPosedTask(Generic[I, O]):
    """T = (I, O, R): typed input and output, the requirement relation R, and optionally the exact
    step function (`solve`), which is this task's step oracle.

    `check(i, o)` is R: `relation(i, o)` when given, else ``o == solve(i)``.
    """

    def __init__(self, name: str, input: type[I], output: type[O], statement: str, *,  # noqa: A002
                 solve: Callable[[I], O] | None = None, relation: Callable[[I, O], bool] | None = None) -> None:
        if not (isinstance(input, type) and issubclass(input, BaseModel)
                and isinstance(output, type) and issubclass(output, BaseModel)):
            raise ConfigError(f"task {name!r}: input and output must be pydantic models")
        self.name, self.input, self.output, self.statement = name, input, output, statement.strip()
        self._solve, self._relation = solve, relation

    def __repr__(self) -> str:
        return f"WellPosedTask({self.name!r}, {self.input.__name__} -> {self.output.__name__})"

    @property
    def exact(self) -> bool:
        return self._solve is not None

    def solve(self, i: I) -> O:
        """The exact step function (the step oracle)."""
        if self._solve is None:
            raise ConfigError(f"task {self.name!r} has no exact step function")
        return self._solve(i)

    def check(self, i: I, o: O) -> bool:
        """R: is `o` an acceptable output for `i`?"""
        if self._relation is not None:
            return bool(self._relation(i, o))
        return o == self.solve(i)

    @property
    def checkable(self) -> bool:
        return self._relation is not None or self._solve is not None

    def render_input(self, i: I) -> str:
        """The leaf's user message: the typed input as JSON, nothing else (context isolation)."""
        return i.model_dump_json()

    def system_prompt(self, role_prompt: str, cue: str) -> str:
        """The leaf's system message: its role, the task statement, both JSON shapes and the output cue."""
        parts = [role_prompt.strip(), f"Task: {self.statement}",
                 f"Input: one JSON object of this shape: {schema_shape(self.input)}",
                 f"Output: one JSON object of this shape: {schema_shape(self.output)}", cue]
        return "\n\n".join(p for p in parts if p)

    def parse(self, reply: str, i: I) -> O:
        """The reply as this task's output (the last JSON object, leniently read, validated with the
        input as context); `ContractError` says what is wrong."""
        obj = extract_json_object(reply)
        if obj is None:
            raise ContractError("no JSON object found in the reply")
        try:
            return self.output.model_validate(obj, context={"input": i})
        except ValidationError as e:
            problems = "; ".join(f"{'.'.join(str(p) for p in err['loc']) or '(object)'}: {err['msg']}"
                                 for err in e.errors()[:5])
            raise ContractError(problems) from None


# =========================================================================== leaves


_AUG = re.compile(r"^\s*(none|cot|tool|self_check|finetuned)\s*(?:\(\s*([^()]*?)\s*\))?\s*$")


class Augmentation(BaseModel):
    """One rung of the augmentation ladder: ``none | cot | tool(name) | self_check(k) | finetuned(alias)``.

    Written as that string in YAML, the CLI and Python (``Augmentation.model_validate("self_check(2)")``).
    """

    model_config = ConfigDict(frozen=True)
    kind: Literal["none", "cot", "tool", "self_check", "finetuned"] = "none"
    arg: str | int | None = None

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, data: Any) -> Any:
        if isinstance(data, str):
            m = _AUG.match(data)
            if not m:
                raise ValueError(f"unknown augmentation {data!r}; use none, cot, tool(NAME), self_check(K) "
                                 "or finetuned(ALIAS)")
            data = {"kind": m.group(1), "arg": m.group(2) or None}
        return data

    @model_validator(mode="after")
    def _arg(self) -> Augmentation:
        if self.kind in ("none", "cot") and self.arg is not None:
            raise ValueError(f"{self.kind} takes no argument")
        if self.kind in ("tool", "finetuned") and not (isinstance(self.arg, str) and self.arg):
            raise ValueError(f"{self.kind}(...) needs a {'tool name' if self.kind == 'tool' else 'model alias'}")
        if self.kind == "self_check":
            try:
                k = int(self.arg) if self.arg is not None else 0
            except ValueError:
                k = 0
            if k < 1:
                raise ValueError("self_check(K) needs a whole number of rounds K >= 1")
            object.__setattr__(self, "arg", k)
        return self

    def __str__(self) -> str:
        return self.kind if self.arg is None else f"{self.kind}({self.arg})"


class LeafAgent(BaseModel):
    """The agent instantiating one leaf: its model alias, role prompt and augmentation."""

    model_config = ConfigDict(frozen=True)
    name: str
    alias: str | None = None
    prompt: str = ""
    augmentation: Augmentation = Field(default_factory=Augmentation)
    params: dict[str, Any] = Field(default_factory=dict)

    @property
    def model(self) -> str | None:
        """The alias its calls go to: a `finetuned(alias)` augmentation's, else its own."""
        aug = self.augmentation
        return str(aug.arg) if aug.kind == "finetuned" else self.alias

    def agent(self, task: WellPosedTask[Any, Any], *, suffix: str = "") -> Agent:
        aug = self.augmentation
        cue = OUTPUT_CUES.get(aug.kind, OUTPUT_CUES["none"]).format(arg=aug.arg)
        return Agent(name=self.name + suffix, role=self.name + suffix, model=self.model,
                     prompt=task.system_prompt(self.prompt, cue), params=dict(self.params),
                     tools=[str(aug.arg)] if aug.kind == "tool" else [])


Leaf = LeafAgent | Literal["exact"]


# =========================================================================== blueprints


Protocol = Callable[["Controller", Any], Awaitable[Any]]


@dataclass(frozen=True)
class Blueprint(Generic[I, O]):
    """𝔅 = (𝒯, 𝒫): the leaves' well-posed tasks (by leaf name) and the protocol.

    `input`/`output` default to the protocol's annotations (``async def protocol(ctl, x: In) -> Out``).
    `reconstructed` names the parts that are our design rather than published (shown in records and
    reports).
    """

    name: str
    tasks: Mapping[str, WellPosedTask[Any, Any]]
    protocol: Protocol
    input: type[I] = None  # type: ignore[assignment]
    output: type[O] = None  # type: ignore[assignment]
    reconstructed: tuple[str, ...] = ()
    summary: str = ""

    def __post_init__(self) -> None:
        tasks = self.tasks
        if not isinstance(tasks, Mapping):
            tasks = {t.name: t for t in tasks}
        object.__setattr__(self, "tasks", dict(tasks))
        if not self.tasks:
            raise ConfigError(f"blueprint {self.name!r} has no tasks")
        if not inspect.iscoroutinefunction(self.protocol):
            raise ConfigError(f"blueprint {self.name!r}: the protocol must be an async function")
        hints = typing.get_type_hints(self.protocol)
        params = list(inspect.signature(self.protocol).parameters)
        for attr, hint in (("input", hints.get(params[1]) if len(params) > 1 else None),
                           ("output", hints.get("return"))):
            if getattr(self, attr) is None:
                object.__setattr__(self, attr, hint)
            value = getattr(self, attr)
            if not (isinstance(value, type) and issubclass(value, BaseModel)):
                raise ConfigError(f"blueprint {self.name!r}: its {attr} must be a pydantic model (annotate the "
                                  f"protocol `async def protocol(ctl, x: In) -> Out` or pass {attr}=)")

    @property
    def leaves(self) -> tuple[str, ...]:
        return tuple(self.tasks)

    def task(self, leaf: str) -> WellPosedTask[Any, Any]:
        try:
            return self.tasks[leaf]
        except KeyError:
            raise ConfigError(f"blueprint {self.name!r} has no leaf {leaf!r}; its leaves: "
                              f"{', '.join(self.tasks)}") from None

    def instance(self, task: Task) -> I:
        """The task's typed input: ``metadata["instance"]``, else the question read as a JSON object."""
        raw: Any = task.metadata.get("instance")
        if raw is None:
            try:
                raw = json.loads(task.question)
            except json.JSONDecodeError:
                raise ConfigError(f"task {task.id!r}: blueprint {self.name!r} needs its input as "
                                  f"metadata['instance'] or as a JSON question ({self.input.__name__})") from None
        try:
            return self.input.model_validate(raw)
        except ValidationError as e:
            raise ConfigError(f"task {task.id!r}: not a valid {self.input.__name__} for blueprint "
                              f"{self.name!r}: {e.errors()[0]['msg']}") from None


_MODULES: dict[str, Any] = {}


def load_blueprint(ref: str, contracts: Mapping[str, str] | None = None) -> Blueprint[Any, Any]:
    """A user blueprint from ``FILE.py:NAME`` (or ``package.module:NAME``).

    NAME is a `Blueprint`, or a protocol function; then `contracts` names, for each leaf the
    protocol calls, the module's `WellPosedTask` that is its contract (the YAML form: leaves and
    their contracts by name). Errors name the file and the missing or wrong name.
    """
    import importlib
    import importlib.util
    from pathlib import Path

    where, sep, attr = ref.rpartition(":")
    if not sep or not where or not attr:
        raise ConfigError(f"blueprint {ref!r}: expected FILE.py:NAME or package.module:NAME")
    if where.endswith(".py"):
        path = Path(where).expanduser().resolve()
        module = _MODULES.get(str(path))
        if module is None:
            if not path.is_file():
                raise ConfigError(f"blueprint {ref!r}: no such file {str(path)!r}")
            spec = importlib.util.spec_from_file_location(f"maslab_user_blueprint_{len(_MODULES)}", path)
            if spec is None or spec.loader is None:
                raise ConfigError(f"blueprint {ref!r}: cannot load {str(path)!r}")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            _MODULES[str(path)] = module
    else:
        try:
            module = importlib.import_module(where)
        except ImportError as e:
            raise ConfigError(f"blueprint {ref!r}: cannot import {where!r} ({e})") from None
    obj = getattr(module, attr, None)
    if isinstance(obj, Blueprint):
        if contracts:
            wrong = {leaf: name for leaf, name in contracts.items()
                     if leaf not in obj.tasks or obj.tasks[leaf] is not getattr(module, name, None)}
            if wrong:
                raise ConfigError(f"blueprint {ref!r}: leaves {sorted(wrong)} do not match the blueprint's "
                                  f"contracts; its leaves: {', '.join(obj.tasks)}")
        return obj
    if not inspect.iscoroutinefunction(obj):
        raise ConfigError(f"blueprint {ref!r}: {attr!r} is neither a Blueprint nor an async protocol function")
    if not contracts:
        raise ConfigError(f"blueprint {ref!r}: {attr!r} is a protocol; name each leaf's contract "
                          "(leaves: {LEAF: {contract: NAME}})")
    tasks = {}
    for leaf, name in contracts.items():
        task = getattr(module, name, None)
        if not isinstance(task, WellPosedTask):
            raise ConfigError(f"blueprint {ref!r}: leaf {leaf!r}: {name!r} is not a WellPosedTask of {where}")
        tasks[leaf] = task
    return Blueprint(attr, tasks, obj)


# =========================================================================== the controller


class StepRecord(BaseModel):
    """One leaf call of a run: what went in and came out, how many attempts, whether R holds."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    leaf: str
    task: str
    alias: str | None  # None: the exact step function
    augmentation: str
    input: Any
    output: Any = None
    attempts: int = 0
    error: str | None = None
    holds: bool | None = None  # R(input, output); None when unchecked or no output

    def summary(self) -> StepSummary:
        return StepSummary(leaf=self.leaf, task=self.task, alias=self.alias, attempts=self.attempts,
                           holds=self.holds, error=self.error)


class Controller:
    """Executes a blueprint's protocol, enforcing each leaf's typed contract.

    `leaves` maps leaf names to a `LeafAgent` or ``"exact"`` (the task's step function); a leaf
    not named is exact when `default_exact`, else an error. `steps` records every call in order.
    """

    def __init__(self, blueprint: Blueprint[Any, Any], leaves: Mapping[str, Leaf] | None = None, *,
                 pool: ModelPool | None = None, contract_retries: int = 2, default_exact: bool = False,
                 check: bool = True, suffix: str = "") -> None:
        if contract_retries < 0:
            raise ConfigError("contract_retries must be >= 0")
        leaves = dict(leaves or {})
        unknown = sorted(set(leaves) - set(blueprint.tasks))
        if unknown:
            raise ConfigError(f"blueprint {blueprint.name!r} has no leaf {', '.join(unknown)}; its leaves: "
                              f"{', '.join(blueprint.tasks)}")
        for name, task in blueprint.tasks.items():
            if name not in leaves:
                if not default_exact:
                    raise ConfigError(f"blueprint {blueprint.name!r}: leaf {name!r} has no agent")
                leaves[name] = "exact"
            leaf = leaves[name]
            if leaf == "exact" and not task.exact:
                raise ConfigError(f"leaf {name!r}: task {task.name!r} has no exact step function")
            if isinstance(leaf, LeafAgent) and pool is None:
                raise ConfigError(f"leaf {name!r} is a model agent: the controller needs a pool")
        self.blueprint, self.leaves, self.pool = blueprint, leaves, pool
        self.contract_retries, self.check, self.suffix = contract_retries, check, suffix
        self.steps: list[StepRecord] = []

    @classmethod
    def exact(cls, blueprint: Blueprint[Any, Any]) -> Controller:
        """Every leaf replaced by its exact step function: the step oracle."""
        return cls(blueprint, default_exact=True, check=False)

    async def run(self, instance: Any) -> Any:
        """Run the protocol on one instance (raises `BlueprintFailure` when it cannot finish)."""
        x = instance if isinstance(instance, self.blueprint.input) else self.blueprint.input.model_validate(instance)
        out = await self.blueprint.protocol(self, x)
        if not isinstance(out, self.blueprint.output):
            raise ConfigError(f"blueprint {self.blueprint.name!r}: the protocol returned "
                              f"{type(out).__name__}, not {self.blueprint.output.__name__}")
        return out

    async def call(self, leaf: str, i: BaseModel) -> Any:
        """One hand-off: leaf `leaf` on typed input `i`; returns its validated output."""
        task = self.blueprint.task(leaf)
        if not isinstance(i, task.input):
            raise TypeError(f"leaf {leaf!r} takes {task.input.__name__}, got {type(i).__name__}")
        agent = self.leaves[leaf]
        step = StepRecord(leaf=leaf, task=task.name, alias=None if agent == "exact" else agent.model,
                          augmentation="exact" if agent == "exact" else str(agent.augmentation), input=i)
        self.steps.append(step)
        try:
            if agent == "exact":
                step.output = task.solve(i)
            else:
                step.output, step.attempts = await self._ask(agent, task, i)
        except BlueprintFailure as e:
            step.attempts, step.error = e.attempts, str(e)
            raise
        if self.check and task.checkable:
            step.holds = task.check(i, step.output)
        return step.output

    async def _ask(self, leaf: LeafAgent, task: WellPosedTask[Any, Any], i: BaseModel) -> tuple[Any, int]:
        assert self.pool is not None
        agent = leaf.agent(task, suffix=self.suffix)
        messages = [Message.user(task.render_input(i))]
        attempts = 0
        while True:
            attempts += 1
            reply, history = await self._reply(agent, messages)
            try:
                out = task.parse(reply, i)
                break
            except ContractError as e:
                if attempts > self.contract_retries:
                    raise ContractViolation(
                        f"leaf {leaf.name!r} broke the {task.name!r} output contract on all {attempts} attempts; "
                        f"last: {e}", leaf=leaf.name, task=task.name, attempts=attempts) from None
                messages = [*history, Message.user(RETRY_PROMPT.format(error=e))]
        if leaf.augmentation.kind == "self_check":
            for _ in range(int(leaf.augmentation.arg or 0)):
                check = [messages[0], Message.assistant(out.model_dump_json()), Message.user(SELF_CHECK_PROMPT)]
                reply, _ = await self._reply(agent, check)
                try:
                    revised = task.parse(reply, i)
                except ContractError:
                    break  # a malformed check keeps the last valid output (ours)
                if revised == out:
                    break
                out = revised
        return out, attempts

    async def _reply(self, agent: Agent, messages: list[Message]) -> tuple[str, list[Message]]:
        """The agent's reply and its conversation so far (a tool loop when it has a tool)."""
        assert self.pool is not None
        if agent.tools:
            run = await agent.run(messages, pool=self.pool)
            return run.text, run.messages
        reply = await agent.ask(messages, pool=self.pool)
        return reply, [*messages, Message.assistant(reply)]


# =========================================================================== per-agent accuracy


async def oracle(blueprint: Blueprint[Any, O], instance: Any) -> tuple[O, list[StepRecord]]:
    """The step oracle: the protocol with every leaf exact, and each step's input and output."""
    ctl = Controller.exact(blueprint)
    out = await ctl.run(instance)
    return out, ctl.steps


class IsolatedResult(BaseModel):
    """A leaf's output on one oracle step input, checked by R."""

    leaf: str
    task: str
    correct: bool
    violation: bool = False


async def isolated_steps(blueprint: Blueprint[Any, Any], leaves: Mapping[str, Leaf], instance: Any, *,
                         pool: ModelPool, contract_retries: int = 2,
                         steps: list[StepRecord] | None = None) -> list[IsolatedResult]:
    """Isolated accuracy: every model leaf on the oracle's input of each of its steps (concurrently;
    calls are named ``<leaf>[isolated]`` in the ledger and trace), its output checked by R."""
    if steps is None:
        _, steps = await oracle(blueprint, instance)
    ctl = Controller(blueprint, leaves, pool=pool, contract_retries=contract_retries, check=False,
                     suffix=ISOLATED_SUFFIX)

    async def one(step: StepRecord) -> IsolatedResult:
        task = blueprint.task(step.leaf)
        try:
            out = await ctl.call(step.leaf, step.input)
        except ContractViolation:
            return IsolatedResult(leaf=step.leaf, task=task.name, correct=False, violation=True)
        return IsolatedResult(leaf=step.leaf, task=task.name, correct=task.check(step.input, out))

    model_steps = [s for s in steps if isinstance(ctl.leaves[s.leaf], LeafAgent)]
    return list(await asyncio.gather(*(one(s) for s in model_steps)))


class StepSummary(BaseModel):
    leaf: str
    task: str
    alias: str | None = None
    attempts: int = 0
    holds: bool | None = None
    error: str | None = None


class BlueprintRecord(BaseModel):
    """What a blueprint run keeps (``solution.metadata["blueprint"]``): the leaves, every step's
    verdict, isolated results when measured, and the failure that ended it, if any."""

    format: str = RECORD_FORMAT
    blueprint: str
    reconstructed: list[str] = Field(default_factory=list)
    leaves: dict[str, dict[str, Any]] = Field(default_factory=dict)  # leaf → {alias, augmentation}
    steps: list[StepSummary] = Field(default_factory=list)
    isolated: list[IsolatedResult] | None = None
    failure: dict[str, Any] | None = None
    output: dict[str, Any] | None = None


class AgentAccuracy(BaseModel):
    """One leaf's accuracy pooled over runs."""

    leaf: str
    isolated_correct: int = 0
    isolated_total: int = 0
    propagated_correct: int = 0
    propagated_total: int = 0
    violations: int = 0  # contract violations in the real runs
    isolated_violations: int = 0

    @property
    def isolated(self) -> float | None:
        return self.isolated_correct / self.isolated_total if self.isolated_total else None

    @property
    def propagated(self) -> float | None:
        return self.propagated_correct / self.propagated_total if self.propagated_total else None


def agent_accuracy(records: Iterable[BlueprintRecord]) -> list[AgentAccuracy]:
    """Per-leaf isolated and propagated accuracy and violation counts over `records`, ranked by
    isolated accuracy (lowest first: the bottleneck), then propagated; leaves never measured last."""
    acc: dict[str, AgentAccuracy] = {}
    for rec in records:
        for leaf in rec.leaves:
            acc.setdefault(leaf, AgentAccuracy(leaf=leaf))
        for s in rec.steps:
            a = acc.setdefault(s.leaf, AgentAccuracy(leaf=s.leaf))
            if s.error is not None:  # the step that broke its contract
                a.violations += 1
                a.propagated_total += 1
            elif s.holds is not None:
                a.propagated_total += 1
                a.propagated_correct += int(s.holds)
        for r in rec.isolated or []:
            a = acc.setdefault(r.leaf, AgentAccuracy(leaf=r.leaf))
            a.isolated_total += 1
            a.isolated_correct += int(r.correct)
            a.isolated_violations += int(r.violation)

    def rank(a: AgentAccuracy) -> tuple[float, float, str]:
        iso = a.isolated if a.isolated is not None else 2.0
        prop = a.propagated if a.propagated is not None else 2.0
        return (iso, prop, a.leaf)

    return sorted(acc.values(), key=rank)


# =========================================================================== fine-tune data


def finetune_pairs(blueprint: Blueprint[Any, Any], leaf: LeafAgent, steps: Iterable[StepRecord]) -> list[dict[str, Any]]:
    """Chat fine-tune examples for `leaf` from oracle steps: the exact system and user messages the
    controller sends it, and the oracle's output as the assistant's reply (chat JSONL rows)."""
    task = blueprint.task(leaf.name)
    agent = LeafAgent(name=leaf.name, prompt=leaf.prompt).agent(task)  # prompted as `none`/`finetuned`
    rows = []
    for s in steps:
        if s.leaf != leaf.name:
            continue
        rows.append({"messages": [{"role": "system", "content": agent.prompt},
                                  {"role": "user", "content": task.render_input(s.input)},
                                  {"role": "assistant", "content": s.output.model_dump_json()}]})
    return rows


def make_record(blueprint: Blueprint[Any, Any], ctl: Controller, *, output: BaseModel | None = None,
                failure: BlueprintFailure | None = None,
                isolated: list[IsolatedResult] | None = None) -> BlueprintRecord:
    """The record of one run of `ctl` (its leaves, steps and outcome) with optional isolated results."""
    return BlueprintRecord(
        blueprint=blueprint.name, reconstructed=list(blueprint.reconstructed),
        leaves={name: ({"alias": None, "augmentation": "exact"} if leaf == "exact"
                       else {"alias": leaf.model, "augmentation": str(leaf.augmentation)})
                for name, leaf in ctl.leaves.items()},
        steps=[s.summary() for s in ctl.steps], isolated=isolated,
        failure=failure.record() if failure is not None else None,
        output=output.model_dump(mode="json") if output is not None else None)
