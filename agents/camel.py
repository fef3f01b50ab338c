"""CAMEL role-playing (Li et al., arXiv 2303.17760): an AI user instructs an AI assistant.

    1. a task specifier sharpens the question into a concrete, specific task;
    2. the user (a PhD Student) gives one instruction at a time and the assistant (a Postdoc)
       answers it with a solution, for at most `chat_turn_limit` turns; the user ends the
       role-play early by replying with the done token `<CAMEL_TASK_DONE>`;
    3. with `with_critic`, each side proposes `option_num` messages per turn (in parallel) and a
       critic (a Professor) picks one of them;
    4. the answer is the assistant's final solution (`answer: solution`) or the whole transcript
       (`answer: transcript`, the reference's).

Each side sees the conversation from its own point of view (its own messages as `assistant`,
the other side's as `user`), as in CAMEL's role-playing session.

Profiles.

* `default` (maslab): maslab's short role prompts, which carry the original question beside the
  specified task (so no fact or option of a benchmark item is lost); no critic; the role-play
  stops as soon as the user says it is done; the answer is the assistant's final solution. With
  `with_critic` and `option_num` ≥ 2 the critic chooses separately for each side; with one option
  there is nothing to choose and the critic is not called.
* `reference` (MASLab 74265c7, `methods/camel`, config `with_critic: True`, `option_num: 1`):
  the paper's inception prompts (its Figure 2 wording) with the specified task only; the critic is
  called once per turn on the user's proposals — even a single one — and its choice is applied to
  the assistant's proposals too (`critic: user_choice`); the assistant still answers the turn in
  which the user says it is done (`finish_turn`); the answer is the transcript: the idea, the
  specified task and every user, critic and assistant message. A critic reply whose number is not
  an option selects option 1 (the reference indexes out of range and fails — a bug).

Roles: `specifier`, `user`, `assistant`, `critic`.
Calls: 1 + Σ over turns of (user + assistant sides); a side costs `option_num` (one request per
proposal), plus the critic call(s). Default: at most 1 + 2 · 3 = 7; the turn where the user says
done costs the user side only. Reference: 1 + 3 per turn (user, critic, assistant), 10 at most;
a done in turn t stops after 1 + 3t.
"""

from __future__ import annotations

import re
from typing import Any, Literal, TypedDict

from pydantic import Field

from maslab.graph import END, START, gather, loop_edge, state_graph
from maslab.messages import Message
from maslab.method import Deviation, Method, MethodConfig, RunContext, register_method
from maslab.task import Task

DONE = "<CAMEL_TASK_DONE>"
DONE_WORD = "CAMEL_TASK_DONE"  # the reference tests for the word, brackets or not
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

# The reference profile: the paper's inception prompts (arXiv 2303.17760, Figure 2), with MASLab's roles.
PAPER_SPECIFIER_SYSTEM = "You can make a task more specific."
PAPER_SPECIFY = (
    "Here is a task that {assistant} will help {user} to complete: {task}.\n"
    "Please make it more specific. Be creative and imaginative.\n"
    "Please reply with the specified task in {word_limit} words or less. Do not add anything else.")
PAPER_ASSISTANT = (
    "Never forget you are a {assistant} and I am a {user}. Never flip roles! Never instruct me!\n"
    "We share a common interest in collaborating to successfully complete a task.\n"
    "You must help me to complete the task.\n"
    "Here is the task: {task}. Never forget our task!\n"
    "I must instruct you based on your expertise and my needs to complete the task.\n\n"
    "I must give you one instruction at a time.\n"
    "You must write a specific solution that appropriately completes the requested instruction.\n"
    "You must decline my instruction honestly if you cannot perform the instruction due to physical, moral, "
    "legal reasons or your capability and explain the reasons.\n"
    "Unless I say the task is completed, you should always start with:\n\n"
    "Solution: <YOUR_SOLUTION>\n\n"
    "<YOUR_SOLUTION> should be specific, and provide preferable implementations and examples for task-solving.\n"
    "Always end <YOUR_SOLUTION> with: Next request.")
