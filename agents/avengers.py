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
       take the majority (`maslab.routers.voting.vote`). Model-Switch returns model 1's vote when its
       consistency (winner share) is ≥ `consistency_rate_threshold` (0.8), else the vote over all
       samples. Code tasks are not voted: sample 0 is the answer.

The answer is the full text of the first sample carrying the winning answer (so a sweep's scorer can
extract it again); `metadata` holds the route (models, aliases, clusters, scores), the vote (counts,
consistency, extractions) and, for Model-Switch, which vote was used.
Roles: `expert` (the routed model: its alias comes from the router through `model_map`, never from
`roles`) and `aggregator` (aggregation/moa; default: the top-1 routed model).
Calls: self_consistency `samples`; model_switch `samples` (5 + 5; `lazy_weighted`: 5, or 5 + 5 …);
direct 1; aggregation `top_n` + 1; moa `moa_layers` × `top_n` + 1. Code tasks under
self_consistency / model_switch: 1.

Decisions where the spec leaves a choice (ours unless marked):

- The router comes from `router` (a directory written by `maslab route calibrate` / `Router.save`) or
  `records` (the paper's JSON lines, calibrated on first use with `k` (64; clamped to the number of
  distinct queries), `calibration_seed` 42, `selection`, `n_models`, `distance` and `embedder` — a
  `describe()` spec, default all-MiniLM-L6-v2). Either is loaded once per process and path, in a worker
  thread, however many tasks of a sweep ask at once. A relative path is looked up in the working
  directory, then in the repository's `workflows/` folder (so shipped workflows run from anywhere).
- Candidates: the router's selected models whose alias (`model_map[id]`, default the id itself) is a
  pool alias; if none of the selected models is callable, every callable router model. None at all is
  a `ConfigError`. `top_n` is clamped to the candidates; Model-Switch with one candidate degrades to
  Self-Consistency with all `samples` on it (the reference code requires two experts).
- Routing text (`route_on`): the task's `question` (default: what `records_from_store` stores as a
  record's query, so sweep-made routers see the same text) or the templated `prompt` sent to the models
  (the reference code's choice, matching the paper's records).
- Prompts (`prompt_template: avengers`, default) are the reference code's: math ends with the `\\boxed{}`
  rule, multiple choice with "Answer: $LETTER" over the task's letters, other tasks with "Answer:";
  `plain` sends `task.prompt()` unchanged. One user message, no system prompt, as in the reference.
- Task kind: choices → multiple choice over A…(the number of choices); `domain == "code"` → no vote;
  `domain == "math"` → math; else free text.
- Voting: `vote_mode: faithful` is the reference code (raw strings, empty extractions vote);
  `default` canonicalises answers, drops empties, and — ours — when the paper's extraction finds
  nothing in a sample, falls back to maslab's generic extraction (`maslab.bench.extract`: the choice
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
  locally, else estimated at 4 characters per token (never downloaded at run time). Experts draw one
  sample (the reference draws `samples` and uses the first). Aggregator and MoA proposers at 0.2.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import math
import os
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypedDict

from pydantic import Field, model_validator

from maslab.agent import Agent
from maslab.errors import ConfigError, MaslabError
from maslab.graph import END, START, Appended, fan_out, loop_edge, state_graph
from maslab.method import Method, MethodConfig, RunContext, register_method
from maslab.task import Task
from maslab.trace import get_logger

if TYPE_CHECKING:
    from maslab.routers.avengers import Router
    from maslab.routers.voting import AnswerFormat, VoteResult

log = get_logger(__name__)

WORKFLOWS_DIR = Path(__file__).resolve().parents[1] / "workflows"
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

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


class AvengersError(ConfigError):
    """The Avengers system cannot route: no router, unreadable artefacts or records, no callable model."""


# --------------------------------------------------------------------------- configuration


