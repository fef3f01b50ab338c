"""`parity_guesser`: one call to a `guesser` agent, its reply returned as the answer."""

from __future__ import annotations

from typing import Any, TypedDict

from maslab.graph import chain, state_graph
from maslab.method import Method, MethodConfig, RunContext, register_method
from maslab.task import Task


class State(TypedDict, total=False):
    task: Task
    answer: str


@register_method
class ParityGuesser(Method[MethodConfig]):
    name = "parity_guesser"
    citation = "test plug-in"
    summary = "One call to a guesser."
    roles = ("guesser",)
    Config = MethodConfig

    def build(self, ctx: RunContext[MethodConfig]) -> Any:
        guesser = ctx.agent("guesser")

        async def guess(state: State) -> State:
            return {"answer": await ctx.ask(guesser, state["task"].prompt())}

        graph = state_graph(State)
        graph.add_node("guess", guess)
        chain(graph, "guess")
        return graph
