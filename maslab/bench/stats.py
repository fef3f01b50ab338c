"""Sweep statistics: per-cell accuracy with confidence intervals, cost, seeds pooled, paired comparisons.

Everything here reads `ResultRow`s (or a `ResultStore`) and returns pydantic objects; rendering
them as tables, Markdown, CSV, HTML and plots is `maslab.bench.report`.

Statistical choices (written down so a reader can check them):

* **Headline accuracy** counts every row of a cell: an inference failure (`status='error'`) and a
  scoring failure (`'score_error'`) are *wrong* (maslab_methods.md §4). Accuracy over valid rows
  only (status `ok`) is reported in its own column and never as the headline.
* **Per-cell 95 % CI** is the Wilson score interval. Unlike the Wald interval it never leaves
  [0, 1] and keeps close to its nominal coverage at small n and at accuracies near 0 or 1, the
  usual situation in a benchmark sweep of a few dozen tasks.
* **Over seeds** (per method label, assignment, dataset) the pooled accuracy is correct/n over
  all task-seed rows with a Wilson interval over those rows. It treats rows as independent, which
  ignores that the same task recurs across seeds, so read it as a slightly optimistic interval;
  the per-seed accuracies and their standard deviation are kept beside it.
* **Paired comparison** of two methods uses only the (dataset, task, seed, assignment) keys both
  ran. The difference in accuracy is the mean of the per-task differences d = [A right] − [B right]
  (each −1, 0 or 1) with a Student-t 95 % interval on those differences (mean ± t₀.₉₇₅,ₙ₋₁·s/√n,
  clipped to [−1, 1]; none below 2 pairs). It is deterministic, needs no resampling seed, and is the
  interval whose test is the paired t-test. McNemar's exact test is the two-sided binomial test of
  the discordant counts (only A right vs. only B right) at p = ½.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field

from maslab.bench.store import ResultRow, ResultStore
from maslab.errors import ConfigError

Z95 = 1.959963984540054  # the 0.975 quantile of the standard normal


# --------------------------------------------------------------------------------------- statistics


def wilson_interval(correct: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval for a binomial proportion; (0, 1) when n is 0."""
    if n <= 0:
        return 0.0, 1.0
    p = correct / n
    denom = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, center - half), min(1.0, center + half)


def _percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    import numpy as np

    return float(np.percentile(np.asarray(values, dtype=float), q))


def _is_correct(row: ResultRow) -> bool:
    """Right only when the row finished cleanly and was scored correct; failures count as wrong."""
    return row.status == "ok" and bool(row.correct)


def _label(row: ResultRow) -> str:
    return row.method_label or row.method


# ------------------------------------------------------------------------------------------ models


class Stats(BaseModel):
    """Accuracy and cost of a set of rows of one method label, assignment and dataset."""

    method_label: str
    method: str = ""
    assignment: str = ""
    dataset: str = ""
    n: int
    n_planned: int | None = None  # tasks the sweep planned for this cell (or cells), when known
    correct: int
    accuracy: float  # headline: errors and score errors count as wrong
    ci_low: float
    ci_high: float
    valid: int  # rows with status ok
    accuracy_valid: float | None  # over valid rows only; never the headline
    errors: int  # inference failures
    score_errors: int
    mean_score: float
    prompt_tokens_per_task: float
    completion_tokens_per_task: float
    tokens_per_task: float
    calls_per_task: float
    latency_mean_s: float
    latency_p50_s: float
    latency_p95_s: float
    cache_hits: int
    tokens_by_role: dict[str, float] = Field(default_factory=dict)  # mean tokens per task, per role


class CellSummary(Stats):
    """One sweep cell: (method label, assignment, dataset, seed)."""

    cell_id: str
    seed: int


class SeedAggregate(Stats):
    """One (method label, assignment, dataset) pooled over its seeds."""

    seeds: list[int]
    seed_accuracies: list[float]
    seed_accuracy_sd: float | None  # sample standard deviation over seeds; none for one seed


class Comparison(BaseModel):
    """Paired comparison of two methods on the tasks both ran."""

    method_a: str
    method_b: str
    dataset: str | None  # None: pooled over every dataset
    n_pairs: int
    correct_a: int
    correct_b: int
    accuracy_a: float
    accuracy_b: float
    diff: float  # accuracy_a - accuracy_b
    ci_low: float | None
    ci_high: float | None
    ci_method: str = "paired t interval on per-task differences"
    both_correct: int
    only_a: int
    only_b: int
    neither: int
    mcnemar_p: float


# --------------------------------------------------------------------------------------- summaries


