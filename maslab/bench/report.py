"""Sweep reports: per-cell accuracy with confidence intervals, cost, paired comparisons, tables and plots.

Everything here reads a `ResultStore` and returns objects or strings; the CLI owns the terminal.

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

import base64
import csv
import html
import io
import itertools
import math
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from maslab.bench.store import ResultRow, ResultStore
from maslab.errors import ConfigError
from maslab.trace import get_logger

if TYPE_CHECKING:
    from rich.table import Table

log = get_logger(__name__)

Z95 = 1.959963984540054  # the 0.975 quantile of the standard normal
FORMATS = ("table", "markdown", "csv", "html")
CSV_COLUMNS = (
    "method", "registered_method", "assignment", "dataset", "seed", "n", "n_planned", "correct", "accuracy",
    "ci_low", "ci_high", "valid", "accuracy_valid", "errors", "score_errors", "mean_score",
    "prompt_tokens_per_task", "completion_tokens_per_task", "tokens_per_task", "calls_per_task",
    "latency_mean_s", "latency_p50_s", "latency_p95_s", "cache_hits",
)


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


def _summaries_from(rows: Sequence[ResultRow], cells: Sequence[dict[str, Any]]) -> list[CellSummary]:
    planned = {c["cell_id"]: c.get("n_tasks") for c in cells}
    by_cell: dict[tuple[str, str, str, int, str], list[ResultRow]] = {}
    for r in rows:
        by_cell.setdefault((*_group_key(r), r.seed, r.cell_id), []).append(r)
    out = [CellSummary(cell_id=key[4], seed=key[3], n_planned=planned.get(key[4]), **_stats(group))
           for key, group in sorted(by_cell.items())]
    return out


def _aggregates_from(rows: Sequence[ResultRow], cells: Sequence[dict[str, Any]]) -> list[SeedAggregate]:
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
    return _summaries_from(store.rows(), store.cells())


def aggregate_seeds(store: ResultStore) -> list[SeedAggregate]:
    """One summary per (method label, assignment, dataset), pooled over all its task-seed rows."""
    return _aggregates_from(store.rows(), store.cells())


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


def _all_comparisons(rows: Sequence[ResultRow]) -> list[Comparison]:
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


def _requested_comparisons(rows: Sequence[ResultRow], a: str, b: str) -> list[Comparison]:
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


# -------------------------------------------------------------------------------------- formatting


def _pct(x: float | None, digits: int = 1) -> str:
    return "—" if x is None else f"{100 * x:.{digits}f}"


def _seed_text(s: Stats) -> str:
    if isinstance(s, SeedAggregate):
        return ",".join(map(str, s.seeds)) + " (pooled)"
    return str(s.seed) if isinstance(s, CellSummary) else ""


def _n_text(s: Stats) -> str:
    return f"{s.n}/{s.n_planned}" if s.n_planned is not None and s.n_planned != s.n else str(s.n)


def _row_cells(s: Stats) -> list[str]:
    err = f"{s.errors}" + (f" (+{s.score_errors} scoring)" if s.score_errors else "")
    lat = f"{s.latency_mean_s:.2f} (p50 {s.latency_p50_s:.2f}, p95 {s.latency_p95_s:.2f})"
    return [s.method_label, s.assignment, _seed_text(s), _n_text(s),
            f"{_pct(s.accuracy)} [{_pct(s.ci_low)}, {_pct(s.ci_high)}]", _pct(s.accuracy_valid), err,
            f"{s.tokens_per_task:,.0f}", f"{s.calls_per_task:.1f}", lat]


TABLE_HEADERS = ["method", "assignment", "seed(s)", "n", "accuracy % [95% CI]", "valid-only %", "errors",
                 "tokens/task", "calls/task", "latency s"]


TERMINAL_HEADERS = ["method", "assignment", "seed", "n", "acc % [95% CI]", "valid %", "err", "tok/task", "calls",
                    "lat s"]


def _terminal_cells(s: Stats) -> list[str]:
    """The compact row of the terminal table (the Markdown/CSV/HTML reports carry p50/p95 latency too)."""
    err = f"{s.errors}" + (f"+{s.score_errors}" if s.score_errors else "")
    return [s.method_label, s.assignment, _seed_text(s), _n_text(s),
            f"{_pct(s.accuracy)} [{_pct(s.ci_low)}, {_pct(s.ci_high)}]", _pct(s.accuracy_valid), err,
            f"{s.tokens_per_task:,.0f}", f"{s.calls_per_task:.1f}", f"{s.latency_mean_s:.1f}"]


def _ordered(summaries: Iterable[Stats]) -> dict[str, list[Stats]]:
    """Items grouped by dataset; within one: label, assignment, seeds, then a pooled row if multi-seed."""
    items = [s for s in summaries if not (isinstance(s, SeedAggregate) and len(s.seeds) < 2)]

    def key(s: Stats) -> tuple[Any, ...]:
        tail = (1, 0) if isinstance(s, SeedAggregate) else (0, getattr(s, "seed", 0))
        return (s.dataset, s.method_label, s.assignment, *tail)

    out: dict[str, list[Stats]] = {}
    for s in sorted(items, key=key):
        out.setdefault(s.dataset, []).append(s)
    return out


def render_table(summaries: Sequence[Stats]) -> list[Table]:
    """One rich Table per dataset (cells, then a pooled row for every method run with several seeds)."""
    from rich.table import Table

    tables = []
    for ds, items in _ordered(summaries).items():
        t = Table(title=f"{ds or '(no dataset)'} — accuracy counts errors as wrong; 95% Wilson CI",
                  title_justify="left")
        for h in TERMINAL_HEADERS:
            t.add_column(h, justify="left" if h in ("method", "assignment", "seed") else "right")
        for s in items:
            t.add_row(*_terminal_cells(s), style="bold" if isinstance(s, SeedAggregate) else None)
        tables.append(t)
    return tables


def _comparison_cells(c: Comparison) -> list[str]:
    ci = "—" if c.ci_low is None or c.ci_high is None else f"[{_pct(c.ci_low)}, {_pct(c.ci_high)}]"
    return [c.dataset or "all datasets", c.method_a, c.method_b, str(c.n_pairs), _pct(c.accuracy_a),
            _pct(c.accuracy_b), f"{100 * c.diff:+.1f}", ci, str(c.only_a), str(c.only_b), f"{c.mcnemar_p:.3g}"]


COMPARISON_HEADERS = ["dataset", "A", "B", "pairs", "acc A %", "acc B %", "A−B pts", "95% CI (paired t)",
                      "only A right", "only B right", "McNemar exact p"]


def render_comparisons(comparisons: Sequence[Comparison]) -> Table:
    """The paired comparisons as one rich Table."""
    from rich.table import Table

    t = Table(title="paired comparisons (same dataset, task, seed, assignment)", title_justify="left")
    for h in COMPARISON_HEADERS:
        t.add_column(h, justify="left" if h in ("dataset", "A", "B") else "right")
    for c in comparisons:
        t.add_row(*_comparison_cells(c))
    return t


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(_md_escape(h) for h in headers) + " |",
             "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(_md_escape(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def comparisons_markdown(comparisons: Sequence[Comparison]) -> str:
    """The paired comparisons as one Markdown table."""
    return _md_table(COMPARISON_HEADERS, (_comparison_cells(c) for c in comparisons))


def to_markdown(summaries: Sequence[Stats], comparisons: Sequence[Comparison] | None = None,
                title: str | None = None) -> str:
    """A Markdown report: one table per dataset, then the paired comparisons if any."""
    parts = [f"# {title}"] if title else []
    parts.append("Accuracy counts inference and scoring errors as wrong; the interval is the 95 % Wilson "
                 "score interval. *valid-only* is accuracy over rows that finished without error.")
    grouped = _ordered(summaries)
    if not grouped:
        parts.append("_No results yet._")
    for ds, items in grouped.items():
        parts.append(f"## {ds or '(no dataset)'}")
        parts.append(_md_table(TABLE_HEADERS, (_row_cells(s) for s in items)))
    if comparisons:
        parts.append("## Paired comparisons")
        parts.append("Difference A − B in accuracy points over tasks both ran; 95 % paired t interval; "
                     "McNemar's exact test on the discordant tasks.")
        parts.append(comparisons_markdown(comparisons))
    return "\n\n".join(parts) + "\n"


def _fmt_num(x: float | int | None) -> str:
    if x is None:
        return ""
    if isinstance(x, int):
        return str(x)
    return f"{x:.6g}"


def to_csv(summaries: Sequence[Stats]) -> str:
    """CSV, one row per item (per cell for `summarize` output); seed is blank-joined seeds for pooled rows."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for s in summaries:
        seed = (" ".join(map(str, s.seeds)) if isinstance(s, SeedAggregate)
                else str(s.seed) if isinstance(s, CellSummary) else "")
        values: dict[str, Any] = {**s.model_dump(), "method": s.method_label, "registered_method": s.method,
                                  "seed": seed}
        w.writerow([v if isinstance(v := values.get(c), str) else _fmt_num(v) for c in CSV_COLUMNS])
    return buf.getvalue()


