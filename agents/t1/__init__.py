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

The solution's answer text is the code of the last planned turn; the structured answer — what
the ``t1`` benchmark's scorer reads, validated there by `maslab.bench.t1.answer.T1Answer` — is
``solution.metadata["t1"]``, format ``t1-answer/1``::

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
The benchmark (`maslab.bench.t1`) turns it into the spec's per-turn metrics without re-running
its code. The solution metadata also holds, per turn, the plan's tool-dependency graph
(`plan_graph_data`: node and edge lists) for the trace; `maslab t1 graph PLAN` draws one plan.

Graph: ``setup → plan → execute → (plan | finish)``, a loop bounded by ``max_turns`` user turns
(and ``repair_rounds`` re-plans per turn). Role: ``planner``. Calls: one per user turn (+ one per
repair).
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any, Literal, TypedDict

from pydantic import Field

from maslab.agents.t1.prompt import PromptExample, build_prompt, default_examples, tool_names
from maslab.errors import MaslabError
from maslab.graph import END, START, loop_edge, state_graph
from maslab.messages import Message
from maslab.method import Deviation, Method, MethodConfig, RunContext, register_method
from maslab.task import Task
from maslab.tools.travel.analysis import is_noop, parse_reply, plan_graph_data
from maslab.tools.travel.cache import ToolCache
from maslab.tools.travel.dialogues import Dialogue, DialogueTurn
from maslab.tools.travel.execute import ExecutionResult, aexecute_plan
from maslab.trace import current_recorder, get_logger

log = get_logger(__name__)

__all__ = ["ANSWER_FORMAT", "Config", "T1Agent", "task_dialogue"]

ANSWER_FORMAT = "t1-answer/1"
ANSWER_KEY = "t1"  # solution.metadata[ANSWER_KEY]: the structured answer the `t1` scorer reads
_TEXT_LIMIT = 2000
REPAIR_PROMPT = (
    "Your code was executed. {feedback}\n"
    "The cache is back to its state before this turn. Fix the plan and reply again in the same format.")


def _lean(execution: ExecutionResult) -> dict[str, Any]:
    """The execution result as the answer carries it: no cache contents, short output streams."""
    return execution.model_copy(update={
        "cache_after": {}, "stdout": execution.stdout[-_TEXT_LIMIT:], "stderr": execution.stderr[-_TEXT_LIMIT:]}
    ).model_dump(mode="json")


# ---------------------------------------------------------------------------------------------
# tasks and few-shot examples


def task_dialogue(task: Task) -> Dialogue:
    """The task's dialogue: ``metadata["dialogue"]`` (a T1 task), else a one-turn dialogue of the question."""
    data = task.metadata.get("dialogue")
    if data is not None:
        return data if isinstance(data, Dialogue) else Dialogue.model_validate(data)
    return Dialogue(id=task.id, category=task.domain or "adhoc", domains=[], split="adhoc", template_id="",
                    seed=0, kb_seed=0, kb_scale="test", turns=[DialogueTurn(role="user", text=task.question)])


def _kb_path(task: Task, dialogue: Dialogue) -> str:
    from maslab.tools.travel.kb import kb_path_for

    return kb_path_for(dialogue.kb_seed, dialogue.kb_scale, (task.metadata.get("kb") or {}).get("path"))


@functools.lru_cache(maxsize=16)
def _examples(n: int, seed: int, kb_path: str) -> tuple[PromptExample, ...]:
    from maslab.tools.travel.kb import load_kb

    return tuple(default_examples(n, seed=seed, kb=load_kb(kb_path))) if n > 0 else ()


# ---------------------------------------------------------------------------------------------
# the system


class Config(MethodConfig):
    profiles = {"default": {}, "reference": {"max_tokens": 4000, "repair_rounds": 0}}  # the paper's single-shot loop

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