PAPER_USER = (
    "Never forget you are a {user} and I am a {assistant}. Never flip roles! You will always instruct me.\n"
    "We share a common interest in collaborating to successfully complete a task.\n"
    "I must help you to complete the task.\n"
    "Here is the task: {task}. Never forget our task!\n"
    "You must instruct me based on my expertise and your needs to complete the task ONLY in the following "
    "two ways:\n\n"
    "1. Instruct with a necessary input:\nInstruction: <YOUR_INSTRUCTION>\nInput: <YOUR_INPUT>\n\n"
    "2. Instruct without any input:\nInstruction: <YOUR_INSTRUCTION>\nInput: None\n\n"
    "The \"Instruction\" describes a task or question. The paired \"Input\" provides further context or "
    "information for the requested \"Instruction\".\n\n"
    "You must give me one instruction at a time.\n"
    "I must write a response that appropriately completes the requested instruction.\n"
    "I must decline your instruction honestly if I cannot perform the instruction due to physical, moral, "
    "legal reasons or my capability and explain the reasons.\n"
    "You should instruct me not ask me questions.\n"
    "Now you must start to instruct me using the two ways described above.\n"
    "Do not add anything else other than your instruction and the optional corresponding input!\n"
    "Keep giving me instructions and necessary inputs until you think the task is completed.\n"
    f"When the task is completed, you must only reply with a single word {DONE}.\n"
    f"Never say {DONE} unless my responses have solved your task.")
# the critic's instructions and the proposal listing, in our words (MASLab's text has no licence)
REF_CRITIC = (
    "You are a {critic} working with a {user} and a {assistant} on this task: {task}.\n"
    "They propose options; your job is to pick one of them and explain why. Pick the option that most "
    "improves how well the task is done. You must always pick one of the proposed options.")
REF_PROPOSALS = ("Proposals from the {name} ({side}); choose one:\n{options}"
                 "First give the number of your choice ([1-{n}]), then explain and compare the options.")

USER_ROLE, ASSISTANT_ROLE, CRITIC_ROLE = "PhD Student", "Postdoc", "Professor"


class Config(MethodConfig):
    profiles = {"default": {}, "reference": {"prompts": "reference", "with_critic": True, "option_num": 1,
                                             "critic": "user_choice", "finish_turn": True, "answer": "transcript"}}

    chat_turn_limit: int = Field(default=3, ge=1, description="most user→assistant turns")
    with_task_specify: bool = Field(default=True, description="sharpen the task with the specifier first")
    word_limit: int = Field(default=50, ge=1, description="word limit of the specified task")
    with_critic: bool = Field(default=False, description="a critic chooses among each side's proposals")
    option_num: int = Field(default=1, ge=1, description="proposals per side and turn when with_critic")
    prompts: Literal["maslab", "reference"] = Field(
        default="maslab", description="maslab's role prompts with the original question, or the paper's "
                                      "inception prompts with the specified task only (the reference)")
    critic: Literal["per_side", "user_choice"] = Field(
        default="per_side", description="per_side: the critic picks for each side (not called for a single "
                                        "option); user_choice: one critic call per turn on the user's proposals, "
                                        "its choice reused for the assistant's (the reference)")
    finish_turn: bool = Field(default=False, description="the assistant answers the turn in which the user says "
                                                         "done (the reference) instead of stopping at once")
    answer: Literal["solution", "transcript"] = Field(
        default="solution", description="the assistant's final solution, or the whole transcript (the reference)")


