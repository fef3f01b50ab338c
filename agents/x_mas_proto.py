"""X-MAS-Proto (Ye et al., X-MAS, arXiv 2505.16997): plan ideas, solve them concurrently, check and revise
one solution, aggregate.

    1. the planner proposes `direct_solvers + revised_solvers` (3 + 1 = 4) ideas for solving the
       query, as a numbered list; each whole numbered item is one idea;
    2. one solver per idea solves the query following its idea — all of them concurrently;
    3. the last `revised_solvers` solutions (one) go through the evaluate/revise loop, up to
       `max_revise_rounds` (3) times: the evaluator ends with "The solution is correct" or
       "… incorrect"; "correct" stops the loop, anything else sends the latest solution and the
       evaluation to the reviser, whose revision replaces the solution;
    4. the aggregator reads all solutions (the direct ones and the revised ones, in idea order)
       and writes the answer.

Roles and the MAS function each performs (X-MAS-Bench's functions, spec §2/§4): `planner` (plan),
`solver` (qa; a list of aliases gives solver i the i-th), `evaluator` (evaluate), `reviser`
(revise), `aggregator` (aggregate) — the reference's `model_names` slots 0–4.
Calls: 1 + n + e + r + 1 with n = 4 solvers, e ≤ max_revise_rounds evaluations and r ≤ e
revisions per revised solver: 7 when the first evaluation accepts, 12 at most with the defaults
(three rejections: 3 evaluations, 3 revisions, the last revision not evaluated — as in the
reference's loop).

Where we follow the spec (`shared/specs/xmas.md` §3) rather than the reference code (MASWorks/X-MAS,
XMAS_methods/xmasp):
  * each revision revises the latest solution (the reference restarts every revision from the
    solver's first output);
  * a planner that gives other than 4 ideas does not fail (the reference hits an undefined
    variable): missing ideas are filled with "Solve the problem directly." and a warning is
    logged; extra ones are dropped (ours: the first 4 are kept); `metadata["ideas_found"]` says
    how many the planner gave;
  * an idea is the whole numbered item, every sentence and line of it (the reference's regex cuts
    each idea at its first period);
  * the solvers run concurrently (the reference calls them one after another; their calls are
    independent, so the results are the same).
An evaluator reply without a verdict counts as not correct, as in the reference. The prompts are
ours (the repository has no licence): they ask what the reference's ask, in the same order.
"""

from __future__ import annotations

import re
from typing import Any, TypedDict

from pydantic import Field, model_validator

from maslab.answers import solution_verdict
from maslab.graph import END, START, gather, loop_edge, state_graph
from maslab.method import Deviation, Method, MethodConfig, RunContext, register_method
from maslab.task import Task
from maslab.trace import get_logger

log = get_logger(__name__)

FILL_IDEA = "Solve the problem directly."

PLAN = ("Question:\n{question}\n\n"
        "Propose {n} different ideas for how to solve this question. Give them as a numbered list, "
        "1. to {n}., one idea per item; describe the approach of each idea without solving the question.")
SOLVE = ("Question:\n{question}\n\nIdea for solving it:\n{idea}\n\n"
         "Solve the question following this idea. Reason step by step and state the final answer at the end.")
EVALUATE = ("Question:\n{question}\n\nSolution:\n{solution}\n\n"
            "Check whether this solution is correct. Explain your assessment briefly, then end with exactly "
            "one of these sentences: 'The solution is correct' or 'The solution is incorrect'.")
REVISE = ("Question:\n{question}\n\nSolution:\n{solution}\n\nEvaluation of the solution:\n{evaluation}\n\n"
          "The evaluation found the solution lacking. Revise it and write a complete, corrected solution, "
          "stating the final answer at the end.")
AGGREGATE = ("Question:\n{question}\n\n{solutions}"
             "Reason carefully over all of the solutions above and write one final, complete solution to the "
             "question, stating the final answer at the end.")

_ITEM = re.compile(r"^\s*(?:[*_#]+\s*)?(\d+)\s*[.)]\**\s*(.*)$")


