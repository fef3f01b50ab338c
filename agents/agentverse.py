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

Profiles. `default` is the above. `reference` (MASLab 74265c7, `methods/agentverse`,
`agentverse_main`) runs the same loop with the reference's messages and rules (`prompts: reference`,
`reviews: accumulate`):

    - one discussion history is shared by the whole run (all turns): the solver's solutions, the
      disagreeing critics' reviews and the evaluator's advice, each an assistant message
      "[<role>]: <text>"; the solver sees the last 5 of them and a critic the last 3, each window
      taken as the reference takes it (refreshed when the reference refreshes it, and following
      the history live while it is no longer than the window);
    - the recruiter, the solver and each critic get a system message (the problem and, for the
      recruiter, the advice so far — "No advice yet." at first) and a user message with the
      instructions; a revision is the same request as the draft, the reviews being in the history;
    - a critic first solves the problem itself, then compares its final answer with the given
      solution's and ends with "[Agree]" (exact, case-sensitive) when they are the same;
    - disagreeing reviews accumulate over the rounds of a turn, so once a critic has disagreed the
      solver revises in every remaining round (a disagree-then-agree turn costs 1 + 1 + 3c + 3 + 1);
    - the evaluator sees the experts, the problem and the solution, and replies "Correctness: <0|1>"
      and "Response: <advice>".
