"""Sweep reports: the statistics of `maslab.bench.stats` rendered as tables, Markdown, CSV, HTML and a plot.

Everything here returns objects or strings, or writes files; the CLI owns the terminal
(`maslab report` is `maslab.cli`). `write_report(dir)` writes report.{md,csv,html} and
accuracy_vs_tokens.png beside a sweep's store and returns what was written.

Every report ends with the deviations of each method in the sweep from its reference
implementation, for the profile it ran under (`Method.deviations`; `maslab methods --deviations`
lists them for every profile), so a published number carries what differs from the code it names.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from maslab.bench.stats import (
    CellSummary,
    Comparison,
    SeedAggregate,
    Stats,
    aggregates_from,
    all_comparisons,
    requested_comparisons,
    summaries_from,
)
from maslab.bench.store import ResultStore
from maslab.bench.sweep import COMPUTED
from maslab.errors import ConfigError, MaslabError
from maslab.method import Deviation, deviations_of, method_class
from maslab.trace import get_logger

if TYPE_CHECKING:
    from rich.table import Table

log = get_logger(__name__)

FORMATS = ("table", "markdown", "csv", "html")
CSV_COLUMNS = (
    "method", "registered_method", "assignment", "dataset", "seed", "n", "n_planned", "correct", "accuracy",
    "ci_low", "ci_high", "valid", "accuracy_valid", "errors", "score_errors", "mean_score",
    "prompt_tokens_per_task", "completion_tokens_per_task", "tokens_per_task", "calls_per_task",
    "latency_mean_s", "latency_p50_s", "latency_p95_s", "cache_hits",
)


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


# ------------------------------------------------------------------------------------ deviations


class MethodDeviations(BaseModel):
    """One system's deviations from its reference implementation, for one profile (None: every profile)."""

    method: str
    profile: str | None = None
    reference: str = ""
    deviations: list[Deviation] = []
    error: str | None = None  # the system could not be loaded (e.g. its plug-in is not installed)


DEVIATION_HEADERS = ["kind", "profiles", "what differs", "why", "calls"]


def sweep_methods(cells: Iterable[dict[str, Any]]) -> list[tuple[str, str | None]]:
    """(registered method, profile) of every cell, in first-seen order."""
    seen: dict[tuple[str, str | None], None] = {}
    for c in cells:
        params = c.get("method_params") or {}
        seen.setdefault((str(c.get("method", "")), str(params.get("profile") or "default")), None)
    return [k for k in seen if k[0]]


def deviations_for(methods: Iterable[tuple[str, str | None]]) -> list[MethodDeviations]:
    """The declared deviations of each (method, profile); a method that cannot be loaded says why."""
    out = []
    for name, profile in methods:
        try:
            cls = method_class(name)
            out.append(MethodDeviations(method=name, profile=profile, reference=cls.reference,
                                        deviations=deviations_of(name, profile)))
        except MaslabError as e:
            out.append(MethodDeviations(method=name, profile=profile, error=str(e)))
    return out


def _deviation_title(d: MethodDeviations) -> str:
    profile = f" (profile {d.profile})" if d.profile else ""
    reference = f" — reference: {d.reference}" if d.reference else ""
    return f"{d.method}{profile}{reference}"


def _deviation_cells(dev: Deviation) -> list[str]:
    return [dev.kind, ", ".join(dev.profiles), dev.what, dev.why, dev.calls]


def render_deviations(methods: Iterable[tuple[str, str | None]]) -> list[Table]:
    """One rich Table per (method, profile): its deviations from its reference implementation."""
    from rich.table import Table

    tables = []
    for d in deviations_for(methods):
        t = Table(title=_deviation_title(d), title_justify="left", show_lines=True)
        for h in DEVIATION_HEADERS:
            t.add_column(h, ratio=4 if h in ("what differs", "why") else None,
                         no_wrap=h in ("kind",), overflow="fold")
        if d.error:
            t.add_row("?", "", f"cannot load the system: {d.error}", "", "")
        elif not d.deviations:
            t.add_row("", "", "none declared", "", "")
        for dev in d.deviations:
            t.add_row(*_deviation_cells(dev))
        tables.append(t)
    return tables