def comparisons_csv(comparisons: Sequence[Comparison]) -> str:
    """The paired comparisons as CSV."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    cols = list(Comparison.model_fields)
    w.writerow(cols)
    for c in comparisons:
        d = c.model_dump()
        w.writerow([d[k] if isinstance(d[k], str) else _fmt_num(d[k]) for k in cols])
    return buf.getvalue()


# -------------------------------------------------------------------------------------------- plot


def plot_accuracy_vs_tokens(aggregates: Sequence[SeedAggregate], path: str | Path | None = None) -> bytes:
    """PNG of accuracy against tokens per task: one panel per dataset, one labelled point per method
    (and assignment), error bars the 95 % Wilson interval. Writes it to `path` when given."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    datasets = sorted({a.dataset for a in aggregates})
    ncols = min(3, max(1, len(datasets)))
    nrows = max(1, math.ceil(len(datasets) / ncols))
    fig = Figure(figsize=(5.6 * ncols, 4.4 * nrows), dpi=100)
    FigureCanvasAgg(fig)
    multi_assign = len({a.assignment for a in aggregates}) > 1
    labels = sorted({a.method_label for a in aggregates})
    colors = {m: f"C{i % 10}" for i, m in enumerate(labels)}
    if not datasets:
        ax = fig.add_subplot(1, 1, 1)
        ax.text(0.5, 0.5, "no results yet", ha="center", va="center")
        ax.set_axis_off()
    for i, ds in enumerate(datasets):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        for a in (x for x in aggregates if x.dataset == ds):
            y = 100 * a.accuracy
            yerr = [[y - 100 * a.ci_low], [100 * a.ci_high - y]]
            ax.errorbar([a.tokens_per_task], [y], yerr=yerr, fmt="o", capsize=4, color=colors[a.method_label])
            text = f"{a.method_label} / {a.assignment}" if multi_assign else a.method_label
            ax.annotate(text, (a.tokens_per_task, y), textcoords="offset points", xytext=(6, 6), fontsize=9)
        ax.set_title(ds or "(no dataset)")
        ax.set_xlabel("tokens per task (mean)")
        ax.set_ylabel("accuracy % (errors wrong), 95% CI")
        ax.set_ylim(-5, 105)
        ax.margins(x=0.25)
        ax.grid(alpha=0.3)
    fig.suptitle("accuracy against tokens per task")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    png = buf.getvalue()
    if path is not None:
        Path(path).write_bytes(png)
    return png