DEVIATIONS = (
    Deviation(what="The answer is the assistant's final solution; the reference answers with the whole "
                   "transcript", why="the spec (reference defect)", profiles=("default",), kind="spec"),
    Deviation(what="No critic by default (with_critic false); the reference runs with a critic and one option",
              why="with one option there is nothing to choose", profiles=("default",),
              calls="1 + 2 per turn instead of 1 + 3", kind="choice"),
    Deviation(what="With a critic, it chooses separately for the assistant's proposals and is not called for a "
                   "single option; the reference calls it once per turn on the user's proposals and reuses "
                   "that choice for the assistant's", why="the spec (reference defect)", profiles=("default",),
              calls="per turn: +1 with two or more options, -1 with one", kind="spec"),
    Deviation(what="The role-play stops as soon as the user says it is done; the reference lets the assistant "
                   "answer that turn first", why="the done turn's answer adds nothing", profiles=("default",),
              calls="-1 (or -2 with a critic) on the done turn", kind="choice"),
    Deviation(what="The specified task is shown together with the original question, and maslab's shorter role "
                   "prompts replace the inception prompts", why="a sharpened benchmark item must keep its facts "
                   "and options", profiles=("default",), kind="choice"),
    Deviation(what="The inception prompts are the paper's (Figure 2); MASLab's copy follows CAMEL's later "
                   "repository text (\"solves\", \"very specific ... detailed explanations\")",
              why="the paper publishes its wording", profiles=("reference",), kind="wording"),
    Deviation(what="The critic's instructions, the proposal listing and the transcript labels are worded by "
                   "maslab", why="MASLab's text has no licence", profiles=("reference",), kind="wording"),
    Deviation(what="A critic reply without a valid option number selects option 1",
              why="the reference indexes the options with it and fails on any number but 1 (a bug)",
              kind="bug"),
    Deviation(what="The option_num proposals of a side are separate requests (one sample index each); the "
                   "reference makes one request with n = option_num", why="the model pool returns one completion "
                   "per request; the completions drawn are the same", calls="option_num requests per side "
                   "instead of 1 (equal with one option)", kind="choice"),
)


class State(TypedDict, total=False):
    task: Task
    specified: str
    dialogue: list[tuple[str, str]]  # ("user" | "assistant", text)
    transcript: list[tuple[str, str]]  # (speaker, text) as the reference's transcript lists them
    critic_log: list[Message]  # the reference critic's conversation
    choice: int  # the reference critic's last choice (0-based), reused for the assistant
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


def first_number_choice(text: str, n: int) -> int:
    """The reference's reading of a critic reply: its first integer, as a 0-based option; option 1 when
    there is none or it names no option (the reference fails there)."""
    m = re.search(r"\d+", text)
    return int(m.group()) - 1 if m and 1 <= int(m.group()) <= n else 0


