"""YAML workflows → systems, with validation errors located by YAML path and line.

Two forms compile to the same thing, a `Method` whose `build` returns a LangGraph graph:

1. a registered system with parameters and a role→model assignment::

       name: debate-hetero
       method: llm_debate
       profile: reference       # optional: the system's reference profile (default: maslab's)
       params: {agents: 3, rounds: 2}
       roles: {debater: [qwen-7b, llama-8b, mistral-7b], aggregator: qwen-7b}
       model: smol              # optional: alias for every unassigned role

2. a declared graph of agents::

       name: plan-solve-check
       agents:
         planner: {model: qwen-7b, prompt: "Break the problem into steps."}
         solver:  {model: llama-8b, prompt: "Solve it.", tools: [calculator]}
         checker: {model: qwen-7b, prompt: "Reply APPROVED or list the errors."}
       graph:
         - planner -> solver
         - solver -> checker
         - checker -> solver: {unless: APPROVED, max_rounds: 3}
       output: solver

Edges: `a -> b`, fan-out `a -> [b, c]`, fan-in `b, c -> d` (or the quoted `"[b, c] -> d"`; d waits
for both), and
conditional edges `a -> b: {when: TEXT}` / `{unless: TEXT}` taken when a's latest output contains
(or lacks) TEXT. `max_rounds` bounds how often a conditional edge is taken; every cycle must go
through such a bounded edge. When no conditional edge of a node fires, control follows its plain
out-edges, or ends. Each agent sees the task and the latest output of every agent with an edge into it.

`load_workflow` checks everything before a token is spent: YAML syntax, types, unknown methods,
parameters, roles, aliases and tools, undeclared agents in edges, unbounded loops, cycles with no
exit, a missing output — and raises `WorkflowError` listing every problem as `file:line: path: message`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, TypedDict

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from maslab.agent import Agent
from maslab.errors import ConfigError, clip
from maslab.graph import END, START, state_graph
from maslab.method import (
    Method,
    MethodConfig,
    RunContext,
    check_count,
    load_method,
    method_class,
    resolve_paths,
)
from maslab.task import Task
from maslab.yamlfile import FileErrors, LocatedError, Locator, Slug, load_yaml, parse_value

WorkflowError = FileErrors  # a workflow file's located problems (the name callers catch)


class AgentSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str | None = None
    prompt: str = ""
    tools: list[str] = Field(default_factory=list)
    params: dict[str, Any] = Field(default_factory=dict)
    max_steps: int = Field(default=6, ge=1)

    @field_validator("max_steps")
    @classmethod
    def _bounded(cls, value: int) -> int:
        return check_count("max_steps", value)


class EdgeCondition(BaseModel):
    model_config = ConfigDict(extra="forbid")
    when: str | None = None
    unless: str | None = None
    max_rounds: int | None = Field(default=None, ge=1)

    @field_validator("max_rounds")
    @classmethod
    def _bounded(cls, value: int | None) -> int | None:
        return check_count("max_rounds", value)


class Edge(BaseModel):
    sources: list[str]
    targets: list[str]
    condition: EdgeCondition | None = None
    index: int  # position in the `graph` list


class MethodWorkflow(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Slug
    description: str = ""
    method: str
    profile: str | None = None  # the system's named parameter set (default | reference); params win over it
    params: dict[str, Any] = Field(default_factory=dict)
    roles: dict[str, str | list[str]] = Field(default_factory=dict)
    model: str | None = None


class GraphWorkflow(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Slug
    description: str = ""
    agents: dict[str, AgentSpec]
    graph: list[str | dict[str, EdgeCondition | None]]
    output: str
    model: str | None = None


_SIDE = r"(\[[^\]]*\]|[\w.-]+(?:\s*,\s*[\w.-]+)*)"
_EDGE = re.compile(rf"^\s*{_SIDE}\s*->\s*{_SIDE}\s*$")


def _names(side: str) -> list[str]:
    side = side.strip().removeprefix("[").removesuffix("]")
    return [s.strip() for s in side.split(",") if s.strip()]


# --------------------------------------------------------------------------- loading


class Workflow(BaseModel):
    """A validated workflow, ready to become a Method."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    name: str
    path: str
    spec: MethodWorkflow | GraphWorkflow
    edges: list[Edge] = Field(default_factory=list)

    def to_method(self) -> Method[Any]:
        if isinstance(self.spec, MethodWorkflow):
            return load_method(self.spec.method, **_method_params(self.spec))
        return DeclaredGraph(self.spec, self.edges)


