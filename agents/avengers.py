"""Avengers (Zhang et al., arXiv 2505.19797, AAAI-26): route each query to the best small model(s) of its
embedding cluster, sample repeatedly, vote. Specification: `../shared/specs/avengers.md`.

    1. route: embed the query, take its nearest calibration cluster (K-means over the embedded
       calibration queries; `maslab.routers.avengers`) and the top-`top_n` models of that cluster's
       accuracy ranking, among the router's selected models that the pool can call
       (`routing: random` draws them uniformly instead — the paper's random-router baseline);
    2. generate (fan-out, every sample in parallel and its own `sample_index`, so its own cache entry):
       - `self_consistency` (default): `samples` (10) samples of the top-1 model at temperature 0.7;
       - `model_switch` (after arXiv 2504.00762): `samples` // 2 = 5 samples from each of the top-2;
       - ablations (reference code): `direct` (1 sample at 0.2); `aggregation` (one sample of each
         routed expert under "### Result of <model>" headers, then an aggregator at 0.2); `moa`
         (`moa_layers` = 3 proposer layers of the routed experts at 0.2, then an aggregator at 0.2);
    3. vote (spec §5): extract each sample's answer ("Answer: X", the last `\\boxed{}` for math …) and
       take the majority (`maslab.answers.vote`). Model-Switch returns model 1's vote when its
       consistency (winner share) is ≥ `consistency_rate_threshold` (0.8), else the vote over all
       samples. Code tasks are not voted: sample 0 is the answer.

The graph: `route` → the generator's nodes → `vote`; the shared nodes are `_Parts`, and each
generator (`self_consistency`, `model_switch`, `direct`, `aggregation`, `moa`) is a small function
that adds its fan-out, nodes and edges (`GENERATORS`).

The answer is the full text of the first sample carrying the winning answer (so a sweep's scorer can
extract it again); `metadata` holds the route (models, aliases, clusters, scores), the vote (counts,
consistency, extractions) and, for Model-Switch, which vote was used.
Roles: `expert` (the routed model: its alias comes from the router through `model_map`, never from
`roles`) and `aggregator` (aggregation/moa; default: the top-1 routed model).
Calls: self_consistency `samples`; model_switch `samples` (5 + 5; `lazy_weighted`: 5, or 5 + 5 …);
direct 1; aggregation `top_n` + 1; moa `moa_layers` × `top_n` + 1. Code tasks under
self_consistency / model_switch: 1.

Decisions where the spec leaves a choice (ours unless marked):

- Calibrate offline, route online: the router is a directory written by `maslab route calibrate`
  (`Router.save`), given as `router` (a relative path resolves against the workflow or sweep file
  that names it), or a `Router` object (`Avengers.with_router`). The system never calibrates; it
  loads the directory once per configured system, in a worker thread, on the first task.
- Candidates: the router's selected models whose alias (`model_map[id]`, default the id itself) is a
  pool alias; if none of the selected models is callable, every callable router model. None at all is
  a `ConfigError`. `top_n` is clamped to the candidates; Model-Switch with one candidate degrades to
  Self-Consistency with all `samples` on it (the reference code requires two experts).
- Routing text (`route_on`): `prompt` (default) embeds `task.prompt()` — the question with its
  lettered choices, exactly what a sweep's result store holds as `question` and what
  `records_from_store` makes a record's query, so a router calibrated from a sweep embeds the same
  text at calibration and at routing; `templated` embeds the templated prompt sent to the models
  (the reference code's choice, matching the paper's records).
- Prompts (`prompt_template: avengers`, default) are the reference code's: math ends with the `\\boxed{}`
  rule, multiple choice with "Answer: $LETTER" over the task's letters, other tasks with "Answer:";
  `plain` sends `task.prompt()` unchanged. One user message, no system prompt, as in the reference.
- Task kind: choices → multiple choice over A…(the number of choices); `domain == "code"` → no vote;
  `domain == "math"` → math; else free text.
- Voting: `vote_mode: faithful` is the reference code (raw strings, empty extractions vote);
  `default` canonicalises answers, drops empties, and — ours — when the paper's extraction finds
  nothing in a sample, falls back to maslab's generic extraction (`maslab.answers`: the choice
  letter for multiple choice, else the final number — GSM8K `####`, "the answer is …", the last
  number), so tasks that carry their own answer format still vote; text without one stays empty.
- Samples are separate requests (one per `sample_index`), not one request with `n = samples`.
- Code tasks draw only the sample that is scored (sample 0 of the top model), not `samples` of them.
- Model-Switch `mode: paper` samples both models at once (5 + 5 calls) as the reference code does;
  `mode: lazy_weighted` (the original ModelSwitch) samples model j+1 only when model j's consistency is
  below the threshold, and votes over all sampled models with each model's votes weighted by its own
  consistency (ties to the earliest sample); a consistent model 1 still returns its own vote.
- Aggregation / MoA follow the reference generators: headers "### Result of <name>", each response
  cut from the front (its tail, where the conclusion is, is kept) to (3000 − question tokens) / n
  tokens (MoA's final aggregator: 10000), counted with tiktoken's gpt-4o encoding when it is cached
  locally, else estimated at 4 characters per token (never downloaded at run time). Experts draw
  `expert_samples` samples (default 1; the reference draws 5) and show the first. Aggregator and
  MoA proposers at 0.2.

Profiles. `default` is the above. `reference` (the official code, ZhangYiqun018/Avengers) routes
on the templated prompt (`route_on: templated`), breaks accuracy ties in each cluster's ranking by
first appearance among that cluster's records (`ties: cluster`), votes exactly as the official
evaluators (`vote_mode: faithful`: per-dataset extraction, raw strings, empties vote) and lets each
aggregation expert draw 5 samples (`expert_samples: 5`). `deviations` lists what still differs.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import math
import os
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypedDict

from pydantic import Field, model_validator

from maslab.agent import Agent
from maslab.answers import AnswerFormat, VoteResult, format_of, vote
from maslab.errors import ConfigError, MaslabError
from maslab.graph import END, START, Appended, fan_out, loop_edge, state_graph
from maslab.method import Deviation, Method, MethodConfig, RunContext, register_method
from maslab.task import Task
from maslab.trace import get_logger

if TYPE_CHECKING:
    from maslab.routers.avengers import Router

log = get_logger(__name__)


Generator = Literal["self_consistency", "model_switch", "direct", "aggregation", "moa"]

DIRECT_TEMPERATURE = 0.2  # reference DirectGenerator
AGGREGATOR_TEMPERATURE = 0.2  # reference aggregation / MoA aggregators
MOA_TEMPERATURE = 0.2  # reference MoAGenerator proposers
AGGREGATION_MAX_TOKENS = 3000
MOA_PROPOSER_MAX_TOKENS = 3000
MOA_AGGREGATOR_MAX_TOKENS = 10000

MATH_TEMPLATE = (
    "Solve the following math problem step by step. The last line of your response should only contain your "
    "final answer inside a \\boxed{{}} command.\n\n{question}\n\nRemember to put your final answer on the last "
    "line using the format \\boxed{{$ANSWER}} where $ANSWER is the answer to the problem.")
MCQ_TEMPLATE = (
    "Answer the following multiple choice question. The last line of your response should be of the following "
    "format: 'Answer: $LETTER' (without quotes) where LETTER is one of {letters}. Think step by step before "
    "answering.\n\n{question}")
FREE_TEMPLATE = (
    "Answer the following question step by step. The last line of your response should be of the form "
    "Answer: $ANSWER (without quotes) where $ANSWER is the answer to the question.\n\n{question}")

AGGREGATION_SYSTEM_PROMPT = """You are an aggregation agent designed to provide a coherent, accurate, and well-formatted final answer to a given question based on multiple responses from different models.