The prompts are worded by maslab (the reference repository has no licence); `deviations` lists
every difference.
"""

from __future__ import annotations

import re
from typing import Any, Literal, TypedDict

from pydantic import Field

from maslab.graph import END, START, gather, loop_edge, state_graph
from maslab.messages import Message
from maslab.method import Deviation, Method, MethodConfig, RunContext, register_method
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

# the reference profile: MASLab's message structure and instructions, in our words
NO_ADVICE = "No advice yet."
REF_RECRUIT_SYSTEM = (
    "# Role\nYou lead a group of experts and face this problem:\n{question}\n\n"
    "You may recruit {n} experts from different fields.\n\nSuggestions so far:\n{advice}")
REF_RECRUIT_USER = (
    "You may recruit {n} experts from different fields. Which experts would help most to reach an accurate "
    "solution?\n\n# Response format\nReply with a numbered list describing each expert, for example:\n"
    "1. a chemist who specialises in reaction kinetics\n2. a statistician experienced in survey data\n...\n\n"
    "Reply with the descriptions only, without your reasons.")
REF_SOLVER_SYSTEM = (
    "Solve this problem:\n{question}\n\nEverything needed to answer it is given; do not ask for more information.")
REF_SOLVER_USER = ("You are {role}. Using the discussion so far and your own knowledge, give the correct solution "
                   "to the problem and explain your reasoning.")
REF_CRITIC_SYSTEM = ("You are {role}. You belong to a group working together on this problem:\n{question}\n\n"
                     "First work out your own correct solution to it, step by step.")
REF_CRITIC_USER = (
    "Now compare your solution with the solution in the discussion and reply, following these rules:\n"
    "1. Everything needed is given; do not ask for more information.\n"
    "2. Give only your critique of the given solution, not your own answer.\n"
    "3. If your final answer is the same as the final answer of the given solution, end your reply with the "
    "token \"[Agree]\".")
REF_EVALUATOR_SYSTEM = "Experts: {experts}\nProblem: {question}\nSolution:\n```\n{solution}\n```"
REF_EVALUATOR_USER = (
    "You are an experienced problem solver checking whether the given solution to a problem is correct. If it "
    "is wrong, give correctness 0 and advise how to correct it; if it is right, give correctness 1 and say why. "
    "Also suggest which experts to recruit next time.\n\nReply in this format:\n"
    "Correctness: (0 or 1; 0 is wrong, 1 is correct)\nResponse: (advice to correct the solution, or why it is correct)")
_REF_ROLE = re.compile(r"\d+\.\s*([^.]+)")
_REF_SCORE = re.compile(r"Correctness:\s*(\d)")
_REF_ADVICE = re.compile(r"Response:\s*(.+)", re.DOTALL)

_NUMBERED = re.compile(r"^\s*(?:\*\*)?\(?\d+[.):\]](?:\*\*)?\s*(.+?)\s*$")
_SCORE = re.compile(r"correct(?:ness)?\s*\**\s*[:=\-]?\s*\**\s*\(?([01])\b", re.IGNORECASE)
_ADVICE = re.compile(r"advice\s*\**\s*[:=\-]\s*\**\s*(.*)", re.IGNORECASE | re.DOTALL)


class Config(MethodConfig):
    profiles = {"default": {}, "reference": {"prompts": "reference", "reviews": "accumulate"}}

    max_turn: int = Field(default=3, ge=1, description="recruit → decide → evaluate turns at most")
    cnt_agents: int = Field(default=2, ge=2, description="recruited experts: 1 solver + (cnt_agents − 1) critics")
    max_criticizing_rounds: int = Field(default=3, ge=1, description="review rounds per turn at most")
    solver_history: int = Field(default=5, ge=0, description="discussion messages the solver sees")
    critic_history: int = Field(default=3, ge=0, description="discussion messages a critic sees")
    prompts: Literal["maslab", "reference"] = Field(
        default="maslab", description="maslab's prompts, or the reference's messages and rules (shared history "
                                      "as messages, critics that solve and compare, evaluator sees the experts)")
    reviews: Literal["reset", "accumulate"] = Field(
        default="reset", description="disagreeing reviews: reset every review round (spec) or accumulate over "
                                     "a turn's rounds (the reference)")


DEVIATIONS = (
    Deviation(what="A critic writes [Agree] only if the solution is correct and complete; the reference's critic "
                   "solves the problem itself and agrees when its final answer matches",
              why="maslab's earlier reading of the paper's vertical decision-making", profiles=("default",),
              calls="varies with the critics' replies", kind="choice"),
    Deviation(what="Disagreeing reviews are reset every review round, so critics who disagree and then agree "
                   "stop the turn", why="the spec (the reference accumulates them, so consensus is detectable "
                   "only in round 1)", profiles=("default",), calls="disagree-then-agree turn: 6 instead of 9",
              kind="spec"),
    Deviation(what="No discussion history across turns; the discussion is quoted in the prompt text; the "
                   "evaluator is not shown the experts", why="maslab's documented prompts",
              profiles=("default",), kind="choice"),
    Deviation(what="A recruiter reply with too few or too many roles is padded or truncated",
              why="the reference raises and the sample is lost (a bug)", kind="bug"),
    Deviation(what="An evaluator reply without a readable correctness counts as 0, its text as the advice",
              why="the reference raises and the sample is lost (a bug)", kind="bug"),
    Deviation(what="The reference profile's prompts are worded by maslab (same messages, order and rules)",
              why="the reference repository has no licence, so its text is not copied", profiles=("reference",),
              kind="wording"),
    Deviation(what="The critics of one review round answer concurrently; the reference asks them in turn",
              why="wall time: they all see the same history window, so every prompt is the same",
              kind="choice"),
)


class State(TypedDict, total=False):
    task: Task
    turn: int
    roles: list[str]
    solution: str
    advice: str
    discussion: list[tuple[str, str]]  # (speaker, text)
    reviews: list[str]  # the disagreeing reviews (this round's, or the turn's with `reviews: accumulate`)
    crit_round: int
    history: list[tuple[str, str]]  # reference profile: the run's shared history of (speaker, text)
    solver_view: list[tuple[str, str]] | None  # reference: the solver's window (None: the live history)
    critic_view: list[tuple[str, str]] | None  # reference: the critics' window (None: the live history)
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


def parse_roles_reference(text: str, n: int) -> tuple[list[str], bool]:
    """The reference's role parse (`<number>. <text up to the first period>`), padded or truncated to `n`."""
    found = [r.strip() for r in _REF_ROLE.findall(text)]
    roles = found[:n] + [DEFAULT_ROLES[min(i, len(DEFAULT_ROLES) - 1)] for i in range(len(found), n)]
    return roles, len(found) == n


def parse_evaluation_reference(text: str) -> tuple[int, str, bool]:
    """The reference's evaluator parse ("Correctness: <digit>", "Response: <advice>"); unreadable → (0, reply)."""
    score, advice = _REF_SCORE.search(text), _REF_ADVICE.search(text)
    if score is None or advice is None:
        return 0, text.strip(), False
    return int(score.group(1)), re.sub(r"\n+", "\n", advice.group(1).strip()), True


