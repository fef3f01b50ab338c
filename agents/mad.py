"""MAD, Multi-Agent Debate (Liang et al., arXiv 2305.19118): two sides argue, a moderator decides.

    1. the affirmative side answers the debate topic (the query);
    2. the negative side disagrees with that answer and gives its own;
    3. the moderator reads both sides and returns JSON: "Whether there is a preference",
       "Supported Side", "Reason", "debate_answer". A non-empty `debate_answer` ends the debate
       and is the answer;
    4. otherwise the next round: each side replies to the other's latest argument ("Do you agree
       with my perspective?"), then the moderator evaluates again — up to `max_round` rounds;
    5. if no round concluded, a judge (the moderator's meta prompt, a fresh conversation) decides
       from both sides' FIRST answers in two calls: list the answer candidates, then give the
       final answer as JSON.

Every agent keeps its own conversation (the reference's memory lists). Prompts are the original's
(repo Skytliang/Multi-Agents-Debate, reused by MASLab, arXiv 2505.16988); defaults `max_round: 3`,
`num_players: 3` (affirmative, negative, moderator).

Where we follow the spec rather than the reference code: the reference parses the moderator's and
judge's replies with `eval`/`json.loads` and crashes on a malformed one. We never evaluate model
output: replies are read with a repairing JSON parser (`json_repair`) into a dict, and a moderator
reply that does not parse to a JSON object ends the debate and goes straight to the judge. A judge
reply without a usable `debate_answer` yields the judge's text itself.

Roles: `affirmative`, `negative`, `moderator`, `judge` (when not assigned, the judge runs on the
moderator's model, as in the reference). Calls: 3 × r (+2 when the judge decides), where r ≤
`max_round` is the number of rounds played: 3 when round 1 concludes, 11 at most with the defaults.

Profiles. `reference` (MASLab 74265c7, `methods/mad`) adds the reference's closing demand for strict
JSON to the moderator's and the judge's JSON prompts, keeps the moderator's replies in its memory
with code fences removed (as the reference does before its `eval`), and treats a moderator reply
that does not parse as "no conclusion yet" — the debate goes on, as the reference's loop intends
(its `eval` raises instead). `default` sends the prompts without that sentence and sends an
unparseable moderator reply straight to the judge (the spec). Both read JSON with `json_repair`,
never `eval`.
"""

from __future__ import annotations

import re
from typing import Any, Literal, TypedDict

import json_repair
from pydantic import Field

from maslab.agent import Agent
from maslab.graph import END, START, state_graph
from maslab.messages import Message
from maslab.method import Deviation, Method, MethodConfig, RunContext, register_method
from maslab.task import Task

PLAYER_META_PROMPT = (
    "You are a debater. Hello and welcome to the debate. It's not necessary to fully agree with each other's "
    "perspectives, as our objective is to find the correct answer.\nThe debate topic is stated as follows:\n"
    "{topic}")
MODERATOR_META_PROMPT = (
    "You are a moderator. There will be two debaters involved in a debate. They will present their answers and "
    "discuss their perspectives on the following topic: \"{topic}\"\nAt the end of each round, you will evaluate "
    "answers and decide which is correct.")
NEGATIVE_PROMPT = "{aff_ans}\n\nYou disagree with my answer. Provide your answer and reasons."
DEBATE_PROMPT = "{oppo_ans}\n\nDo you agree with my perspective? Please provide your reasons and answer."
MODERATOR_PROMPT = (
    "Now the {round} round of debate for both sides has ended.\n\nAffirmative side arguing:\n{aff_ans}\n\n"
    "Negative side arguing: {neg_ans}\n\nYou, as the moderator, will evaluate both sides' answers and determine "
    "if there is a clear preference for an answer candidate. If so, please summarize your reasons for supporting "
    "affirmative/negative side and give the final answer that you think is correct, and the debate will "
    "conclude. If not, the debate will continue to the next round. Now please output your answer in json format, "
    "with the format as follows: {{\"Whether there is a preference\": \"Yes or No\", \"Supported Side\": "
    "\"Affirmative or Negative\", \"Reason\": \"\", \"debate_answer\": \"\"}}")
JUDGE_CANDIDATES_PROMPT = (
    "Affirmative side arguing: {aff_ans}\n\nNegative side arguing: {neg_ans}\n\nNow, what answer candidates do "
    "we have? Present them without reasons.")