Your task is:
1. **Input Analysis:**
   - Clearly understand the original question provided.
   - Carefully review all provided responses from multiple models.

2. **Aggregation Process:**
   - Identify consensus, contradictions, and unique insights among the provided responses.
   - Give higher priority to responses supported by the majority of models or responses that show strong reasoning and credible evidence.
   - Clearly resolve contradictions by favoring the most logical, evidence-based, or well-supported answers.

3. **Output Formatting:**
   - Provide your final aggregated answer strictly following the format implied by the original question (e.g., if it's a yes/no question, your answer should clearly be 'Yes' or 'No'; if it asks for an explanation, your answer should clearly explain the reasoning).
   - Ensure clarity, conciseness, and readability in the final response.

Your final output must directly answer the original question with the most accurate, logically consistent, and well-supported conclusion derived from the provided inputs."""

AGGREGATION_USER_TEMPLATE = "\nQuestion: {question}\n\n{expert_results}"

MOA_PROMPT = (
    "You have been provided with a set of responses from various open-source models to the latest user query. "
    "Your task is to synthesize these responses into a single, high-quality response. It is crucial to "
    "critically evaluate the information provided in these responses, recognizing that some of it may be biased "
    "or incorrect. Your response should not simply replicate the given answers but should offer a refined, "
    "accurate, and comprehensive reply to the instruction. Ensure your response is well-structured, coherent, "
    "and adheres to the highest standards of accuracy and reliability.\n\nResponses from models:")


DEVIATIONS = (
    Deviation(what="The vote canonicalises answers (0.5 = \\frac12, b = B), drops empty extractions and falls back "
                   "to maslab's generic extraction; the official evaluators count raw extracted strings, empties "
                   "included (`vote_mode: faithful`)", why="the spec makes normalisation optional and off; maslab "
                   "keeps it on by default because on small local models the official extraction misses "
                   "'**Answer:** B', 'Answer: (B)' and unboxed math answers, and the empty string then wins the "
                   "vote", profiles=("default",), kind="choice"),
    Deviation(what="Routing embeds the task as a model sees it (`route_on: prompt`); the official code embeds the "
                   "templated prompt", why="a router calibrated from a maslab sweep stores that text",
              profiles=("default",), kind="choice"),
    Deviation(what="Accuracy ties in the cluster rankings follow the router's stored rule (maslab's calibration: "
                   "first appearance over all records); the official code breaks them within each cluster",
              why="maslab's documented default", profiles=("default",), kind="choice"),
    Deviation(what="Routing follows the paper (top_k = 1, beta 3.0); the official configs route softly over "
                   "top_k 2–3 clusters with beta 6.0", why="the spec", kind="spec"),
    Deviation(what="The prompts are maslab's templates per answer kind (math, multiple choice, free text); the "
                   "official code has one prompt per dataset, so the embedded and the sent text can differ",
              why="maslab's datasets carry no Avengers template", kind="choice"),
    Deviation(what="Each sample is its own request (one sample index each); the official generators make one "
                   "request with n = samples", why="the model pool returns one completion per request",
              calls="samples requests instead of 1 per model (the same completions; prompt tokens are counted "
                    "per request, so the prompt-token total is samples × the official's)", kind="choice"),
    Deviation(what="Aggregation experts draw one sample each and show it; the official experts draw 5 and show "
                   "the first", why="the other 4 are never read", profiles=("default",),
              calls="top_n + 1 instead of 5·top_n + 1", kind="choice"),
    Deviation(what="Code tasks draw only the scored sample (sample 0 of the top model)",
              why="the official code samples `samples` and scores sample 0", calls="1 instead of samples",
              kind="choice"),
    Deviation(what="KORBench and Knights-and-Knaves are read with the generic free-text rules; the official "
                   "evaluators use their bracket and role-assignment extractors", why="not reproduced",
              kind="missing"),
    Deviation(what="The direct generator does not append the official code's 'do not think too long' note for "
                   "model names containing Distill or EXAOME", why="a model-name special case", kind="missing"),
)


class AvengersError(ConfigError):
    """The Avengers system cannot route: no router, unreadable artefacts or records, no callable model."""


# --------------------------------------------------------------------------- configuration


class Config(MethodConfig):
    profiles = {"default": {}, "reference": {"route_on": "templated", "ties": "cluster", "vote_mode": "faithful",
                                             "expert_samples": 5}}

    router: str | None = Field(default=None, json_schema_extra={"path": True}, description=(
        "directory of router artefacts (`maslab route calibrate --out`); relative to the workflow or sweep file"))
    model_map: dict[str, str] = Field(default_factory=dict, description="router model id -> pool alias (default: same)")
    routing: Literal["avengers", "random"] = "avengers"
    route_on: Literal["prompt", "templated"] = Field(default="prompt", description=(
        "text embedded to route: `prompt` (the task as a model sees it, what calibration from a sweep "
        "stores) or `templated` (the reference code's templated prompt)"))
    top_k: int = Field(default=1, ge=1, description="nearest clusters considered (paper: 1)")
    top_n: int | None = Field(default=None, ge=1, description="routed models (default 1; model_switch 2)")
    beta: float = 3.0
    generator: Generator = "self_consistency"
    samples: int = Field(default=10, ge=1, description="samples (model_switch: split over its models)")
    temperature: float | None = 0.7
    vote_mode: Literal["default", "faithful"] = "default"
    consistency_rate_threshold: float = Field(default=0.8, ge=0.0, le=1.0)
    mode: Literal["paper", "lazy_weighted"] = Field(default="paper", description="model_switch variant")
    moa_layers: int = Field(default=3, ge=1, description="proposer layers of the moa generator")
    prompt_template: Literal["avengers", "plain"] = "avengers"
    ties: Literal["router", "records", "cluster"] = Field(default="router", description=(
        "accuracy ties in the cluster rankings: as the router stored them, by first appearance over all "
        "calibration records, or within each cluster (the official code)"))
    expert_samples: int = Field(default=1, ge=1, description="samples each aggregation expert draws (the first "
                                                             "is shown; the reference draws 5)",
                                json_schema_extra={"count": True})

    @model_validator(mode="after")
    def _check(self) -> Config:
        if "expert" in self.roles:
            raise ValueError("roles.expert: the expert's alias comes from the router; map router model ids to "
                             "pool aliases with model_map")
        if self.router is not None and not Path(self.router).expanduser().is_dir():
            raise ValueError(f"router: no directory {self.router!r} (write one with `maslab route calibrate`)")
        return self

    @property
    def n_routed(self) -> int:
        return self.top_n if self.top_n is not None else (2 if self.generator == "model_switch" else 1)


# --------------------------------------------------------------------------- prompts, formats, votes


def templated_prompt(task: Task, template: str = "avengers") -> str:
    """The text sent to the experts: the reference code's prompt with its answer-format rule, or `task.prompt()`."""
    body = task.prompt()
    if template == "plain":
        return body
    fmt = format_of(task)
    if fmt.kind == "mcq":
        return MCQ_TEMPLATE.format(letters=", ".join(fmt.letters), question=body)
    if fmt.kind == "math":
        return MATH_TEMPLATE.format(question=body)
    if fmt.kind == "free":
        return FREE_TEMPLATE.format(question=body)
    return body


# --------------------------------------------------------------------------- token budgets (aggregation, moa)


@functools.lru_cache(maxsize=1)
def _gpt4o_encoding() -> Any | None:
    """tiktoken's o200k_base (gpt-4o) when its BPE file is already cached locally; never downloads."""
    try:
        import tiktoken
    except ImportError:
        return None
    url = "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"
    cache_dir = os.environ.get("TIKTOKEN_CACHE_DIR") or os.environ.get("DATA_GYM_CACHE_DIR") or os.path.join(
        tempfile.gettempdir(), "data-gym-cache")
    if not cache_dir or not os.path.exists(os.path.join(cache_dir, hashlib.sha1(url.encode()).hexdigest())):
        return None
    try:
        return tiktoken.get_encoding("o200k_base")
    except Exception:  # a corrupt cache must not fail a run; fall back to the estimate
        return None


def count_tokens(text: str) -> int:
    enc = _gpt4o_encoding()
    return len(enc.encode(text)) if enc is not None else math.ceil(len(text) / 4)


def keep_tail(text: str, max_tokens: int) -> str:
    """The last `max_tokens` tokens of `text` (the front is cut)."""
    if max_tokens <= 0:
        return ""
    enc = _gpt4o_encoding()
    if enc is not None:
        return enc.decode(enc.encode(text)[-max_tokens:])
    return text[-max_tokens * 4:]


def format_responses(names: Sequence[str], texts: Sequence[str], question: str, max_tokens: int) -> str:
    """The reference's "### Result of <model>" blocks, each cut to (max_tokens − question tokens) / n tokens."""
    budget = (max_tokens - count_tokens(question)) // max(len(texts), 1)
    parts = []
    for name, text in zip(names, texts, strict=True):
        header, content = f"### Result of {name}\n", f"{text}\n\n"
        if count_tokens(header) + count_tokens(content) > budget:
            remaining = budget - count_tokens(header)
            if remaining > 0:
                content = keep_tail(content, remaining)
        parts.append(header + content)
    return "".join(parts)


# --------------------------------------------------------------------------- the system


class State(TypedDict, total=False):
    task: Task
    routed: dict[str, Any]  # the routing decision
    samples: Appended  # (routed position, sample index, text)
    stage: int  # lazy Model-Switch: routed models sampled so far
    layers: list[list[str]]  # moa: layers[l][i] = proposer i's answer in layer l + 1
    round: int
    aggregated: str
    answer: str
    metadata: dict[str, Any]


@register_method
class Avengers(Method[Config]):
    name = "avengers"
    citation = "arXiv 2505.19797"
    summary = "Route each query to its embedding cluster's best model(s), sample 10x, majority vote."
    roles = ("expert", "aggregator")
    functions = {"expert": "qa", "aggregator": "aggregate"}
    Config = Config
    reference = "the official Avengers code (ZhangYiqun018/Avengers: core/ generators and rank router, evaluate/)"
    deviations = DEVIATIONS

    def __init__(self, config: Config | None = None, *, router: Router | None = None) -> None:
        super().__init__(config)
        self._router = router
        self._router_lock = threading.Lock()

    @classmethod
    def with_router(cls, router: Router, **params: Any) -> Avengers:
        """A configured system on an in-memory `Router` (no `router` directory needed)."""
        try:
            config = Config.model_validate(params)
        except ValueError as e:
            raise AvengersError(f"avengers: invalid parameters: {e}") from e
        return cls(config, router=router)

    def get_router(self) -> Router:
        """The router: the one given, else loaded once from the `router` directory."""
        with self._router_lock:
            if self._router is None:
                if not self.config.router:
                    raise AvengersError("avengers needs `router` (a directory written by `maslab route calibrate`) "
                                        "or a Router object (`Avengers.with_router`)")
                from maslab.routers.avengers import Router

                try:
                    self._router = Router.load(Path(self.config.router).expanduser())
                except (MaslabError, ValueError, OSError) as e:
                    raise AvengersError(f"avengers: cannot load the router from {self.config.router}: {e}") from e
                log.info("avengers router loaded", path=self.config.router, k=self._router.k,
                         models=len(self._router.models))
            return self._router

    def build(self, ctx: RunContext[Config]) -> Any:
        parts = _Parts(self, ctx)
        graph = state_graph(State)
        graph.add_node("route", parts.route)
        graph.add_node("generate", parts.generate)
        graph.add_node("vote", parts.vote)
        graph.add_edge(START, "route")
        GENERATORS[self.config.generator](graph, parts)
        return graph


# --------------------------------------------------------------------------- the shared nodes


class _Parts:
    """What every generator shares: 1. route, 2. generate (one branch per sample), 3. vote."""

    def __init__(self, system: Avengers, ctx: RunContext[Config]) -> None:
        self.system, self.ctx, self.cfg = system, ctx, system.config
        self.params = {k: v for k, v in (("max_tokens", self.cfg.max_tokens),) if v is not None}

    def expert(self, pos: int, alias: str, temperature: float | None) -> Agent:
        return Agent(name=f"expert_{pos + 1}", role="expert", model=alias,
                     params={**self.params, **({"temperature": temperature} if temperature is not None else {})})

    def aggregator(self, route: dict[str, Any], system: str) -> Agent:
        alias = self.ctx.alias("aggregator") or route["aliases"][0]
        return Agent(name="aggregator", role="aggregator", model=alias, prompt=system,
                     params={**self.params, "temperature": AGGREGATOR_TEMPERATURE})

    def prompt_of(self, task: Task) -> str:
        return templated_prompt(task, self.cfg.prompt_template)

    # ------------------------------------------------------------------ 1. route

    async def route(self, state: State) -> State:
        cfg, ctx, task = self.cfg, self.ctx, state["task"]
        router = await asyncio.to_thread(self.system.get_router)
        aliases = set(ctx.pool.aliases)
        alias_of = {m: cfg.model_map.get(m, m) for m in router.models}
        callable_ = [m for m in router.models if alias_of[m] in aliases]
        if not callable_:
            raise AvengersError(
                "avengers: none of the router's models has a pool alias: "
                + ", ".join(f"{m} -> {alias_of[m]}" for m in router.models)
                + f"; pool aliases: {', '.join(ctx.pool.aliases)} (set model_map: {{router id: alias}})")
        candidates = [m for m in router.selected_models if m in callable_] or callable_
        n = min(cfg.n_routed, len(candidates))
        if cfg.generator == "model_switch" and n < 2:
            log.warning("model_switch has one callable model; it becomes self-consistency", model=candidates[0])
        clusters: list[dict[str, Any]] = []
        scores: dict[str, float] = {}
        if cfg.routing == "random":
            chosen = ctx.rng.sample(candidates, n)
        else:
            query = task.prompt() if cfg.route_on == "prompt" else self.prompt_of(task)
            r = await router.aroute(query, top_k=cfg.top_k, top_n=n, beta=cfg.beta, available_models=candidates,
                                    ties=None if cfg.ties == "router" else cfg.ties)
            chosen, clusters, scores = r.models, [c.model_dump() for c in r.clusters], r.scores
        return {"routed": {"routing": cfg.routing, "models": chosen, "aliases": [alias_of[m] for m in chosen],
                          "names": [router.models[m] for m in chosen], "candidates": candidates,
                          "clusters": clusters, "scores": scores,
                          "cluster": clusters[0]["cluster"] if clusters else None}}

    # ------------------------------------------------------------------ 2. generate

    def branches(self, state: State, plan: Sequence[tuple[int, int, float | None]]) -> list[Any]:
        """One `generate` branch per (routed position, sample index, temperature)."""
        task, r = state["task"], state["routed"]
        return fan_out("generate", ({"task": task, "alias": r["aliases"][p], "pos": p, "k": k, "t": t}
                                    for p, k, t in plan))

    async def generate(self, branch: dict[str, Any]) -> State:
        agent = self.expert(branch["pos"], branch["alias"], branch["t"])
        text = await self.ctx.ask(agent, self.prompt_of(branch["task"]), sample_index=branch["k"])
        return {"samples": [(branch["pos"], branch["k"], text)]}

    @staticmethod
    def by_position(state: State) -> dict[int, list[str]]:
        out: dict[int, list[str]] = {}
        for p, _, t in sorted(state.get("samples", []), key=lambda s: (s[0], s[1])):
            out.setdefault(p, []).append(t)
        return out

    @staticmethod
    def first_layer(state: State) -> list[str]:
        return [t for _, _, t in sorted(state["samples"], key=lambda s: (s[0], s[1]))]

    # ------------------------------------------------------------------ 3. vote

    def finish(self, state: State, texts: list[str], result: VoteResult | None, extra: dict[str, Any]) -> State:
        r = state["routed"]
        meta: dict[str, Any] = {"generator": self.cfg.generator, "routing": r["routing"], "models": r["models"],
                                "aliases": r["aliases"], "cluster": r["cluster"], "route": r, **extra}
        if result is None:  # code: no vote, sample 0
            meta.update(vote=None, consistency=None)
            return {"answer": texts[0] if texts else "", "metadata": meta}
        meta.update(consistency=result.consistency, vote={
            "answer": result.answer, "counts": result.counts, "consistency": result.consistency,
            "extracted": result.extracted, "mode": result.mode, "stats": result.stats()})
        return {"answer": texts[result.index or 0] if texts else "", "metadata": meta}

    async def vote(self, state: State) -> State:
        """Vote over the answers the generator left: its samples (or the aggregated answer); code: sample 0."""
        gen = self.cfg.generator
        if gen in ("aggregation", "moa"):
            texts = [state["aggregated"]]
            extra = {"experts": self.first_layer(state)} if gen == "aggregation" else {"layers": state.get("layers")}
        else:
            texts, extra = self.by_position(state).get(0, []), {}
        fmt = format_of(state["task"])
        if fmt.kind == "code":
            return self.finish(state, texts, None, extra)
        if gen == "model_switch" and len(state["routed"]["models"]) >= 2:
            return self.switch(state, fmt)
        return self.finish(state, texts, vote(texts, fmt, self.cfg.vote_mode), extra)

    def switch(self, state: State, fmt: AnswerFormat) -> State:
        """Model-Switch: model 1's vote when it is consistent; else the union (paper) or, lazily, the next
        model's samples and finally a vote weighted by each model's consistency (lazy_weighted)."""
        cfg, by_pos = self.cfg, self.by_position(state)
        first = vote(by_pos[0], fmt, cfg.vote_mode)
        switch = {"model_1_consistency": first.consistency, "threshold": cfg.consistency_rate_threshold,
                  "mode": cfg.mode}
        if first.consistency >= cfg.consistency_rate_threshold:
            return self.finish(state, by_pos[0], first, {"switch": {**switch, "used": "model_1"}})
        if cfg.mode == "paper":
            union = [t for p in sorted(by_pos) for t in by_pos[p]]
            return self.finish(state, union, vote(union, fmt, cfg.vote_mode), {"switch": {**switch, "used": "union"}})
        stage = state.get("stage", 1)
        last = vote(by_pos[stage - 1], fmt, cfg.vote_mode)
        if last.consistency < cfg.consistency_rate_threshold and stage < len(state["routed"]["models"]):
            return {"stage": stage + 1}  # sample the next model
        groups = [by_pos[p] for p in sorted(by_pos)]
        weights = [vote(g, fmt, cfg.vote_mode).consistency for g in groups]
        union = [t for g in groups for t in g]
        result = vote(union, fmt, cfg.vote_mode, weights=[w for g, w in zip(groups, weights, strict=True) for _ in g])
        return self.finish(state, union, result, {"switch": {**switch, "used": f"weighted_{len(groups)}",
                                                            "weights": weights, "weighted_counts": result.weighted}})


# --------------------------------------------------------------------------- the generators


def _is_code(state: State) -> bool:
    return format_of(state["task"]).kind == "code"


def self_consistency(graph: Any, parts: _Parts) -> None:
    """`samples` samples of the top model (code: sample 0 only) → vote."""
    cfg = parts.cfg

    def plan(state: State) -> list[Any]:
        n = 1 if _is_code(state) else cfg.samples
        return parts.branches(state, [(0, k, cfg.temperature) for k in range(n)])

    graph.add_conditional_edges("route", plan, ["generate"])
    graph.add_edge("generate", "vote")
    graph.add_edge("vote", END)


def model_switch(graph: Any, parts: _Parts) -> None:
    """`samples` // models samples of each routed model (paper: all at once; lazy_weighted: model by
    model while the last one is inconsistent) → Model-Switch vote."""
    cfg = parts.cfg

    def plan(state: State, positions: Sequence[int]) -> list[Any]:
        if _is_code(state):
            return parts.branches(state, [(0, 0, cfg.temperature)])
        per_model = max(1, cfg.samples // len(state["routed"]["models"]))
        return parts.branches(state, [(p, k, cfg.temperature) for p in positions for k in range(per_model)])

    def first(state: State) -> list[Any]:
        n = len(state["routed"]["models"])
        return plan(state, [0] if cfg.mode == "lazy_weighted" else list(range(n)))

    graph.add_conditional_edges("route", first, ["generate"])
    graph.add_edge("generate", "vote")
    if cfg.mode == "lazy_weighted":
        graph.add_conditional_edges("vote", lambda s: END if "answer" in s else plan(s, [s["stage"] - 1]),
                                    ["generate", END])
    else:
        graph.add_edge("vote", END)


def direct(graph: Any, parts: _Parts) -> None:
    """One sample of the top model at 0.2 → vote."""
    graph.add_conditional_edges("route", lambda s: parts.branches(s, [(0, 0, DIRECT_TEMPERATURE)]), ["generate"])
    graph.add_edge("generate", "vote")
    graph.add_edge("vote", END)


def aggregation(graph: Any, parts: _Parts) -> None:
    """One sample of each routed expert → the aggregator reads them ("### Result of <model>") → vote."""
    cfg = parts.cfg

    async def aggregate(state: State) -> State:
        r, question = state["routed"], parts.prompt_of(state["task"])
        firsts = [t for p, texts in sorted(parts.by_position(state).items()) for t in texts[:1]]
        shown = format_responses(r["names"], firsts, question, AGGREGATION_MAX_TOKENS)
        agent = parts.aggregator(r, AGGREGATION_SYSTEM_PROMPT)
        text = await parts.ctx.ask(agent, AGGREGATION_USER_TEMPLATE.format(question=question, expert_results=shown))
        return {"aggregated": text}

    graph.add_node("aggregate", aggregate)
    graph.add_conditional_edges(
        "route", lambda s: parts.branches(s, [(p, k, cfg.temperature) for p in range(len(s["routed"]["models"]))
                                              for k in range(cfg.expert_samples)]),
        ["generate"])
    graph.add_edge("generate", "aggregate")
    graph.add_edge("aggregate", "vote")
    graph.add_edge("vote", END)


def moa(graph: Any, parts: _Parts) -> None:
    """Mixture-of-Agents: `moa_layers` proposer layers of the routed experts at 0.2 (each reads the last
    layer), then the aggregator → vote."""
    cfg, ctx = parts.cfg, parts.ctx

    async def refine(state: State) -> State:
        r, question = state["routed"], parts.prompt_of(state["task"])
        layers = state.get("layers") or [parts.first_layer(state)]
        shown = format_responses(r["names"], layers[-1], question, MOA_PROPOSER_MAX_TOKENS)
        text = f"{MOA_PROMPT}\n{shown}Original question: {question}"
        outs = await asyncio.gather(*(ctx.ask(parts.expert(p, a, MOA_TEMPERATURE), text, sample_index=p)
                                      for p, a in enumerate(r["aliases"])))
        return {"layers": [*layers, list(outs)], "round": state.get("round", 0) + 1}

    async def aggregate(state: State) -> State:
        r, question = state["routed"], parts.prompt_of(state["task"])
        layers = state.get("layers") or [parts.first_layer(state)]
        shown = format_responses(r["names"], layers[-1], question, MOA_AGGREGATOR_MAX_TOKENS)
        text = await ctx.ask(parts.aggregator(r, f"{MOA_PROMPT}\n{shown}"), question)
        return {"aggregated": text, "layers": layers}

    graph.add_node("aggregate", aggregate)
    graph.add_conditional_edges(
        "route", lambda s: parts.branches(s, [(p, 0, MOA_TEMPERATURE) for p in range(len(s["routed"]["models"]))]),
        ["generate"])
    if cfg.moa_layers > 1:
        graph.add_node("refine", refine)
        graph.add_edge("generate", "refine")
        loop_edge(graph, "refine", again="refine", done="aggregate", until=lambda s: False,
                  max_rounds=cfg.moa_layers - 1)
    else:
        graph.add_edge("generate", "aggregate")
    graph.add_edge("aggregate", "vote")
    graph.add_edge("vote", END)


GENERATORS = {"self_consistency": self_consistency, "model_switch": model_switch, "direct": direct,
              "aggregation": aggregation, "moa": moa}
