"""The X-MAS-Bench table: score[function][domain][alias], from a bench sweep's result store.

A row of an `xmas_bench` sweep counts for its function (the harness's `function`), its examined
alias and its task's domain. Its grade is the `xmas` scorer's 0 / 1 / 2 (a row scored by another
scorer counts 2 when correct, else 0); a row that failed — at inference or at scoring — counts 0,
as a report counts errors wrong. Per cell the table gives the primary score, `pct2` = the
percentage of items scoring 2 (our reading: the release does not say how 0/1/2 become its
percentages), and `mean_half` = 100 · mean(grade) / 2. Rows of every seed are pooled.

`BenchTable.load(path)` reads a sweep folder (its results.sqlite) or a table CSV written by
`maslab xmas table` (`to_csv`); `to_markdown`, `to_csv` and `heatmap_png` render it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from maslab.bench.store import ResultRow, ResultStore
from maslab.bench.xmas.domains import DOMAINS, canonical_domain
from maslab.errors import ConfigError
from maslab.method import MAS_FUNCTIONS

HARNESS = "xmas_bench"
Metric = Literal["pct2", "mean_half"]
CSV_COLUMNS = ("function", "domain", "alias", "n", "score2", "score1", "errors", "pct2", "mean_half")


class TableCell(BaseModel):
    """One (function, domain, alias) cell: item counts and the two scores, in percent."""

    function: str
    domain: str
    alias: str
    n: int = 0
    score2: int = 0  # items graded 2
    score1: int = 0  # items graded 1
    errors: int = 0  # rows that failed (counted as 0)

    @property
    def pct2(self) -> float:
        return 100.0 * self.score2 / self.n if self.n else 0.0

    @property
    def mean_half(self) -> float:
        return 100.0 * (2 * self.score2 + self.score1) / (2 * self.n) if self.n else 0.0

    def value(self, metric: Metric = "pct2") -> float:
        return self.pct2 if metric == "pct2" else self.mean_half


def _row_key(row: ResultRow) -> tuple[str, str, str, int, bool]:
    xmas = row.metadata.get("xmas") or {}
    function = str(xmas.get("function") or row.method_params.get("function") or "qa")
    alias = str(xmas.get("examined") or row.roles.get("examined") or row.assignment)
    domain = canonical_domain(xmas.get("domain") or row.domain)
    failed = row.status != "ok"
    grade = 0 if failed else int(row.score_detail.get("xmas_score", 2 if row.correct else 0))
    return function, domain, alias, grade, failed


def _order(values: Iterable[str], known: Sequence[str]) -> list[str]:
    seen = list(dict.fromkeys(values))
    return [v for v in known if v in seen] + [v for v in seen if v not in known]


class BenchTable(BaseModel):
    """score[function][domain][alias] (see the module docstring)."""

    cells: list[TableCell] = Field(default_factory=list)
    source: str = ""

    # ------------------------------------------------------------------ building

    @classmethod
    def from_rows(cls, rows: Iterable[ResultRow], source: str = "") -> BenchTable:
        acc: dict[tuple[str, str, str], TableCell] = {}
        for row in rows:
            if row.method != HARNESS:
                continue
            function, domain, alias, grade, failed = _row_key(row)
            cell = acc.setdefault((function, domain, alias), TableCell(function=function, domain=domain, alias=alias))
            cell.n += 1
            cell.score2 += grade == 2
            cell.score1 += grade == 1
            cell.errors += failed
        return cls(cells=list(acc.values()), source=source)

    @classmethod
    def from_store(cls, path: str | Path) -> BenchTable:
        store = ResultStore.open(path, readonly=True)
        try:
            rows = store.rows(order="rowid")
        finally:
            store.close()
        table = cls.from_rows(rows, source=str(path))
        if not table.cells:
            raise ConfigError(f"{path}: the store holds no `{HARNESS}` rows (run an X-MAS-Bench sweep, e.g. "
                              "workflows/xmas_bench.yaml, into it)")
        return table

    @classmethod
    def from_csv(cls, path: str | Path) -> BenchTable:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the X-MAS table ({exc})") from None
        reader = csv.DictReader(io.StringIO(text))
        missing = set(CSV_COLUMNS[:7]) - set(reader.fieldnames or ())
        if missing:
            raise ConfigError(f"{path}: not an X-MAS table CSV (missing columns {sorted(missing)})")
        cells = []
        for row in reader:
            try:
                cells.append(TableCell(function=row["function"], domain=canonical_domain(row["domain"]),
                                       alias=row["alias"], n=int(row["n"]), score2=int(row["score2"]),
                                       score1=int(row["score1"]), errors=int(row["errors"])))
            except (ValueError, TypeError) as exc:
                raise ConfigError(f"{path}:{reader.line_num}: bad X-MAS table row ({exc})") from None
        return cls(cells=cells, source=str(path))

    @classmethod
    def load(cls, path: str | Path) -> BenchTable:
        """A sweep folder / results.sqlite, or a table CSV."""
        p = Path(path).expanduser()
        if p.suffix.lower() == ".csv":
            return cls.from_csv(p)
        if not p.exists():
            raise ConfigError(f"no X-MAS bench table at {p}: give a bench sweep's folder (`maslab bench "
                              "workflows/xmas_bench.yaml --out DIR`) or a table CSV (`maslab xmas table DIR`)")
        return cls.from_store(p)

    # ------------------------------------------------------------------ reading

    @property
    def functions(self) -> list[str]:
        return _order((c.function for c in self.cells), MAS_FUNCTIONS)

    @property
    def domains(self) -> list[str]:
        return _order((c.domain for c in self.cells), DOMAINS)

    @property
    def aliases(self) -> list[str]:
        return list(dict.fromkeys(c.alias for c in self.cells))

    def cell(self, function: str, domain: str, alias: str) -> TableCell | None:
        domain = canonical_domain(domain)
        return next((c for c in self.cells if (c.function, c.domain, c.alias) == (function, domain, alias)), None)

    def score(self, function: str, domain: str, alias: str, metric: Metric = "pct2") -> float | None:
        """score[function][domain][alias] in percent, or None when the table has no such cell."""
        cell = self.cell(function, domain, alias)
        return cell.value(metric) if cell is not None and cell.n else None

    def cross_domain_mean(self, function: str, alias: str, metric: Metric = "pct2") -> float | None:
        """The alias's mean score for `function` over every domain the table has for it (None: none)."""
        values = [c.value(metric) for c in self.cells if c.function == function and c.alias == alias and c.n]
        return sum(values) / len(values) if values else None

    # ------------------------------------------------------------------ rendering

    def to_csv(self) -> str:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(CSV_COLUMNS)
        for c in self._sorted():
            w.writerow([c.function, c.domain, c.alias, c.n, c.score2, c.score1, c.errors, f"{c.pct2:.2f}",
                        f"{c.mean_half:.2f}"])
        return buf.getvalue()

    def _sorted(self) -> list[TableCell]:
        f, d, a = self.functions, self.domains, self.aliases
        return sorted(self.cells, key=lambda c: (d.index(c.domain), f.index(c.function), a.index(c.alias)))

    def grid(self, domain: str, metric: Metric = "pct2") -> tuple[list[str], list[str], list[list[float | None]]]:
        """(aliases, functions, values[alias][function]) of one domain."""
        aliases = [a for a in self.aliases if any(c.alias == a and c.domain == domain for c in self.cells)]
        functions = [f for f in self.functions if any(c.function == f and c.domain == domain for c in self.cells)]
        return aliases, functions, [[self.score(f, domain, a, metric) for f in functions] for a in aliases]

    def to_markdown(self, title: str | None = None) -> str:
        parts = [f"# {title}"] if title else []
        parts.append("X-MAS-Bench scores in percent: the share of items the judge (or the tests) graded 2, then "
                     "100 · mean(grade) / 2 in parentheses; n items per cell. Inference and scoring errors count 0.")
        for domain in self.domains:
            aliases, functions, values = self.grid(domain)
            lines = [f"## {domain}", "", "| alias | " + " | ".join(functions) + " |",
                     "|---|" + "---|" * len(functions)]
            for alias, row in zip(aliases, values, strict=True):
                cells = []
                for f, v in zip(functions, row, strict=True):
                    c = self.cell(f, domain, alias)
                    cells.append("—" if v is None or c is None else f"{v:.1f} ({c.mean_half:.1f}) n={c.n}")
                lines.append(f"| {alias} | " + " | ".join(cells) + " |")
            parts.append("\n".join(lines))
        return "\n\n".join(parts) + "\n"

    def heatmap_png(self, domain: str, path: str | Path | None = None, metric: Metric = "pct2") -> bytes:
        """A heat map of one domain, aliases × functions, each cell annotated with its score."""
        import numpy as np
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        aliases, functions, values = self.grid(domain, metric)
        data = np.array([[np.nan if v is None else v for v in row] for row in values], dtype=float).reshape(
            len(aliases), len(functions))
        fig = Figure(figsize=(1.4 * max(3, len(functions)) + 1.5, 0.55 * max(2, len(aliases)) + 1.6), dpi=100)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot(1, 1, 1)
        image = ax.imshow(np.ma.masked_invalid(data), cmap="viridis", vmin=0, vmax=100, aspect="auto")
        ax.set_xticks(range(len(functions)), functions)
        ax.set_yticks(range(len(aliases)), aliases)
        for i in range(len(aliases)):
            for j in range(len(functions)):
                if not np.isnan(data[i, j]):
                    ax.text(j, i, f"{data[i, j]:.0f}", ha="center", va="center",
                            color="white" if data[i, j] < 60 else "black", fontsize=9)
        label = "% of items scoring 2" if metric == "pct2" else "100 · mean grade / 2"
        fig.colorbar(image, ax=ax, label=label)
        ax.set_title(f"X-MAS-Bench — {domain}")
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        png = buf.getvalue()
        if path is not None:
            Path(path).write_bytes(png)
        return png

    def write(self, out_dir: str | Path) -> list[Path]:
        """xmas_table.md, xmas_table.csv and xmas_heatmap_<domain>.png in `out_dir`; the paths written."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        written = [out / "xmas_table.md", out / "xmas_table.csv"]
        written[0].write_text(self.to_markdown(title=f"X-MAS-Bench table — {self.source or out.name}"), encoding="utf-8")
        written[1].write_text(self.to_csv(), encoding="utf-8")
        for domain in self.domains:
            path = out / f"xmas_heatmap_{domain}.png"
            self.heatmap_png(domain, path)
            written.append(path)
        return written

    def rich_tables(self) -> list[Any]:
        """One rich Table per domain (aliases × functions) for the terminal."""
        from rich.table import Table

        tables = []
        for domain in self.domains:
            aliases, functions, values = self.grid(domain)
            t = Table(title=f"{domain} — % of items scoring 2 (100 · mean grade / 2)", title_justify="left")
            t.add_column("alias")
            for f in functions:
                t.add_column(f, justify="right")
            for alias, row in zip(aliases, values, strict=True):
                cells = []
                for f, v in zip(functions, row, strict=True):
                    c = self.cell(f, domain, alias)
                    cells.append("—" if v is None or c is None else f"{v:.1f} ({c.mean_half:.1f}) n={c.n}")
                t.add_row(alias, *cells)
            tables.append(t)
        return tables
