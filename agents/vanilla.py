"""Vanilla: one call with the query — the single-agent baseline every MAS is compared against.

MASLab (arXiv 2505.16988) §1: "vanilla: one call with the query" (with the task's images, if any,
as image parts: `maslab ask "..." --image FILE`). Role: `solver`.
"""

from __future__ import annotations

from typing import Any, TypedDict

from maslab.graph import chain, state_graph
from maslab.method import Method, MethodConfig, RunContext, register_method
from maslab.task import Task


class State(TypedDict, total=False):
    task: Task
    answer: str


@register_method
class Vanilla(Method[MethodConfig]):
    name = "vanilla"
    citation = "arXiv 2505.16988 (MASLab baseline)"
    summary = "One call with the query."
    roles = ("solver",)
    functions = {"solver": "qa"}
    Config = MethodConfig

    def build(self, ctx: RunContext[MethodConfig]) -> Any:
        solver = ctx.agent("solver")

        async def solve(state: State) -> State:
            return {"answer": await ctx.ask(solver, state["task"].user_message())}

        graph = state_graph(State)
        graph.add_node("solve", solve)
        chain(graph, "solve")
        return graph
