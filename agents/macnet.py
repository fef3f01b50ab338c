"""MacNet — Multi-Agent Collaboration Networks (Qian et al., arXiv 2406.07155).

`agent_num` agents sit on the nodes of a directed acyclic graph and refine one another's
solutions along its edges, in topological order:

    1. a source node (no incoming edge) solves the question on its own;
    2. along every edge u → v, node v first critiques u's solution, then improves on it; the
       edges into one node are worked concurrently;
    3. a node with at least `aggregate_unit_num` (2) improved solutions merges them into one
       (retried, up to `aggregate_retry_limit` times, while the merge has no answer); with fewer
       than that many, a majority vote over their answers keeps one (ties: the first);
    4. the sinks' solutions are merged the same way, by the `aggregator`, into the answer.

Node v samples at temperature 1 − depth(v)/maxdepth (depth: longest path from a source), so
early nodes explore and the last ones converge. Nodes of equal depth run concurrently: each
node is a LangGraph node that waits for all of its predecessors (`maslab graph` draws the DAG).
The graph is compiled once per configured system, except with `topology: random` or
`type: profiles`, whose DAG or prompts are drawn from the run's RNG (seeded by the task): then
it is built for each task (`per_run_graph`).

Topologies (`topology`), on nodes 1…n (n = agent_num):
chain 1 → 2 → … → n; star 1 → every other node; tree the binary tree i → 2i, 2i+1;
net every forward edge i → j (i < j, n(n−1)/2 edges); mlp a layered net: input node 1, hidden
layers of two nodes, output node n, consecutive layers fully connected; random a random
spanning tree of forward edges plus extra forward edges, n−1 to n(n−1)/2 in all, drawn from the
run's RNG; or an explicit `edges` list (`topology: custom`), validated acyclic when the config is
built, so a workflow with a cycle fails validation before any call. `build_topology` and
`validate_edges` are the functions that do both.

Node system prompts: `type: default` gives every node the same generic prompt; `type: profiles`
draws one per node from a short built-in list of expert profiles (the original draws from 99).

Roles: `node` (a list of aliases gives node i the i-th), `aggregator` (the sink merge).
Calls: sources + 2·|E| + #{v : indeg(v) ≥ aggregate_unit_num} + [#sinks ≥ aggregate_unit_num]
(+ merge retries). Chain of 5: 1 + 8 = 9; net of 5: 1 + 20 + 3 = 24.

Where we follow the spec (`shared/specs/maslab_methods.md`) rather than MASLab's reference code:
the reference reads upstream answers after deleting the incoming edges, so nothing propagates —
we pass the source's solution along each edge; the reference calls `exit(1)` on a cycle — we
reject cycles at validation with the cycle named.
"""

from __future__ import annotations

import operator
import random
from typing import Annotated, Any, Literal, TypedDict

import networkx as nx
from pydantic import Field, ValidationInfo, field_validator, model_validator

from maslab.answers import answer_key, format_of, vote
from maslab.graph import END, START, gather, state_graph
from maslab.method import Method, MethodConfig, RunContext, register_method
from maslab.task import Task

Topology = Literal["chain", "star", "tree", "net", "mlp", "random", "custom"]

DEFAULT_PROMPT = "You are a careful expert who solves problems step by step and improves on others' work."
PROFILES = (
    "You are a mathematician who checks every derivation rigorously.",
    "You are a physicist who reasons from first principles and checks units.",
    "You are a software engineer who thinks in precise, testable steps.",
    "You are a teacher who explains each step so a student could follow it.",
    "You are a statistician alert to hidden assumptions and edge cases.",
    "You are a logician who checks that every conclusion follows from its premises.",
    "You are an economist who reasons carefully about quantities and trade-offs.",
    "You are a scientist who tests every claim against the given facts.",
    "You are an editor who makes solutions clear, complete and correct.",
    "You are a competition problem solver who looks for the cleanest argument.",
    "You are a domain expert who knows the field's standard methods and pitfalls.",
    "You are a skeptical reviewer who double-checks calculations before accepting them.",
)
SOLVE = "{question}\n\nSolve the problem step by step, then state the final answer clearly at the end."
CRITIQUE = (
    "{question}\n\nHere is a solution from node {source}:\n{solution}\n\n"
    "Critique this solution: point out its errors, gaps and unclear steps, and what should change."
)
IMPROVE = (
    "{question}\n\nHere is a solution from node {source}:\n{solution}\n\n"
    "Your critique of it:\n{critique}\n\n"
    "Write an improved, complete solution that fixes these problems, and state the final answer "
    "clearly at the end."
)
AGGREGATE = (
    "{question}\n\nSeveral solutions to this problem follow.\n\n{solutions}\n\n"
    "Merge them into one solution: keep their correct steps, resolve their disagreements, and "
    "state the final answer clearly at the end."
)


