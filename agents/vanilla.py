"""Vanilla: one call with the query — the single-agent baseline every MAS is compared against.

MASLab (arXiv 2505.16988) §1: "vanilla: one call with the query" (with the task's images, if any,
as image parts: `maslab ask "..." --image FILE`). Role: `solver`. Calls: 1.
Both profiles are MASLab's `MAS.inference` (commit 74265c7): the query as one user message at
temperature 0.5, max_tokens 2048; there is nothing to deviate from.
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
    reference = "MASLab 74265c7, methods/mas_base (MAS.inference)"

    def build(self, ctx: RunContext[MethodConfig]) -> Any:
        solver = ctx.agent("solver")

        async def solve(state: State) -> State:
            return {"answer": await ctx.ask(solver, state["task"].user_message())}

        graph = state_graph(State)
        graph.add_node("solve", solve)
        chain(graph, "solve")
        return graph
