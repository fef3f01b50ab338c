"""T1-Agent (arXiv 2505.16986, T1: multi-domain, multi-turn travel planning with tools and a cache).

Planning is code generation. For a dialogue D = {A₁, U₁, A₂, U₂, …} the agent, for each user
turn t in order (spec §5, "Loop"):

    1. cache ← the gold cache after turn t−1 (``cache_mode: gold``, the default) or the cache its
       own plans left (``cache_mode: rollout``); empty before the first turn;
    2. prompt ← system role "expert travel planner" + ``# TOOL CONFIG``, ``# INSTRUCTIONS``,
       ``# OUTPUT FORMAT``, ``# EXAMPLES`` (few-shot, from *train*-split dialogues),
       ``# CONVERSATION`` (up to and including U_t) and ``# CACHE`` (the rule-based summary, one
       line per entry: key and producing query — never the contents);
    3. the planner replies ``<REASONING>…</REASONING><CODE>…</CODE>``; the code is read out by
       `parse_reply` (tolerant of a missing reasoning block and stray fences);
    4. the code runs in the sandbox subprocess (`aexecute_plan`: tools bound to the dialogue's
       cache and the KB, a timeout, a memory limit). It reuses (``get_results_from_cache`` then
       ``filter_*``/``sort_results``), recomputes (a new search saved under a fresh key when a
       mandatory parameter changed), asks (``seek_information`` naming only the missing
       mandatory parameters) or is exactly ``print("No planning needed")`` — which, like empty
       code, is not run: the cache stays as it was;
    5. the cache after the run becomes the agent's own cache; go to the next user turn.

A bad plan — wrong tool arguments (a pydantic ``ValidationError``), any exception, an infinite
loop, a huge allocation, a forbidden import — is an execution failure recorded for that turn in
the spec's taxonomy (validation_error / undefined_variable / index_out_of_range / other); the
dialogue goes on. Model-written code never runs in this process.

Decisions where the spec leaves room (ours):

- **Execution feedback.** The spec requires that a wrongly typed argument "returns a
  ``ValidationError`` result to the model", so by default (``repair_rounds: 1``) a failed plan's
  result — e.g. the ``ValidationError`` naming the tool and argument — goes back to the planner
  as the plan's result (a follow-up message after its own reply; the cache is reset to the
  turn's start) and it may rewrite the plan once; the last attempt is the turn's prediction and
  the failed attempts are kept in the answer (the scorer also reports first-attempt execution
  success, the paper's single-shot figure). ``repair_rounds: 0`` is the paper's single-shot loop.
- **Decoding.** temperature 0.1 as in the paper; top-k (10 in the paper) is left to the server
  (not every OpenAI-compatible server accepts it); ``max_tokens`` 1024 (the paper allows 4000;
  a plan with its reasoning rarely needs more than a few hundred tokens).
- **Few-shot.** ``n_examples: 5`` (the paper found a plateau after 5 shots on flights; v2 uses
  13), drawn by `default_examples` from train-split dialogues with the run's ``seed``.
- **Prompt size.** ``tools: all`` and ``tool_detail: full`` give the spec's prompt. For small
  context windows (the embedded 2k-token SmolLM2) ``tools: dialogue`` lists only the tools of
  the dialogue's domains (plus ``search_nearest`` for multi-domain ones and the common tools)
  and ``tool_detail: signatures`` writes one signature line per tool.
- **Model-call failures** (e.g. a prompt beyond the context window) are recorded for that turn
  as an empty prediction and the dialogue goes on; only when every turn failed does the error
  propagate (an inference error, not a zero score).
- **Tasks.** A task from ``load_dataset("t1")`` carries the whole dialogue in
  ``metadata["dialogue"]``; any other task is treated as a one-turn dialogue whose user turn
  is the question (``maslab ask … --method t1_agent``), planned on an empty cache.

The answer (what the ``t1`` scorer reads) is JSON, format ``t1-answer/1`` (`T1Answer`)::

    {"format": "t1-answer/1", "dialogue_id": str, "cache_mode": "gold" | "rollout",
     "turns": [{"turn_index": int,            # index of the user turn in the dialogue
                "code": str,                  # the plan that counts ("" when none)
                "reasoning": str | null, "had_code_tag": bool,
                "cache_before": str,          # summary of the cache the turn started from
                "execution": ExecutionResult | null,   # null: nothing ran (no-op line, no code)
                "model_error": str | null,
                "attempts": [{"code", "ok", "error_category", "error"}]}, …]}

``execution`` is `maslab.tools.travel.execute.ExecutionResult` without ``cache_after`` (the
cache contents; its ``cache_summary`` is kept) and with stdout/stderr cut to 2,000 characters.
`score_dialogue` (behind the ``t1`` scorer of `maslab.bench.scorers`) turns an answer into the
spec's per-turn metrics (`score_turn`) without re-running its code.
The solution metadata holds, per turn, the plan's tool-dependency graph (`plan_graph` as node
and edge lists) for the trace; `plan_mermaid` draws one plan as Mermaid text.

Graph: ``setup → plan → execute → (plan | finish)``, a loop bounded by ``max_turns`` user turns
(and ``repair_rounds`` re-plans per turn). Role: ``planner``. Calls: one per user turn (+ one per
repair).
"""