@register_method
class Camel(Method[Config]):
    name = "camel"
    citation = "arXiv 2303.17760"
    summary = "Role-playing: an AI user instructs an AI assistant turn by turn; the assistant's solution answers."
    roles = ("specifier", "user", "assistant", "critic")
    functions = {"specifier": "plan", "user": "plan", "assistant": "qa", "critic": "evaluate"}
    Config = Config
    reference = "MASLab 74265c7, methods/camel (chat_turn_limit 3, with_critic True, option_num 1)"
    deviations = DEVIATIONS

    def build(self, ctx: RunContext[Config]) -> Any:
        cfg = self.config
        reference = cfg.prompts == "reference"
        specifier = ctx.agent("specifier", PAPER_SPECIFIER_SYSTEM if reference else SPECIFIER_PROMPT)
        critic = ctx.agent("critic", "" if reference else CRITIC_PROMPT)
        n_options = cfg.option_num if cfg.with_critic else 1
        names = {"user": USER_ROLE, "assistant": ASSISTANT_ROLE}

        def role_prompt(role: str, task_text: str) -> str:
            if reference:
                return (PAPER_USER if role == "user" else PAPER_ASSISTANT).format(
                    user=USER_ROLE, assistant=ASSISTANT_ROLE, task=task_text)
            return (USER_PROMPT if role == "user" else ASSISTANT_PROMPT).format(task=task_text)

        def view(dialogue: list[tuple[str, str]], me: str) -> list[Message]:
            """The conversation as `me` sees it: its own turns as assistant, the other side's as user."""
            msgs = [Message.user(START_USER)] if me == "user" else []
            msgs += [Message.assistant(t) if who == me else Message.user(t) for who, t in dialogue]
            return msgs

        def listing(role: str, options: list[str]) -> str:
            if reference:
                side = "RoleType.USER" if role == "user" else "RoleType.ASSISTANT"
                opts = "".join(f"Option {i + 1}:\n{o}\n" for i, o in enumerate(options))
                return REF_PROPOSALS.format(name=names[role], side=side, options=opts, n=len(options))
            return "\n\n".join(f"Option {i + 1}:\n{o}" for i, o in enumerate(options))

        async def propose(role: str, state: State) -> list[str]:
            agent = ctx.agent(role, role_prompt(role, state["specified"]))
            return await gather(ctx.ask(agent, view(state["dialogue"], role), sample_index=k)
                                for k in range(n_options))

        async def choose_per_side(role: str, options: list[str], task_text: str) -> str:
            if len(options) == 1:
                return options[0]
            side = "PhD Student (instructor)" if role == "user" else "Postdoc (assistant)"
            pick = await ctx.ask(critic, CHOOSE.format(task=task_text, side=side, options=listing(role, options)))
            return options[_choice(pick, len(options))]

        async def specify(state: State) -> State:
            task = state["task"]
            specified = task.prompt()
            if cfg.with_task_specify:
                if reference:  # the reference: the specified task replaces the question
                    specified = await ctx.ask(specifier, PAPER_SPECIFY.format(
                        assistant=ASSISTANT_ROLE, user=USER_ROLE, task=task.prompt(), word_limit=cfg.word_limit))
                else:
                    sharpened = await ctx.ask(specifier, SPECIFY.format(task=task.prompt(),
                                                                        word_limit=cfg.word_limit))
                    # the original question stays: a specified task must not lose its facts or options
                    specified = f"{task.prompt()}\n\nSpecified task: {sharpened}" if sharpened else specified
            critic_log = [Message.system(REF_CRITIC.format(critic=CRITIC_ROLE, user=USER_ROLE,
                                                           assistant=ASSISTANT_ROLE, task=specified))]
            return {"specified": specified, "dialogue": [], "turn": 0, "done": False, "transcript": [],
                    "critic_log": critic_log, "choice": 0}

        async def instruct(state: State) -> State:
            options = await propose("user", state)
            update: State = {"turn": state["turn"] + 1}
            transcript = list(state["transcript"])
            if cfg.with_critic and cfg.critic == "user_choice":
                shown = listing("user", options)
                log = [*state["critic_log"], Message.user(shown)]
                pick = await ctx.ask(critic, log)
                choice = first_number_choice(pick, len(options))
                update.update(critic_log=[*log, Message.assistant(pick)], choice=choice)
                text = options[choice]
                transcript += [("user", shown), ("critic", pick)]
            else:
                text = await choose_per_side("user", options, state["specified"])
                transcript.append(("user", text if len(options) == 1 else listing("user", options)))
            done = (DONE_WORD if reference else DONE) in text
            return {**update, "dialogue": [*state["dialogue"], ("user", text)], "done": done, "transcript": transcript}

        async def respond(state: State) -> State:
            options = await propose("assistant", state)
            update: State = {}
            if cfg.with_critic and cfg.critic == "user_choice":
                shown = listing("assistant", options)
                update["critic_log"] = [*state["critic_log"], Message.user(shown)]
                text = options[min(state["choice"], len(options) - 1)]
            else:
                text = await choose_per_side("assistant", options, state["specified"])
                shown = text if len(options) == 1 else listing("assistant", options)
            done = state["done"] or (not reference and DONE in text)
            return {**update, "dialogue": [*state["dialogue"], ("assistant", text)], "done": done,
                    "transcript": [*state["transcript"], ("assistant", shown)]}

        async def finish(state: State) -> State:
            dialogue = state["dialogue"]
            if cfg.answer == "transcript":
                labels = {"user": "User", "critic": "Critic", "assistant": "Assistant"}
                answer = (f"Task: {state['task'].prompt()}\n\nSpecified task: {state['specified']}\n\n"
                          + "".join(f"{labels[who]}:\n{text}\n\n" for who, text in state["transcript"])).rstrip()
            else:
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
        graph.add_conditional_edges("instruct", lambda s: "finish" if s["done"] and not cfg.finish_turn else "respond",
                                    ["respond", "finish"])
        loop_edge(graph, "respond", again="instruct", done="finish", until=lambda s: s["done"],
                  max_rounds=cfg.chat_turn_limit, counter="turn")
        graph.add_edge("finish", END)
        return graph