def window(history: list[tuple[str, str]], n: int) -> list[tuple[str, str]] | None:
    """The reference's history window: the last `n` entries, or — while the history is no longer than
    `n` — the history itself, followed live (None)."""
    return list(history[-n:]) if len(history) > n else None


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
    reference = "MASLab 74265c7, methods/agentverse (agentverse_main: cnt_agents 2, max_turn 3, max_criticizing_rounds 3)"
    deviations = DEVIATIONS

    def build(self, ctx: RunContext[Config]) -> Any:
        if self.config.prompts == "reference":
            return self._graph(*self._reference_nodes(ctx))
        return self._graph(*self._maslab_nodes(ctx))

    def _graph(self, recruit: Any, draft: Any, critique: Any, revise: Any, evaluate: Any) -> Any:
        cfg = self.config
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
                  until=lambda s: bool(s["log"][-1].get("correctness") == 1), max_rounds=cfg.max_turn,
                  counter="turn")
        return graph

    def _maslab_nodes(self, ctx: RunContext[Config]) -> tuple[Any, ...]:
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
            if cfg.reviews == "accumulate":
                disagreeing = [*state.get("reviews", []), *disagreeing]
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

        return recruit, draft, critique, revise, evaluate

    def _reference_nodes(self, ctx: RunContext[Config]) -> tuple[Any, ...]:
        """The reference profile's nodes: MASLab's messages, shared history and rules (module docstring)."""
        cfg = self.config
        recruiter, evaluator = ctx.agent("recruiter"), ctx.agent("evaluator")

        def shown(state: State, view: list[tuple[str, str]] | None) -> list[Message]:
            entries = state["history"] if view is None else view
            return [Message.assistant(f"[{who}]: {text}") for who, text in entries]

        async def recruit(state: State) -> State:
            question, advice = state["task"].prompt(), state.get("advice") or NO_ADVICE
            reply = await ctx.ask(recruiter, [
                Message.system(REF_RECRUIT_SYSTEM.format(question=question, n=cfg.cnt_agents, advice=advice)),
                Message.user(REF_RECRUIT_USER.format(n=cfg.cnt_agents))])
            roles, parsed = parse_roles_reference(reply, cfg.cnt_agents)
            turn = state.get("turn", 0) + 1
            log = [*state.get("log", []), {"turn": turn, "roles": roles, "roles_parsed": parsed, "rounds": 0}]
            return {"turn": turn, "roles": roles, "crit_round": 0, "reviews": [], "log": log,
                    "history": state.get("history", [])}

        async def solve(state: State, history: list[tuple[str, str]], view: list[tuple[str, str]] | None) -> State:
            solver = ctx.agent("solver")
            text = await ctx.ask(solver, [
                Message.system(REF_SOLVER_SYSTEM.format(question=state["task"].prompt())),
                *shown({**state, "history": history}, view),
                Message.user(REF_SOLVER_USER.format(role=state["roles"][0]))])
            history = [*history, (state["roles"][0], text)]
            return {"solution": text, "history": history, "critic_view": window(history, cfg.critic_history)}

        async def draft(state: State) -> State:
            history: list[tuple[str, str]] = state["history"]
            view: list[tuple[str, str]] | None = []  # the reference starts each turn with an empty solver window
            if state.get("advice"):
                history = [*history, ("Evaluator", state["advice"])]
                view = window(history, cfg.solver_history)
            return {**await solve(state, history, view), "solver_view": view}

        async def critique(state: State) -> State:
            question, view = state["task"].prompt(), state["critic_view"]

            async def review(i: int, role: str) -> str:
                critic = ctx.agent("critic", index=i)
                return await ctx.ask(critic, [Message.system(REF_CRITIC_SYSTEM.format(role=role, question=question)),
                                              *shown(state, view), Message.user(REF_CRITIC_USER)])

            roles = state["roles"][1:]
            reviews = await gather(review(i, role) for i, role in enumerate(roles))
            history, solver_view = list(state["history"]), state["solver_view"]
            disagreeing = []
            for role, text in zip(roles, reviews, strict=True):
                if "[Agree]" not in text:  # the reference's test: exact and case-sensitive
                    history.append((role, re.sub(r"\n+", "\n", text.strip())))
                    solver_view = window(history, cfg.solver_history)
                    disagreeing.append(text)
            if cfg.reviews == "accumulate":
                disagreeing = [*state.get("reviews", []), *disagreeing]
            log = [*state["log"][:-1], {**state["log"][-1], "rounds": state["crit_round"] + 1,
                                        "agreed": not disagreeing}]
            return {"reviews": disagreeing, "crit_round": state["crit_round"] + 1, "log": log, "history": history,
                    "solver_view": solver_view}

        async def revise(state: State) -> State:
            return await solve(state, state["history"], state["solver_view"])

        async def evaluate(state: State) -> State:
            question = state["task"].prompt()
            reply = await ctx.ask(evaluator, [
                Message.system(REF_EVALUATOR_SYSTEM.format(experts="\n".join(state["roles"]), question=question,
                                                           solution=state["solution"])),
                Message.user(REF_EVALUATOR_USER)])
            score, advice, parsed = parse_evaluation_reference(reply)
            log = [*state["log"][:-1], {**state["log"][-1], "correctness": score, "evaluation_parsed": parsed}]
            return {"advice": advice, "log": log, "answer": state["solution"],
                    "metadata": {"turns": state["turn"], "accepted": score == 1, "log": log}}

        return recruit, draft, critique, revise, evaluate
