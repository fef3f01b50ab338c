"""AgentVerse (Chen et al., arXiv 2308.10848): recruit a team, decide vertically, evaluate, repeat.

Up to `max_turn` times:

    1. expert recruitment — the recruiter writes `cnt_agents` numbered role descriptions for the
       task, taking the evaluator's earlier advice into account;
    2. collaborative decision-making (vertical structure) — role 1, the solver, drafts a solution
       (from the previous turn's solution and advice, if any); the other roles, the critics,
       review it concurrently, a review containing `[Agree]` marking agreement; while some critic
       disagrees the solver revises from the disagreeing reviews and the critics review again, up
       to `max_criticizing_rounds` review rounds. The solver sees the last 5 messages of the
       discussion, the critics the last 3 (`solver_history`, `critic_history`);
    3. evaluation — the evaluator scores the solution's correctness (0 or 1) and gives advice;
       1 stops, 0 starts the next turn with that advice.

The answer is the last solution. Roles: `recruiter`, `solver`, `critic` (a list of aliases
gives critic i the i-th), `evaluator`.
Calls per turn: 1 (recruit) + 1 (draft) + R·c + D + 1 (evaluate), where c = cnt_agents − 1
critics, R ≤ max_criticizing_rounds review rounds ran and D revisions (D = R − 1 when the critics
agreed in round R, else R). At most max_turn·(3 + max_criticizing_rounds·cnt_agents): 3·9 = 27
with the defaults; a first-round consensus accepted at once costs 3 + c = 4.

Where we follow the spec (`shared/specs/maslab_methods.md`) rather than MASLab's reference code:
each review round starts from an empty list of disagreeing reviews (the reference accumulates
them across rounds, so consensus is detectable only in round 1); a recruiter that writes too few
or too many roles is padded or truncated, and an evaluator reply without a readable score counts
as 0 with the whole reply as advice — neither raises.
"""

from __future__ import annotations

import re
from typing import Any, TypedDict

from pydantic import Field

from maslab.graph import END, START, gather, loop_edge, state_graph
from maslab.method import Method, MethodConfig, RunContext, register_method
from maslab.task import Task

RECRUITER_PROMPT = "You recruit teams of experts for tasks."
RECRUIT = (
    "Task:\n{question}\n\n{advice_block}"
    "Recruit a team of {n} experts to solve this task. The first expert writes the solution; the "
    "others review it. Describe each expert's role in one line, numbered:\n"
    "1. <role description>\n2. <role description>\n…"
)
SOLVER_DRAFT = (
    "Task:\n{question}\n\n{previous}{advice_block}{history}"
    "Solve the task step by step, then state the final answer clearly at the end."
)
SOLVER_REVISE = (
    "Task:\n{question}\n\nYour current solution:\n{solution}\n\nReviews that disagree with it:\n{reviews}\n\n"
    "{history}Revise your solution to address the reviews, then state the final answer clearly at the end."
)
CRITIC = (
    "Task:\n{question}\n\nProposed solution:\n{solution}\n\n{history}"
    "Review the solution from your expertise. If it is correct and complete, reply with [Agree] "
    "only. Otherwise explain what is wrong and how to fix it (and do not write [Agree])."
)
EVALUATOR_PROMPT = "You evaluate solutions strictly."
EVALUATE = (
    "Task:\n{question}\n\nSolution:\n{solution}\n\n"
    "Is the solution correct? Reply in exactly this form:\n"
    "Correctness: <1 if correct, 0 if not>\nAdvice: <how the team should improve the solution>"
)
DEFAULT_ROLES = (
    "an expert problem solver who writes complete, correct solutions",
    "a critical reviewer who checks every step for errors",
    "a domain expert who checks that the right methods and facts are used",
    "a careful checker of calculations and edge cases",
)