def _forward_edges(n: int) -> list[tuple[int, int]]:
    return [(i, j) for i in range(1, n + 1) for j in range(i + 1, n + 1)]


def build_topology(kind: str, n: int, rng: random.Random | None = None) -> nx.DiGraph:
    """The DAG of a named topology on nodes 1…n (`random` draws from `rng`)."""
    if n < 1:
        raise ValueError("a MacNet needs at least one node")
    if kind == "chain":
        edges = [(i, i + 1) for i in range(1, n)]
    elif kind == "star":
        edges = [(1, j) for j in range(2, n + 1)]
    elif kind == "tree":
        edges = [(i, c) for i in range(1, n + 1) for c in (2 * i, 2 * i + 1) if c <= n]
    elif kind == "net":
        edges = _forward_edges(n)
    elif kind == "mlp":
        hidden = list(range(2, n))
        layers = [[1]] + [hidden[i:i + 2] for i in range(0, len(hidden), 2)] + ([[n]] if n > 1 else [])
        edges = [(u, v) for a, b in zip(layers, layers[1:], strict=False) for u in a for v in b]
    elif kind == "random":
        rng = rng or random.Random(0)
        spanning = [(rng.randint(1, j - 1), j) for j in range(2, n + 1)]
        rest = [e for e in _forward_edges(n) if e not in spanning]
        total = rng.randint(n - 1, n * (n - 1) // 2)
        edges = spanning + rng.sample(rest, total - len(spanning))
    else:
        raise ValueError(f"unknown MacNet topology {kind!r}; known: chain, star, tree, net, mlp, random")
    return validate_edges(edges, n)


def validate_edges(edges: list[tuple[int, int]], n: int) -> nx.DiGraph:
    """The DAG of an explicit edge list on nodes 1…n; ValueError naming the problem (e.g. the cycle)."""
    dag = nx.DiGraph()
    dag.add_nodes_from(range(1, n + 1))
    for u, v in edges:
        if not (1 <= u <= n and 1 <= v <= n):
            raise ValueError(f"edge {u} -> {v} names a node outside 1..{n} (agent_num is {n})")
        if u == v:
            raise ValueError(f"edge {u} -> {v} is a self-loop; MacNet needs a directed acyclic graph")
        dag.add_edge(u, v)
    try:
        cycle = nx.find_cycle(dag)
    except nx.NetworkXNoCycle:
        return dag
    path = " -> ".join(str(u) for u, _ in cycle) + f" -> {cycle[0][0]}"
    raise ValueError(f"edges contain a cycle ({path}); MacNet needs a directed acyclic graph")


def depths(dag: nx.DiGraph) -> dict[int, int]:
    """Longest-path depth of every node from a source."""
    depth: dict[int, int] = {}
    for v in nx.topological_sort(dag):
        depth[v] = max((depth[u] + 1 for u in dag.predecessors(v)), default=0)
    return depth


class Config(MethodConfig):
    agent_num: int = Field(default=5, ge=1, le=64, description="nodes (agents) in the network")
    topology: Topology = Field(default="chain", description="chain, star, tree, net, mlp, random, or custom "
                                                            "(with `edges`)")
    edges: list[tuple[int, int]] | None = Field(
        default=None, description="explicit edges [[u, v], …] on nodes 1..agent_num; must be acyclic")
    type: Literal["default", "profiles"] = Field(
        default="default", description="default: one generic system prompt; profiles: one drawn per node")
    aggregate_unit_num: int = Field(default=2, ge=2, description="inputs from which a node merges them")
    aggregate_retry_limit: int = Field(default=10, ge=1, description="attempts at a merge that has an answer")

    @field_validator("edges")
    @classmethod
    def _acyclic(cls, edges: list[tuple[int, int]] | None, info: ValidationInfo) -> list[tuple[int, int]] | None:
        if edges is not None and "agent_num" in info.data:
            validate_edges(edges, info.data["agent_num"])
        return edges

    @model_validator(mode="after")
    def _topology_or_edges(self) -> Config:
        if self.edges is not None and "topology" in self.model_fields_set and self.topology != "custom":
            raise ValueError(f"give either `topology: {self.topology}` or `edges`, not both")
        if self.edges is None and self.topology == "custom":
            raise ValueError("`topology: custom` needs an `edges` list")
        if self.edges is not None:
            self.topology = "custom"
        return self

    def dag(self, rng: random.Random | None = None) -> nx.DiGraph:
        """This configuration's DAG (`random` draws from `rng`)."""
        if self.edges is not None:
            return validate_edges(self.edges, self.agent_num)
        return build_topology(self.topology, self.agent_num, rng)


class State(TypedDict, total=False):
    task: Task
    solutions: Annotated[dict[int, str], operator.or_]  # node → its solution
    answer: str
    metadata: dict[str, Any]


@register_method
class MacNet(Method[Config]):
    name = "macnet"
    citation = "arXiv 2406.07155"
    summary = "Agents on a DAG critique and improve their predecessors' solutions; sinks are merged."
    roles = ("node", "aggregator")
    functions = {"node": "revise", "aggregator": "aggregate"}
    Config = Config

    def per_run_graph(self) -> bool:
        """A `random` topology or drawn `profiles` come from the run's RNG (seeded by the task), so the
        graph is built for each run; the other topologies are compiled once."""
        return self.config.topology == "random" or self.config.type == "profiles"

    def build(self, ctx: RunContext[Config]) -> Any:
        cfg = self.config
        dag = cfg.dag(ctx.rng if self.per_run_graph() else None)
        depth = depths(dag)
        max_depth = max(depth.values())
        if cfg.type == "profiles":  # distinct profiles while the list lasts
            drawn = (ctx.rng.sample(PROFILES, len(dag)) if len(dag) <= len(PROFILES)
                     else ctx.rng.choices(PROFILES, k=len(dag)))
            prompts = dict(zip(sorted(dag), drawn, strict=True))
        else:
            prompts = dict.fromkeys(dag, DEFAULT_PROMPT)
        sinks = [v for v in dag if dag.out_degree(v) == 0]
        aggregator = ctx.agent("aggregator", DEFAULT_PROMPT)

        def temperature(v: int) -> float:
            return 1.0 - depth[v] / max_depth if max_depth else 1.0

        async def merge(agent: Any, task: Task, texts: list[str], temp: float) -> str:
            """One solution from several: an LLM merge from `aggregate_unit_num` inputs, else a vote."""
            if len(texts) == 1:
                return texts[0]
            if len(texts) < cfg.aggregate_unit_num:
                return texts[vote(texts, format_of(task), "key").index or 0]
            listing = "\n\n".join(f"Solution {i + 1}:\n{t}" for i, t in enumerate(texts))
            prompt = AGGREGATE.format(question=task.prompt(), solutions=listing)
            for attempt in range(cfg.aggregate_retry_limit):
                merged = await ctx.ask(agent, prompt, temperature=temp, sample_index=attempt)
                if answer_key(task, merged) is not None:
                    return merged
            return texts[0]

        def node_step(v: int) -> Any:
            agent = ctx.agent("node", prompts[v], index=v - 1, name=f"node_{v}")
            preds = sorted(dag.predecessors(v))

            async def step(state: State) -> State:
                task = state["task"]
                question, temp = task.prompt(), temperature(v)
                if not preds:
                    return {"solutions": {v: await ctx.ask(agent, SOLVE.format(question=question),
                                                           temperature=temp)}}

                async def along_edge(u: int) -> str:
                    solution = state["solutions"][u]  # the source's answer travels along the edge
                    critique = await ctx.ask(agent, CRITIQUE.format(question=question, source=u,
                                                                    solution=solution), temperature=temp)
                    return await ctx.ask(agent, IMPROVE.format(question=question, source=u, solution=solution,
                                                               critique=critique), temperature=temp)

                improved = await gather(along_edge(u) for u in preds)
                return {"solutions": {v: await merge(agent, task, improved, temp)}}

            return step

        async def finish(state: State) -> State:
            task = state["task"]
            answer = await merge(aggregator, task, [state["solutions"][s] for s in sinks], 0.0)
            return {"answer": answer, "metadata": {
                "topology": cfg.topology, "edges": sorted(dag.edges), "sinks": sinks,
                "depth": depth, "solutions": {f"node_{v}": t for v, t in sorted(state["solutions"].items())},
            }}

        graph = state_graph(State)
        for v in nx.topological_sort(dag):
            graph.add_node(f"node_{v}", node_step(v))
            preds = sorted(dag.predecessors(v))
            if not preds:
                graph.add_edge(START, f"node_{v}")
            else:  # a list of sources: the node waits for all its predecessors
                graph.add_edge([f"node_{u}" for u in preds] if len(preds) > 1 else f"node_{preds[0]}", f"node_{v}")
        graph.add_node("finish", finish)
        graph.add_edge([f"node_{s}" for s in sinks] if len(sinks) > 1 else f"node_{sinks[0]}", "finish")
        graph.add_edge("finish", END)
        return graph
