"""Mixture-of-Agents (Wang et al., arXiv 2406.04692): layers of proposers refine the previous layer's answers.

    1. layer 1: `proposers` agents answer the query independently, concurrently;
    2. layer l = 2 … `layers`: every proposer receives ALL of layer l−1's answers under the
       paper's Aggregate-and-Synthesize prompt (as its system prompt; the query as the user turn)
       and writes a new answer; the proposers of one layer run concurrently;
    3. a final aggregator synthesises the last layer's answers into the answer, under the same
       prompt.

As in the paper, proposer i is the same model in every layer: `roles: {proposer: [a, b, c]}` puts
proposer i on the i-th alias (cycled); the aggregator has its own alias. MoA is not in MASLab's
reference code; defaults (`layers: 3`, `proposers: 3`, temperature 0.7) follow the brief and the
paper's released code (its default temperature is 0.7). Roles: `proposer`, `aggregator`.
Calls: layers × proposers + 1 (3 × 3 + 1 = 10).
There is no MASLab code to follow, so the `reference` profile is the `default` one.
"""

from __future__ import annotations

from typing import Any, TypedDict

from pydantic import Field

from maslab.graph import END, START, gather, loop_edge, state_graph
from maslab.method import Deviation, Method, MethodConfig, RunContext, register_method
from maslab.task import Task

AGGREGATE_AND_SYNTHESIZE = (
    "You have been provided with a set of responses from various open-source models to the latest user query. "
    "Your task is to synthesize these responses into a single, high-quality response. It is crucial to "
    "critically evaluate the information provided in these responses, recognizing that some of it may be biased "
    "or incorrect. Your response should not simply replicate the given answers but should offer a refined, "
    "accurate, and comprehensive reply to the instruction. Ensure your response is well-structured, coherent, "
    "and adheres to the highest standards of accuracy and reliability.\n\nResponses from models:")


def synthesis_prompt(responses: list[str]) -> str:
    """The Aggregate-and-Synthesize system prompt over a layer's responses."""
    return AGGREGATE_AND_SYNTHESIZE + "".join(f"\n{i + 1}. {r}" for i, r in enumerate(responses))


class Config(MethodConfig):
    layers: int = Field(default=3, ge=1, description="proposer layers before the final aggregator")
    proposers: int = Field(default=3, ge=1, description="proposers per layer (proposer i is the same model in every layer)")
    temperature: float | None = Field(default=0.7, description="sampling temperature of every agent")


class State(TypedDict, total=False):
    task: Task
    layers: list[list[str]]  # layers[l][i]: proposer i's answer in layer l + 1
    round: int  # layers done
    answer: str
    metadata: dict[str, Any]


DEVIATIONS = (
    Deviation(what="3 proposers per layer by default; the paper's MoA uses 6 open-source proposers",
              why="the brief's default; give `proposers` and a list of aliases for the paper's set",
              calls="layers·proposers + 1", kind="choice"),
)

@register_method
class MixtureOfAgents(Method[Config]):
    name = "mixture_of_agents"
    citation = "arXiv 2406.04692"
    summary = "Layers of proposers, each seeing all previous-layer answers; a final aggregator."
    roles = ("proposer", "aggregator")
    functions = {"proposer": "qa", "aggregator": "aggregate"}
    Config = Config
    reference = "Mixture-of-Agents' paper (arXiv 2406.04692) and its released code; not in MASLab"
    deviations = DEVIATIONS

    def build(self, ctx: RunContext[Config]) -> Any:
        cfg = self.config

        async def propose(state: State) -> State:
            previous = state["layers"][-1] if state.get("layers") else []
            prompt = synthesis_prompt(previous) if previous else ""
            answers = await gather(
                ctx.ask(ctx.agent("proposer", prompt, index=i), state["task"].prompt(), sample_index=i)
                for i in range(cfg.proposers))
            return {"layers": [*state.get("layers", []), answers], "round": state.get("round", 0) + 1}

        async def aggregate(state: State) -> State:
            aggregator = ctx.agent("aggregator", synthesis_prompt(state["layers"][-1]))
            answer = await ctx.ask(aggregator, state["task"].prompt())
            return {"answer": answer, "metadata": {"layers": state["layers"]}}

        graph = state_graph(State)
        graph.add_node("propose", propose)
        graph.add_node("aggregate", aggregate)
        graph.add_edge(START, "propose")
        loop_edge(graph, "propose", again="propose", done="aggregate", until=lambda s: False, max_rounds=cfg.layers)
        graph.add_edge("aggregate", END)
        return graph