def _method_params(spec: MethodWorkflow) -> dict[str, Any]:
    params = dict(spec.params)
    if spec.profile:
        params["profile"] = spec.profile
    if spec.roles:
        params["roles"] = spec.roles
    if spec.model:
        params.setdefault("model", spec.model)
    return params


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """`--set key=value` (value parsed as YAML): `rounds=3` sets params.rounds in the method form;
    dotted keys (`roles.debater=qwen`, `agents.solver.model=qwen`) set nested fields."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected key=value")
        key, raw = item.split("=", 1)
        value = parse_value(raw, f"--set {clip(key)}")
        parts = key.strip().split(".")
        if "method" in data and parts[0] not in MethodWorkflow.model_fields:
            parts = ["params", *parts]
        target = data
        for p in parts[:-1]:
            target = target.setdefault(p, {})
            if not isinstance(target, dict):
                raise ConfigError(f"--set {key}: {p} is not a mapping")
        target[parts[-1]] = value
    return data


def load_workflow(path: str | Path, *, aliases: list[str] | None = None,
                  overrides: list[str] | None = None) -> Workflow:
    """Parse and validate a workflow file; `aliases` (from the models file) checks model names."""
    path = Path(path)
    data, loc = load_yaml(path)
    if not isinstance(data, dict):
        raise WorkflowError([LocatedError(file=str(path), line=1, path="",
                                          message="expected a mapping with `name` and `method` or `agents`")])
    if overrides:
        data = apply_overrides(data, overrides)
    if "method" in data:
        workflow = _check_method_form(data, loc, aliases, base=path.parent)
    elif "agents" in data or "graph" in data:
        workflow = _check_graph_form(data, loc, aliases)
    else:
        loc.add((), "expected `method:` (a registered system) or `agents:` and `graph:` (a declared graph)")
        workflow = None
    if loc.errors or workflow is None:
        raise WorkflowError(loc.errors)
    workflow.path = str(path)
    return workflow


def _check_alias(loc: Locator, path: tuple[Any, ...], alias: Any, aliases: list[str] | None) -> None:
    if aliases is not None and isinstance(alias, str) and alias not in aliases:
        loc.add(path, f"unknown model alias {alias!r}; the models file defines: {', '.join(aliases)}")


def _check_method_form(data: dict[str, Any], loc: Locator, aliases: list[str] | None, base: Path) -> Workflow | None:
    try:
        spec = MethodWorkflow.model_validate(data)
    except ValidationError as e:
        loc.add_validation((), e)
        return None
    try:
        cls = method_class(spec.method)
    except ConfigError as e:
        loc.add(("method",), str(e))
        return None
    spec.params = resolve_paths(cls, spec.params, base)
    try:
        config: MethodConfig = cls.Config.model_validate(_method_params(spec))
    except ValidationError as e:
        for err in e.errors():
            top = err["loc"][0] if err["loc"] else ""
            prefix: tuple[Any, ...] = () if top in ("roles", "model") else ("params",)
            if not err["loc"] and "profile" in err["msg"] and spec.profile:
                prefix = ("profile",)
            loc.add((*prefix, *err["loc"]), err["msg"] + ("" if err["type"] == "missing" else
                                                          f" (got {clip(repr(err.get('input')))})"))
        return None
    for role, assigned in config.roles.items():
        if role not in cls.roles:
            loc.add(("roles", role), f"{spec.method} has no role {role!r}; its roles: {', '.join(cls.roles)}")
        for i, alias in enumerate(assigned if isinstance(assigned, list) else [assigned]):
            _check_alias(loc, ("roles", role, i) if isinstance(assigned, list) else ("roles", role), alias, aliases)
    _check_alias(loc, ("model",), spec.model, aliases)
    return Workflow(name=spec.name, path="", spec=spec)


def _check_graph_form(data: dict[str, Any], loc: Locator, aliases: list[str] | None) -> Workflow | None:
    # Validate part by part so that one bad agent does not hide the problems of the others.
    agents_raw = data.get("agents")
    agents: dict[str, AgentSpec] = {}
    if not isinstance(agents_raw, dict) or not agents_raw:
        loc.add(("agents",), "expected a mapping of agent name → {model, prompt, tools, params}")
    else:
        for name, raw in agents_raw.items():
            try:
                agents[str(name)] = AgentSpec.model_validate(raw or {})
            except ValidationError as e:
                loc.add_validation(("agents", name), e)
    shell = {**data, "agents": {n: {} for n in (agents_raw if isinstance(agents_raw, dict) else {})} or {"_": {}}}
    try:
        spec = GraphWorkflow.model_validate(shell)
    except ValidationError as e:
        loc.add_validation((), e)
        return None
    declared = [str(n) for n in agents_raw] if isinstance(agents_raw, dict) else []
    spec.agents = agents
    from maslab.tool import default_registry

    for name, agent in spec.agents.items():
        _check_alias(loc, ("agents", name, "model"), agent.model, aliases)
        for i, t in enumerate(agent.tools):
            if t not in default_registry:
                loc.add(("agents", name, "tools", i), f"unknown tool {t!r}; known tools: "
                        f"{', '.join(default_registry.names())}")
    _check_alias(loc, ("model",), spec.model, aliases)
    edges: list[Edge] = []
    for i, item in enumerate(spec.graph):
        if isinstance(item, str):
            text, cond = item, None
        elif len(item) == 1:
            text, cond = next(iter(item.items()))
            cond = cond or EdgeCondition()
        else:
            loc.add(("graph", i), "an edge entry must be `a -> b` or a single `a -> b: {...}` mapping")
            continue
        m = _EDGE.match(text)
        if not m:
            loc.add(("graph", i), f"cannot read edge {text!r}; expected `a -> b`, `a -> [b, c]` or `a, b -> c`")
            continue
        sources, targets = _names(m.group(1)), _names(m.group(2))
        for n in (*sources, *targets):
            if n not in declared:
                loc.add(("graph", i), f"agent {n!r} is used in an edge but not declared under `agents` "
                        f"(declared: {', '.join(declared)})")
        if cond is not None and cond.when and cond.unless:
            loc.add(("graph", i), "a conditional edge takes `when` or `unless`, not both")
        if cond is not None and (len(sources) > 1 or len(targets) > 1):
            loc.add(("graph", i), "a conditional edge joins one agent to one agent")
        if cond is not None and not (cond.when or cond.unless):
            loc.add(("graph", i), "a conditional edge needs `when: TEXT` or `unless: TEXT`")
        edges.append(Edge(sources=sources, targets=targets, condition=cond, index=i))
    if spec.output not in declared:
        loc.add(("output",), f"output agent {spec.output!r} is not declared under `agents`")
    if not loc.errors:
        _check_cycles(spec, edges, loc)
    return Workflow(name=spec.name, path="", spec=spec, edges=edges)


def _check_cycles(spec: GraphWorkflow, edges: list[Edge], loc: Locator) -> None:
    import networkx as nx

    plain = nx.DiGraph()
    full = nx.DiGraph()
    plain.add_nodes_from(spec.agents)
    full.add_nodes_from(spec.agents)
    for e in edges:
        for s in e.sources:
            for t in e.targets:
                full.add_edge(s, t, edge=e)
                if e.condition is None:
                    plain.add_edge(s, t, edge=e)
    for cycle in map(_canonical_cycle, nx.simple_cycles(plain)):
        first = min((plain.edges[p]["edge"] for p in _cycle_pairs(cycle)), key=lambda e: e.index)
        loc.add(("graph", first.index), f"cycle {' -> '.join([*cycle, cycle[0]])} has no exit: make one of its "
                "edges conditional (`when`/`unless`) with `max_rounds`")
    for cycle in map(_canonical_cycle, nx.simple_cycles(full)):
        conditional = sorted((full.edges[p]["edge"] for p in _cycle_pairs(cycle)
                              if full.edges[p]["edge"].condition is not None), key=lambda e: e.index)
        if conditional and not any(c.condition.max_rounds for c in conditional):  # type: ignore[union-attr]
            loc.add(("graph", conditional[0].index), f"loop {' -> '.join([*cycle, cycle[0]])} has no bound: "
                    "add `max_rounds: N` to its conditional edge")
    entries = [n for n in spec.agents if full.in_degree(n) == 0]
    if not entries:
        loc.add(("graph",), "no entry agent: every agent has an incoming edge")
    unreachable = set(spec.agents) - set().union(*(nx.descendants(full, n) | {n} for n in entries)) if entries else set()
    for n in sorted(unreachable):
        loc.add(("agents", n), f"agent {n!r} can never run (no path from an entry agent)")


def _canonical_cycle(cycle: list[str]) -> list[str]:
    """A cycle rotated to start at its smallest name, so messages do not depend on networkx's order."""
    i = cycle.index(min(cycle))
    return cycle[i:] + cycle[:i]


