"""Quickstart: the same multi-agent systems from Python as from YAML.

    python examples/quickstart.py            # on the embedded SmolLM2 (started on first use)

1. A registered system with a heterogeneous role assignment (here every alias is the embedded `smol`;
   with your own models file put e.g. ["qwen-7b", "llama-8b", "mistral-7b"]).
2. A custom graph of Agents built in code with LangGraph: two solvers in parallel, then a judge.
3. The same custom graph declared in YAML and loaded with `load_workflow`.
"""

from __future__ import annotations

import asyncio
from typing import Any, TypedDict

import maslab
from maslab import Agent, ModelPool, Task
from maslab.drawing import to_mermaid
from maslab.graph import chain, gather, state_graph
from maslab.method import Method, MethodConfig, RunContext, register_method

QUESTION = "A train travels 60 km per hour for 3 hours. How far does it go?"


class State(TypedDict, total=False):
    task: Task
    drafts: list[str]
    answer: str


@register_method
class TwoSolversAndAJudge(Method[MethodConfig]):
    """Two solvers answer in parallel; a judge picks the better answer."""

    name = "two_solvers_and_a_judge"
    citation = "example"
    roles = ("solver", "judge")
    Config = MethodConfig

    def build(self, ctx: RunContext[MethodConfig]) -> Any:
        # Built and compiled once per configured system; `ctx.ask` reaches the running task's pool
        # through LangGraph's run-time context.
        solvers = [ctx.agent("solver", "Solve the problem. Be brief.", index=i) for i in range(2)]
        judge = ctx.agent("judge", "Two answers follow. Reply with the better one, unchanged.")

        async def solve(state: State) -> State:
            question = state["task"].prompt()
            return {"drafts": await gather(ctx.ask(s, question) for s in solvers)}  # really in parallel

        async def decide(state: State) -> State:
            listing = "\n\n".join(f"Answer {i + 1}: {d}" for i, d in enumerate(state["drafts"]))
            return {"answer": await ctx.ask(judge, f"{state['task'].prompt()}\n\n{listing}")}

        graph = state_graph(State)
        graph.add_node("solve", solve)
        graph.add_node("decide", decide)
        chain(graph, "solve", "decide")
        return graph


YAML = """
name: two-solvers-and-a-judge
agents:
  solver_a: {model: smol, prompt: "Solve the problem. Be brief."}
  solver_b: {model: smol, prompt: "Solve the problem. Be brief."}
  judge:    {model: smol, prompt: "Two answers follow. Reply with the better one, unchanged."}
graph:
  - solver_a, solver_b -> judge
output: judge
"""


async def main() -> None:
    pool = ModelPool.default(overrides={"max_tokens": 128})  # ./models.yaml, else the embedded model

    debate = maslab.load_method("llm_debate", agents=3, rounds=2,
                                roles={"debater": ["smol", "smol", "smol"], "aggregator": "smol"})
    solution = await debate.solve(Task(question=QUESTION), pool=pool)
    print("llm_debate:", solution.answer)
    print("  calls per agent:", {a: row.calls for a, row in solution.usage.by("agent").items()})

    custom = maslab.load_method("two_solvers_and_a_judge")
    print("custom graph:\n" + to_mermaid(custom))
    print("custom:", (await custom.solve(QUESTION, pool=pool)).answer)

    import tempfile
    from pathlib import Path

    from maslab.workflow import load_workflow

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "two.yaml"
        path.write_text(YAML)
        from_yaml = load_workflow(path, aliases=pool.aliases).to_method()
        print("from YAML:", (await from_yaml.solve(QUESTION, pool=pool)).answer)

    # An Agent on its own: one turn, or a tool loop (JSON-in-text on SmolLM2, native tools on vLLM).
    calc = Agent(name="calc", prompt="Use the calculator when arithmetic is needed.", tools=["calculator"])
    print("agent with a tool:", (await calc.run("What is 123 * 45?", pool=pool, max_steps=3)).text)


if __name__ == "__main__":
    asyncio.run(main())