_NUMBERED = re.compile(r"^\s*(?:\*\*)?\(?\d+[.):\]](?:\*\*)?\s*(.+?)\s*$")
_SCORE = re.compile(r"correct(?:ness)?\s*\**\s*[:=\-]?\s*\**\s*\(?([01])\b", re.IGNORECASE)
_ADVICE = re.compile(r"advice\s*\**\s*[:=\-]\s*\**\s*(.*)", re.IGNORECASE | re.DOTALL)


class Config(MethodConfig):
    max_turn: int = Field(default=3, ge=1, description="recruit → decide → evaluate turns at most")
    cnt_agents: int = Field(default=2, ge=2, description="recruited experts: 1 solver + (cnt_agents − 1) critics")
    max_criticizing_rounds: int = Field(default=3, ge=1, description="review rounds per turn at most")
    solver_history: int = Field(default=5, ge=0, description="discussion messages the solver sees")
    critic_history: int = Field(default=3, ge=0, description="discussion messages a critic sees")


class State(TypedDict, total=False):
    task: Task
    turn: int
    roles: list[str]
    solution: str
    advice: str
    discussion: list[tuple[str, str]]  # (speaker, text)
    reviews: list[str]  # this round's disagreeing reviews (reset every round)
    crit_round: int
    log: list[dict[str, Any]]  # one record per turn
    answer: str
    metadata: dict[str, Any]


def parse_roles(text: str, n: int) -> tuple[list[str], bool]:
    """`n` role descriptions from the recruiter's reply, padded or truncated; and whether it gave n."""
    numbered = [m.group(1) for line in text.splitlines() if (m := _NUMBERED.match(line))]
    found = numbered or [line.strip(" -*•") for line in text.splitlines() if line.strip(" -*•")]
    roles = found[:n]
    for i in range(len(roles), n):
        roles.append(DEFAULT_ROLES[min(i, len(DEFAULT_ROLES) - 1)])
    return roles, len(numbered) == n


def parse_evaluation(text: str) -> tuple[int, str, bool]:
    """(correctness 0/1, advice, parsed) from the evaluator's reply; unreadable → (0, reply, False)."""
    score = _SCORE.search(text)
    if score is None:
        try:
            import json_repair

            obj = json_repair.loads(text)
        except Exception:  # json_repair is tolerant, but never let a reply crash the run
            obj = None
        if isinstance(obj, dict):
            value = next((v for k, v in obj.items() if str(k).lower().startswith("correct")), None)
            if str(value).strip() in ("0", "1"):
                advice = next((str(v) for k, v in obj.items() if str(k).lower().startswith("advice")), "")
                return int(str(value).strip()), advice, True
        return 0, text.strip(), False
    advice = _ADVICE.search(text)
    return int(score.group(1)), (advice.group(1).strip() if advice else ""), True


def agrees(review: str) -> bool:
    """A review marks agreement with `[Agree]` (case-insensitive)."""
    low = review.lower()
    return "[agree]" in low and "[disagree]" not in low


def _history(discussion: list[tuple[str, str]], window: int) -> str:
    recent = discussion[-window:] if window else []
    if not recent:
        return ""
    return "Recent discussion:\n" + "\n\n".join(f"[{who}]: {text}" for who, text in recent) + "\n\n"