def resolve_path(path: str, *, directory: bool = False) -> Path:
    """An existing file (or `directory`) for `path`: as given if absolute, else under the working
    directory, else under the repository's `workflows/` folder. Raises `AvengersError` naming every place."""
    raw = Path(path).expanduser()
    places = [raw] if raw.is_absolute() else [Path.cwd() / raw, WORKFLOWS_DIR / raw]
    for p in places:
        if (p.is_dir() if directory else p.is_file()):
            return p.resolve()
    kind = "directory" if directory else "file"
    raise AvengersError(f"no {kind} {path!r} (looked in: {', '.join(str(p) for p in places)})")


class Config(MethodConfig):
    router: str | None = Field(default=None, description="directory of router artefacts (maslab route calibrate --out)")
    records: str | None = Field(default=None, description="JSON-lines calibration records, calibrated on first use")
    k: int = Field(default=64, ge=1, description="clusters when calibrating `records` (clamped to distinct queries)")
    calibration_seed: int = Field(default=42, description="K-means seed when calibrating `records`")
    selection: Literal["inverse_rank_sum", "frequency"] = "inverse_rank_sum"
    n_models: int = Field(default=10, ge=1, description="size of the selected model set when calibrating")
    distance: Literal["dot", "euclidean"] = "dot"
    embedder: dict[str, Any] | None = Field(default=None, description="embedder spec for `records` (default MiniLM)")
    model_map: dict[str, str] = Field(default_factory=dict, description="router model id -> pool alias (default: same)")
    routing: Literal["avengers", "random"] = "avengers"
    route_on: Literal["question", "prompt"] = "question"
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

    @model_validator(mode="after")
    def _check(self) -> Config:
        if "expert" in self.roles:
            raise ValueError("roles.expert: the expert's alias comes from the router; map router model ids to "
                             "pool aliases with model_map")
        if self.router and self.records:
            raise ValueError("give either `router` (saved artefacts) or `records` (calibration records), not both")
        if self.router:
            try:
                resolve_path(self.router, directory=True)
            except AvengersError as e:
                raise ValueError(f"router: {e}") from None
        if self.records:
            try:
                resolve_path(self.records)
            except AvengersError as e:
                raise ValueError(f"records: {e}") from None
        return self

    @property
    def n_routed(self) -> int:
        return self.top_n if self.top_n is not None else (2 if self.generator == "model_switch" else 1)


# --------------------------------------------------------------------------- routers, cached per process

_ROUTERS: dict[tuple[Any, ...], Router] = {}
_ROUTERS_LOCK = threading.Lock()
_KEY_LOCKS: dict[tuple[Any, ...], threading.Lock] = {}


def clear_router_cache() -> None:
    """Forget every router loaded or calibrated in this process."""
    with _ROUTERS_LOCK:
        _ROUTERS.clear()
        _KEY_LOCKS.clear()


def router_from_config(cfg: Config) -> Router:
    """The router `cfg` names: loaded from `router`, or calibrated from `records`; cached per process."""
    from maslab.routers.avengers import Router, calibrate, load_records

    if cfg.router:
        path = resolve_path(cfg.router, directory=True)
        key: tuple[Any, ...] = ("router", str(path))
    elif cfg.records:
        path = resolve_path(cfg.records)
        spec = json.dumps(cfg.embedder, sort_keys=True) if cfg.embedder else None
        key = ("records", str(path), path.stat().st_mtime_ns, cfg.k, cfg.calibration_seed, cfg.selection,
               cfg.n_models, cfg.distance, spec)
    else:
        raise AvengersError("avengers needs `router` (a directory from `maslab route calibrate`) or `records` "
                            "(JSON-lines calibration records)")
    with _ROUTERS_LOCK:
        if key in _ROUTERS:
            return _ROUTERS[key]
        lock = _KEY_LOCKS.setdefault(key, threading.Lock())
    with lock:
        with _ROUTERS_LOCK:
            if key in _ROUTERS:
                return _ROUTERS[key]
        try:
            if key[0] == "router":
                router = Router.load(path)
            else:
                from maslab.routers.embeddings import SentenceTransformerEmbedder, embedder_from_spec

                embedder = embedder_from_spec(cfg.embedder) if cfg.embedder else SentenceTransformerEmbedder()
                router = calibrate(load_records(path), embedder, k=cfg.k, seed=cfg.calibration_seed,
                                   selection=cfg.selection, n_models=cfg.n_models, distance=cfg.distance)
        except ConfigError:
            raise
        except (MaslabError, ValueError, OSError) as e:
            raise AvengersError(f"avengers: cannot build the router from {path}: {e}") from e
        with _ROUTERS_LOCK:
            _ROUTERS[key] = router
        log.info("avengers router ready", source=key[0], path=str(path), k=router.k, models=len(router.models))
        return router