def _stats(rows: Sequence[ResultRow]) -> dict[str, Any]:
    n = len(rows)
    correct = sum(_is_correct(r) for r in rows)
    valid = [r for r in rows if r.status == "ok"]
    lo, hi = wilson_interval(correct, n)
    latencies = [r.latency_s for r in rows]
    role_tokens: dict[str, float] = {}
    for r in rows:
        for role, u in (r.usage_by_role or {}).items():
            if isinstance(u, dict):
                tok = (u.get("prompt_tokens") or 0) + (u.get("completion_tokens") or 0)
                role_tokens[role] = role_tokens.get(role, 0.0) + tok
    mean = (lambda xs: sum(xs) / n) if n else (lambda xs: 0.0)
    first = rows[0] if rows else None
    return {
        "method_label": _label(first) if first else "",
        "method": first.method if first else "",
        "assignment": first.assignment if first else "",
        "dataset": first.dataset if first else "",
        "n": n,
        "correct": correct,
        "accuracy": correct / n if n else 0.0,
        "ci_low": lo,
        "ci_high": hi,
        "valid": len(valid),
        "accuracy_valid": sum(bool(r.correct) for r in valid) / len(valid) if valid else None,
        "errors": sum(r.status == "error" for r in rows),
        "score_errors": sum(r.status == "score_error" for r in rows),
        "mean_score": mean([r.score if r.status == "ok" else 0.0 for r in rows]),
        "prompt_tokens_per_task": mean([r.prompt_tokens for r in rows]),
        "completion_tokens_per_task": mean([r.completion_tokens for r in rows]),
        "tokens_per_task": mean([r.prompt_tokens + r.completion_tokens for r in rows]),
        "calls_per_task": mean([r.calls for r in rows]),
        "latency_mean_s": mean(latencies),
        "latency_p50_s": _percentile(latencies, 50),
        "latency_p95_s": _percentile(latencies, 95),
        "cache_hits": sum(r.cache_hits for r in rows),
        "tokens_by_role": {k: v / n for k, v in sorted(role_tokens.items())} if n else {},
    }


def _group_key(row: ResultRow) -> tuple[str, str, str]:
    return row.dataset, _label(row), row.assignment


def summaries_from(rows: Sequence[ResultRow], cells: Sequence[dict[str, Any]]) -> list[CellSummary]:
    planned = {c["cell_id"]: c.get("n_tasks") for c in cells}
    by_cell: dict[tuple[str, str, str, int, str], list[ResultRow]] = {}
    for r in rows:
        by_cell.setdefault((*_group_key(r), r.seed, r.cell_id), []).append(r)
    out = [CellSummary(cell_id=key[4], seed=key[3], n_planned=planned.get(key[4]), **_stats(group))
           for key, group in sorted(by_cell.items())]
    return out


def aggregates_from(rows: Sequence[ResultRow], cells: Sequence[dict[str, Any]]) -> list[SeedAggregate]:
    planned = {c["cell_id"]: c.get("n_tasks") for c in cells}
    groups: dict[tuple[str, str, str], list[ResultRow]] = {}
    for r in rows:
        groups.setdefault(_group_key(r), []).append(r)
    out = []
    for _key, group in sorted(groups.items()):
        seeds = sorted({r.seed for r in group})
        per_seed = [[r for r in group if r.seed == s] for s in seeds]
        accs = [sum(_is_correct(r) for r in g) / len(g) for g in per_seed]
        sd = None
        if len(accs) > 1:
            m = sum(accs) / len(accs)
            sd = math.sqrt(sum((a - m) ** 2 for a in accs) / (len(accs) - 1))
        cell_ids = {r.cell_id for r in group}
        plans = [planned.get(c) for c in cell_ids]
        n_planned = sum(p for p in plans if p is not None) if plans and all(p is not None for p in plans) else None
        out.append(SeedAggregate(seeds=seeds, seed_accuracies=accs, seed_accuracy_sd=sd, n_planned=n_planned,
                                 **_stats(group)))
    return out


def summarize(store: ResultStore) -> list[CellSummary]:
    """One summary per cell (method label, assignment, dataset, seed), ordered by dataset, label, assignment, seed."""
    return summaries_from(store.rows(), store.cells())


def aggregate_seeds(store: ResultStore) -> list[SeedAggregate]:
    """One summary per (method label, assignment, dataset), pooled over all its task-seed rows."""
    return aggregates_from(store.rows(), store.cells())


# -------------------------------------------------------------------------------------- comparison


