"""T1 metrics: per-turn scores of predicted plan code against the gold turn, and their aggregation.

As in arXiv 2505.16986 §metrics, per user turn:

- **Tool calls** (accuracy / precision / recall / F1): the multisets of tool names called in the
  predicted and gold code (found statically, `analysis.extract_calls`). TP = size of the multiset
  intersection, P = TP/|pred|, R = TP/|gold|; accuracy = 1 iff the multisets are equal.
- **Parameters** (accuracy / P / R / F1): calls to ``save_to_cache``, ``get_results_from_cache`` and
  ``seek_information`` and the parameters ``prior_results`` (and ``prior_result``, ``key``,
  ``value``) are left out. For each gold call in order, greedily take the unmatched predicted call
  of the same name with the largest (name, value) overlap (first in order on ties); TP counts the
  shared (name, value) pairs. P = TP/|pred pairs|, R = TP/|gold pairs|, over all remaining
  calls (an unmatched call contributes all its pairs to one side). Values are normalised: lists as
  sets, ``500`` = ``500.0``, ``True`` ≠ ``1``; strings are compared exactly (case included);
  expressions are folded where exact (see `analysis`), else compared as normalised source text.
- **Execution success**: on turns whose gold code is not the no-op line, the prediction is code
  other than the no-op line and it ran without error.
- **Information seeking**: when both gold and prediction call ``seek_information``, sentence BLEU
  (a re-implementation of SacreBLEU's default sentence BLEU: 13a-like tokens, exp smoothing,
  effective order; not bit-identical), token F1, and an optional caller-supplied semantic
  similarity (e.g. BERTScore-F1, which needs a model we do not ship).
- **Cache-summary exact match**: the summary after running the prediction equals the gold one.
- **Error taxonomy**: validation_error, undefined_variable, index_out_of_range, other.

Our choices where the paper is silent: an empty gold *and* empty prediction score P = R = F1 = 1;
if exactly one side is empty, P = R = F1 = 0. Per-turn values are fractions in [0, 1];
aggregates are percentages, the mean over turns (every turn weighs the same: "micro over
turns"), overall and per category, plus the unweighted mean over categories ("macro").
`evaluate_dialogue` drives a predictor through a dialogue's user turns with ``cache_mode``
``gold`` (each turn starts from the gold cache of the previous turn) or ``rollout`` (from the
prediction's own cache).
"""

from __future__ import annotations

import ast
import inspect
import math
import re
from collections import Counter
from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from maslab.tools.travel.analysis import Expr, StaticCall, extract_calls, is_noop
from maslab.tools.travel.cache import ToolCache
from maslab.tools.travel.dialogues import Dialogue, DialogueTurn
from maslab.tools.travel.execute import ExecutionResult, aexecute_plan, execute_plan
from maslab.trace import get_logger

log = get_logger(__name__)

__all__ = [
    "EXCLUDED_PARAMS",
    "EXCLUDED_TOOLS",
    "MetricSummary",
    "MetricsReport",
    "TurnScore",
    "aggregate",
    "evaluate_dialogue",
    "normalize_value",
    "param_counts",
    "prf",
    "score_turn",
    "sentence_bleu",
    "token_f1",
    "tool_counts",
]

EXCLUDED_TOOLS = frozenset({"save_to_cache", "get_results_from_cache", "seek_information"})
EXCLUDED_PARAMS = frozenset({"prior_results", "prior_result", "key", "value"})
CacheMode = Literal["gold", "rollout"]


# ---------------------------------------------------------------------------------------------
# building blocks


def prf(tp: int, n_pred: int, n_gold: int) -> tuple[float, float, float]:
    """Precision, recall, F1; both sides empty → (1, 1, 1), one side empty → (0, 0, 0)."""
    if n_pred == 0 and n_gold == 0:
        return 1.0, 1.0, 1.0
    if n_pred == 0 or n_gold == 0:
        return 0.0, 0.0, 0.0
    p, r = tp / n_pred, tp / n_gold
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def normalize_value(v: Any) -> Hashable:
    """A hashable, comparison-ready form of a parameter value (lists as sets, ints as floats)."""
    if isinstance(v, Expr):
        try:
            return ("expr", ast.unparse(ast.parse(v.text, mode="eval")))
        except SyntaxError:
            return ("expr", v.text)
    if isinstance(v, bool) or v is None:
        return ("const", v)
    if isinstance(v, int | float):
        return ("num", float(v))
    if isinstance(v, str):
        return ("str", v)
    if isinstance(v, list | tuple | set | frozenset):
        return ("set", frozenset(normalize_value(x) for x in v))
    if isinstance(v, dict):
        return ("dict", frozenset((str(k), normalize_value(x)) for k, x in v.items()))
    return ("repr", repr(v))