def _cycle_pairs(cycle: list[str]) -> list[tuple[str, str]]:
    return list(zip(cycle, [*cycle[1:], cycle[0]], strict=True))


# --------------------------------------------------------------------------- the declared-graph system


def _merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    return {**a, **b}


class GraphState(TypedDict, total=False):
    task: Task
    outputs: Annotated[dict[str, str], _merge]
    visits: Annotated[dict[str, int], _merge]
    answer: str


class DeclaredGraph(Method[MethodConfig]):
    """A system declared in YAML as agents and edges."""

    name = "graph"
    citation = "declared workflow"
    Config = MethodConfig

    def __init__(self, spec: GraphWorkflow, edges: list[Edge]) -> None:
        super().__init__(MethodConfig(model=spec.model))
        self.spec = spec
        self.edges = edges
        self.roles = tuple(spec.agents)

    def build(self, ctx: RunContext[MethodConfig]) -> Any:
        spec = self.spec
        graph = state_graph(GraphState)
        preds: dict[str, list[str]] = {n: [] for n in spec.agents}
        for e in self.edges:
            for t in e.targets:
                preds[t] += [s for s in e.sources if s not in preds[t]]

        for name, a in spec.agents.items():
            agent = Agent(name=name, role=name, model=a.model or spec.model, prompt=a.prompt, tools=a.tools,
                          params=a.params, max_steps=a.max_steps)
            graph.add_node(name, _agent_node(agent, preds[name], ctx, is_output=name == spec.output))

        incoming = {t for e in self.edges for t in e.targets}
        for n in spec.agents:
            if n not in incoming:
                graph.add_edge(START, n)
        conditional: dict[str, list[Edge]] = {}
        plain_targets: dict[str, list[str]] = {}
        for e in self.edges:
            if e.condition is not None:
                conditional.setdefault(e.sources[0], []).append(e)
            elif len(e.sources) > 1:
                for t in e.targets:
                    graph.add_edge(e.sources, t)
            else:
                plain_targets.setdefault(e.sources[0], []).extend(e.targets)
        for src in spec.agents:
            if src in conditional:
                fallback = plain_targets.get(src, [])
                destinations = {t for e in conditional[src] for t in e.targets} | set(fallback or [END])
                graph.add_conditional_edges(src, _router(src, conditional[src], fallback), sorted(destinations))
            else:
                for t in plain_targets.get(src, []):
                    graph.add_edge(src, t)
        sinks = [n for n in spec.agents if n not in conditional and n not in plain_targets
                 and not any(n in e.sources for e in self.edges)]
        for n in sinks:
            graph.add_edge(n, END)
        return graph