@register_method
class AgentVerse(Method[Config]):
    name = "agentverse"
    citation = "arXiv 2308.10848"
    summary = "Recruit experts, draft and critique until they agree, evaluate; repeat with the advice."
    roles = ("recruiter", "solver", "critic", "evaluator")
    functions = {"recruiter": "plan", "solver": "qa", "critic": "evaluate", "evaluator": "evaluate"}
    Config = Config

    def build(self, ctx: RunContext[Config]) -> Any:
        cfg = self.config
        recruiter = ctx.agent("recruiter", RECRUITER_PROMPT)
        evaluator = ctx.agent("evaluator", EVALUATOR_PROMPT)

        def solver(state: State) -> Any:
            return ctx.agent("solver", f"You are {state['roles'][0]}.")

        def advice_block(state: State) -> str:
            advice = state.get("advice", "")
            return f"Advice from the previous evaluation:\n{advice}\n\n" if advice else ""

        async def recruit(state: State) -> State:
            task = state["task"]
            reply = await ctx.ask(recruiter, RECRUIT.format(question=task.prompt(), advice_block=advice_block(state),
                                                            n=cfg.cnt_agents))
            roles, parsed = parse_roles(reply, cfg.cnt_agents)
            turn = state.get("turn", 0) + 1
            log = [*state.get("log", []), {"turn": turn, "roles": roles, "roles_parsed": parsed, "rounds": 0}]
            discussion = [("Evaluator", state["advice"])] if state.get("advice") else []
            return {"turn": turn, "roles": roles, "crit_round": 0, "reviews": [], "discussion": discussion,
                    "log": log}

        async def draft(state: State) -> State:
            task = state["task"]
            previous = state.get("solution", "")
            text = await ctx.ask(solver(state), SOLVER_DRAFT.format(
                question=task.prompt(),
                previous=f"The previous solution:\n{previous}\n\n" if previous else "",
                advice_block=advice_block(state), history=_history(state["discussion"], cfg.solver_history)))
            return {"solution": text, "discussion": [*state["discussion"], ("Solver", text)]}

        async def critique(state: State) -> State:
            task = state["task"]
            history = _history(state["discussion"][:-1], cfg.critic_history)  # the solution is shown in full

            async def review(i: int, role: str) -> str:
                critic = ctx.agent("critic", f"You are {role}.", index=i)
                return await ctx.ask(critic, CRITIC.format(question=task.prompt(), solution=state["solution"],
                                                           history=history))

            reviews = await gather(review(i, role) for i, role in enumerate(state["roles"][1:]))
            disagreeing = [r for r in reviews if not agrees(r) and r.strip()]  # this round only
            log = [*state["log"][:-1], {**state["log"][-1], "rounds": state["crit_round"] + 1,
                                        "agreed": not disagreeing}]
            return {"reviews": disagreeing, "crit_round": state["crit_round"] + 1, "log": log,
                    "discussion": [*state["discussion"], *(("Critic", r) for r in disagreeing)]}

        async def revise(state: State) -> State:
            task = state["task"]
            reviews = "\n\n".join(f"- {r}" for r in state["reviews"])
            text = await ctx.ask(solver(state), SOLVER_REVISE.format(
                question=task.prompt(), solution=state["solution"], reviews=reviews,
                history=_history(state["discussion"][:-len(state["reviews"])], cfg.solver_history)))
            return {"solution": text, "discussion": [*state["discussion"], ("Solver", text)]}

        async def evaluate(state: State) -> State:
            task = state["task"]
            reply = await ctx.ask(evaluator, EVALUATE.format(question=task.prompt(), solution=state["solution"]))
            score, advice, parsed = parse_evaluation(reply)
            log = [*state["log"][:-1], {**state["log"][-1], "correctness": score, "evaluation_parsed": parsed}]
            return {"advice": advice, "log": log, "answer": state["solution"],
                    "metadata": {"turns": state["turn"], "accepted": score == 1, "log": log}}

        graph = state_graph(State)
        for name, fn in (("recruit", recruit), ("draft", draft), ("critique", critique), ("revise", revise),
                         ("evaluate", evaluate)):
            graph.add_node(name, fn)
        graph.add_edge(START, "recruit")
        graph.add_edge("recruit", "draft")
        graph.add_edge("draft", "critique")
        graph.add_conditional_edges("critique", lambda s: "revise" if s["reviews"] else "evaluate",
                                    ["revise", "evaluate"])
        loop_edge(graph, "revise", again="critique", done="evaluate", until=lambda s: False,
                  max_rounds=cfg.max_criticizing_rounds, counter="crit_round")
        loop_edge(graph, "evaluate", again="recruit", done=END,
                  until=lambda s: bool(s["log"][-1].get("correctness")), max_rounds=cfg.max_turn, counter="turn")
        return graph
