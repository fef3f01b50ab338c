"""Self-Consistency (Wang et al., arXiv 2203.11171): sample k reasoning paths, keep the majority answer.

    1. draw `samples` answers to the same prompt at temperature > 0, in parallel
       (each is its own sample index, so each is its own cache entry);
    2. aggregate: `vote` (the original) — majority over the extracted final answers, ties to the
       earliest sample, samples without an extractable answer do not vote; or `llm` (MASLab's
       reference, arXiv 2505.16988) — an aggregator agent reads all samples and writes the answer.

The answer returned for `vote` is the full text of the first sample carrying the winning answer,
so a scorer sees a complete solution. Roles: `sampler`, `aggregator`.
Calls: samples (+1 with `aggregate: llm`).

Profiles. `default` (maslab): the original's majority vote over samples of the query plus a
step-by-step cue at temperature 0.7 — 5 calls. `reference` (MASLab 74265c7,
`methods/self_consistency`): the raw query sampled 5 times at 0.5, then an LLM aggregator that reads
the task and the numbered solutions in one user message and is asked to reason over them and give a
final answer — 6 calls. The aggregator's wording is ours (the reference repository has no licence);
`deviations` lists every difference.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

from pydantic import Field

from maslab.answers import format_of, vote
from maslab.graph import END, START, Appended, fan_out, state_graph
from maslab.method import Deviation, Method, MethodConfig, RunContext, register_method
from maslab.task import Task

COT_CUE = "Let's think step by step, then state the final answer clearly at the end."
AGGREGATE_PROMPT = (
    "Several solutions to the same question follow. Compare them, decide which final answer is most "
    "consistent and correct, and reply with that solution, ending with the final answer."
)
# reference layout (MASLab): one user message — the task, the numbered solutions, the instruction (our words)
REFERENCE_AGGREGATE = "{listing}Weigh the task and all of the solutions above carefully, then give the task's final answer."


class Config(MethodConfig):
    profiles = {"default": {}, "reference": {"aggregate": "llm", "cue": "", "temperature": 0.5,
                                             "prompts": "reference"}}

    samples: int = Field(default=5, ge=1, description="number of sampled reasoning paths")
    aggregate: Literal["vote", "llm"] = "vote"
    temperature: float | None = 0.7
    cue: str = Field(default=COT_CUE, description="appended to the query of every sample ('' sends the raw query)")
    prompts: Literal["maslab", "reference"] = Field(
        default="maslab", description="the llm aggregator's prompt: maslab's (system + user) or the "
                                      "reference's layout (one user message)")


DEVIATIONS = (
    Deviation(what="Majority vote over the samples' extracted answers (the original paper) instead of an LLM "
                   "aggregator", why="the spec's default (`aggregate: vote`); the reference profile uses the "
                   "aggregator", profiles=("default",), calls="5 instead of 6", kind="spec"),
    Deviation(what="Each sample's prompt ends with a step-by-step cue; the reference sends the raw query",
              why="maslab's documented default", profiles=("default",), kind="choice"),
    Deviation(what="Samples at temperature 0.7; the reference samples at its global 0.5",
              why="the original paper samples at T > 0; 0.7 is maslab's documented default", profiles=("default",),
              kind="choice"),
    Deviation(what="The aggregator's instruction is worded by maslab (same layout: task, numbered solutions, "
                   "then the request to reason over them and answer)",
              why="the reference repository has no licence, so its text is not copied", kind="wording"),
    Deviation(what="Samples are drawn concurrently, each with its own sample index (its own cache entry); the "
                   "reference draws them one after another", why="wall time; the prompts are identical",
              kind="choice"),
)


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
    reference = "MASLab 74265c7, methods/self_consistency (parallel_num 5, LLM aggregator)"
    deviations = DEVIATIONS

    def build(self, ctx: RunContext[Config]) -> Any:
        cfg = self.config
        sampler = ctx.agent("sampler")
        aggregator = ctx.agent("aggregator", AGGREGATE_PROMPT if cfg.prompts == "maslab" else "")

        async def sample(branch: dict[str, Any]) -> State:
            task: Task = branch["task"]
            prompt = f"{task.prompt()}\n\n{cfg.cue}" if cfg.cue else task.prompt()
            text = await ctx.ask(sampler, prompt, sample_index=branch["k"])
            return {"samples": [(branch["k"], text)]}

        async def aggregate(state: State) -> State:
            task = state["task"]
            texts = [t for _, t in sorted(state["samples"])]
            if cfg.aggregate == "llm":
                if cfg.prompts == "reference":
                    listing = "".join(f"[Solution {i + 1}]:\n{t}\n\n" for i, t in enumerate(texts))
                    prompt = f"[Task]:\n{task.prompt()}\n\n" + REFERENCE_AGGREGATE.format(listing=listing)
                else:
                    listing = "\n\n".join(f"Solution {i + 1}:\n{t}" for i, t in enumerate(texts))
                    prompt = f"Question:\n{task.prompt()}\n\n{listing}"
                answer = await ctx.ask(aggregator, prompt)
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