from __future__ import annotations

import asyncio
import functools
import json
from pathlib import Path
from typing import Any, Literal, TypedDict

from maslab.tools.travel.analysis import plan_graph
from maslab.tools.travel.cache import ToolCache
from maslab.tools.travel.dialogues import Dialogue, DialogueTurn
from maslab.tools.travel.execute import ExecutionResult, aexecute_plan
from maslab.tools.travel.metrics import TurnScore, is_noop, score_turn
from maslab.tools.travel.prompt import (
    PromptExample,
    _type_text,
    build_prompt,
    default_examples,
    parse_reply,
    tool_config,
)
from maslab.tools.travel.tools import TOOL_CATEGORIES, TOOL_SPECS
from pydantic import BaseModel, Field

from maslab.errors import MaslabError
from maslab.graph import END, START, loop_edge, state_graph
from maslab.messages import Message
from maslab.method import Method, MethodConfig, RunContext, register_method
from maslab.task import Task
from maslab.trace import current_recorder, get_logger

log = get_logger(__name__)

__all__ = [
    "ANSWER_FORMAT",
    "Attempt",
    "Config",
    "T1Agent",
    "T1Answer",
    "TurnRecord",
    "compact_tool_config",
    "plan_graph_data",
    "plan_mermaid",
    "score_dialogue",
    "task_dialogue",
]

ANSWER_FORMAT = "t1-answer/1"
_TEXT_LIMIT = 2000
REPAIR_PROMPT = (
    "Your code was executed. {feedback}\n"
    "The cache is back to its state before this turn. Fix the plan and reply again in the same format.")


# ---------------------------------------------------------------------------------------------
# the answer format


class Attempt(BaseModel):
    """An earlier, failed attempt at a turn's plan (only with ``repair_rounds`` > 0)."""

    code: str
    ok: bool
    error_category: str | None = None
    error: str | None = None


class TurnRecord(BaseModel):
    """What the agent did on one user turn."""

    turn_index: int
    code: str = ""
    reasoning: str | None = None
    had_code_tag: bool = False
    cache_before: str = ""
    execution: ExecutionResult | None = None
    model_error: str | None = None
    attempts: list[Attempt] = Field(default_factory=list)


class T1Answer(BaseModel):
    """The agent's answer for one dialogue (see the module docstring)."""

    format: Literal["t1-answer/1"] = ANSWER_FORMAT
    dialogue_id: str
    cache_mode: Literal["gold", "rollout"]
    turns: list[TurnRecord]


def _lean(execution: ExecutionResult) -> ExecutionResult:
    """The execution result as the answer carries it: no cache contents, short output streams."""
    return execution.model_copy(update={
        "cache_after": {}, "stdout": execution.stdout[-_TEXT_LIMIT:], "stderr": execution.stderr[-_TEXT_LIMIT:]})


# ---------------------------------------------------------------------------------------------
# tasks, prompts, plan graphs


def task_dialogue(task: Task) -> Dialogue:
    """The task's dialogue: ``metadata["dialogue"]`` (a T1 task), else a one-turn dialogue of the question."""
    data = task.metadata.get("dialogue")
    if data is not None:
        return data if isinstance(data, Dialogue) else Dialogue.model_validate(data)
    return Dialogue(id=task.id, category=task.domain or "adhoc", domains=[], split="adhoc", template_id="",
                    seed=0, kb_seed=0, kb_scale="test", turns=[DialogueTurn(role="user", text=task.question)])