def extract_ideas(text: str) -> list[str]:
    """The numbered items of a list ("1. …", "2) …", "**3.** …"), each whole — every line up to the next
    item, joined by spaces — and otherwise verbatim."""
    ideas: list[list[str]] = []
    for line in text.splitlines():
        m = _ITEM.match(line)
        if m:
            ideas.append([m.group(2).strip()])
        elif ideas and line.strip():
            ideas[-1].append(line.strip())
    return [" ".join(p for p in parts if p).strip() for parts in ideas if any(parts)]


def exactly(ideas: list[str], n: int) -> list[str]:
    """`ideas` cut or filled (with FILL_IDEA) to exactly `n`."""
    return (ideas + [FILL_IDEA] * n)[:n]


class Config(MethodConfig):
    direct_solvers: int = Field(default=3, ge=0, json_schema_extra={"count": True}, description="solvers whose solutions go straight to the aggregator "
                                "(the reference's cnt_d_agents)")
    revised_solvers: int = Field(default=1, ge=0, json_schema_extra={"count": True}, description="solvers whose solutions go through the "
                                 "evaluate/revise loop (cnt_e_agents)")
    max_revise_rounds: int = Field(default=3, ge=1, json_schema_extra={"count": True},
                                   description="evaluate/revise rounds per revised solution")

    @model_validator(mode="after")
    def _some_solver(self) -> Config:
        if self.direct_solvers + self.revised_solvers < 1:
            raise ValueError("x_mas_proto needs at least one solver (direct_solvers + revised_solvers >= 1)")
        return self


DEVIATIONS = (
    Deviation(what="Each revision revises the latest solution", why="the reference restarts every revision from the "
              "solver's first output (a bug; the spec's fix)", kind="bug"),
    Deviation(what="A planner giving other than n ideas does not fail: missing ideas are filled with 'Solve the "
                   "problem directly.' (a warning is logged), extra ones dropped",
              why="the reference hits an undefined variable (a bug); filling and keeping the first n are ours",
              calls="the run completes where the reference fails", kind="bug"),
    Deviation(what="An idea is the whole numbered item, every sentence and line of it",
              why="the reference's regex cuts each idea at its first period (a bug)", kind="bug"),
    Deviation(what="The solvers, and the evaluations and revisions of several revised solutions, run concurrently; "
                   "the reference calls them one after another", why="wall time: the calls are independent, so the "
                   "results are the same", kind="choice"),
    Deviation(what="The prompts ask what the reference's ask, in the same order, in maslab's words",
              why="the reference repository has no licence", kind="wording"),
    Deviation(what="Every call is capped at the configured max_tokens (2048 by default)",
              why="the reference ignores its --model_max_tokens flag and sends 2048 for model names containing "
                  "'7b', 8192 otherwise (a bug)", kind="bug"),
    Deviation(what="Reasoning traces are stripped per alias (the models file's strip_reasoning); the reference "
                   "strips per model family name", why="the spec (§2: a property of the alias)", kind="spec"),
)


class State(TypedDict, total=False):
    task: Task
    plan: str
    ideas: list[str]
    ideas_found: int
    solutions: list[str]  # one per idea; the revised ones are the last `revised_solvers`
    pending: list[int]  # indices of revised solutions not yet accepted
    evaluations: dict[int, str]  # index -> the latest evaluation of a pending solution
    history: list[dict[str, Any]]
    round: int  # revise rounds done
    answer: str
    metadata: dict[str, Any]