# --------------------------------------------------------------------------- prompts, formats, votes


def answer_format_of(task: Task) -> AnswerFormat:
    """The vote's answer format: choices → multiple choice A…; code → none; math; else free text."""
    from maslab.routers.voting import answer_format

    if task.choices:
        return answer_format(f"mcq:{LETTERS[:max(1, min(len(task.choices), len(LETTERS)))]}")
    if (task.domain or "").lower() == "code":
        return answer_format("code")
    if (task.domain or "").lower() == "math":
        return answer_format("math")
    return answer_format("free")


def templated_prompt(task: Task, template: str = "avengers") -> str:
    """The text sent to the experts: the reference code's prompt with its answer-format rule, or `task.prompt()`."""
    body = task.prompt()
    if template == "plain":
        return body
    fmt = answer_format_of(task)
    if fmt.kind == "mcq":
        return MCQ_TEMPLATE.format(letters=", ".join(fmt.letters), question=body)
    if fmt.kind == "math":
        return MATH_TEMPLATE.format(question=body)
    if fmt.kind == "free":
        return FREE_TEMPLATE.format(question=body)
    return body


def fallback_answer(text: str, task: Task, fmt: AnswerFormat) -> str:
    """maslab's generic extraction: the choice letter (multiple choice) or the final number, else ""."""
    from maslab.bench.extract import extract_choice, extract_number

    if fmt.kind == "mcq":
        return extract_choice(text, len(task.choices or fmt.letters)) or ""
    return extract_number(text) or ""


def extract_all(texts: Sequence[str], task: Task, fmt: AnswerFormat, mode: str) -> list[str]:
    """Each sample's extracted answer (spec §5); in default mode an empty one falls back to `fallback_answer`."""
    from maslab.routers.voting import extract_answer

    out = []
    for t in texts:
        a = extract_answer(t, fmt).strip()
        if not a and mode == "default":
            a = fallback_answer(t or "", task, fmt).strip()
        out.append(a)
    return out


def _class_key(answer: str, fmt: AnswerFormat, mode: str) -> str:
    from maslab.routers.voting import canonical_answer

    return answer if mode == "faithful" else canonical_answer(answer, fmt)


def winner_index(result: VoteResult, fmt: AnswerFormat, mode: str) -> int:
    """The first sample whose extraction belongs to the winning class (0 when nothing won)."""
    if mode == "default" and not result.answer:
        return 0
    want = _class_key(result.answer, fmt, mode)
    return next((i for i, a in enumerate(result.extracted) if _class_key(a, fmt, mode) == want), 0)