DEVIATIONS = (
    Deviation(what="Tool signatures (pydantic-validated) and the prompt's tool-config block are maslab's",
              why="the paper does not publish them and the repository's originals are not imported (spec §3), so "
                  "cache exact match is not comparable with the paper's", kind="missing"),
    Deviation(what="The cache summary is maslab's rule-based line per entry (`key: tool(param=value, …) → n rows`)",
              why="the paper's summary function is unpublished (spec §4)", kind="missing"),
    Deviation(what="The prompt's sections follow the paper; the system role and instructions are worded by maslab",
              why="the paper paraphrases its instructions", kind="wording"),
    Deviation(what="Dialogues, gold code, gold caches and the knowledge base come from maslab's seeded generator (the "
                   "paper's domains, templates and distributions; labelled synthetic), and the few-shot examples "
                   "from its train split; not the released T1 dataset",
              why="a synthetic stand-in: nothing is downloaded at run time and the dataset is not shipped",
              kind="choice"),
    Deviation(what="A failed plan's result (e.g. the ValidationError) goes back to the planner, which may rewrite it "
                   "once (repair_rounds 1); the paper plans each turn once", why="the spec's \"returns a "
                   "ValidationError result to the model\" (ours: how)", profiles=("default",),
              calls="+1 per failed plan", kind="spec"),
    Deviation(what="max_tokens 1024; the paper allows 4000", why="ours: a plan with its reasoning rarely needs more "
              "than a few hundred tokens", profiles=("default",), kind="choice"),
    Deviation(what="top-k (10 in the paper) is not sent; the server's default applies",
              why="not every OpenAI-compatible server accepts it", kind="choice"),
    Deviation(what="Five few-shot examples (n_examples 5, drawn with the run's seed); v2 of the paper uses 13",
              why="the paper found a plateau after 5 shots on flights", kind="choice"),
    Deviation(what="Each turn starts from the gold cache of the previous one (cache_mode: gold); rollout carries the "
                   "agent's own", why="the turn chaining is unpublished (spec §4, our design)", kind="missing"),
    Deviation(what="A failed model call (e.g. a prompt beyond the context window) is that turn's empty prediction "
                   "and the dialogue goes on", why="ours: one turn's failure must not lose the dialogue",
              kind="choice"),
    Deviation(what="`tools: dialogue` and `tool_detail: signatures` shrink the prompt for small context windows",
              why="ours; off by default", profiles=(), kind="choice"),
)


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
class T1Agent(Method[Config]):
    name = "t1_agent"
    citation = "arXiv 2505.16986"
    summary = "T1-Agent: per user turn, write Python against 14 travel tools, run it in the sandbox, keep a cache."
    roles = ("planner",)
    functions = {"planner": "plan"}
    Config = Config
    reference = ("T1-Agent, arXiv 2505.16986 (few-shot planning, temperature 0.1, ≤ 4,000 new tokens, one plan per "
                 "turn) and its repository CapitalOne-Research/T1 (the spec names no commit)")
    deviations = DEVIATIONS

    def __init__(self, config: Config | None = None) -> None:
        super().__init__(config)
        self.recursion_limit = 2 * self.config.max_turns * (1 + self.config.repair_rounds) + 10

    def build(self, ctx: RunContext[Config]) -> Any:
        cfg = self.config
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
                                  with_reasoning=cfg.with_reasoning,
                                  tools=tool_names(dialogue.domains) if cfg.tools == "dialogue" else None,
                                  tool_detail=cfg.tool_detail)
            return [Message.system(prompt.system), Message.user(prompt.user)]

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
                    "attempts": [*pending["attempts"], {"code": code, "ok": False, "error": execution.error,
                                                         "error_category": execution.error_category}]}}
            record = {"turn_index": pending["turn_index"], "code": code, "reasoning": pending.get("reasoning"),
                      "had_code_tag": bool(pending.get("had_code_tag")), "cache_before": before.summary(),
                      "execution": _lean(execution) if execution is not None else None,
                      "model_error": pending.get("model_error"), "attempts": pending["attempts"]}
            return {"turns": [*state["turns"], record], "pos": state["pos"] + 1,
                    "attempt": 0, "pending": {}, "own_cache": after.to_dict()}

        async def finish(state: State) -> State:
            dialogue = state["dialogue"]
            records = state["turns"]
            if records and all(r["model_error"] for r in records):
                raise MaslabError(f"t1_agent: every model call of dialogue {dialogue.id!r} failed; "
                                  f"last: {records[-1]['model_error']}")
            graphs = [{"turn_index": r["turn_index"], **plan_graph_data(r["code"])} for r in records]
            summary = [{"turn_index": r["turn_index"], "ran": r["execution"] is not None,
                        "ok": r["execution"]["ok"] if r["execution"] else None,
                        "error_category": r["execution"]["error_category"] if r["execution"] else None,
                        "model_error": r["model_error"], "repairs": len(r["attempts"])} for r in records]
            return {"answer": records[-1]["code"] if records else "", "metadata": {
                ANSWER_KEY: {"format": ANSWER_FORMAT, "dialogue_id": dialogue.id, "cache_mode": cfg.cache_mode,
                             "turns": records},
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
