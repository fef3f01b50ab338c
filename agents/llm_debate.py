"""LLM-Debate (Du et al., arXiv 2305.14325): agents answer, read each other's answers, and update.

    1. `agents` debaters answer the query independently, concurrently;
    2. for each further round (up to `rounds` rounds in all) every debater receives the OTHER
       debaters' latest answers, appended to its own conversation (its question, its earlier
       answers and the earlier rounds' prompts), and writes an updated answer; the debaters of one
       round run concurrently (each reads only the previous round, so this equals the reference's
       sequential loop); a lone debater is asked to verify its own answer instead;
    3. aggregate the last round's answers: `llm` (MASLab's reference, arXiv 2505.16988: an
       aggregator agent reads all final answers and writes the answer) or `vote` (the original:
       majority over the extracted final answers; the returned answer is the full text of the
       first debater holding the winning answer; ties go to the earliest debater).

Defaults follow the spec and the reference (`agents_num: 3`, `rounds_num: 2`, LLM aggregator);
the prompts are the reference's. Roles: `debater` (a list of aliases gives each debater its own
model), `aggregator`. Calls: agents × rounds (+1 with `aggregate: llm`); 3 × 2 + 1 = 7, whatever the
debaters say (there is no early stop). The `default` and `reference` profiles are the same
(MASLab 74265c7, `methods/llm_debate`).
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

from pydantic import Field

from maslab.answers import format_of, vote
from maslab.graph import END, START, gather, loop_edge, state_graph
from maslab.messages import Message
from maslab.method import Deviation, Method, MethodConfig, RunContext, register_method
from maslab.task import Task

ANSWER_CUE = "Make sure to state your answer at the end of the response."
VERIFY_PROMPT = ("Can you verify that your answer is correct. Please reiterate your answer, making sure to "
                 "state your answer at the end of the response.")
AGGREGATE_CUE = "Given all the above solutions, reason over them carefully and provide a final answer to the task."


def debate_prompt(others: list[str], question: str) -> str:
    """The reference's round prompt: the other debaters' latest answers, then the question again."""
    if not others:
        return VERIFY_PROMPT
    opinions = "".join(f"\n\n One agent response: ```{answer}```" for answer in others)
    return (f"These are the recent/updated opinions from other agents: {opinions}\n\n Use these opinions "
            f"carefully as additional advice, can you provide an updated answer? {ANSWER_CUE} \n "
            f"The original problem is {question}.")


class Config(MethodConfig):
    agents: int = Field(default=3, ge=1, description="number of debaters")
    rounds: int = Field(default=2, ge=1, description="debate rounds, the independent first answers included")
    aggregate: Literal["llm", "vote"] = Field(
        default="llm", description="final step: `llm` aggregator (reference) or majority `vote` (original)")


DEVIATIONS = (
    Deviation(what="The debaters of one round answer concurrently; the reference asks them one after another",
              why="wall time: each debater reads only the previous round, so every prompt is the same",
              kind="choice"),
    Deviation(what="`aggregate: vote` (the original paper's majority vote) is offered besides the reference's "
                   "LLM aggregator", why="the original's algorithm; off by default", profiles=(), calls="-1 when chosen",
              kind="choice"),
)


class State(TypedDict, total=False):
    task: Task
    conversations: list[list[Message]]  # one per debater: its prompts and its answers
    answers: list[list[str]]  # answers[r][i]: debater i's answer in round r + 1
    round: int
    answer: str
    metadata: dict[str, Any]


@register_method
class LLMDebate(Method[Config]):
    name = "llm_debate"
    citation = "arXiv 2305.14325"
    summary = "N debaters answer, then for R-1 rounds read each other's answers and update; aggregate."
    roles = ("debater", "aggregator")
    functions = {"debater": "qa", "aggregator": "aggregate"}
    Config = Config
    reference = "MASLab 74265c7, methods/llm_debate (agents_num 3, rounds_num 2, LLM aggregator)"
    deviations = DEVIATIONS

    def build(self, ctx: RunContext[Config]) -> Any:
        cfg = self.config
        debaters = [ctx.agent("debater", index=i) for i in range(cfg.agents)]
        aggregator = ctx.agent("aggregator")

        async def speak(i: int, conversation: list[Message]) -> list[Message]:
            reply = await ctx.ask(debaters[i], conversation, sample_index=i)
            return [*conversation, Message.assistant(reply)]

        async def answer_independently(state: State) -> State:
            first = [Message.user(f"{state['task'].prompt()} {ANSWER_CUE}")]
            conversations = await gather(speak(i, first) for i in range(cfg.agents))
            return {"conversations": conversations, "answers": [[c[-1].text for c in conversations]], "round": 1}

        async def debate(state: State) -> State:
            latest = state["answers"][-1]
            question = state["task"].prompt()
            conversations = await gather(
                speak(i, [*conv, Message.user(debate_prompt(latest[:i] + latest[i + 1:], question))])
                for i, conv in enumerate(state["conversations"]))
            return {"conversations": conversations, "answers": [*state["answers"], [c[-1].text for c in conversations]],
                    "round": state["round"] + 1}

        async def aggregate(state: State) -> State:
            task = state["task"]
            final = state["answers"][-1]
            metadata: dict[str, Any] = {"rounds": state["answers"]}
            if cfg.aggregate == "llm":
                listing = "".join(f"Solution {i + 1}:\n{a}\n\n" for i, a in enumerate(final))
                answer = await ctx.ask(aggregator, f"Task:\n{task.prompt()}\n\n{listing}{AGGREGATE_CUE}")
                return {"answer": answer, "metadata": metadata}
            result = vote(final, format_of(task), "key")
            answer = final[result.index] if result.index is not None else final[0]
            return {"answer": answer, "metadata": {**metadata, "votes": result.counts, "agreement": result.share}}

        graph = state_graph(State)
        graph.add_node("answer_independently", answer_independently)
        graph.add_node("debate", debate)
        graph.add_node("aggregate", aggregate)
        graph.add_edge(START, "answer_independently")
        for node in ("answer_independently", "debate"):
            loop_edge(graph, node, again="debate", done="aggregate", until=lambda s: False, max_rounds=cfg.rounds)
        graph.add_edge("aggregate", END)
        return graph
