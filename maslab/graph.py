"""Composition helpers on LangGraph: explicit state, explicit edges, graphs you can draw.

Systems build a `langgraph.graph.StateGraph` whose state is a TypedDict carrying typed values.
These helpers cover the three shapes that recur across multi-agent systems:

* fan-out: `fan_out(node, payloads)` sends one branch per payload (LangGraph `Send`), and the
  branches of one superstep really run concurrently; `gather` runs coroutines concurrently
  inside a single node (e.g. the debaters of one round);
* vote/aggregate: `majority_vote` over extracted answers, ties to the earliest;
* bounded loops: `loop_edge` wires a conditional edge that exits when the condition says so or
  when the round counter reaches `max_rounds` — every loop in maslab has a bound.

`Appended` is the reducer type for state lists that parallel branches extend.
"""

from __future__ import annotations

import asyncio
import operator
from collections import Counter
from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel

T = TypeVar("T")

Appended = Annotated[list, operator.add]
"""State-list type whose updates are concatenated (use for results of parallel branches)."""

START = "__start__"
END = "__end__"


async def gather(coros: Iterable[Awaitable[T]]) -> list[T]:
    """Run awaitables concurrently and return their results in order (the first error propagates)."""
    return list(await asyncio.gather(*coros))


def fan_out(node: str, payloads: Iterable[dict[str, Any]]) -> list[Any]:
    """One LangGraph branch per payload, all sent to `node` in the same superstep."""
    from langgraph.types import Send

    return [Send(node, p) for p in payloads]


class VoteResult(BaseModel):
    """The outcome of a majority vote."""

    winner: Any = None
    winner_index: int | None = None  # index of the first item voting for the winner
    counts: dict[str, int] = {}
    share: float = 0.0  # winner's votes / votes cast


def majority_vote(
    items: Sequence[T],
    key: Callable[[T], Hashable | None] = lambda x: x,  # type: ignore[assignment,return-value]
) -> VoteResult:
    """Most frequent `key(item)`; ties go to the key seen first; None keys do not vote."""
    keys = [key(i) for i in items]
    counts = Counter(k for k in keys if k is not None)
    if not counts:
        return VoteResult()
    best = max(counts.values())
    winner = next(k for k in keys if k is not None and counts[k] == best)
    return VoteResult(winner=winner, winner_index=keys.index(winner),
                      counts={str(k): v for k, v in counts.items()}, share=best / sum(counts.values()))


def loop_edge(
    graph: Any,
    source: str,
    *,
    again: str,
    done: str,
    until: Callable[[dict[str, Any]], bool],
    max_rounds: int,
    counter: str = "round",
) -> None:
    """From `source`, go to `done` when `until(state)` holds or `state[counter] >= max_rounds`, else `again`."""
    if max_rounds < 1:
        raise ValueError("a loop needs max_rounds >= 1")

    def route(state: dict[str, Any]) -> str:
        return done if until(state) or state.get(counter, 0) >= max_rounds else again

    graph.add_conditional_edges(source, route, [again, done])


def chain(graph: Any, *nodes: str) -> None:
    """Edges START → nodes[0] → … → nodes[-1] → END."""
    path = [START, *nodes, END]
    for a, b in zip(path, path[1:], strict=False):
        graph.add_edge(a, b)


def state_graph(schema: type) -> Any:
    """A new LangGraph StateGraph over `schema` (imported lazily)."""
    from langgraph.graph import StateGraph

    return StateGraph(schema)


def to_mermaid(compiled: Any) -> str:
    """Mermaid text of a compiled LangGraph graph."""
    return compiled.get_graph().draw_mermaid()


def draw_png(method: Any, path: str) -> None:
    """Draw a system's graph to a PNG with networkx + matplotlib (offline; no Mermaid service)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import networkx as nx

    from maslab.method import RunContext

    drawable = method.build(RunContext(None, method.config)).compile().get_graph()
    g = nx.DiGraph()
    for node_id in drawable.nodes:
        g.add_node(node_id)
    conditional = []
    for edge in drawable.edges:
        g.add_edge(edge.source, edge.target)
        if edge.conditional:
            conditional.append((edge.source, edge.target))
    try:
        layers = {n: i for i, layer in enumerate(nx.topological_generations(g)) for n in layer}
    except nx.NetworkXUnfeasible:
        layers = {n: d for n, d in nx.single_source_shortest_path_length(g, START).items()}
    for n in g.nodes:
        g.nodes[n]["layer"] = layers.get(n, 0)
    pos = nx.multipartite_layout(g, subset_key="layer", align="horizontal")
    pos = {n: (x, -y) for n, (x, y) in pos.items()}
    fig, ax = plt.subplots(figsize=(max(4, len(g) * 1.2), max(3, len(set(layers.values())) * 1.1)))
    labels = {n: {"__start__": "start", "__end__": "end"}.get(n, n) for n in g.nodes}
    nx.draw_networkx_nodes(g, pos, ax=ax, node_color="#e8e4ff", edgecolors="#5b4bd1", node_size=2200)
    nx.draw_networkx_labels(g, pos, labels, ax=ax, font_size=9)
    plain = [e for e in g.edges if e not in conditional]
    nx.draw_networkx_edges(g, pos, edgelist=plain, ax=ax, arrows=True, node_size=2200, arrowsize=15)
    nx.draw_networkx_edges(g, pos, edgelist=conditional, ax=ax, arrows=True, node_size=2200, arrowsize=15,
                           style="dashed", connectionstyle="arc3,rad=0.25")
    ax.set_axis_off()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
