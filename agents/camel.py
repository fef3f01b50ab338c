"""CAMEL role-playing (Li et al., arXiv 2303.17760): an AI user instructs an AI assistant.

    1. a task specifier sharpens the question into a concrete, specific task;
    2. the user (a PhD Student) gives one instruction at a time and the assistant (a Postdoc)
       answers it with a solution, for at most `chat_turn_limit` turns; the user ends the
       role-play early by replying with the done token `<CAMEL_TASK_DONE>`;
    3. with `with_critic` and `option_num` ≥ 2, each side proposes `option_num` messages per turn
       (in parallel) and a critic (a Professor) picks one of them, separately for each side;
    4. the answer is the assistant's final solution.

Each side sees the conversation from its own point of view (its own messages as `assistant`,
the other side's as `user`), as in CAMEL's role-playing session. Both sides see the specified
task together with the original question, so that no fact or option of a benchmark item is lost.

Roles: `specifier`, `user`, `assistant`, `critic`.
Calls: 1 + Σ over turns of (user + assistant), each side costing option_num (+1 critic when
with_critic and option_num ≥ 2); the turn where the user says done costs the user side only.
Defaults: at most 1 + 2 · 3 = 7.

Where we follow the spec (`shared/specs/maslab_methods.md`) rather than MASLab's reference code:
the answer is the assistant's final solution, not the whole transcript, and the critic chooses
separately for the assistant (the reference reuses the user-side choice). With a single option
there is nothing to choose, so the critic is not called.
"""

from __future__ import annotations

import re
from typing import Any, TypedDict

from pydantic import Field

from maslab.graph import END, START, gather, loop_edge, state_graph
from maslab.messages import Message
from maslab.method import Method, MethodConfig, RunContext, register_method
from maslab.task import Task

DONE = "<CAMEL_TASK_DONE>"
SPECIFIER_PROMPT = "You are a task specifier: you make a task more specific and concrete."
SPECIFY = (
    "Here is a task that a PhD Student will help a Postdoc to complete:\n{task}\n\n"
    "Make the task more specific and concrete, keeping every given fact, number and option. "
    "Reply with the specified task only, in {word_limit} words or fewer."
)
USER_PROMPT = (
    "You are a PhD Student and you instruct a Postdoc to complete a task; never flip roles.\n"
    "Task: {task}\n\n"
    "Give one instruction at a time, in the form:\nInstruction: <instruction>\nInput: <input or None>\n"
    "The Postdoc answers each instruction. When the task is completed and the final answer has been "
    f"given, reply with only {DONE}."
)
ASSISTANT_PROMPT = (
    "You are a Postdoc and a PhD Student instructs you to complete a task; never flip roles.\n"
    "Task: {task}\n\n"
    "Answer each instruction in the form:\nSolution: <your solution>\n"
    "Be precise, and when you reach the task's final answer, state it clearly."
)
CRITIC_PROMPT = "You are a Professor who reviews proposals and chooses the best one."
CHOOSE = (
    "Task: {task}\n\nThe {side} proposes these options for the next message:\n{options}\n\n"
    "Choose the best option. Reply with its number only, e.g. 'Option 1'."
)
START_USER = "Now start to give me instructions one by one. Only reply with Instruction and Input."


class Config(MethodConfig):
    chat_turn_limit: int = Field(default=3, ge=1, description="most user→assistant turns")
    with_task_specify: bool = Field(default=True, description="sharpen the task with the specifier first")
    word_limit: int = Field(default=50, ge=1, description="word limit of the specified task")
    with_critic: bool = Field(default=False, description="a critic chooses among each side's proposals")
    option_num: int = Field(default=1, ge=1, description="proposals per side and turn when with_critic")


class State(TypedDict, total=False):
    task: Task
    specified: str
    dialogue: list[tuple[str, str]]  # ("user" | "assistant", text)
    turn: int
    done: bool
    answer: str
    metadata: dict[str, Any]


def solution_text(text: str) -> str:
    """The assistant's solution without CAMEL's framing ('Solution:' prefix, 'Next request.' suffix)."""
    body = re.sub(r"^\s*solution\s*:\s*", "", text, flags=re.IGNORECASE)
    body = re.sub(r"\s*next request\.?\s*$", "", body, flags=re.IGNORECASE)
    return body.replace(DONE, "").strip() or text.strip()


