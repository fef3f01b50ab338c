"""Composition helpers on LangGraph: explicit state, explicit edges, graphs you can draw.

Systems build a `langgraph.graph.StateGraph` whose state is a TypedDict carrying typed values.
These helpers cover the three shapes that recur across multi-agent systems:

* fan-out: `fan_out(node, payloads)` sends one branch per payload (LangGraph `Send`), and the
  branches of one superstep really run concurrently; `gather` runs coroutines concurrently
  inside a single node (e.g. the debaters of one round);
* vote/aggregate: `maslab.answers.vote` over the branches' answers (the one voting function);
* bounded loops: `loop_edge` wires a conditional edge that exits when the condition says so or
  when the round counter reaches `max_rounds` — every loop in maslab has a bound.

`Appended` is the reducer type for state lists that parallel branches extend.
"""

from __future__ import annotations

import asyncio
import operator
from collections.abc import Awaitable, Callable, Iterable
from typing import Annotated, Any, TypeVar

T = TypeVar("T")

Appended = Annotated[list, operator.add]
"""State-list type whose updates are concatenated (use for results of parallel branches)."""

START = "__start__"  # equal to langgraph.graph.START / END (checked by a test); defined here so that
END = "__end__"  # importing this module does not import langgraph


async def gather(coros: Iterable[Awaitable[T]]) -> list[T]:
    """Run awaitables concurrently and return their results in order (the first error propagates)."""
    return list(await asyncio.gather(*coros))


def fan_out(node: str, payloads: Iterable[dict[str, Any]]) -> list[Any]:
    """One LangGraph branch per payload, all sent to `node` in the same superstep."""
    from langgraph.types import Send

    return [Send(node, p) for p in payloads]


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
