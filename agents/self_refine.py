"""Self-Refine (Madaan et al., arXiv 2303.17651): draft, criticise yourself, refine — repeat.

    1. generate: the generator drafts an answer (y0) to the query;
    2. feedback: the critic reviews the latest answer — every error or weakness and how to fix
       it — and ends with the stop token (`STOP`) when the answer needs no change;
    3. if the feedback says stop, the latest answer is final; otherwise refine: the refiner
       rewrites the answer from the whole history (every earlier answer with its feedback, as in
       the paper's refine prompt), and go to 2 — at most `max_iters` feedback rounds (4, as in
       the original code), so the last refinement is final when the critic never approves.

In the paper one model plays all three parts; here they are roles so each can be given its own
model (all default to the system's `model`). Self-Refine is not in MASLab's reference code; we follow
the spec (arXiv 2505.16988 §2). The paper's task-specific few-shot prompts are replaced by generic
zero-shot ones, and its task-specific stop conditions ("it is correct", score thresholds) by one stop
token. Roles: `generator`, `critic`, `refiner`. Calls: 2k when the critic approves in feedback round
k ≤ max_iters (2 if the first draft is approved), else 1 + 2 × max_iters (9 with the defaults).
There is no MASLab code to follow, so the `reference` profile is the `default` one (the paper's
algorithm at MASLab's sampling, temperature 0.5 and max_tokens 2048).
"""

from __future__ import annotations

import re
from typing import Any, TypedDict

from pydantic import Field

from maslab.graph import END, START, loop_edge, state_graph
from maslab.method import Deviation, Method, MethodConfig, RunContext, register_method
from maslab.task import Task

DRAFT_CUE = "Let's think step by step, then state the final answer clearly at the end."
FEEDBACK_PROMPT = (
    "Question:\n{question}\n\nProposed answer:\n{answer}\n\n"
    "Review the proposed answer step by step. Point out every error, gap or weakness and say how to fix it. "
    "If the answer is correct and needs no change, say so and end your feedback with a last line that is "
    "only the word {stop}.")
REFINE_PROMPT = (
    "Question:\n{question}\n\n{history}\n\n"
    "Write an improved answer that addresses all the feedback above. Reply with the complete improved answer "
    "(not a list of changes), ending with the final answer clearly stated.")


def says_stop(feedback: str, token: str) -> bool:
    """Whether some line of the feedback is the stop token alone (case, spaces and punctuation ignored)."""
    want = token.strip().lower()
    return any(re.sub(r"[^\w]", "", line).lower() == want for line in feedback.splitlines())


class Config(MethodConfig):
    max_iters: int = Field(default=4, ge=1, description="most feedback rounds (each followed by a refinement)")
    stop_token: str = Field(default="STOP", min_length=1,
                            description="the critic ends its feedback with this word to accept the answer")


class State(TypedDict, total=False):
    task: Task
    drafts: list[str]  # y0, y1, …
    feedback: list[str]  # fb0, fb1, …
    round: int  # feedback rounds done
    answer: str
    metadata: dict[str, Any]


DEVIATIONS = (
    Deviation(what="Generic zero-shot prompts replace the paper's task-specific few-shot prompts",
              why="one system for every benchmark", kind="choice"),
    Deviation(what="One stop token ends the loop; the paper uses task-specific stop conditions (\"it is "
                   "correct\", score thresholds)", why="one system for every benchmark", kind="choice"),
    Deviation(what="Draft, feedback and refinement are roles that can run on different models; in the paper one "
                   "model plays all three", why="maslab's heterogeneous assignments; by default one model does",
              kind="choice"),
)

@register_method
class SelfRefine(Method[Config]):
    name = "self_refine"
    citation = "arXiv 2303.17651"
    summary = "Draft → self-feedback → refine, until the feedback says stop or max_iters."
    roles = ("generator", "critic", "refiner")
    functions = {"generator": "qa", "critic": "evaluate", "refiner": "revise"}
    Config = Config
    reference = "Self-Refine's paper (arXiv 2303.17651) and its code (max_iters 4); not in MASLab"
    deviations = DEVIATIONS

    def build(self, ctx: RunContext[Config]) -> Any:
        cfg = self.config
        generator = ctx.agent("generator")
        critic = ctx.agent("critic")
        refiner = ctx.agent("refiner")

        def result(drafts: list[str], feedback: list[str], stopped: bool) -> State:
            return {"answer": drafts[-1], "metadata": {"drafts": drafts, "feedback": feedback,
                                                       "iterations": len(feedback), "approved": stopped}}

        async def generate(state: State) -> State:
            draft = await ctx.ask(generator, f"{state['task'].prompt()}\n\n{DRAFT_CUE}")
            return {"drafts": [draft], "feedback": [], "round": 0, **result([draft], [], False)}

        async def feedback(state: State) -> State:
            prompt = FEEDBACK_PROMPT.format(question=state["task"].prompt(), answer=state["drafts"][-1],
                                            stop=cfg.stop_token)
            notes = [*state["feedback"], await ctx.ask(critic, prompt)]
            return {"feedback": notes, "round": state["round"] + 1,
                    **result(state["drafts"], notes, says_stop(notes[-1], cfg.stop_token))}

        async def refine(state: State) -> State:
            history = "\n\n".join(f"Answer (attempt {i + 1}):\n{d}\n\nFeedback on attempt {i + 1}:\n{f}"
                                  for i, (d, f) in enumerate(zip(state["drafts"], state["feedback"], strict=True)))
            drafts = [*state["drafts"], await ctx.ask(refiner, REFINE_PROMPT.format(
                question=state["task"].prompt(), history=history))]
            return {"drafts": drafts, **result(drafts, state["feedback"], False)}

        graph = state_graph(State)
        graph.add_node("generate", generate)
        graph.add_node("feedback", feedback)
        graph.add_node("refine", refine)
        graph.add_edge(START, "generate")
        graph.add_edge("generate", "feedback")
        graph.add_conditional_edges(
            "feedback", lambda s: END if s["metadata"]["approved"] else "refine", ["refine", END])
        loop_edge(graph, "refine", again="feedback", done=END, until=lambda s: False, max_rounds=cfg.max_iters)
        return graph