def weighted_vote(groups: Sequence[Sequence[str]], weights: Sequence[float], fmt: AnswerFormat,
                  mode: str) -> tuple[VoteResult, dict[str, float]]:
    """Majority over every group's extractions, each vote weighted by its group's weight; ties → earliest."""
    from maslab.routers.voting import VoteResult

    flat = [a for g in groups for a in g]
    score: dict[str, float] = {}
    count: dict[str, int] = {}
    first_raw: dict[str, str] = {}
    for group, w in zip(groups, weights, strict=True):
        for a in group:
            key = _class_key(a, fmt, mode)
            if mode == "default" and not key:
                continue
            first_raw.setdefault(key, a)
            score[key] = score.get(key, 0.0) + w
            count[key] = count.get(key, 0) + 1
    if not score:
        return VoteResult(answer="", counts={}, consistency=0.0, extracted=flat, mode=mode), {}  # type: ignore[arg-type]
    best = max(score, key=lambda k: score[k])  # first of equal weights: earliest sample
    result = VoteResult(answer=first_raw[best], counts={first_raw[k]: c for k, c in count.items()},
                        consistency=count[best] / max(len(flat), 1), extracted=flat, mode=mode)  # type: ignore[arg-type]
    return result, {first_raw[k]: s for k, s in score.items()}


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
class Avengers(Method):
    name = "avengers"
    citation = "arXiv 2505.19797"
    summary = "Route each query to its embedding cluster's best model(s), sample 10x, majority vote."
    roles = ("expert", "aggregator")
    Config = Config

    def __init__(self, config: MethodConfig | None = None, *, router: Router | None = None) -> None:
        super().__init__(config)
        self._router = router

    @classmethod
    def with_router(cls, router: Router, **params: Any) -> Avengers:
        """A configured system on an in-memory `Router` (no `router`/`records` path needed)."""
        from maslab.method import load_method

        method = load_method(cls.name, **params)
        method._router = router  # type: ignore[attr-defined]
        return method  # type: ignore[return-value]

    def get_router(self) -> Router:
        """The router: the one given, else loaded or calibrated from the config (cached per process)."""
        if self._router is None:
            self._router = router_from_config(self.config)  # type: ignore[arg-type]
        return self._router

    def build(self, ctx: RunContext) -> Any:
        cfg: Config = self.config  # type: ignore[assignment]
        gen = cfg.generator
        params = {k: v for k, v in (("max_tokens", cfg.max_tokens),) if v is not None}

        def expert(pos: int, alias: str, temperature: float | None) -> Agent:
            return Agent(name=f"expert_{pos + 1}", role="expert", model=alias,
                         params={**params, **({"temperature": temperature} if temperature is not None else {})})

        def aggregator(route: dict[str, Any], system: str) -> Agent:
            alias = ctx.alias("aggregator") or route["aliases"][0]
            return Agent(name="aggregator", role="aggregator", model=alias, prompt=system,
                         params={**params, "temperature": AGGREGATOR_TEMPERATURE})

        def prompt_of(task: Task) -> str:
            return templated_prompt(task, cfg.prompt_template)

        def per_model(route: dict[str, Any]) -> int:
            return max(1, cfg.samples // len(route["models"]))

        # ---------------------------------------------------------------- 1. route

        async def route(state: State) -> State:
            assert ctx.pool is not None, "RunContext without a pool (drawing only)"
            task = state["task"]
            router = await asyncio.to_thread(self.get_router)
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
            if gen == "model_switch" and n < 2:
                log.warning("model_switch has one callable model; it becomes self-consistency", model=candidates[0])
            clusters: list[dict[str, Any]] = []
            scores: dict[str, float] = {}
            if cfg.routing == "random":
                chosen = ctx.rng.sample(candidates, n)
            else:
                query = task.question if cfg.route_on == "question" else prompt_of(task)
                r = await router.aroute(query, top_k=cfg.top_k, top_n=n, beta=cfg.beta, available_models=candidates)
                chosen, clusters, scores = r.models, [c.model_dump() for c in r.clusters], r.scores
            return {"routed": {"routing": cfg.routing, "models": chosen, "aliases": [alias_of[m] for m in chosen],
                              "names": [router.models[m] for m in chosen], "candidates": candidates,
                              "clusters": clusters, "scores": scores,
                              "cluster": clusters[0]["cluster"] if clusters else None}}

        # ---------------------------------------------------------------- 2. generate (one branch per sample)

        def branches(state: State, positions: Sequence[int]) -> list[Any]:
            task, r = state["task"], state["routed"]
            is_code = answer_format_of(task).kind == "code"
            if gen in ("self_consistency", "model_switch") and is_code:
                plan = [(0, 0, cfg.temperature)]
            elif gen == "self_consistency":
                plan = [(0, k, cfg.temperature) for k in range(cfg.samples)]
            elif gen == "model_switch":
                plan = [(p, k, cfg.temperature) for p in positions for k in range(per_model(r))]
            elif gen == "direct":
                plan = [(0, 0, DIRECT_TEMPERATURE)]
            elif gen == "aggregation":
                plan = [(p, 0, cfg.temperature) for p in range(len(r["models"]))]
            else:  # moa, layer 1
                plan = [(p, 0, MOA_TEMPERATURE) for p in range(len(r["models"]))]
            return fan_out("generate", ({"task": task, "alias": r["aliases"][p], "pos": p, "k": k, "t": t}
                                        for p, k, t in plan))

        def dispatch(state: State) -> list[Any]:
            n = len(state["routed"]["models"])
            first = [0] if gen == "model_switch" and cfg.mode == "lazy_weighted" else list(range(n))
            return branches(state, first)

        async def generate(branch: dict[str, Any]) -> State:
            agent = expert(branch["pos"], branch["alias"], branch["t"])
            text = await ctx.ask(agent, prompt_of(branch["task"]), sample_index=branch["k"])
            return {"samples": [(branch["pos"], branch["k"], text)]}

        # ---------------------------------------------------------------- aggregation / moa

        def first_layer(state: State) -> list[str]:
            return [t for _, _, t in sorted(state["samples"], key=lambda s: (s[0], s[1]))]

        async def refine(state: State) -> State:
            task, r = state["task"], state["routed"]
            layers = state.get("layers") or [first_layer(state)]
            question = prompt_of(task)
            shown = format_responses(r["names"], layers[-1], question, MOA_PROPOSER_MAX_TOKENS)
            text = f"{MOA_PROMPT}\n{shown}Original question: {question}"
            outs = await asyncio.gather(*(ctx.ask(expert(p, a, MOA_TEMPERATURE), text, sample_index=p)
                                          for p, a in enumerate(r["aliases"])))
            return {"layers": [*layers, list(outs)], "round": state.get("round", 0) + 1}

        async def aggregate(state: State) -> State:
            task, r = state["task"], state["routed"]
            question = prompt_of(task)
            if gen == "aggregation":
                shown = format_responses(r["names"], first_layer(state), question, AGGREGATION_MAX_TOKENS)
                agent = aggregator(r, AGGREGATION_SYSTEM_PROMPT)
                text = await ctx.ask(agent, AGGREGATION_USER_TEMPLATE.format(question=question, expert_results=shown))
                return {"aggregated": text}
            layers = state.get("layers") or [first_layer(state)]
            shown = format_responses(r["names"], layers[-1], question, MOA_AGGREGATOR_MAX_TOKENS)
            text = await ctx.ask(aggregator(r, f"{MOA_PROMPT}\n{shown}"), question)
            return {"aggregated": text, "layers": layers}

        # ---------------------------------------------------------------- 3. vote

        def finish(state: State, texts: list[str], result: VoteResult | None, extra: dict[str, Any]) -> State:
            fmt = answer_format_of(state["task"])
            r = state["routed"]
            meta: dict[str, Any] = {"generator": gen, "routing": r["routing"], "models": r["models"],
                                    "aliases": r["aliases"], "cluster": r["cluster"], "route": r, **extra}
            if result is None:  # code: no vote, sample 0
                meta.update(vote=None, consistency=None)
                return {"answer": texts[0] if texts else "", "metadata": meta}
            meta.update(consistency=result.consistency, vote={
                "answer": result.answer, "counts": result.counts, "consistency": result.consistency,
                "extracted": result.extracted, "mode": result.mode, "stats": result.stats()})
            return {"answer": texts[winner_index(result, fmt, cfg.vote_mode)] if texts else "", "metadata": meta}

        async def vote_node(state: State) -> State:
            from maslab.routers.voting import vote

            task = state["task"]
            fmt = answer_format_of(task)
            by_pos: dict[int, list[str]] = {}
            for p, _, t in sorted(state.get("samples", []), key=lambda s: (s[0], s[1])):
                by_pos.setdefault(p, []).append(t)
            if gen in ("aggregation", "moa"):
                texts = [state["aggregated"]]
                extra = {"experts": first_layer(state)} if gen == "aggregation" else {"layers": state.get("layers")}
            else:
                texts = by_pos.get(0, [])
                extra = {}
            if fmt.kind == "code":
                return finish(state, texts, None, extra)

            def vote_on(ts: Sequence[str]) -> VoteResult:
                return vote(extract_all(ts, task, fmt, cfg.vote_mode), fmt, cfg.vote_mode, extracted=True)

            if gen != "model_switch" or len(state["routed"]["models"]) < 2:
                return finish(state, texts, vote_on(texts), extra)
            first = vote_on(by_pos[0])
            consistent = first.consistency >= cfg.consistency_rate_threshold
            switch = {"model_1_consistency": first.consistency, "threshold": cfg.consistency_rate_threshold,
                      "mode": cfg.mode}
            if consistent:
                return finish(state, by_pos[0], first, {"switch": {**switch, "used": "model_1"}})
            if cfg.mode == "paper":
                union = [t for p in sorted(by_pos) for t in by_pos[p]]
                return finish(state, union, vote_on(union), {"switch": {**switch, "used": "union"}})
            # lazy_weighted: sample the next model unless this one is consistent or none is left
            stage = state.get("stage", 1)
            last = vote_on(by_pos[stage - 1])
            if last.consistency < cfg.consistency_rate_threshold and stage < len(state["routed"]["models"]):
                return {"stage": stage + 1}
            groups = [by_pos[p] for p in sorted(by_pos)]
            extracted = [extract_all(g, task, fmt, cfg.vote_mode) for g in groups]
            weights = [vote(e, fmt, cfg.vote_mode, extracted=True).consistency for e in extracted]
            result, weighted = weighted_vote(extracted, weights, fmt, cfg.vote_mode)
            union = [t for g in groups for t in g]
            return finish(state, union, result, {"switch": {**switch, "used": f"weighted_{len(groups)}",
                                                            "weights": weights, "weighted_counts": weighted}})

        def after_vote(state: State) -> Any:
            if "answer" in state:
                return END
            return branches(state, [state["stage"] - 1])

        graph = state_graph(State)
        graph.add_node("route", route)
        graph.add_node("generate", generate)
        graph.add_node("vote", vote_node)
        graph.add_edge(START, "route")
        graph.add_conditional_edges("route", dispatch, ["generate"])
        if gen in ("aggregation", "moa"):
            graph.add_node("aggregate", aggregate)
            if gen == "moa" and cfg.moa_layers > 1:
                graph.add_node("refine", refine)
                graph.add_edge("generate", "refine")
                loop_edge(graph, "refine", again="refine", done="aggregate", until=lambda s: False,
                          max_rounds=cfg.moa_layers - 1)
            else:
                graph.add_edge("generate", "aggregate")
            graph.add_edge("aggregate", "vote")
        else:
            graph.add_edge("generate", "vote")
        if gen == "model_switch" and cfg.mode == "lazy_weighted":
            graph.add_conditional_edges("vote", after_vote, ["generate", END])
        else:
            graph.add_edge("vote", END)
        return graph
