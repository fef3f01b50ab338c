"""Chain-of-Thought prompting (Wei et al., arXiv 2201.11903): ask for the reasoning before the answer.

    1. the solver receives the query followed by a step-by-step cue and writes its reasoning,
       ending with the final answer.

The paper prompts with few-shot exemplars whose answers spell out the intermediate steps. We follow
the spec (MASLab, arXiv 2505.16988 §1: "the query plus a step-by-step cue"), i.e. the reference's
zero-shot cue "Let's think step by step."; the paper's few-shot form is available through
`exemplars` (worked examples placed before the query). Role: `solver`. Calls: 1.
Both profiles send what MASLab's `CoT.inference` sends (commit 74265c7): the query, a blank line,
the cue, at temperature 0.5 and max_tokens 2048.
"""

from __future__ import annotations

from typing import Any, TypedDict

from pydantic import Field

from maslab.graph import chain, state_graph
from maslab.method import Method, MethodConfig, RunContext, register_method
from maslab.task import Task

COT_CUE = "Let's think step by step."


class Config(MethodConfig):
    cue: str = Field(default=COT_CUE, description="the step-by-step cue appended to the query")
    exemplars: list[str] = Field(
        default_factory=list,
        description="worked examples (question, reasoning, answer) placed before the query, as in the "
                    "paper's few-shot prompts; empty: the reference's zero-shot cue only")


class State(TypedDict, total=False):
    task: Task
    answer: str


@register_method
class ChainOfThought(Method[Config]):
    name = "cot"
    citation = "arXiv 2201.11903"
    summary = "One call: the query plus a step-by-step cue."
    roles = ("solver",)
    functions = {"solver": "qa"}
    Config = Config
    reference = "MASLab 74265c7, methods/cot"

    def build(self, ctx: RunContext[Config]) -> Any:
        cfg = self.config
        solver = ctx.agent("solver")

        async def reason(state: State) -> State:
            shots = "".join(f"{example.strip()}\n\n" for example in cfg.exemplars)
            return {"answer": await ctx.ask(solver, f"{shots}{state['task'].prompt()}\n\n{cfg.cue}")}

        graph = state_graph(State)
        graph.add_node("reason_step_by_step", reason)
        chain(graph, "reason_step_by_step")
        return graph