def _agent_node(agent: Agent, preds: list[str], ctx: RunContext[MethodConfig], *, is_output: bool) -> Any:
    async def node(state: GraphState) -> GraphState:
        task = state["task"]
        outputs = state.get("outputs", {})
        context = "\n\n".join(f"{p} said:\n{outputs[p]}" for p in preds if p in outputs)
        prompt = f"Task:\n{task.prompt()}" + (f"\n\n{context}" if context else "")
        run = await agent.run(prompt, pool=ctx.pool)
        visits = state.get("visits", {})
        update: GraphState = {"outputs": {agent.name: run.text},
                              "visits": {agent.name: visits.get(agent.name, 0) + 1}}
        if is_output:
            update["answer"] = run.text
        return update

    node.__name__ = agent.name
    return node


def _router(src: str, edges: list[Edge], fallback: list[str]) -> Any:
    def route(state: GraphState) -> list[str] | str:
        text = state.get("outputs", {}).get(src, "")
        taken = state.get("visits", {}).get(src, 0)
        for e in edges:
            c = e.condition
            assert c is not None
            fires = (c.when is not None and c.when in text) or (c.unless is not None and c.unless not in text)
            if fires and (c.max_rounds is None or taken <= c.max_rounds):
                return e.targets
        return fallback or END

    return route