def _choice(text: str, n: int) -> int:
    """Index of the option the critic chose (tolerant; the first option when unclear)."""
    for m in re.findall(r"\d+", text):
        if 1 <= int(m) <= n:
            return int(m) - 1
    return 0


@register_method
class Camel(Method[Config]):
    name = "camel"
    citation = "arXiv 2303.17760"
    summary = "Role-playing: an AI user instructs an AI assistant turn by turn; the assistant's solution answers."
    roles = ("specifier", "user", "assistant", "critic")
    functions = {"specifier": "plan", "user": "plan", "assistant": "qa", "critic": "evaluate"}
    Config = Config

    def build(self, ctx: RunContext[Config]) -> Any:
        cfg = self.config
        specifier = ctx.agent("specifier", SPECIFIER_PROMPT)
        critic = ctx.agent("critic", CRITIC_PROMPT)
        n_options = cfg.option_num if cfg.with_critic else 1

        def view(dialogue: list[tuple[str, str]], me: str, opening: str) -> list[Message]:
            """The conversation as `me` sees it: its own turns as assistant, the other side's as user."""
            msgs = [Message.user(opening)] if opening else []
            msgs += [Message.assistant(t) if who == me else Message.user(t) for who, t in dialogue]
            return msgs

        async def speak(role: str, prompt: str, messages: list[Message], task_text: str) -> str:
            """One side's message: a single reply, or `option_num` proposals and the critic's pick."""
            agent = ctx.agent(role, prompt)
            options = await gather(ctx.ask(agent, messages, sample_index=k) for k in range(n_options))
            if len(options) == 1:
                return options[0]
            listing = "\n\n".join(f"Option {i + 1}:\n{o}" for i, o in enumerate(options))
            side = "PhD Student (instructor)" if role == "user" else "Postdoc (assistant)"
            pick = await ctx.ask(critic, CHOOSE.format(task=task_text, side=side, options=listing))
            return options[_choice(pick, len(options))]

        async def specify(state: State) -> State:
            task = state["task"]
            specified = task.prompt()
            if cfg.with_task_specify:
                sharpened = await ctx.ask(specifier, SPECIFY.format(task=task.prompt(), word_limit=cfg.word_limit))
                # the original question stays: a specified task must not lose its facts or options
                specified = f"{task.prompt()}\n\nSpecified task: {sharpened}" if sharpened else specified
            return {"specified": specified, "dialogue": [], "turn": 0, "done": False}

        async def instruct(state: State) -> State:
            spec = state["specified"]
            text = await speak("user", USER_PROMPT.format(task=spec), view(state["dialogue"], "user", START_USER),
                               spec)
            done = DONE in text
            return {"dialogue": [*state["dialogue"], ("user", text)], "done": done,
                    "turn": state["turn"] + 1}

        async def respond(state: State) -> State:
            spec = state["specified"]
            text = await speak("assistant", ASSISTANT_PROMPT.format(task=spec),
                               view(state["dialogue"], "assistant", ""), spec)
            return {"dialogue": [*state["dialogue"], ("assistant", text)], "done": DONE in text}

        async def finish(state: State) -> State:
            dialogue = state["dialogue"]
            solutions = [t for who, t in dialogue if who == "assistant"]
            if solutions:
                answer = solution_text(solutions[-1])
            else:  # the user declared the task done before any solution: keep what it said
                answer = dialogue[-1][1].replace(DONE, "").strip() if dialogue else ""
            return {"answer": answer,
                    "metadata": {"turns": state["turn"], "stopped": "done" if state["done"] else "turn_limit",
                                 "specified_task": state["specified"], "dialogue": dialogue}}

        graph = state_graph(State)
        graph.add_node("specify", specify)
        graph.add_node("instruct", instruct)
        graph.add_node("respond", respond)
        graph.add_node("finish", finish)
        graph.add_edge(START, "specify")
        graph.add_edge("specify", "instruct")
        graph.add_conditional_edges("instruct", lambda s: "finish" if s["done"] else "respond",
                                    ["respond", "finish"])
        loop_edge(graph, "respond", again="instruct", done="finish", until=lambda s: s["done"],
                  max_rounds=cfg.chat_turn_limit, counter="turn")
        graph.add_edge("finish", END)
        return graph