# -------------------------------------------------------------------------------------------- HTML

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:2em auto;
max-width:1150px;color:#1b1f24;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.25em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:.88em}
th,td{border:1px solid #ccd;padding:.3em .55em;text-align:right;white-space:nowrap}
th{background:#eef1f6}td.l,th.l{text-align:left}tr.pooled td{font-weight:600;background:#f7f7fb}
pre{background:#f5f6f8;padding:.8em;overflow:auto;font-size:.85em;border:1px solid #e3e5e8}
.note{color:#555;font-size:.9em}img{max-width:100%;border:1px solid #e3e5e8}
"""


def _html_table(headers: Sequence[str], rows: Iterable[tuple[Sequence[str], str]], left: int, cls: str) -> str:
    head = "".join(f'<th class="l">{html.escape(h)}</th>' if i < left else f"<th>{html.escape(h)}</th>"
                   for i, h in enumerate(headers))
    body = []
    for cells, row_cls in rows:
        tds = "".join(f'<td class="l">{html.escape(c)}</td>' if i < left else f"<td>{html.escape(c)}</td>"
                      for i, c in enumerate(cells))
        body.append(f'<tr class="{row_cls}">{tds}</tr>' if row_cls else f"<tr>{tds}</tr>")
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _sweep_text(sweep: Any) -> tuple[str, str]:
    """(name, definition as YAML) from the store's `sweep` meta."""
    if sweep is None:
        return "", ""
    if isinstance(sweep, dict):
        import yaml

        return str(sweep.get("name", "")), yaml.safe_dump(sweep, sort_keys=False, allow_unicode=True)
    return str(sweep), ""


def _build_html(sweep: Any, summaries: Sequence[CellSummary], aggregates: Sequence[SeedAggregate],
                comparisons: Sequence[Comparison], png: bytes) -> str:
    name, definition = _sweep_text(sweep)
    title = f"maslab report — {name}" if name else "maslab report"
    parts = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>",
             f"<style>{_CSS}</style></head><body>", f"<h1>{html.escape(title)}</h1>"]
    n_rows = sum(s.n for s in summaries)
    parts.append(f'<p class="note">{len(summaries)} cells, {n_rows} results. Accuracy counts inference and '
                 "scoring errors as wrong; intervals are 95 % Wilson score intervals; <em>valid-only</em> is "
                 "accuracy over rows that finished without error.</p>")
    if name or definition:
        parts.append(f"<h2>Sweep {html.escape(name)}</h2>")
        if definition:
            parts.append(f"<pre>{html.escape(definition)}</pre>")
    grouped = _ordered([*summaries, *aggregates])
    if not grouped:
        parts.append("<p><em>No results yet.</em></p>")
    for ds, items in grouped.items():
        parts.append(f"<h2>{html.escape(ds or '(no dataset)')}</h2>")
        parts.append(_html_table(TABLE_HEADERS, ((_row_cells(s), "pooled" if isinstance(s, SeedAggregate) else "")
                                                 for s in items), left=3, cls="results"))
    parts.append("<h2>Accuracy against tokens per task</h2>")
    b64 = base64.b64encode(png).decode("ascii")
    parts.append(f'<img id="accuracy-vs-tokens" alt="accuracy against tokens per task" '
                 f'src="data:image/png;base64,{b64}">')
    if comparisons:
        parts.append("<h2>Paired comparisons</h2>")
        parts.append('<p class="note">Over the tasks both methods ran (same dataset, task, seed, assignment): '
                     "difference A − B in accuracy points with a 95 % paired t interval, and McNemar's exact "
                     "test on the tasks only one of them got right.</p>")
        parts.append(_html_table(COMPARISON_HEADERS, ((_comparison_cells(c), "") for c in comparisons), left=3,
                                 cls="comparisons"))
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _open(store: ResultStore | str | Path) -> ResultStore:
    return store if isinstance(store, ResultStore) else ResultStore.open(store)


def to_html(store_dir: ResultStore | str | Path) -> str:
    """A self-contained HTML page (inline CSS, plot as base64 PNG): sweep, tables, plot, comparisons."""
    store = _open(store_dir)
    rows, cells = store.rows(), store.cells()
    aggregates = _aggregates_from(rows, cells)
    return _build_html(store.get_meta("sweep"), _summaries_from(rows, cells), aggregates,
                       _all_comparisons(rows), plot_accuracy_vs_tokens(aggregates))


# --------------------------------------------------------------------------------------------- CLI


def report_command(dir: Path, fmt: str = "table", compare: list[str] | None = None) -> int:
    """`maslab report DIR`: write report.{md,csv,html} and accuracy_vs_tokens.png; print the chosen format.

    Returns 0, or 2 (with a message on stderr) when DIR holds no store or the arguments are invalid.
    """
    from rich.console import Console
    from rich.markup import escape

    err = Console(stderr=True, highlight=False)
    store: ResultStore | None = None
    try:
        if fmt not in FORMATS:
            raise ConfigError(f"unknown report format {fmt!r} (choose one of {', '.join(FORMATS)})")
        if compare is not None and len(compare) != 2:
            raise ConfigError("--compare takes exactly two methods: A B")
        try:
            store = ResultStore.open(dir)
        except ConfigError as e:
            raise ConfigError(f"{e} — is {dir} a sweep folder? (`maslab bench SWEEP.yaml --out DIR` makes one)") from e
        rows, cells = store.rows(), store.cells()
        requested = _requested_comparisons(rows, compare[0], compare[1]) if compare else []
    except ConfigError as e:
        if store is not None:
            store.close()
        err.print(f"[bold red]error:[/] {escape(str(e))}")
        return 2
    out_dir = Path(dir) if Path(dir).is_dir() else Path(dir).parent
    sweep = store.get_meta("sweep")
    name, _ = _sweep_text(sweep)
    summaries = _summaries_from(rows, cells)
    aggregates = _aggregates_from(rows, cells)
    comparisons = _all_comparisons(rows)
    png_path = out_dir / "accuracy_vs_tokens.png"
    png = plot_accuracy_vs_tokens(aggregates, png_path)
    markdown = to_markdown([*summaries, *aggregates], comparisons, title=f"maslab report — {name or out_dir.name}")
    csv_text = to_csv(summaries)
    html_path = out_dir / "report.html"
    (out_dir / "report.md").write_text(markdown, encoding="utf-8")
    (out_dir / "report.csv").write_text(csv_text, encoding="utf-8")
    html_path.write_text(_build_html(sweep, summaries, aggregates, comparisons, png), encoding="utf-8")
    log.info("report written", dir=str(out_dir), cells=len(summaries), rows=len(rows))
    store.close()

    console = Console(highlight=False)
    if not console.is_terminal:  # piped or captured: do not squeeze tables into 80 columns
        console = Console(highlight=False, width=140)
    if fmt == "table":
        if not summaries:
            console.print("no results yet")
        for t in render_table([*summaries, *aggregates]):
            console.print(t)
        if requested:
            console.print(render_comparisons(requested))
    elif fmt == "markdown":
        sys.stdout.write(markdown)
        if requested:
            sys.stdout.write("\n" + comparisons_markdown(requested) + "\n")
    elif fmt == "csv":
        sys.stdout.write(csv_text)
        if requested:
            sys.stdout.write("\n" + comparisons_csv(requested))
    else:
        sys.stdout.write(f"{html_path}\n")
        if requested:
            console.print(render_comparisons(requested))
    sys.stdout.flush()
    return 0