def _calls(code: str | None) -> tuple[list[StaticCall], bool]:
    """Static calls of `code` and whether it parsed."""
    if not code or not code.strip():
        return [], True
    try:
        return extract_calls(code), True
    except SyntaxError:
        return [], False


def tool_counts(pred: Sequence[StaticCall], gold: Sequence[StaticCall]) -> tuple[int, int, int]:
    """(TP, |pred|, |gold|) over the multisets of tool names."""
    p, g = Counter(c.name for c in pred), Counter(c.name for c in gold)
    return sum((p & g).values()), sum(p.values()), sum(g.values())


def _pairs(call: StaticCall) -> Counter:
    return Counter((k, normalize_value(v)) for k, v in call.args.items() if k not in EXCLUDED_PARAMS)


def param_counts(pred: Sequence[StaticCall], gold: Sequence[StaticCall]) -> tuple[int, int, int]:
    """(TP, |pred pairs|, |gold pairs|) after greedy call matching (see the module docstring)."""
    pred_calls = [(c.name, _pairs(c)) for c in pred if c.name not in EXCLUDED_TOOLS]
    gold_calls = [(c.name, _pairs(c)) for c in gold if c.name not in EXCLUDED_TOOLS]
    used: set[int] = set()
    tp = 0
    for name, gp in gold_calls:
        best, best_overlap = None, -1
        for j, (pname, pp) in enumerate(pred_calls):
            if j in used or pname != name:
                continue
            overlap = sum((gp & pp).values())
            if overlap > best_overlap:
                best, best_overlap = j, overlap
        if best is not None:
            used.add(best)
            tp += best_overlap
    n_pred = sum(sum(pp.values()) for _, pp in pred_calls)
    n_gold = sum(sum(gp.values()) for _, gp in gold_calls)
    return tp, n_pred, n_gold


_BLEU_TOKENS = re.compile(r"\w+|[^\w\s]")


def sentence_bleu(hypothesis: str, reference: str, max_order: int = 4) -> float:
    """Sentence BLEU in [0, 100] (SacreBLEU defaults re-implemented: exp smoothing, effective order)."""
    h, r = _BLEU_TOKENS.findall(hypothesis), _BLEU_TOKENS.findall(reference)
    if not h or not r:
        return 100.0 if h == r else 0.0
    correct, total = [], []
    for n in range(1, max_order + 1):
        hc = Counter(tuple(h[i:i + n]) for i in range(len(h) - n + 1))
        rc = Counter(tuple(r[i:i + n]) for i in range(len(r) - n + 1))
        correct.append(sum((hc & rc).values()))
        total.append(max(len(h) - n + 1, 0))
    if correct[0] == 0:
        return 0.0
    orders = [n for n in range(max_order) if total[n] > 0]
    smooth, log_p = 1.0, 0.0
    for n in orders:
        if correct[n] == 0:
            smooth *= 2
            p = 1.0 / (smooth * total[n])
        else:
            p = correct[n] / total[n]
        log_p += math.log(p)
    bp = 1.0 if len(h) >= len(r) else math.exp(1 - len(r) / len(h))
    return 100.0 * bp * math.exp(log_p / len(orders))


def token_f1(hypothesis: str, reference: str) -> float:
    """F1 of the lower-cased word multisets, in [0, 1]."""
    h, r = Counter(re.findall(r"\w+", hypothesis.lower())), Counter(re.findall(r"\w+", reference.lower()))
    if not h and not r:
        return 1.0
    tp = sum((h & r).values())
    return prf(tp, sum(h.values()), sum(r.values()))[2]


def _seek_text(calls: Sequence[StaticCall], execution: ExecutionResult | None) -> str | None:
    for c in calls:
        if c.name == "seek_information":
            v = c.args.get("message")
            if isinstance(v, str):
                return v
            if execution is not None and execution.seek_message:
                return execution.seek_message
            return str(v) if v is not None else ""
    return None


def _gold_kind(turn: DialogueTurn, calls: Sequence[StaticCall]) -> str:
    if turn.kind:
        return turn.kind
    if is_noop(turn.code):
        return "noop"
    return "seek" if any(c.name == "seek_information" for c in calls) else "plan"


# ---------------------------------------------------------------------------------------------
# per turn


class TurnScore(BaseModel):
    """The scores of one predicted user turn (fractions in [0, 1]; None = not applicable)."""

    dialogue_id: str = ""
    turn_index: int = -1
    category: str = ""
    gold_kind: str = "plan"
    tool_accuracy: float
    tool_precision: float
    tool_recall: float
    tool_f1: float
    param_accuracy: float
    param_precision: float
    param_recall: float
    param_f1: float
    tool_counts: tuple[int, int, int]  # TP, predicted, gold
    param_counts: tuple[int, int, int]
    parsed: bool = True
    exec_expected: bool
    exec_success: bool | None = None
    seek_bleu: float | None = None  # 0-100
    seek_token_f1: float | None = None
    seek_semantic: float | None = None
    cache_em: bool | None = None
    noop_exact: bool | None = None  # gold is the no-op line: is the prediction exactly it?
    error_category: str | None = None
    error: str | None = None