def deviations_markdown(methods: Iterable[tuple[str, str | None]], title: bool = False) -> str:
    """The deviations section of a Markdown report; `title`: a stand-alone document (docs/deviations.md)."""
    if title:
        parts = ["# Deviations from the reference implementations",
                 "Generated by `maslab methods --deviations --markdown` from each system's declared deviations "
                 "(`Method.deviations`). *profiles* says which of the system's profiles have the difference: "
                 "`default` is maslab's documented behaviour, `reference` reproduces the reference "
                 "implementation named after each system. *kind*: bug — the reference is broken and maslab "
                 "does what it intends; spec — the specification asks for it; choice — maslab's decision; "
                 "wording — prompts in maslab's own words; missing — not reproduced."]
    else:
        parts = ["## Deviations from the reference implementations",
                 "What each method run here does differently from the implementation its profile names "
                 "(`maslab methods --deviations NAME` lists every profile's)."]
    for d in deviations_for(methods):
        parts.append(f"{'##' if title else '###'} {_deviation_title(d)}")
        if d.error:
            parts.append(f"_cannot load the system: {_md_escape(d.error)}_")
        elif not d.deviations:
            parts.append("_none declared_")
        else:
            parts.append(_md_table(DEVIATION_HEADERS, (_deviation_cells(dev) for dev in d.deviations)))
    return "\n\n".join(parts) + ("\n" if title else "")


def _deviations_html(methods: Iterable[tuple[str, str | None]]) -> str:
    parts = ['<h2 id="deviations">Deviations from the reference implementations</h2>']
    for d in deviations_for(methods):
        parts.append(f"<h3>{html.escape(_deviation_title(d))}</h3>")
        if d.error:
            parts.append(f"<p><em>cannot load the system: {html.escape(d.error)}</em></p>")
        elif not d.deviations:
            parts.append("<p><em>none declared</em></p>")
        else:
            parts.append(_html_table(DEVIATION_HEADERS, ((_deviation_cells(dev), "") for dev in d.deviations),
                                     left=len(DEVIATION_HEADERS), cls="deviations"))
    return "\n".join(parts)


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


COMPUTED_HEADERS = ["assignment", "method", "assigner", "roles"]
_COMPUTED_NOTE = ("Assignments computed per method by an assigner plug-in (e.g. X-MAS: each role on the alias "
                  "best at its function); their rows sit beside the fixed assignments above.")


def _computed_rows(computed: dict[str, Any] | None) -> list[list[str]]:
    """(assignment, method, assigner, "role → alias, …") per computed assignment of the store's meta."""
    return [[str(c.get("assignment", "")), str(c.get("method", "")), str(c.get("assigner", "")),
             ", ".join(f"{r} → {', '.join(a) if isinstance(a, list) else a}" for r, a in c.get("roles", {}).items())]
            for c in (computed or {}).values()]


def to_markdown(summaries: Sequence[Stats], comparisons: Sequence[Comparison] | None = None,
                title: str | None = None, computed: dict[str, Any] | None = None,
                methods: Sequence[tuple[str, str | None]] = ()) -> str:
    """A Markdown report: one table per dataset, the computed assignments and the paired comparisons if any,
    then the deviations of `methods` ((registered method, profile) pairs) from their reference implementations."""
    parts = [f"# {title}"] if title else []
    parts.append("Accuracy counts inference and scoring errors as wrong; the interval is the 95 % Wilson "
                 "score interval. *valid-only* is accuracy over rows that finished without error.")
    grouped = _ordered(summaries)
    if not grouped:
        parts.append("_No results yet._")
    for ds, items in grouped.items():
        parts.append(f"## {ds or '(no dataset)'}")
        parts.append(_md_table(TABLE_HEADERS, (_row_cells(s) for s in items)))
    if computed:
        parts += ["## Computed assignments", _COMPUTED_NOTE, _md_table(COMPUTED_HEADERS, _computed_rows(computed))]
    if comparisons:
        parts.append("## Paired comparisons")
        parts.append("Difference A − B in accuracy points over tasks both ran; 95 % paired t interval; "
                     "McNemar's exact test on the discordant tasks.")
        parts.append(comparisons_markdown(comparisons))
    if methods:
        parts.append(deviations_markdown(methods))
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
                comparisons: Sequence[Comparison], png: bytes, computed: dict[str, Any] | None = None,
                methods: Sequence[tuple[str, str | None]] = ()) -> str:
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
    if computed:
        parts += ["<h2>Computed assignments</h2>", f'<p class="note">{html.escape(_COMPUTED_NOTE)}</p>',
                  _html_table(COMPUTED_HEADERS, ((row, "") for row in _computed_rows(computed)), left=4,
                              cls="computed")]
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
    if methods:
        parts.append(_deviations_html(methods))
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _open(store: ResultStore | str | Path) -> ResultStore:
    return store if isinstance(store, ResultStore) else ResultStore.open(store)