JUDGE_DECIDE_PROMPT = (
    "Therefore, {topic}\nPlease summarize your reasons and give the final answer that you think is correct. "
    "Now please output your answer in json format, with the format as follows: "
    "{{\"Reason\": \"\", \"debate_answer\": \"\"}}")

# the reference's closing demand for strict JSON, in our words (its source repository has no licence)
STRICT_JSON = ". Reply strictly with that JSON object and nothing else."

ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth")
_FENCE = re.compile(r"```(?:json)?", re.IGNORECASE)


def parse_verdict(text: str) -> dict[str, Any] | None:
    """A moderator/judge reply as a dict, read by a repairing JSON parser (never evaluated); None if not an object."""
    try:
        parsed = json_repair.loads(_FENCE.sub("", text).strip())
    except Exception:  # noqa: BLE001 - any parser failure is a failed parse
        return None
    return parsed if isinstance(parsed, dict) else None


def debate_answer(verdict: dict[str, Any] | None) -> str:
    value = (verdict or {}).get("debate_answer")
    return "" if value is None else str(value).strip()


def ordinal(n: int) -> str:
    return ORDINALS[n - 1] if 1 <= n <= len(ORDINALS) else f"{n}th"


class Config(MethodConfig):
    profiles = {"default": {}, "reference": {"prompts": "reference", "unparsed_moderator": "continue"}}

    max_round: int = Field(default=3, ge=1, description="most debate rounds before the judge decides")
    num_players: int = Field(default=3, ge=3, le=3,
                             description="affirmative, negative and moderator (fixed, as in the original)")
    prompts: Literal["maslab", "reference"] = Field(
        default="maslab", description="reference: JSON prompts demand strict JSON; the moderator's memory "
                                      "keeps its replies without code fences")
    unparsed_moderator: Literal["judge", "continue"] = Field(
        default="judge", description="a moderator reply that is not a JSON object: go to the judge (spec) or "
                                     "count it as no conclusion and debate on (the reference's intent)")


DEVIATIONS = (
    Deviation(what="The moderator's and the judge's JSON prompts end at the JSON format, without the "
                   "reference's closing demand for strict JSON (4 of the 11 prompts of a full debate)",
              why="maslab reads the replies with a repairing JSON parser, so it does not insist",
              profiles=("default",), kind="choice"),
    Deviation(what="Moderator and judge replies are read with json_repair, never evaluated; the reference "
                   "calls eval() on them (arbitrary code from a model)", why="the spec's reference defects",
              kind="spec"),
    Deviation(what="A moderator reply that is not a JSON object sends the debate to the judge",
              why="the spec; the reference's eval raises and the sample is lost",
              profiles=("default",), calls="3·r + 2 instead of an error", kind="spec"),
    Deviation(what="A moderator reply that is not a JSON object counts as no conclusion and the debate goes on",
              why="the reference's loop stops only on a non-empty debate_answer; its eval raises instead (a bug)",
              profiles=("reference",), calls="up to 3·max_round + 2 instead of an error", kind="bug"),
    Deviation(what="A judge reply without a usable debate_answer yields the judge's text",
              why="the reference then returns an unset attribute and the sample fails (a bug)", kind="bug"),
    Deviation(what="The strict-JSON sentence of the reference profile is worded by maslab",
              why="the reference repository has no licence, so its text is not copied", profiles=("reference",),
              kind="wording"),
    Deviation(what="The moderator's memory keeps its raw replies (code fences included)",
              why="maslab's earlier port; the reference strips the fences before storing", profiles=("default",),
              kind="choice"),
)


class State(TypedDict, total=False):
    task: Task
    affirmative: list[Message]  # each side's conversation: prompts and its own replies
    negative: list[Message]
    moderator: list[Message]
    judge: list[Message]
    round: int
    verdict: dict[str, Any] | None
    parse_failed: bool
    answer: str
    metadata: dict[str, Any]