def score_turn(
    pred_code: str | None,
    gold_turn: DialogueTurn,
    *,
    execution: ExecutionResult | None = None,
    execute: bool = False,
    cache_before: ToolCache | dict[str, Any] | None = None,
    kb_path: str | Path | None = None,
    timeout: float = 10.0,
    semantic_similarity: Callable[[str, str], float] | None = None,
    dialogue_id: str = "",
    turn_index: int = -1,
    category: str = "",
) -> TurnScore:
    """Score `pred_code` against one gold user turn.

    The static metrics need only the two codes. Execution success and cache EM need the
    prediction's `execution` (an `ExecutionResult` run from the same cache as the gold turn);
    pass it, or pass ``execute=True`` with `cache_before` and `kb_path` to run it here (sandbox).
    """
    if gold_turn.role != "user" or gold_turn.code is None:
        raise ValueError("gold_turn must be a user turn with gold code")
    gold_calls, _ = _calls(gold_turn.code)
    pred_calls, parsed = _calls(pred_code)
    if execution is None and execute and pred_code and pred_code.strip():
        execution = execute_plan(pred_code, cache_before, kb_path, timeout=timeout)
    kind = _gold_kind(gold_turn, gold_calls)

    tt, tp_, tg = tool_counts(pred_calls, gold_calls)
    t_p, t_r, t_f = prf(tt, tp_, tg)
    pt, pp, pg = param_counts(pred_calls, gold_calls)
    p_p, p_r, p_f = prf(pt, pp, pg)
    tool_acc = float(Counter(c.name for c in pred_calls) == Counter(c.name for c in gold_calls))
    param_acc = float(pt == pp == pg)

    exec_expected = kind != "noop"
    has_code = bool(pred_code and pred_code.strip()) and not is_noop(pred_code)
    exec_success: bool | None = None
    if exec_expected:
        if not has_code:
            exec_success = False
        elif execution is not None:
            exec_success = execution.ok

    seek_bleu = seek_f1 = seek_sem = None
    g_seek, p_seek = _seek_text(gold_calls, None), _seek_text(pred_calls, execution)
    if g_seek is not None and p_seek is not None:
        seek_bleu = sentence_bleu(p_seek, g_seek)
        seek_f1 = token_f1(p_seek, g_seek)
        if semantic_similarity is not None:
            seek_sem = float(semantic_similarity(p_seek, g_seek))

    cache_em: bool | None = None
    gold_summary = gold_turn.cache_summary
    if gold_summary is None and gold_turn.cache_after is not None:
        gold_summary = ToolCache.from_dict(gold_turn.cache_after).summary()
    if gold_summary is not None:
        if execution is not None:
            cache_em = execution.cache_summary == gold_summary
        elif not (pred_code and pred_code.strip()) or is_noop(pred_code):
            # nothing ran: the cache is what it was before the turn
            if cache_before is not None:
                before = cache_before if isinstance(cache_before, ToolCache) else ToolCache.from_dict(cache_before)
                cache_em = before.summary() == gold_summary

    return TurnScore(
        dialogue_id=dialogue_id, turn_index=turn_index, category=category, gold_kind=kind,
        tool_accuracy=tool_acc, tool_precision=t_p, tool_recall=t_r, tool_f1=t_f,
        param_accuracy=param_acc, param_precision=p_p, param_recall=p_r, param_f1=p_f,
        tool_counts=(tt, tp_, tg), param_counts=(pt, pp, pg), parsed=parsed,
        exec_expected=exec_expected, exec_success=exec_success,
        seek_bleu=seek_bleu, seek_token_f1=seek_f1, seek_semantic=seek_sem, cache_em=cache_em,
        noop_exact=is_noop(pred_code) if kind == "noop" else None,
        error_category=execution.error_category if execution is not None and not execution.ok else None,
        error=execution.error if execution is not None and not execution.ok else None,
    )


# ---------------------------------------------------------------------------------------------
# aggregation


class MetricSummary(BaseModel):
    """Aggregated scores in percent (mean over turns); None where no turn applies."""

    n_turns: int
    tool_accuracy: float
    tool_precision: float
    tool_recall: float
    tool_f1: float
    param_accuracy: float
    param_precision: float
    param_recall: float
    param_f1: float
    exec_success: float | None = None
    n_exec_expected: int = 0
    seek_bleu: float | None = None
    seek_token_f1: float | None = None
    seek_semantic: float | None = None
    n_seek: int = 0
    cache_em: float | None = None
    n_cache: int = 0
    noop_exact: float | None = None
    errors: dict[str, int] = Field(default_factory=dict)