def to_html(store_dir: ResultStore | str | Path) -> str:
    """A self-contained HTML page (inline CSS, plot as base64 PNG): sweep, tables, plot, comparisons."""
    store = _open(store_dir)
    rows, cells = store.rows(), store.cells()
    aggregates = aggregates_from(rows, cells)
    return _build_html(store.get_meta("sweep"), summaries_from(rows, cells), aggregates,
                       all_comparisons(rows), plot_accuracy_vs_tokens(aggregates), store.get_meta(COMPUTED),
                       sweep_methods(cells))


# ------------------------------------------------------------------------------------------ files


class WrittenReport(BaseModel):
    """What `write_report` produced: the files, and the pieces the CLI shows."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    out_dir: Path
    html_path: Path
    summaries: list[CellSummary]
    aggregates: list[SeedAggregate]
    requested: list[Comparison]
    methods: list[tuple[str, str | None]] = []  # (registered method, profile) of the sweep's cells
    markdown: str
    csv_text: str
    rows: int


def write_report(dir: str | Path, compare: Sequence[str] | None = None) -> WrittenReport:
    """Write report.{md,csv,html} and accuracy_vs_tokens.png beside the store in `dir`.

    `compare` names two method labels to compare pairwise. ConfigError when `dir` holds no store
    or the comparison is invalid.
    """
    if compare is not None and len(compare) != 2:
        raise ConfigError("--compare takes exactly two methods: A B")
    try:
        store = ResultStore.open(dir)
    except ConfigError as e:
        raise ConfigError(f"{e} — is {dir} a sweep folder? (`maslab bench SWEEP.yaml --out DIR` makes one)") from e
    try:
        rows, cells = store.rows(), store.cells()
        requested = requested_comparisons(rows, compare[0], compare[1]) if compare else []
        sweep = store.get_meta("sweep")
        computed = store.get_meta(COMPUTED)
    finally:
        store.close()
    out_dir = Path(dir) if Path(dir).is_dir() else Path(dir).parent
    name, _ = _sweep_text(sweep)
    summaries = summaries_from(rows, cells)
    aggregates = aggregates_from(rows, cells)
    comparisons = all_comparisons(rows)
    png = plot_accuracy_vs_tokens(aggregates, out_dir / "accuracy_vs_tokens.png")
    methods = sweep_methods(cells)
    markdown = to_markdown([*summaries, *aggregates], comparisons, title=f"maslab report — {name or out_dir.name}",
                           computed=computed, methods=methods)
    csv_text = to_csv(summaries)
    html_path = out_dir / "report.html"
    (out_dir / "report.md").write_text(markdown, encoding="utf-8")
    (out_dir / "report.csv").write_text(csv_text, encoding="utf-8")
    html_path.write_text(_build_html(sweep, summaries, aggregates, comparisons, png, computed, methods),
                         encoding="utf-8")
    log.info("report written", dir=str(out_dir), cells=len(summaries), rows=len(rows))
    return WrittenReport(out_dir=out_dir, html_path=html_path, summaries=summaries, aggregates=aggregates,
                         requested=requested, methods=methods, markdown=markdown, csv_text=csv_text,
                         rows=len(rows))