def _kb_path(task: Task, dialogue: Dialogue) -> str:
    """The task's KB file when it exists here, else the KB of (kb_seed, kb_scale), built on first use."""
    given = (task.metadata.get("kb") or {}).get("path")
    if given and Path(given).is_file():
        return str(given)
    from maslab.tools.travel.kb import get_kb

    return str(get_kb(dialogue.kb_seed, dialogue.kb_scale).path)


@functools.lru_cache(maxsize=16)
def _examples(n: int, seed: int, kb_path: str) -> tuple[PromptExample, ...]:
    from maslab.tools.travel.kb import load_kb

    return tuple(default_examples(n, seed=seed, kb=load_kb(kb_path))) if n > 0 else ()


def _tool_names(domains: list[str]) -> list[str]:
    """The tools of `domains` (all tools for none), search_nearest for several, and the common tools."""
    names: list[str] = []
    for category, tools in TOOL_CATEGORIES.items():
        if (not domains or category in domains or category == "common"
                or (category == "multi-domain" and len(domains) > 1)):
            names += tools
    return names


def compact_tool_config(names: list[str] | None = None) -> str:
    """A ``# TOOL CONFIG`` body with one signature line (and its description) per tool."""
    lines: list[str] = []
    keep = set(names) if names is not None else set(TOOL_SPECS)
    for category, tools in TOOL_CATEGORIES.items():
        chosen = [n for n in tools if n in keep]
        if not chosen:
            continue
        lines.append(f"## {category}")
        for name in chosen:
            spec = TOOL_SPECS[name]
            params = []
            for p, f in spec.args_model.model_fields.items():
                params.append(f"{p}: {_type_text(f.annotation)}" + ("" if f.is_required() else f" = {f.default!r}"))
            lines.append(f"{name}({', '.join(params)}) -> {spec.returns}  # {spec.description}")
    return "\n".join(lines)


def _full_tool_config(names: list[str]) -> str:
    """The spec's full ``# TOOL CONFIG`` body, keeping only the tools in `names`."""
    keep, out = set(names), []
    for block in tool_config().split("\n\n"):  # one block per category: "## name", then tool blocks
        header, *body = block.splitlines()
        kept, on = [], False
        for line in body:
            if not line.startswith(" "):  # a signature line starts a tool block
                on = line.split("(", 1)[0] in keep
            if on:
                kept.append(line)
        if kept:
            out.append("\n".join([header, *kept]))
    return "\n\n".join(out)