@register_method
class MAD(Method[Config]):
    name = "mad"
    citation = "arXiv 2305.19118"
    summary = "Affirmative vs negative debate; a JSON moderator concludes, else a judge decides."
    roles = ("affirmative", "negative", "moderator", "judge")
    functions = {"affirmative": "qa", "negative": "revise", "moderator": "evaluate", "judge": "aggregate"}
    Config = Config
    reference = "MASLab 74265c7, methods/mad (max_round 3, num_players 3)"
    deviations = DEVIATIONS

    def build(self, ctx: RunContext[Config]) -> Any:
        cfg = self.config

        def player(role: str, task: Task) -> Agent:
            meta = PLAYER_META_PROMPT if role in ("affirmative", "negative") else MODERATOR_META_PROMPT
            agent = ctx.agent(role, meta.format(topic=task.prompt()))
            if role == "judge" and "judge" not in cfg.roles:
                agent = agent.model_copy(update={"model": ctx.alias("moderator")})
            return agent

        async def say(agent: Agent, history: list[Message], prompt: str) -> list[Message]:
            history = [*history, Message.user(prompt)]
            return [*history, Message.assistant(await ctx.ask(agent, history))]

        async def affirmative_argues(state: State) -> State:
            task, n = state["task"], state.get("round", 0) + 1
            # round 1: the topic itself; later: reply to the negative side's latest argument
            prompt = task.prompt() if n == 1 else DEBATE_PROMPT.format(oppo_ans=state["negative"][-1].text)
            return {"affirmative": await say(player("affirmative", task), state.get("affirmative", []), prompt),
                    "round": n}

        async def negative_argues(state: State) -> State:
            aff_ans = state["affirmative"][-1].text
            template = NEGATIVE_PROMPT if state["round"] == 1 else DEBATE_PROMPT
            prompt = template.format(aff_ans=aff_ans, oppo_ans=aff_ans)
            return {"negative": await say(player("negative", state["task"]), state.get("negative", []), prompt)}

        strict = STRICT_JSON if cfg.prompts == "reference" else ""

        async def moderate(state: State) -> State:
            prompt = MODERATOR_PROMPT.format(round=ordinal(state["round"]), aff_ans=state["affirmative"][-1].text,
                                             neg_ans=state["negative"][-1].text) + strict
            history = await say(player("moderator", state["task"]), state.get("moderator", []), prompt)
            if cfg.prompts == "reference":  # the reference stores the reply without its code fences
                history[-1] = Message.assistant(_FENCE.sub("", history[-1].text).strip())
            verdict = parse_verdict(history[-1].text)
            update: State = {"moderator": history, "verdict": verdict, "parse_failed": verdict is None}
            if debate_answer(verdict):
                update["answer"] = debate_answer(verdict)
                update["metadata"] = {"decided_by": "moderator", "rounds": state["round"], "verdict": verdict,
                                      "base_answer": state["affirmative"][1].text}
            return update

        def next_step(state: State) -> str:
            if state.get("answer"):
                return END
            if (state["parse_failed"] and cfg.unparsed_moderator == "judge") or state["round"] >= cfg.max_round:
                return "judge_candidates"
            return "affirmative"

        async def judge_candidates(state: State) -> State:
            # both sides' first answers: the second message of each conversation
            prompt = JUDGE_CANDIDATES_PROMPT.format(aff_ans=state["affirmative"][1].text,
                                                    neg_ans=state["negative"][1].text)
            return {"judge": await say(player("judge", state["task"]), [], prompt)}

        async def judge_decides(state: State) -> State:
            task = state["task"]
            prompt = JUDGE_DECIDE_PROMPT.format(topic=task.prompt()) + strict
            history = await say(player("judge", task), state["judge"], prompt)
            verdict = parse_verdict(history[-1].text)
            answer = debate_answer(verdict) or history[-1].text
            return {"answer": answer, "metadata": {
                "decided_by": "judge", "rounds": state["round"], "verdict": verdict,
                "moderator_parse_failed": state["parse_failed"], "judge_answer_parsed": bool(debate_answer(verdict)),
                "candidates": history[1].text, "base_answer": state["affirmative"][1].text}}

        graph = state_graph(State)
        graph.add_node("affirmative", affirmative_argues)
        graph.add_node("negative", negative_argues)
        graph.add_node("moderator", moderate)
        graph.add_node("judge_candidates", judge_candidates)
        graph.add_node("judge_decides", judge_decides)
        graph.add_edge(START, "affirmative")
        graph.add_edge("affirmative", "negative")
        graph.add_edge("negative", "moderator")
        graph.add_conditional_edges("moderator", next_step, ["affirmative", "judge_candidates", END])
        graph.add_edge("judge_candidates", "judge_decides")
        graph.add_edge("judge_decides", END)
        return graph
