"""X-MAS-Bench's function harnesses (arXiv 2505.16997 §3; spec §1): the system `xmas_bench`.

One registered system runs any of the five MAS functions on one task, changing only the examined
alias (role `examined`, or the sweep assignment's `model`) and holding everything else fixed:

    1. fixed inputs — made once by the fixed aliases the bench config names and stored
       content-addressed (`FixedStore`), so every examined alias sees byte-identical inputs and
       a second one reuses them without a call:
         revise, evaluate: the `drafter`'s direct answer to the question (X-MAS: Qwen2.5-32B);
         aggregate: the direct answers of the `answerer`s (X-MAS: Llama-3.3-70B, Qwen2.5-32B,
         DeepSeek-R1-Distill-Qwen-32B), in an order shuffled per query (`aggregation_order`);
    2. the examined model does its function:
         qa — answers the question;  revise — revises the draft;  aggregate — fuses the answers;
         plan — writes a role plan, one role per `###ROLE START:` … `ROLE END###` block;
         evaluate — says "The solution is correct" or "… incorrect" of the drafter's answer;
    3. plan only: the `executor` pool runs the plan's roles as a chain (role i on executor
       i mod n, a fixed rotation; each sees its role, the question and the previous reply); the
       chain's last reply is the answer.

The answer is what gets scored (scorer `xmas`: judge or execution, 0/1/2; evaluate: agreement of
the verdict with the judge's label for the fixed solution). `solution.metadata["xmas"]` records
the function, the examined alias, the task's domain, the fixed inputs' keys (and whether this run
made them), the aggregation order, the plan's roles, the verdict.

Calls per task (examined + fixed-pool calls of this run; fixed inputs are not counted in the
row's usage — they are shared by every examined alias and recorded in the store with their own
usage): qa, revise, aggregate, evaluate 1; plan 1 + r (r ≤ `max_roles` roles); first use of a
fixed input: + 1 per drafter / answerer.

Where we follow the spec rather than the reference code, or decide ourselves (marked "ours"):
the aggregation order is a numpy permutation seeded by (seed 2025, query) — a function of the
query, not of the row's position in a file (ours); executors rotate i mod n (ours: the reference
hard-codes a 160-entry rotation list); a plan is cut to `max_roles` roles (ours: the reference has
no bound); a plan without any role block answers "" (the reference writes an empty output); the
last verdict sentence of an evaluation decides (ours); the fixed inputs are seed-independent
(one draft per task for every seed of a sweep, as X-MAS has one per task). Prompts are ours.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal, TypedDict

from pydantic import Field, model_validator

from maslab.answers import solution_verdict
from maslab.bench.xmas.domains import canonical_domain
from maslab.bench.xmas.fixed import Fixed, FixedStore
from maslab.bench.xmas.prompts import (
    aggregate_prompt,
    evaluate_prompt,
    executor_prompt,
    extract_roles,
    plan_prompt,
    revise_prompt,
)
from maslab.graph import END, START, gather, state_graph
from maslab.method import Deviation, Method, MethodConfig, RunContext, register_method
from maslab.task import Task
from maslab.trace import RunRecorder, get_logger, recording

log = get_logger(__name__)

Function = Literal["qa", "revise", "aggregate", "plan", "evaluate"]
FIXED_ROLES: dict[str, tuple[str, ...]] = {"revise": ("drafter",), "evaluate": ("drafter",),
                                          "aggregate": ("answerer",), "plan": ("executor",)}
FIXED_STORE_FILE = "xmas_fixed.sqlite"


def aggregation_order(query: str, seed: int, n: int) -> list[int]:
    """The order in which the aggregator sees the `n` fixed answers: a numpy permutation seeded by
    (seed, query) — deterministic per query, different between queries (spec §1: numpy seed 2025)."""
    import numpy as np

    digest = hashlib.sha256(f"{seed}\x00{query}".encode()).digest()
    return [int(i) for i in np.random.default_rng(int.from_bytes(digest[:8], "big")).permutation(n)]


def alias_identity(pool: Any, alias: str) -> dict[str, Any]:
    """What identifies an alias's model in a content address (never a key or a key's variable name)."""
    cfg = pool.config.models[alias]
    return {"alias": alias, "endpoints": sorted({e.model for e in cfg.endpoints}),
            "serve": {"engine": cfg.serve.get("engine"), "model": cfg.serve.get("model")} if cfg.serve else None,
            "scripted": cfg.scripted is not None, "strip_reasoning": cfg.strip_reasoning, "params": cfg.params}


class Config(MethodConfig):
    function: Function = Field(default="qa", description="the MAS function examined: qa, revise, aggregate, "
                               "plan or evaluate")
    shuffle_seed: int = Field(default=2025, description="seed of the per-query order of the answers to aggregate")
    max_roles: int = Field(default=8, ge=1, json_schema_extra={"count": True},
                           description="plan: at most this many roles of a plan are run (ours)")
    fixed_store: str | None = Field(
        default=None, json_schema_extra={"path": True},
        description="SQLite file of the fixed inputs (default: xmas_fixed.sqlite beside the pool's cache, else memory)")

    @model_validator(mode="after")
    def _fixed_aliases_named(self) -> Config:
        for role in FIXED_ROLES.get(self.function, ()):
            if not self.roles.get(role):
                raise ValueError(f"function {self.function!r} needs roles.{role}: the fixed alias(es) every examined "
                                 "model is measured against (they never fall back to `model`)")
        return self


DEVIATIONS = (
    Deviation(what="The prompts and the judge's two calls ask what the reference's ask, in the same order, in "
                   "maslab's words, keeping the fixed markers its parsers need; the judge ends with a verdict line "
                   "of ours", why="the reference repository has no licence", kind="wording"),
    Deviation(what="The order of the answers to aggregate is a numpy permutation seeded by (2025, query)",
              why="ours: a function of the query, not of the row's position in a file", kind="choice"),
    Deviation(what="The plan's roles go to the executors in rotation i mod n",
              why="ours: the reference hard-codes a 160-entry rotation list", kind="choice"),
    Deviation(what="A plan is cut to max_roles (8) roles", why="ours: the reference has no bound",
              calls="plan: at most 1 + max_roles", kind="choice"),
    Deviation(what="The last verdict sentence of an evaluation decides", why="ours: the reference's rule for replies "
              "with both sentences is not given", kind="choice"),
    Deviation(what="Fixed inputs (drafts, answers to aggregate) are made once per task and fixed alias, stored by "
                   "content and shared by every examined alias and seed; their calls are not counted in a row's "
                   "usage", why="ours: byte-identical inputs across examined models, as X-MAS has one per task",
              calls="fixed-input calls once per task, recorded in the store", kind="choice"),
    Deviation(what="Every call is capped at the configured max_tokens (2048 by default)",
              why="the reference ignores its --model_max_tokens flag and sends 2048 for model names containing "
                  "'7b', 8192 otherwise (a bug)", kind="bug"),
    Deviation(what="GPQA's options are shuffled per item with a seeded RNG, and every multiple-choice item's options "
                   "per (seed, item)", why="the shipped GPQA files have the gold letter A on every item (a data "
                   "defect)", kind="bug"),
    Deviation(what="The score is the percentage of items graded 2 (mean grade / 2 is reported too); the judge runs at "
                   "temperature 0", why="the release does not say how 0/1/2 become percentages (the spec's choice)",
              calls="2 judge calls per scored non-code item", kind="spec"),
    Deviation(what="GPQA is filed under science and MMLU / MMLU-Pro under general",
              why="the release does not state their domains (the spec's choice)", kind="spec"),
)


class State(TypedDict, total=False):
    task: Task
    fixed: list[Fixed]
    material: list[str]  # the fixed texts the examined model is shown, in the order shown
    order: list[int]
    plan: str
    answer: str
    metadata: dict[str, Any]


@register_method
class XMASBench(Method[Config]):
    name = "xmas_bench"
    citation = "arXiv 2505.16997"
    summary = "X-MAS-Bench harness: one MAS function (qa/revise/aggregate/plan/evaluate) by the examined alias."
    roles = ("examined", "drafter", "answerer", "executor")
    functions = {"drafter": "qa", "answerer": "qa", "executor": "qa"}  # `examined`: the config's `function`
    Config = Config
    reference = ("X-MAS-Bench's function harnesses and evaluation in MASWorks/X-MAS (the spec names no commit), "
                 "arXiv 2505.16997 §3")
    deviations = DEVIATIONS

    def build(self, ctx: RunContext[Config]) -> Any:
        cfg = self.config
        examined = ctx.agent("examined")

        def store() -> FixedStore:
            if cfg.fixed_store:
                return FixedStore.at(cfg.fixed_store)
            cache = ctx.pool.cache
            return FixedStore.at(Path(cache.path).parent / FIXED_STORE_FILE if cache is not None else None)

        async def direct_answer(role: str, index: int | None = None) -> Fixed:
            """A fixed alias's direct answer to the question, made once and stored by content."""
            agent = ctx.agent(role, index=index)
            alias = ctx.pool.resolve(agent.model)
            question = ctx.task.prompt()
            spec = {"producer": alias_identity(ctx.pool, alias), "messages": [{"role": "user", "content": question}],
                    "params": agent.params, "overrides": ctx.pool.overrides}

            async def make() -> dict[str, Any]:
                recorder = RunRecorder()  # fixed inputs are shared: not this row's usage
                with recording(recorder):
                    completion = await agent.reply(question, pool=ctx.pool)
                usage = recorder.ledger.snapshot()
                return {"text": completion.text.strip(), "alias": alias, "model": completion.model,
                        "prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens}

            fixed = await store().get_or_make("direct", spec, make)
            log.debug("xmas.fixed_input", kind=fixed.kind, alias=alias, key=fixed.key[:16], made=fixed.made,
                      store=store().location)
            return fixed

        async def fixed_inputs(state: State) -> State:
            task = state["task"]
            if cfg.function in ("revise", "evaluate"):
                fixed = [await direct_answer("drafter")]
                return {"fixed": fixed, "material": [fixed[0].value["text"]]}
            if cfg.function == "aggregate":
                answerers = cfg.roles["answerer"]
                n = len(answerers) if isinstance(answerers, list) else 1
                fixed = await gather(direct_answer("answerer", i) for i in range(n))
                order = aggregation_order(task.prompt(), cfg.shuffle_seed, n)
                return {"fixed": fixed, "order": order, "material": [fixed[i].value["text"] for i in order]}
            return {"fixed": [], "material": []}

        async def examine(state: State) -> State:
            question = state["task"].prompt()
            material = state["material"]
            prompt = {"qa": lambda: question,
                      "revise": lambda: revise_prompt(question, material[0]),
                      "aggregate": lambda: aggregate_prompt(question, material),
                      "plan": lambda: plan_prompt(question),
                      "evaluate": lambda: evaluate_prompt(question, material[0])}[cfg.function]()
            reply = await ctx.ask(examined, prompt)
            if cfg.function == "plan":
                return {"plan": reply}
            return {"answer": reply}

        async def execute_plan(state: State) -> State:
            question = state["task"].prompt()
            roles = extract_roles(state["plan"])[: cfg.max_roles]
            previous: str | None = None
            used: list[str] = []
            for i, role in enumerate(roles):
                executor = ctx.agent("executor", index=i)  # roles.executor is cycled: a fixed rotation
                used.append(ctx.pool.resolve(executor.model))
                previous = await ctx.ask(executor, executor_prompt(role, question, previous))
            if not roles:
                log.info("xmas.plan_without_roles", task=state["task"].id)
            return {"answer": previous or "", "metadata": {"roles": roles, "executors": used}}

        async def record(state: State) -> State:
            task = state["task"]
            meta: dict[str, Any] = {
                "function": cfg.function, "examined": ctx.pool.resolve(examined.model),
                "domain": canonical_domain(task.domain), "fixed_store": store().location,
                "fixed": [{"kind": f.kind, "key": f.key, "alias": f.value.get("alias"), "made": f.made}
                          for f in state.get("fixed", [])],
                **(state.get("metadata") or {})}
            if cfg.function == "aggregate":
                meta["order"] = state["order"]
            if cfg.function == "plan":
                meta["plan"] = state["plan"]
            if cfg.function == "evaluate":
                meta["verdict"] = solution_verdict(state["answer"])
                meta["fixed_solution"] = state["material"][0]
            return {"metadata": {"xmas": meta}}

        graph = state_graph(State)
        graph.add_node("fixed_inputs", fixed_inputs)
        graph.add_node("examine", examine)
        graph.add_node("record", record)
        graph.add_edge(START, "fixed_inputs")
        graph.add_edge("fixed_inputs", "examine")
        if cfg.function == "plan":
            graph.add_node("execute_plan", execute_plan)
            graph.add_edge("examine", "execute_plan")
            graph.add_edge("execute_plan", "record")
        else:
            graph.add_edge("examine", "record")
        graph.add_edge("record", END)
        return graph