class MetricsReport(BaseModel):
    """Overall, per-category and macro (mean over categories) summaries."""

    overall: MetricSummary
    per_category: dict[str, MetricSummary]
    macro: MetricSummary | None = None


def _mean(xs: Iterable[float | bool | None], scale: float = 100.0) -> float | None:
    vals = [float(x) for x in xs if x is not None]
    return scale * sum(vals) / len(vals) if vals else None


_RATIO_FIELDS = ("tool_accuracy", "tool_precision", "tool_recall", "tool_f1",
                 "param_accuracy", "param_precision", "param_recall", "param_f1")


def _summary(scores: Sequence[TurnScore]) -> MetricSummary:
    if not scores:
        raise ValueError("no turn scores to aggregate")
    data: dict[str, Any] = {f: _mean(getattr(s, f) for s in scores) for f in _RATIO_FIELDS}
    errors = Counter(s.error_category for s in scores if s.error_category)
    return MetricSummary(
        n_turns=len(scores), **data,
        exec_success=_mean(s.exec_success for s in scores if s.exec_expected),
        n_exec_expected=sum(s.exec_success is not None for s in scores),
        seek_bleu=_mean((s.seek_bleu for s in scores), scale=1.0),
        seek_token_f1=_mean(s.seek_token_f1 for s in scores),
        seek_semantic=_mean(s.seek_semantic for s in scores),
        n_seek=sum(s.seek_bleu is not None for s in scores),
        cache_em=_mean(s.cache_em for s in scores), n_cache=sum(s.cache_em is not None for s in scores),
        noop_exact=_mean(s.noop_exact for s in scores), errors=dict(sorted(errors.items())))


def aggregate(scores: Sequence[TurnScore]) -> MetricsReport:
    """Mean over turns overall and per category, and the unweighted mean over categories."""
    by_cat: dict[str, list[TurnScore]] = {}
    for s in scores:
        by_cat.setdefault(s.category or "unknown", []).append(s)
    per = {c: _summary(v) for c, v in sorted(by_cat.items())}
    macro = None
    if per:
        def avg(field: str) -> float | None:
            return _mean((getattr(m, field) for m in per.values()), scale=1.0)

        fields = {f: avg(f) for f in (*_RATIO_FIELDS, "exec_success", "seek_bleu", "seek_token_f1",
                                      "seek_semantic", "cache_em", "noop_exact")}
        errors: Counter = Counter()
        for m in per.values():
            errors.update(m.errors)
        macro = MetricSummary(n_turns=len(scores), **fields, n_exec_expected=sum(m.n_exec_expected for m in per.values()),
                              n_seek=sum(m.n_seek for m in per.values()), n_cache=sum(m.n_cache for m in per.values()),
                              errors=dict(sorted(errors.items())))
    return MetricsReport(overall=_summary(scores), per_category=per, macro=macro)


# ---------------------------------------------------------------------------------------------
# driving a predictor through a dialogue

Predictor = Callable[[Dialogue, int, ToolCache], "str | Awaitable[str]"]


async def evaluate_dialogue(
    dialogue: Dialogue,
    predictor: Predictor,
    *,
    cache_mode: CacheMode = "gold",
    kb_path: str | Path | None = None,
    timeout: float = 10.0,
    semantic_similarity: Callable[[str, str], float] | None = None,
) -> list[TurnScore]:
    """Score `predictor` (dialogue, user-turn index, cache before the turn) → code on every user turn.

    ``cache_mode="gold"``: each turn starts from the gold cache after the previous user turn;
    ``"rollout"``: from the cache the prediction itself left. The predictor returns plan code
    (already extracted from the model's reply) and may be sync or async.
    """
    if cache_mode not in ("gold", "rollout"):
        raise ValueError(f"cache_mode must be 'gold' or 'rollout', got {cache_mode!r}")
    if kb_path is None:
        from maslab.tools.travel.kb import get_kb

        kb_path = get_kb(dialogue.kb_seed, dialogue.kb_scale).path
    scores: list[TurnScore] = []
    own = ToolCache()
    for i in dialogue.user_turn_indices():
        before = dialogue.gold_cache_before(i) if cache_mode == "gold" else own
        out = predictor(dialogue, i, before.copy())
        code = await out if inspect.isawaitable(out) else out
        execution = None
        if code and code.strip() and not is_noop(code):
            execution = await aexecute_plan(code, before, kb_path, timeout=timeout)
            own = execution.cache()
        else:
            own = before
        scores.append(score_turn(code, dialogue.turns[i], execution=execution, cache_before=before,
                                 semantic_similarity=semantic_similarity, dialogue_id=dialogue.id,
                                 turn_index=i, category=dialogue.category))
    return scores
