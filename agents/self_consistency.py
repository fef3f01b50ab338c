"""Self-Consistency (Wang et al., arXiv 2203.11171): sample k reasoning paths, keep the majority answer.

    1. draw `samples` answers to the same prompt at temperature > 0, in parallel
       (each is its own sample index, so each is its own cache entry);
    2. aggregate: `vote` (the original) — majority over the extracted final answers, ties to the
       earliest sample, samples without an extractable answer do not vote; or `llm` (MASLab's
       reference, arXiv 2505.16988) — an aggregator agent reads all samples and writes the answer.

The answer returned for `vote` is the full text of the first sample carrying the winning answer,
so a scorer sees a complete solution. Roles: `sampler`, `aggregator`.
Calls: samples (+1 with `aggregate: llm`).
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

from pydantic import Field

from maslab.answers import format_of, vote
from maslab.graph import END, START, Appended, fan_out, state_graph
from maslab.method import Method, MethodConfig, RunContext, register_method
from maslab.task import Task

COT_CUE = "Let's think step by step, then state the final answer clearly at the end."
AGGREGATE_PROMPT = (
    "Several solutions to the same question follow. Compare them, decide which final answer is most "
    "consistent and correct, and reply with that solution, ending with the final answer."
)


class Config(MethodConfig):
    samples: int = Field(default=5, ge=1, description="number of sampled reasoning paths")
    aggregate: Literal["vote", "llm"] = "vote"
    temperature: float | None = 0.7


class State(TypedDict, total=False):
    task: Task
    samples: Appended
    answer: str
    metadata: dict[str, Any]


@register_method
class SelfConsistency(Method[Config]):
    name = "self_consistency"
    citation = "arXiv 2203.11171"
    summary = "k parallel samples, majority vote (or an LLM aggregator) over their answers."
    roles = ("sampler", "aggregator")
    functions = {"sampler": "qa", "aggregator": "aggregate"}
    Config = Config

    def build(self, ctx: RunContext[Config]) -> Any:
        cfg = self.config
        sampler = ctx.agent("sampler")
        aggregator = ctx.agent("aggregator", AGGREGATE_PROMPT)

        async def sample(branch: dict[str, Any]) -> State:
            task: Task = branch["task"]
            text = await ctx.ask(sampler, f"{task.prompt()}\n\n{COT_CUE}", sample_index=branch["k"])
            return {"samples": [(branch["k"], text)]}

        async def aggregate(state: State) -> State:
            task = state["task"]
            texts = [t for _, t in sorted(state["samples"])]
            if cfg.aggregate == "llm":
                listing = "\n\n".join(f"Solution {i + 1}:\n{t}" for i, t in enumerate(texts))
                answer = await ctx.ask(aggregator, f"Question:\n{task.prompt()}\n\n{listing}")
                return {"answer": answer, "metadata": {"samples": texts}}
            result = vote(texts, format_of(task), "key")
            answer = texts[result.index] if result.index is not None else texts[0]
            return {"answer": answer, "metadata": {"votes": result.counts, "consistency": result.share}}

        graph = state_graph(State)
        graph.add_node("sample", sample)
        graph.add_node("aggregate", aggregate)
        graph.add_conditional_edges(
            START, lambda s: fan_out("sample", ({"task": s["task"], "k": k} for k in range(cfg.samples))),
            ["sample"])
        graph.add_edge("sample", "aggregate")
        graph.add_edge("aggregate", END)
        return graph