def _json_value(v: Any) -> Any:
    if v is None or isinstance(v, bool | int | float | str):
        return v
    if isinstance(v, list | tuple | set | frozenset):
        return [_json_value(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _json_value(x) for k, x in v.items()}
    return str(v)  # Expr: its source text


def plan_graph_data(code: str) -> dict[str, Any]:
    """A plan's tool-dependency graph as JSON-ready node and edge lists (``error`` when it does not parse)."""
    try:
        g = plan_graph(code) if code.strip() else None
    except SyntaxError as exc:
        return {"nodes": [], "edges": [], "error": f"SyntaxError: {exc.msg} (line {exc.lineno})"}
    if g is None:
        return {"nodes": [], "edges": []}
    nodes = [{"id": n, "name": d["name"], "args": _json_value(d["args"]), "lineno": d["lineno"],
              "target": d.get("target")} for n, d in sorted(g.nodes(data=True))]
    edges = [{"source": a, "target": b, "args": list(d["args"])} for a, b, d in sorted(g.edges(data=True))]
    return {"nodes": nodes, "edges": edges}


def _mermaid_text(text: str) -> str:
    return (text.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")
            .replace("|", "#124;"))


def plan_mermaid(code: str, *, max_value_chars: int = 40) -> str:
    """Mermaid text of a plan's tool-dependency graph: one node per tool call, an edge per data flow.

    `code` is plan code or a whole model reply (its ``<CODE>`` block is used). Edges are labelled
    with the receiving parameters. Static (the code is parsed, never run); `SyntaxError` if it
    does not parse.
    """
    if "<CODE>" in code.upper():
        code = parse_reply(code).code
    g = plan_graph(code)
    lines = ["graph TD"]
    if not g.nodes:
        lines.append('    empty["no tool calls"]')
        return "\n".join(lines)
    for n, d in sorted(g.nodes(data=True)):
        args = []
        for k, v in d["args"].items():
            text = repr(v) if not hasattr(v, "text") else v.text
            args.append(f"{k}={text if len(text) <= max_value_chars else text[:max_value_chars - 1] + '…'}")
        label = d["name"] + (f"<br/>{_mermaid_text(', '.join(args))}" if args else "")
        target = f"{d['target']} = " if d.get("target") else ""
        lines.append(f'    c{n}["{_mermaid_text(target)}{label}"]')
    for a, b, d in sorted(g.edges(data=True)):
        lines.append(f"    c{a} -->|{_mermaid_text(', '.join(d['args']))}| c{b}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# the system


class Config(MethodConfig):
    cache_mode: Literal["gold", "rollout"] = Field(
        default="gold", description="each turn starts from the gold cache (gold) or the agent's own (rollout)")
    n_examples: int = Field(default=5, ge=0, description="few-shot examples from train-split dialogues")
    with_reasoning: bool = Field(default=True, description="ask for <REASONING> and <CODE> (False: <CODE> only, SFT)")
    tools: Literal["all", "dialogue"] = Field(
        default="all", description="tool config: every tool, or only those of the dialogue's domains")
    tool_detail: Literal["full", "signatures"] = Field(
        default="full", description="tool config: parameters described one per line, or one signature per tool")
    timeout: float = Field(default=10.0, gt=0, description="sandbox seconds per plan")
    memory_mb: int = Field(default=1024, ge=64, description="sandbox memory limit per plan")
    repair_rounds: int = Field(default=1, ge=0, description="re-plans after a failed execution, the error fed back")
    max_turns: int = Field(default=50, ge=1, description="most user turns planned per dialogue (loop bound)")
    temperature: float | None = Field(default=0.1, description="sampling temperature (the paper: 0.1)")
    max_tokens: int | None = Field(default=1024, description="completion-token cap per call (the paper: 4000)")


class State(TypedDict, total=False):
    task: Task
    dialogue: Dialogue
    kb_path: str
    examples: tuple[PromptExample, ...]
    users: list[int]  # indices of the dialogue's user turns
    pos: int  # position in `users` of the turn being planned
    attempt: int  # 0: the turn's first plan; k: its k-th repair
    own_cache: dict[str, Any]  # ToolCache.to_dict() the agent's plans left
    pending: dict[str, Any]  # the turn in progress
    turns: list[dict[str, Any]]
    answer: str
    metadata: dict[str, Any]


@register_method
class T1Agent(Method):
    name = "t1_agent"
    citation = "arXiv 2505.16986"
    summary = "T1-Agent: per user turn, write Python against 14 travel tools, run it in the sandbox, keep a cache."
    roles = ("planner",)
    Config = Config

    def __init__(self, config: MethodConfig | None = None) -> None:
        super().__init__(config)
        cfg: Config = self.config  # type: ignore[assignment]
        self.recursion_limit = 2 * cfg.max_turns * (1 + cfg.repair_rounds) + 10  # type: ignore[misc]

    def build(self, ctx: RunContext) -> Any:
        cfg: Config = self.config  # type: ignore[assignment]
        planner = ctx.agent("planner")

        async def setup(state: State) -> State:
            task = state["task"]
            dialogue = task_dialogue(task)
            kb_path = await asyncio.to_thread(_kb_path, task, dialogue)
            examples = await asyncio.to_thread(_examples, cfg.n_examples, cfg.seed, kb_path)
            return {"dialogue": dialogue, "kb_path": kb_path, "examples": examples,
                    "users": dialogue.user_turn_indices(), "pos": 0, "attempt": 0,
                    "own_cache": ToolCache().to_dict(), "turns": []}

        def cache_before(state: State, i: int) -> ToolCache:
            if cfg.cache_mode == "gold":
                return state["dialogue"].gold_cache_before(i)
            return ToolCache.from_dict(state["own_cache"])

        def first_messages(state: State, i: int, cache: ToolCache) -> list[Message]:
            dialogue = state["dialogue"]
            prompt = build_prompt(dialogue, i, cache, examples=list(state["examples"]) or None,
                                  with_reasoning=cfg.with_reasoning)
            user = prompt.user
            if cfg.tools != "all" or cfg.tool_detail != "full":
                names = _tool_names(dialogue.domains) if cfg.tools == "dialogue" else list(TOOL_SPECS)
                config = compact_tool_config(names) if cfg.tool_detail == "signatures" else _full_tool_config(names)
                user = user.replace(tool_config(), config, 1)
            return [Message.system(prompt.system), Message.user(user)]

        async def plan(state: State) -> State:
            i = state["users"][state["pos"]]
            pending = dict(state.get("pending") or {}) if state.get("attempt", 0) else {}
            if not pending:
                cache = cache_before(state, i)
                pending = {"turn_index": i, "cache_before": cache.to_dict(), "attempts": [],
                           "messages": first_messages(state, i, cache)}
            messages: list[Message] = pending["messages"]
            try:
                reply = await ctx.ask(planner, messages)
            except MaslabError as exc:  # a failed call is this turn's (empty) prediction; the dialogue goes on
                log.warning("t1_model_call_failed", turn=i, error=str(exc)[:300])
                return {"pending": {**pending, "reply": None, "code": "", "reasoning": None, "had_code_tag": False,
                                    "model_error": f"{type(exc).__name__}: {exc}"}}
            parsed = parse_reply(reply)
            return {"pending": {**pending, "reply": reply, "code": parsed.code, "reasoning": parsed.reasoning,
                                "had_code_tag": parsed.had_code_tag, "model_error": None}}

        async def execute(state: State) -> State:
            pending = state["pending"]
            before = ToolCache.from_dict(pending["cache_before"])
            code = pending.get("code") or ""
            execution: ExecutionResult | None = None
            after = before
            if code.strip() and not is_noop(code):
                execution = await aexecute_plan(code, before, state["kb_path"], timeout=cfg.timeout,
                                                memory_mb=cfg.memory_mb)
                after = execution.cache()
            recorder = current_recorder()
            if recorder is not None:
                recorder.event("t1_turn", turn_index=pending["turn_index"], attempt=state.get("attempt", 0),
                               ran=execution is not None, ok=execution.ok if execution else None,
                               error_category=execution.error_category if execution else None,
                               calls=[c.name for c in execution.calls] if execution else [],
                               model_error=pending.get("model_error"))
            attempt = state.get("attempt", 0)
            if execution is not None and not execution.ok and attempt < cfg.repair_rounds:
                feedback = REPAIR_PROMPT.format(feedback=execution.feedback())
                return {"attempt": attempt + 1, "pending": {
                    **pending,
                    "messages": [*pending["messages"], Message.assistant(pending["reply"]), Message.user(feedback)],
                    "attempts": [*pending["attempts"], Attempt(code=code, ok=False, error=execution.error,
                                                                error_category=execution.error_category)]}}
            record = TurnRecord(turn_index=pending["turn_index"], code=code, reasoning=pending.get("reasoning"),
                                had_code_tag=bool(pending.get("had_code_tag")), cache_before=before.summary(),
                                execution=_lean(execution) if execution is not None else None,
                                model_error=pending.get("model_error"), attempts=pending["attempts"])
            return {"turns": [*state["turns"], record.model_dump(mode="json")], "pos": state["pos"] + 1,
                    "attempt": 0, "pending": {}, "own_cache": after.to_dict()}

        async def finish(state: State) -> State:
            dialogue = state["dialogue"]
            records = [TurnRecord.model_validate(t) for t in state["turns"]]
            if records and all(r.model_error for r in records):
                raise MaslabError(f"t1_agent: every model call of dialogue {dialogue.id!r} failed; "
                                  f"last: {records[-1].model_error}")
            answer = T1Answer(dialogue_id=dialogue.id, cache_mode=cfg.cache_mode, turns=records)
            graphs = [{"turn_index": r.turn_index, **plan_graph_data(r.code)} for r in records]
            summary = [{"turn_index": r.turn_index, "ran": r.execution is not None,
                        "ok": r.execution.ok if r.execution else None,
                        "error_category": r.execution.error_category if r.execution else None,
                        "model_error": r.model_error, "repairs": len(r.attempts)} for r in records]
            return {"answer": answer.model_dump_json(), "metadata": {
                "dialogue_id": dialogue.id, "category": dialogue.category, "cache_mode": cfg.cache_mode,
                "turns": summary, "plan_graphs": graphs,
                "unplanned_turns": len(state["users"]) - len(records)}}

        graph = state_graph(State)
        graph.add_node("setup", setup)
        graph.add_node("plan", plan)
        graph.add_node("execute", execute)
        graph.add_node("finish", finish)
        graph.add_edge(START, "setup")
        graph.add_conditional_edges("setup", lambda s: "plan" if s["users"] else "finish", ["plan", "finish"])
        graph.add_edge("plan", "execute")
        loop_edge(graph, "execute", again="plan", done="finish", counter="pos", max_rounds=cfg.max_turns,
                  until=lambda s: s.get("attempt", 0) == 0 and s["pos"] >= len(s["users"]))
        graph.add_edge("finish", END)
        return graph


# ---------------------------------------------------------------------------------------------
# scoring an answer (the `t1` scorer of maslab.bench.scorers delegates here)

_NOT_PLANNED = "\x00(turn not planned)"


def _parse_answer(answer: str) -> T1Answer | None:
    """The answer as a `T1Answer`, or None when it is not one (e.g. a plain reply of another system)."""
    text = answer.strip()
    if not text.startswith("{"):
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("format") != ANSWER_FORMAT:
        return None
    return T1Answer.model_validate(data)


async def score_dialogue(task: Task, answer: str, *, timeout: float = 10.0,
                         memory_mb: int = 1024) -> tuple[list[TurnScore], dict[str, Any]]:
    """Per-user-turn T1 metrics (`score_turn`) of `answer` on the dialogue of T1 task `task`.

    A ``t1-answer/1`` answer is scored turn by turn from what it records (its code and the
    execution the agent ran, from the cache its ``cache_mode`` prescribes); the scorer never
    re-runs its code. A turn the answer lacks scores as an empty prediction (execution failed,
    cache EM 0). Any other answer (a plain reply of another system, with or without ``<CODE>``
    tags) is read as the plan of the *last* user turn, run in the sandbox from the gold cache
    before that turn, and only that turn is scored. Returns the scores and ``{"format",
    "cache_mode", "first_attempt_exec_success"}``. `ValueError` for an answer of another dialogue.
    """
    dialogue = Dialogue.model_validate(task.metadata["dialogue"])
    users = dialogue.user_turn_indices()
    common = {"dialogue_id": dialogue.id, "category": dialogue.category}
    parsed = _parse_answer(answer)
    if parsed is None:
        last = users[-1]
        code = parse_reply(answer).code
        before = dialogue.gold_cache_before(last)
        if code.strip() and not is_noop(code):
            execution = await aexecute_plan(code, before, _kb_path(task, dialogue), timeout=timeout,
                                            memory_mb=memory_mb)
        else:
            execution = ExecutionResult(ok=True, cache_summary=before.summary())
        score = score_turn(code, dialogue.turns[last], execution=execution, turn_index=last, **common)
        first_reply = None if score.exec_success is None else 100.0 * score.exec_success
        return [score], {"format": "reply", "cache_mode": "gold", "first_attempt_exec_success": first_reply}
    if parsed.dialogue_id != dialogue.id:
        raise ValueError(f"the answer is for dialogue {parsed.dialogue_id!r}, the task is {dialogue.id!r}")
    by_turn = {r.turn_index: r for r in parsed.turns}
    scores: list[TurnScore] = []
    first_ok: list[bool] = []
    for i in users:
        rec = by_turn.get(i)
        if rec is None:
            rec = TurnRecord(turn_index=i, execution=ExecutionResult(ok=True, cache_summary=_NOT_PLANNED))
        execution = rec.execution
        if execution is None and (not rec.code.strip() or is_noop(rec.code)):
            execution = ExecutionResult(ok=True, cache_summary=rec.cache_before)  # nothing ran: cache unchanged
        s = score_turn(rec.code, dialogue.turns[i], execution=execution, turn_index=i, **common)
        scores.append(s)
        if s.exec_success is not None:
            first_ok.append(bool(s.exec_success) and not rec.attempts)
    first = 100.0 * sum(first_ok) / len(first_ok) if first_ok else None
    return scores, {"format": ANSWER_FORMAT, "cache_mode": parsed.cache_mode, "first_attempt_exec_success": first}
