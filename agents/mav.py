"""MAV — Multi-Agent Verification, BoN-MAV (Lifshitz et al., arXiv 2502.20379).

Best-of-n with several aspect verifiers voting on every candidate:

    1. the generator draws `n_solutions` candidate solutions, in parallel (one sample index each);
    2. `n_max_verifiers` aspect verifiers are drawn, without replacement and with the run's RNG,
       from units_steps, general_summarize, general_edge, general_mistakes, general_domain,
       math_steps, logic_steps, general_diff; each checks every candidate, all (candidate,
       verifier) pairs concurrently;
    3. a verifier makes two calls per candidate: an analysis of the candidate from its aspect,
       then, as the next turn of the same conversation, an approval-only question answered at
       `vera_temp` (0.0): "FINAL VERIFICATION ANSWER: True" or "... False";
    4. the candidate with the most approvals wins; ties go to the first candidate.

Roles: `generator`, `verifier` (give `verifier` a list of aliases for distinct verifier models,
as in the original; the i-th drawn aspect uses the i-th alias).
Calls: n_solutions · (1 + 2 · n_max_verifiers) — (2, 2) makes 10.

Where we follow the spec (`shared/specs/maslab_methods.md`) rather than MASLab's reference code:
the aspects are drawn with the run's seeded RNG (the reference shuffles the global RNG), and the
analysis stays a turn of the verifier's conversation (the reference replays it as a system
message). An approval reply that cannot be parsed counts as a rejection, never as an error.
"""

from __future__ import annotations

import re
from typing import Any, TypedDict

from pydantic import Field

from maslab.graph import END, START, Appended, fan_out, gather, state_graph
from maslab.messages import Message
from maslab.method import Method, MethodConfig, RunContext, register_method
from maslab.task import Task

ASPECTS: dict[str, str] = {
    "units_steps": "Check every quantity and its units at each step: conversions, dimensions and "
                   "magnitudes must be consistent.",
    "general_summarize": "Summarise what the solution claims and how it gets there, then judge whether "
                         "that summary actually answers the question asked.",
    "general_edge": "Look for edge cases, special conditions and boundary values the solution may have "
                    "missed or mishandled.",
    "general_mistakes": "Hunt for concrete mistakes: wrong facts, arithmetic slips, misread conditions, "
                        "unjustified leaps.",
    "general_domain": "Judge the solution as a domain expert would: are the concepts, formulas and "
                      "conventions of the field applied correctly?",
    "math_steps": "Re-derive each mathematical step and check that every calculation is correct.",
    "logic_steps": "Check the chain of reasoning step by step: does each step follow from the previous "
                   "ones and from the question's conditions?",
    "general_diff": "Solve the question briefly yourself, then compare your result with the solution "
                    "and explain any difference.",
}

VERA_SYMBOL = "FINAL VERIFICATION ANSWER:"
VERIFIER_PROMPT = (
    "You are a critical verifier. You are shown a question and a proposed solution; analyse the "
    "solution carefully from the aspect you are given and follow the instructions."
)
APPROVAL_PROMPT = (
    f"To clarify, based on the above analysis, reply with ONLY '{VERA_SYMBOL}True' if the solution "
    f"is correct or ONLY '{VERA_SYMBOL}False' if it is not."
)
GENERATE_CUE = "Solve the problem step by step, then state the final answer clearly at the end."


class Config(MethodConfig):
    n_solutions: int = Field(default=2, ge=1, description="candidate solutions drawn (best-of-n)")
    n_max_verifiers: int = Field(default=2, ge=1, le=len(ASPECTS),
                                 description="aspect verifiers drawn per task; each checks every candidate")
    vera_temp: float = Field(default=0.0, ge=0.0, description="temperature of the approval-only call")


class State(TypedDict, total=False):
    task: Task
    candidates: Appended
    aspects: list[str]
    verdicts: list[list[bool]]
    answer: str
    metadata: dict[str, Any]


_VERDICT = re.compile(re.escape(VERA_SYMBOL) + r"\s*\**\s*(true|false)", re.IGNORECASE)


def parse_approval(text: str) -> bool:
    """True when the approval reply says True; tolerant of markup; anything unclear is a rejection."""
    found = _VERDICT.findall(text)
    if found:
        return found[-1].lower() == "true"
    words = re.findall(r"\b(true|false|approved?|rejected?|yes|no)\b", text.lower())
    return bool(words) and words[-1] in ("true", "approve", "approved", "yes")


@register_method
class MAV(Method[Config]):
    name = "mav"
    citation = "arXiv 2502.20379"
    summary = "Best-of-n candidates checked by aspect verifiers; the most approved candidate wins."
    roles = ("generator", "verifier")
    functions = {"generator": "qa", "verifier": "evaluate"}
    Config = Config

    def build(self, ctx: RunContext[Config]) -> Any:
        cfg = self.config
        generator = ctx.agent("generator")

        async def generate(branch: dict[str, Any]) -> State:
            task: Task = branch["task"]
            text = await ctx.ask(generator, f"{task.prompt()}\n\n{GENERATE_CUE}", sample_index=branch["k"])
            return {"candidates": [(branch["k"], text)]}

        async def verify(state: State) -> State:
            task = state["task"]
            candidates = [t for _, t in sorted(state["candidates"])]
            aspects = ctx.rng.sample(sorted(ASPECTS), cfg.n_max_verifiers)

            async def check(candidate: str, j: int, aspect: str) -> bool:
                verifier = ctx.agent("verifier", VERIFIER_PROMPT, index=j, name=f"verifier_{aspect}")
                question = (f"Question:\n{task.prompt()}\n\nProposed solution:\n{candidate}\n\n"
                            f"Aspect to verify: {ASPECTS[aspect]}")
                analysis = await ctx.ask(verifier, question)
                conversation = [Message.user(question), Message.assistant(analysis), Message.user(APPROVAL_PROMPT)]
                return parse_approval(await ctx.ask(verifier, conversation, temperature=cfg.vera_temp))

            flat = await gather(check(c, j, a) for c in candidates for j, a in enumerate(aspects))
            n = len(aspects)
            return {"aspects": aspects, "verdicts": [flat[i * n:(i + 1) * n] for i in range(len(candidates))]}

        async def select(state: State) -> State:
            candidates = [t for _, t in sorted(state["candidates"])]
            approvals = [sum(v) for v in state["verdicts"]]
            best = approvals.index(max(approvals))  # ties: the first candidate
            return {"answer": candidates[best],
                    "metadata": {"aspects": state["aspects"], "approvals": approvals,
                                 "verdicts": state["verdicts"], "chosen": best}}

        graph = state_graph(State)
        graph.add_node("generate", generate)
        graph.add_node("verify", verify)
        graph.add_node("select", select)
        graph.add_conditional_edges(
            START,
            lambda s: fan_out("generate", ({"task": s["task"], "k": k} for k in range(cfg.n_solutions))),
            ["generate"])
        graph.add_edge("generate", "verify")
        graph.add_edge("verify", "select")
        graph.add_edge("select", END)
        return graph