def _rows_of(rows: Sequence[ResultRow], name: str) -> list[ResultRow]:
    """Rows of a method named by its label (preferred) or by its registered name (if that is unambiguous)."""
    by_label = [r for r in rows if _label(r) == name]
    if by_label:
        return by_label
    by_method = [r for r in rows if r.method == name]
    labels = sorted({_label(r) for r in by_method})
    if len(labels) > 1:
        raise ConfigError(f"method {name!r} ran under several labels {labels}: compare by label")
    if not by_method:
        known = sorted({_label(r) for r in rows})
        raise ConfigError(f"no results for method {name!r} in this store (methods: {', '.join(known) or 'none'})")
    return by_method


def _compare_rows(rows: Sequence[ResultRow], method_a: str, method_b: str, dataset: str | None) -> Comparison:
    if dataset is not None:
        rows = [r for r in rows if r.dataset == dataset]
        if not rows:
            raise ConfigError(f"no results for dataset {dataset!r}")
    a_rows, b_rows = _rows_of(rows, method_a), _rows_of(rows, method_b)
    if {id(r) for r in a_rows} & {id(r) for r in b_rows}:
        raise ConfigError(f"{method_a!r} and {method_b!r} name the same results: compare two different methods")

    def key(r: ResultRow) -> tuple[str, str, int, str]:
        return r.dataset, r.task_id, r.seed, r.assignment

    a = {key(r): _is_correct(r) for r in a_rows}
    b = {key(r): _is_correct(r) for r in b_rows}
    common = sorted(a.keys() & b.keys())
    where = f" on {dataset}" if dataset else ""
    if not common:
        raise ConfigError(f"{method_a!r} and {method_b!r} share no (task, seed, assignment){where} to compare")
    pairs = [(a[k], b[k]) for k in common]
    n = len(pairs)
    both = sum(x and y for x, y in pairs)
    only_a = sum(x and not y for x, y in pairs)
    only_b = sum(y and not x for x, y in pairs)
    diffs = [int(x) - int(y) for x, y in pairs]
    mean_d = sum(diffs) / n
    lo = hi = None
    from scipy import stats

    if n >= 2:
        sd = math.sqrt(sum((d - mean_d) ** 2 for d in diffs) / (n - 1))
        half = float(stats.t.ppf(0.975, n - 1)) * sd / math.sqrt(n)
        lo, hi = max(-1.0, mean_d - half), min(1.0, mean_d + half)
    discordant = only_a + only_b
    p = float(stats.binomtest(only_a, discordant, 0.5).pvalue) if discordant else 1.0
    return Comparison(method_a=method_a, method_b=method_b, dataset=dataset, n_pairs=n,
                      correct_a=both + only_a, correct_b=both + only_b, accuracy_a=(both + only_a) / n,
                      accuracy_b=(both + only_b) / n, diff=mean_d, ci_low=lo, ci_high=hi, both_correct=both,
                      only_a=only_a, only_b=only_b, neither=n - both - only_a - only_b, mcnemar_p=min(1.0, p))


def compare(store: ResultStore, method_a: str, method_b: str, dataset: str | None = None) -> Comparison:
    """Paired comparison of two methods (labels, or registered names) on the tasks both ran.

    Pairs are keyed by (dataset, task_id, seed, assignment); `dataset=None` pools every dataset.
    Raises `ConfigError` for an unknown method or when the two share no task.
    """
    return _compare_rows(store.rows(), method_a, method_b, dataset)


def all_comparisons(rows: Sequence[ResultRow]) -> list[Comparison]:
    """Every pair of method labels on each dataset where both ran a common task."""
    out = []
    for ds in sorted({r.dataset for r in rows}):
        ds_rows = [r for r in rows if r.dataset == ds]
        for a, b in itertools.combinations(sorted({_label(r) for r in ds_rows}), 2):
            try:
                out.append(_compare_rows(ds_rows, a, b, ds))
            except ConfigError:
                continue
    return out


def requested_comparisons(rows: Sequence[ResultRow], a: str, b: str) -> list[Comparison]:
    """A vs B on each dataset both ran, plus pooled over datasets when there are several."""
    a_ds = {r.dataset for r in _rows_of(rows, a)}
    b_ds = {r.dataset for r in _rows_of(rows, b)}
    out = []
    for ds in sorted(a_ds & b_ds):
        try:
            out.append(_compare_rows(rows, a, b, ds))
        except ConfigError:
            continue
    if not out:
        raise ConfigError(f"{a!r} and {b!r} share no (dataset, task, seed, assignment) to compare")
    if len(out) > 1:
        out.append(_compare_rows(rows, a, b, None))
    return out
