"""SpatialAgent (Wu et al., "SpatialScore", arXiv 2505.17012 v3): a multimodal model answers spatial
questions by calling perception and geometry tools, in a ReAct or a Plan-Execute paradigm.

ReAct (``paradigm: react``, the paper's better paradigm):

    1. The observer (the core model) gets the paper's observer prompt — goal, the toolbox under
       ACTIONS, task and tool-usage instructions with the three warnings, the strict JSON format
       and the four published demos — and the request with the task's images (image-0, image-1, …).
    2. Each turn it answers ``{"thought": …, "actions": [{"name": …, "arguments": {…}}]}``; only
       ``actions[0]`` counts (`actions.parse_action`). Malformed JSON gets the repair feedback
       (strict, loadable JSON; three hints), any other defect the fix-or-Terminate feedback.
    3. ``Terminate`` ends the episode with its ``answer`` argument; an empty action list is a
       step without action; any other action goes to the executor (`executor.execute`: `image-N`
       resolved everywhere, failures become "Execution failed with <type>: <error>"), and the
       observation returns as ``OBSERVATION: …`` with the reminder that it may be wrong, to be
       critical, and to Terminate once the evidence suffices. Images a tool draws are numbered
       after the inputs and shown to a vision model.
    4. After ``max_turns`` (10) observer turns without Terminate, the summarizer gets the request
       and ALL_OBSERVATION and must call Terminate: its answer is forced out of whatever it
       writes (Terminate's answer, repaired JSON, ``<answer>`` tags, else the text).

Plan-Execute (``paradigm: plan_execute``):

    1. The planner writes a JSON list of tool calls (ids image-0/1/2 only, toolbox tools only).
    2. Every call runs in order; failures are recorded, not fatal.
    3. The executor writes the ``<thinking>/<tool>/<observation>`` chain over plan and results.
    4. The summarizer writes ``<thinking>…</thinking><answer>…</answer>``; an answer ends the run.
    5. A plan that does not parse, or an answer that does not, fails the attempt; after
       ``max_attempts`` (3) failed attempts the fallback answers with the plain model, no tools.

The prompts are the paper's (Appendix B.3; `prompts`); the toolbox is `maslab.tools.spatial`
(offline: paper methods, classical stand-ins and fixture-metadata oracles, each labelled in the
results, in the trace's ``tool`` events and in the solution's metadata — ``oracles``,
``stand_ins``). Where we follow the spec rather than the reference scaffold: generated images
are numbered after the inputs (the reference restarted at 1); every ``image-N`` string is
resolved, the ``images`` key included; a parse failure costs a turn, as in the reference.

Decisions where the spec leaves room (ours): a model that cannot see images (``vision: false``, or
a failed probe) gets the same prompts with a note that only the tools see the images, and the
tools' textual observations; an observer call that fails for good (e.g. a context overflow) ends
the loop early and goes to the summarizer (``stopped: model_error``); generated images go to a
fresh folder ``<result_dir or the system temp>/<task id>-<random>/image-k.jpg`` so that runs of one
task never overwrite each other; observations cut lists beyond 20 items; ``tool_detail:
signatures`` and ``demos: 0`` shrink the observer prompt for small context windows.

Defaults follow the spec: temperature 0, 4,096 max tokens, 10 ReAct turns, 3 PE attempts.
Roles: ``observer`` (ReAct turns), ``summarizer`` (ReAct's forced answer, PE's answer),
``planner``, ``executor``, ``solver`` (PE's fallback), ``thinker`` (the SelfThinking tool).
Calls: ReAct ≤ max_turns + 1 (+1 per SelfThinking); Plan-Execute 3 per attempt, + 1 fallback.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any, Literal, TypedDict

from pydantic import Field

from maslab.agent import Agent
from maslab.agents.spatial_agent.actions import (
    ActionError,
    PlanError,
    forced_answer,
    parse_action,
    parse_plan,
)
from maslab.agents.spatial_agent.executor import Observation, execute, summarise
from maslab.agents.spatial_agent.prompts import (
    FALLBACK_PROMPT,
    JSON_FEEDBACK,
    OTHER_FEEDBACK,
    PE_EXECUTOR_PROMPT,
    PE_SUMMARIZER_PROMPT,
    PLANNER_PROMPT,
    REACT_EXECUTOR_SUFFIX,
    REACT_SUMMARIZER_PROMPT,
    fill,
    observer_prompt,
    request,
    text_only_note,
    toolbox_text,
)
from maslab.answers import extract_tag
from maslab.errors import ModelCallError
from maslab.graph import END, START, loop_edge, state_graph
from maslab.messages import ImagePart, Message, TextPart
from maslab.method import Deviation, Method, MethodConfig, RunContext, register_method
from maslab.task import Task
from maslab.tools.spatial.toolbox import BACKENDS
from maslab.tools.spatial.workspace import Workspace
from maslab.trace import get_logger

log = get_logger(__name__)

__all__ = ["Config", "SpatialAgent"]


class Config(MethodConfig):
    paradigm: Literal["react", "plan_execute"] = Field(default="react", description="ReAct or Plan-Execute")
    max_turns: int = Field(default=10, ge=1, description="ReAct observer turns before the forced summary")
    max_attempts: int = Field(default=3, ge=1, json_schema_extra={"count": True},
                              description="Plan-Execute attempts before the plain-model fallback")
    tool_detail: Literal["full", "signatures"] = Field(
        default="full", description="toolbox in prompts: the paper's full entries, or one signature line per tool")
    demos: int = Field(default=4, ge=0, le=4, description="ReAct demos in the observer prompt (the paper: 4)")
    result_dir: str | None = Field(default=None, json_schema_extra={"path": True},
                                   description="folder for generated images (default: the system temp folder)")
    temperature: float | None = Field(default=0.0, description="sampling temperature (the paper: 0)")
    max_tokens: int | None = Field(default=4096, description="completion-token cap per call (the paper: 4096)")


DEVIATIONS = (
    Deviation(what="Detection, counting, masks, optical flow and camera pose run on classical stand-ins (HSV "
                   "components, HOG people, Haar faces; OpenCV DIS flow; SIFT + essential matrix) instead of "
                   "Rex-Omni, SAM2, RAFT and VGGT; every result is labelled stand-in",
              why="offline, without the paper's models (the spec's stand-ins; the tool code was never released)",
              kind="choice"),
    Deviation(what="Metric depth, 3-D boxes, orientation and intrinsics are oracles read from the image's fixture "
                   "metadata instead of Depth-Anything-V2, DetAny3D, OrientAnything and MapAnything; every result is "
                   "labelled oracle", why="no classical method exists offline (the spec's oracles)", kind="choice"),
    Deviation(what="Plan-Execute (planner, run every call, executor, summarizer, 3 attempts, plain-model fallback) is "
                   "rebuilt from the paper's description and prompts", why="its code was never released "
                   "(reconstructed)", calls="3 per attempt + 1 fallback", kind="missing"),
    Deviation(what="Generated images are numbered after the inputs", why="the scaffold starts the counter at 1, so a "
              "generated image's id can collide with an input's (a bug)", kind="bug"),
    Deviation(what="Every argument string 'image-N' is resolved, inside lists and under `images` too, and a tool "
                   "taking `image` called with `images` gets them as `image`", why="the scaffold resolves only "
                   "image / other_images, yet a published demo passes `images` (a bug)", kind="bug"),
    Deviation(what="The parse-error feedback and the request line are worded by maslab (same content and order)",
              why="they exist only in the scaffold's code, whose licence does not let us copy it", kind="wording"),
    Deviation(what="A role whose model cannot see images gets the same prompts with a note that only the tools see "
                   "them, and the tools' textual observations", why="ours: text-only cores", kind="choice"),
    Deviation(what="An observer call that fails for good (e.g. a context overflow) ends the loop and goes to the "
                   "summarizer", why="ours: the spec leaves it open; the turns so "
              "far still give an answer",
              calls="fewer observer turns than max_turns", kind="choice"),
    Deviation(what="Observations cut lists beyond 20 items (the full result stays in the record); generated images go "
                   "to a fresh folder per run", why="ours: context windows, and runs of one task must not overwrite "
                   "each other", kind="choice"),
    Deviation(what="`tool_detail: signatures` and `demos` < 4 shrink the observer prompt",
              why="ours: small context windows; off by default", profiles=(), kind="choice"),
)


class State(TypedDict, total=False):
    task: Task
    workspace: Workspace
    vision: dict[str, bool]  # role → whether its alias sees images
    messages: list[Message]  # the observer's conversation (ReAct)
    round: int  # ReAct turns taken
    attempt: int  # Plan-Execute attempts started
    plan: list[dict[str, Any]] | None
    cot: str
    observations: list[Observation]
    steps: list[dict[str, Any]]  # what happened, turn by turn (ReAct) or attempt by attempt (PE)
    stopped: str
    answer: str
    metadata: dict[str, Any]


def _user(text: str, images: list[Path], vision: bool, n_inputs: int) -> Message:
    """A user turn: text plus images for a vision model; for a text-only one, the text and a note."""
    if vision and images:
        return Message.user([TextPart(text=text), *(ImagePart(path=str(p)) for p in images)])
    if not vision and n_inputs:
        return Message.user(f"{text}\n\n{text_only_note(n_inputs)}")
    return Message.user(text)


@register_method
class SpatialAgent(Method[Config]):
    name = "spatial_agent"
    citation = "arXiv 2505.17012"
    summary = "SpatialAgent: a multimodal core calls perception/geometry tools (ReAct or Plan-Execute) on spatial questions."
    roles = ("observer", "summarizer", "planner", "executor", "solver", "thinker")
    Config = Config
    reference = ("SpatialAgent, arXiv 2505.17012 v3 (prompts Appendix B.3, tools B.4; temperature 0, 4,096 tokens, "
                 "10 ReAct turns, 3 Plan-Execute attempts) and the released scaffold haoningwu3639/SpatialScore "
                 "(ReAct loop, parser, executor; the spec names no commit)")
    deviations = DEVIATIONS

    def __init__(self, config: Config | None = None) -> None:
        super().__init__(config)
        self.recursion_limit = 2 * self.config.max_turns + 6 * self.config.max_attempts + 20

    def build(self, ctx: RunContext[Config]) -> Any:
        cfg = self.config
        system = observer_prompt(detail=cfg.tool_detail, demos=cfg.demos)
        observer = ctx.agent("observer", system)
        summarizer = ctx.agent("summarizer", system if cfg.paradigm == "react" else "")
        planner, pe_executor, solver = ctx.agent("planner"), ctx.agent("executor"), ctx.agent("solver")
        thinker = ctx.agent("thinker")
        used: dict[str, Agent] = ({"observer": observer, "summarizer": summarizer, "thinker": thinker}
                                  if cfg.paradigm == "react" else
                                  {"planner": planner, "executor": pe_executor, "summarizer": summarizer,
                                   "solver": solver, "thinker": thinker})

        def user(state: State, role: str, text: str, images: list[Path] | None = None) -> Message:
            """`text` with the task's images (or `images`: an observation's new ones, no text-only note)."""
            ws = state["workspace"]
            if images is None:
                return _user(text, ws.inputs, state["vision"][role], len(ws.inputs))
            return _user(text, images, state["vision"][role], 0)

        async def start(state: State) -> State:
            task = state["task"]
            root = Path(cfg.result_dir) if cfg.result_dir else None
            if root is not None:
                root.mkdir(parents=True, exist_ok=True)
            folder = tempfile.mkdtemp(prefix=f"{_slug(task.id)}-", dir=root)
            vision = {role: await ctx.pool.supports_images(agent.model) for role, agent in used.items()}
            workspace = Workspace(task.images, folder)

            async def think(query: str, images: list[Path]) -> str:
                return await ctx.ask(thinker, [_user(query, images, vision["thinker"], len(images))])

            workspace.think = think
            out: State = {"workspace": workspace, "vision": vision, "steps": [], "round": 0, "attempt": 0}
            if cfg.paradigm == "react":
                out["messages"] = [_user(request(task.prompt()), workspace.inputs, vision["observer"],
                                         len(workspace.inputs))]
            return out

        # ------------------------------------------------------------------------------ ReAct

        async def observe(state: State) -> State:
            ws, turn = state["workspace"], state["round"] + 1
            messages, steps = list(state["messages"]), list(state["steps"])
            try:
                reply = await ctx.ask(observer, messages)
            except ModelCallError as e:  # a call that failed for good (e.g. context overflow): go summarize
                log.warning("spatial_agent.observer_failed", turn=turn, error=str(e)[:300])
                return {"round": turn, "stopped": "model_error", "steps": [*steps, {"turn": turn, "model_error": str(e)}]}
            messages.append(Message.assistant(reply))
            try:
                parsed = parse_action(reply)
            except ActionError as e:
                hint = JSON_FEEDBACK if e.kind == "json" else OTHER_FEEDBACK
                messages.append(Message.user(f"OBSERVATION:\n{e}\n{hint}"))
                return {"round": turn, "messages": messages,
                        "steps": [*steps, {"turn": turn, "parse_error": e.kind, "message": str(e)}]}
            action = parsed.action
            if action is not None and action["name"] == "Terminate":
                answer = action["arguments"].get("answer")
                if isinstance(answer, str | int | float) and str(answer).strip():
                    return {"round": turn, "messages": messages, "answer": str(answer).strip(), "stopped": "terminate",
                            "steps": [*steps, {"turn": turn, "thought": parsed.thought, "action": action}]}
                messages.append(Message.user(f"OBSERVATION:\nTerminate needs a non-empty 'answer' argument.\n"
                                             f"{OTHER_FEEDBACK}"))
                return {"round": turn, "messages": messages,
                        "steps": [*steps, {"turn": turn, "parse_error": "other", "message": "Terminate without answer"}]}
            if action is None:
                messages.append(Message.user(f"OBSERVATION:\n{{}}\n{REACT_EXECUTOR_SUFFIX}"))
                return {"round": turn, "messages": messages,
                        "steps": [*steps, {"turn": turn, "thought": parsed.thought, "action": None}]}
            observation = await execute(action, ws, turn=turn)
            messages.append(user(state, "observer", f"OBSERVATION:\n{observation.text()}\n{REACT_EXECUTOR_SUFFIX}",
                                 observation.new_images))
            return {"round": turn, "messages": messages, "observations": [*state.get("observations", []), observation],
                    "steps": [*steps, {"turn": turn, "thought": parsed.thought, **observation.record()}]}

        async def conclude(state: State) -> State:
            if "answer" in state:
                return finish(state, state["answer"])
            memory = [{"step": s["turn"], "action": {"name": s["name"], "arguments": s["arguments"]},
                       "observation": s["error"] if not s["ok"] else s["result"]}
                      for s in state["steps"] if "name" in s]
            text = (request(state["task"].prompt()) + "\n\n"
                    + fill(REACT_SUMMARIZER_PROMPT, ALL_OBSERVATION=json.dumps(memory, ensure_ascii=False)))
            reply = await ctx.ask(summarizer, [user(state, "summarizer", text)])
            stopped = state.get("stopped") or "turn_cap"
            return finish({**state, "stopped": stopped}, forced_answer(reply), forced=True)

        # ------------------------------------------------------------------------------ Plan-Execute

        async def plan(state: State) -> State:
            attempt = state["attempt"] + 1
            text = fill(PLANNER_PROMPT, action_details=toolbox_text(cfg.tool_detail)) + f"\n\nQuestion: {state['task'].prompt()}"
            try:
                calls = parse_plan(await ctx.ask(planner, [user(state, "planner", text)]))
            except (PlanError, ModelCallError) as e:
                step = {"attempt": attempt, "stage": "plan", "error": f"{type(e).__name__}: {e}"}
                return {"attempt": attempt, "plan": None, "steps": [*state["steps"], step]}
            return {"attempt": attempt, "plan": calls}

        async def run_plan(state: State) -> State:
            ws = state["workspace"]
            observations = [await execute(call, ws, turn=i) for i, call in enumerate(state["plan"] or [], start=1)]
            results = [{"name": o.name, "arguments": o.arguments, "result": summarise(o.result) if o.ok else o.error}
                       for o in observations]
            text = (fill(PE_EXECUTOR_PROMPT, tool_plan=json.dumps(state["plan"], ensure_ascii=False),
                         tool_results=json.dumps(results, ensure_ascii=False))
                    + f"\n\nQuestion: {state['task'].prompt()}")
            new = [p for o in observations for p in o.new_images]
            try:
                cot = await ctx.ask(pe_executor, [_user(text, [*ws.inputs, *new], state["vision"]["executor"],
                                                        len(ws.inputs))])
            except ModelCallError as e:
                cot = f"(the executor's call failed: {e})"
            step = {"attempt": state["attempt"], "stage": "execute", "calls": [o.record() for o in observations]}
            return {"cot": cot, "observations": [*state.get("observations", []), *observations],
                    "steps": [*state["steps"], step]}

        async def summarize(state: State) -> State:
            text = f"Question: {state['task'].prompt()}\n\n" + fill(PE_SUMMARIZER_PROMPT, cot_steps=state["cot"])
            try:
                reply = await ctx.ask(summarizer, [user(state, "summarizer", text)])
            except ModelCallError as e:
                reply, error = "", f"{type(e).__name__}: {e}"
            else:
                error = "no <answer>…</answer> in the summary"
            answer = extract_tag(reply, "answer")
            if answer:
                return {"answer": answer, "stopped": "answer"}
            return {"steps": [*state["steps"], {"attempt": state["attempt"], "stage": "summarize", "error": error}]}

        async def fallback(state: State) -> State:
            text = FALLBACK_PROMPT + f"\n\nQuestion: {state['task'].prompt()}"
            reply = await ctx.ask(solver, [user(state, "solver", text)])
            return {"answer": extract_tag(reply, "answer") or reply.strip(), "stopped": "fallback"}

        async def done(state: State) -> State:
            return finish(state, state["answer"])

        def finish(state: State, answer: str, forced: bool = False) -> State:
            observations = state.get("observations", [])
            used_backends = {o.name: BACKENDS[o.name] for o in observations if o.name in BACKENDS}
            metadata = {
                "paradigm": cfg.paradigm, "stopped": state.get("stopped") or "terminate", "forced": forced,
                "turns": state.get("round", 0), "attempts": state.get("attempt", 0),
                "text_only": not all(state["vision"].values()), "steps": state["steps"],
                "oracles": sorted(n for n, b in used_backends.items() if b.kind == "oracle"),
                "stand_ins": sorted(n for n, b in used_backends.items() if b.kind == "stand_in"),
                "provenance": {n: b.label for n, b in used_backends.items() if b.label},
                "result_dir": str(state["workspace"].result_dir),
                "generated_images": [str(p) for p in state["workspace"].generated],
            }
            return {"answer": answer, "metadata": metadata}

        graph = state_graph(State)
        graph.add_node("start", start)
        graph.add_edge(START, "start")
        if cfg.paradigm == "react":
            graph.add_node("observe", observe)
            graph.add_node("conclude", conclude)
            graph.add_edge("start", "observe")
            loop_edge(graph, "observe", again="observe", done="conclude", max_rounds=cfg.max_turns,
                      until=lambda s: "answer" in s or s.get("stopped") == "model_error")
            graph.add_edge("conclude", END)
            return graph

        def retry_or_fallback(state: State) -> str:
            return "plan" if state["attempt"] < cfg.max_attempts else "fallback"

        graph.add_node("plan", plan)
        graph.add_node("execute", run_plan)
        graph.add_node("summarize", summarize)
        graph.add_node("fallback", fallback)
        graph.add_node("done", done)
        graph.add_edge("start", "plan")
        graph.add_conditional_edges("plan", lambda s: "execute" if s.get("plan") else retry_or_fallback(s),
                                    ["execute", "plan", "fallback"])
        graph.add_edge("execute", "summarize")
        graph.add_conditional_edges("summarize", lambda s: "done" if "answer" in s else retry_or_fallback(s),
                                    ["done", "plan", "fallback"])
        graph.add_edge("fallback", "done")
        graph.add_edge("done", END)
        return graph


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)[:80] or "task"