@register_method
class XMASProto(Method[Config]):
    name = "x_mas_proto"
    citation = "arXiv 2505.16997"
    summary = "X-MAS-Proto: planner → concurrent solvers → evaluate/revise loop → aggregator."
    roles = ("planner", "solver", "evaluator", "reviser", "aggregator")
    functions = {"planner": "plan", "solver": "qa", "evaluator": "evaluate", "reviser": "revise",
                 "aggregator": "aggregate"}
    Config = Config
    reference = ("X-MAS-Proto in MASWorks/X-MAS, XMAS_methods/xmasp (cnt_d_agents 3, cnt_e_agents 1, "
                 "max_revise_rounds 3; the spec names no commit), arXiv 2505.16997")
    deviations = DEVIATIONS

    def build(self, ctx: RunContext[Config]) -> Any:
        cfg = self.config
        n = cfg.direct_solvers + cfg.revised_solvers
        planner, evaluator, reviser, aggregator = (ctx.agent(r) for r in ("planner", "evaluator", "reviser",
                                                                           "aggregator"))
        solvers = [ctx.agent("solver", index=i) for i in range(n)]

        async def plan(state: State) -> State:
            question = state["task"].prompt()
            reply = await ctx.ask(planner, PLAN.format(question=question, n=n))
            found = extract_ideas(reply)
            if len(found) != n:
                log.warning("x_mas_proto.idea_count", expected=n, found=len(found), task=state["task"].id,
                            action="filled with 'solve directly'" if len(found) < n else f"kept the first {n}")
            return {"plan": reply, "ideas": exactly(found, n), "ideas_found": len(found)}

        async def solve(state: State) -> State:
            question = state["task"].prompt()
            solutions = await gather(ctx.ask(solvers[i], SOLVE.format(question=question, idea=idea), sample_index=i)
                                     for i, idea in enumerate(state["ideas"]))
            return {"solutions": solutions, "pending": list(range(cfg.direct_solvers, n)), "round": 0,
                    "history": []}

        async def evaluate(state: State) -> State:
            question = state["task"].prompt()
            pending = state["pending"]
            replies = await gather(ctx.ask(evaluator, EVALUATE.format(question=question,
                                                                      solution=state["solutions"][i]))
                                   for i in pending)
            verdicts = [solution_verdict(r) for r in replies]
            history = [*state["history"], *({"solver": i + 1, "round": state["round"] + 1, "verdict": v}
                                            for i, v in zip(pending, verdicts, strict=True))]
            rejected = {i: r for i, r, v in zip(pending, replies, verdicts, strict=True) if v is not True}
            return {"pending": list(rejected), "evaluations": rejected, "history": history}

        async def revise(state: State) -> State:
            question = state["task"].prompt()
            solutions = list(state["solutions"])
            pending = state["pending"]
            revised = await gather(ctx.ask(reviser, REVISE.format(question=question, solution=solutions[i],
                                                                  evaluation=state["evaluations"][i]))
                                   for i in pending)
            for i, text in zip(pending, revised, strict=True):
                solutions[i] = text  # the latest version is what is evaluated and revised next
            return {"solutions": solutions, "round": state["round"] + 1}

        async def aggregate(state: State) -> State:
            listing = "".join(f"Solution {i + 1}:\n{s}\n\n" for i, s in enumerate(state["solutions"]))
            answer = await ctx.ask(aggregator, AGGREGATE.format(question=state["task"].prompt(), solutions=listing))
            return {"answer": answer, "metadata": {
                "ideas": state["ideas"], "ideas_found": state["ideas_found"], "solutions": state["solutions"],
                "evaluations": state.get("history", []), "revise_rounds": state.get("round", 0),
                "accepted": [i + 1 for i in range(cfg.direct_solvers, n) if i not in state.get("pending", [])]}}

        graph = state_graph(State)
        for name, node in (("plan", plan), ("solve", solve), ("aggregate", aggregate)):
            graph.add_node(name, node)
        graph.add_edge(START, "plan")
        graph.add_edge("plan", "solve")
        if cfg.revised_solvers:
            graph.add_node("evaluate", evaluate)
            graph.add_node("revise", revise)
            graph.add_edge("solve", "evaluate")
            graph.add_conditional_edges("evaluate", lambda s: "revise" if s["pending"] else "aggregate",
                                        ["revise", "aggregate"])
            loop_edge(graph, "revise", again="evaluate", done="aggregate", until=lambda s: False,
                      max_rounds=cfg.max_revise_rounds)
        else:
            graph.add_edge("solve", "aggregate")
        graph.add_edge("aggregate", END)
        return graph
