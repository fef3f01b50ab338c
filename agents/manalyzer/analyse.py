"""Stage 7: the statistics step (maslab's, computed — not an LLM) and the DataAnalyst (LLM code, sandboxed).

**Statistics** (`run_statistics`, not in the paper; spec §2). When the system is given an `effect`
— a measure of `maslab.tools.meta_analysis` (hedges_g, log_or, log_rr, raw_mean) and the template
columns holding its inputs — every row of `meta_analysis.csv` whose inputs are all numbers gives
one study effect (rows lacking an input, or whose inputs no effect can be computed from, are
listed as skipped with the reason); they are pooled by fixed effect and DerSimonian–Laird random
effects, with Q, τ², I², 95 % CIs and z-tests (`meta_analyze`), and drawn as a forest and a funnel
plot. k = 1 is reported unpooled; k = 0 (or no `effect`) gives no statistics and the plots say
why. The results go to `statistics.json`; the reporter quotes them (`statistics_text`).

**DataAnalyst** (`run_analyst`, spec §1.7). The `analyst` agent (temperature 0.8) sees the table's
head (NaN → 0, `Reference` dropped) and the fixed list of imports, and writes `clustering`,
`classification` and `regression` functions that each draw a figure. The code runs only in the
sandbox (`maslab.sandbox.arun_python`: a throw-away directory, a timeout, memory and process
limits; under bubblewrap a read-only file system and no network) — the reference runs it
in-process. A harness loads the table, calls each function, and hands the figures back; if any
function fails, the errors go back to the agent, which writes new code, up to
`analyst_regenerations` (3) times. Every failed attempt is recorded.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from maslab.agents.manalyzer import prompts
from maslab.agents.manalyzer.contract import Failure
from maslab.answers import extract_code
from maslab.errors import MaslabError
from maslab.method import RunContext
from maslab.sandbox import arun_python
from maslab.tools.markdown_tables import cell_text
from maslab.tools.meta_analysis import (
    MEASURES,
    EffectError,
    MetaAnalysis,
    effect_size,
    forest_plot,
    funnel_plot,
    meta_analyze,
)

__all__ = ["AnalysisResult", "EffectConfig", "StatisticsResult", "run_analyst", "run_statistics", "statistics_text"]

FOREST = "forest_plot.png"
FUNNEL = "funnel_plot.png"
ANALYST_FUNCTIONS = ("clustering", "classification", "regression")
COMPUTED_BY = "Computed by maslab (maslab.tools.meta_analysis), not by a language model"


class EffectConfig(BaseModel):
    """Which effect the statistics step computes, from which template columns."""

    model_config = ConfigDict(extra="forbid")
    measure: Literal["hedges_g", "log_or", "log_rr", "raw_mean"]
    columns: dict[str, str] = Field(description="measure input (e.g. m1, s1, n1, m2, s2, n2) -> template column")
    labels: list[str] = Field(default_factory=lambda: ["Reference"], description="columns naming a study")
    name: str = Field(default="", description="what the effect compares, e.g. 'no-till vs conventional tillage'")

    @model_validator(mode="after")
    def _inputs(self) -> EffectConfig:
        need = set(MEASURES[self.measure].inputs)
        if set(self.columns) != need:
            raise ValueError(f"effect {self.measure} needs columns for exactly {sorted(need)}, "
                             f"got {sorted(self.columns)}")
        return self


class StatisticsResult(BaseModel):
    status: Literal["pooled", "unpooled", "none"]
    reason: str = ""
    measure: str | None = None
    effect_name: str = ""
    analysis: MetaAnalysis | None = None
    skipped_rows: list[dict[str, Any]] = Field(default_factory=list)
    plots: dict[str, str] = Field(default_factory=dict)
    computed_by: str = COMPUTED_BY


def run_statistics(rows: list[dict[str, Any]], effect: EffectConfig | None, run_dir: Path,
                   *, title: str = "") -> StatisticsResult:
    """The statistics step over the merged rows; writes the forest and funnel plots into `run_dir`."""
    result = _compute(rows, effect)
    reason = result.reason or "no studies to pool"
    label = f"{title}: " if title else ""
    name = f" ({effect.name})" if effect and effect.name else ""
    measure = MEASURES[effect.measure].label if effect else ""
    forest_plot(result.analysis, run_dir / FOREST, title=f"{label}{measure}{name}", empty_reason=reason)
    funnel_plot(result.analysis, run_dir / FUNNEL, title=f"Funnel plot{name}", empty_reason=reason)
    result.plots = {"forest": FOREST, "funnel": FUNNEL}
    return result


def _compute(rows: list[dict[str, Any]], effect: EffectConfig | None) -> StatisticsResult:
    if effect is None:
        return StatisticsResult(status="none", reason="no effect measure configured (parameter `effect`)")
    ys, vs, labels, skipped = [], [], [], []
    for i, row in enumerate(rows):
        values = {k: row.get(col) for k, col in effect.columns.items()}
        missing = [effect.columns[k] for k, v in values.items() if not isinstance(v, int | float)]
        if missing:
            skipped.append({"row": i + 1, "reason": f"no number in {', '.join(missing)}"})
            continue
        try:
            y, v = effect_size(effect.measure, values)
        except EffectError as exc:
            skipped.append({"row": i + 1, "reason": str(exc)})
            continue
        ys.append(y)
        vs.append(v)
        labels.append(" · ".join(cell_text(row.get(c)) for c in effect.labels if row.get(c) not in (None, ""))
                      or f"row {i + 1}")
    base = {"measure": effect.measure, "effect_name": effect.name, "skipped_rows": skipped}
    if not ys:
        return StatisticsResult(status="none", reason=f"no row of the table has numbers in every column of "
                                f"the {effect.measure} effect ({', '.join(effect.columns.values())})", **base)
    analysis = meta_analyze(ys, vs, labels, measure=effect.measure)
    return StatisticsResult(status="pooled" if analysis.pooled else "unpooled", analysis=analysis, **base)


def statistics_text(result: StatisticsResult) -> str:
    """The computed statistics as the report prints them and the reporter must quote them."""
    a = result.analysis
    if a is None:
        return f"No meta-analytic statistics: {result.reason}."
    spec = MEASURES[a.measure or "raw_mean"]
    scale = f" (pooled on the log scale; shown as {spec.label})" if a.ratio else ""
    lines = [f"Effect measure: {spec.label}{' — ' + result.effect_name if result.effect_name else ''}{scale}",
             f"Studies (rows) pooled: k = {a.k}; rows skipped: {len(result.skipped_rows)}"]
    if a.random is None or a.fixed is None:
        only = a.study_ci(a.studies[0])
        lines.append(f"k = 1, not pooled: {a.studies[0].label}: {only.text()}, z = {only.z:.4f}, "
                     f"p = {only.p_value:.4g}")
        return "\n".join(lines)
    lines += [
        f"Random effects (DerSimonian–Laird): {a.random.text()}; estimate {a.random.estimate:.4f} "
        f"(SE {a.random.se:.4f}) on the analysis scale, z = {a.random.z:.4f}, p = {a.random.p_value:.4g}",
        f"Fixed effect (inverse variance): {a.fixed.text()}; estimate {a.fixed.estimate:.4f} "
        f"(SE {a.fixed.se:.4f}), z = {a.fixed.z:.4f}, p = {a.fixed.p_value:.4g}",
        f"Heterogeneity: Q = {a.q:.4f} on {a.df} df (p = {a.p_q:.4g}), tau² = {a.tau2:.4f}, I² = {a.i2:.2f}%",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# the analyst


class AnalystAttempt(BaseModel):
    code: str
    errors: dict[str, str] = Field(default_factory=dict)  # function (or "run") -> error


class AnalysisResult(BaseModel):
    status: Literal["ok", "failed", "skipped"]
    reason: str = ""
    attempts: list[AnalystAttempt] = Field(default_factory=list)
    plots: list[str] = Field(default_factory=list)  # paths relative to the run directory


HARNESS = '''
import base64, copy, io, json, traceback
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

data = pd.read_csv("meta_analysis.csv").fillna(0)
if "Reference" in data.columns:
    data = data.drop(columns=["Reference"])
results = {}
scope = {"__name__": "analysis"}
try:
    exec(compile(open("analysis.py").read(), "analysis.py", "exec"), scope)
except BaseException as exc:
    results["run"] = {"error": f"{type(exc).__name__}: {exc}"}
else:
    for name in %(functions)r:
        plt.close("all")
        try:
            scope[name](copy.deepcopy(data))
            plt.tight_layout()
            buf = io.BytesIO()
            plt.gcf().savefig(buf, format="png", dpi=100)
            results[name] = {"png": base64.b64encode(buf.getvalue()).decode()}
        except BaseException as exc:
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
with open("analysis_result.json", "w") as fh:
    json.dump(results, fh)
'''


def table_head(rows: list[dict[str, Any]], columns: list[str], n: int = 5) -> str:
    """`data.head()` of the table as the analyst sees it: NaN → 0, `Reference` dropped, aligned columns."""
    cols = [c for c in columns if c != "Reference"]
    body = [[cell_text(r.get(c)) or "0" for c in cols] for r in rows[:n]]
    widths = [max(len(c), *(len(b[j]) for b in body)) if body else len(c) for j, c in enumerate(cols)]
    lines = ["   " + "  ".join(c.rjust(w) for c, w in zip(cols, widths, strict=True))]
    lines += [f"{i:<3}" + "  ".join(v.rjust(w) for v, w in zip(b, widths, strict=True)) for i, b in enumerate(body)]
    return "\n".join(lines)


async def run_analyst(ctx: RunContext[Any], rows: list[dict[str, Any]], columns: list[str], csv_path: Path,
                      run_dir: Path, *, field: str, regenerations: int, timeout: float, memory_mb: int
                      ) -> tuple[AnalysisResult, list[Failure]]:
    """The DataAnalyst: write code, run it in the sandbox, regenerate on errors; figures into run_dir/visualization."""
    if not rows:
        return AnalysisResult(status="skipped", reason="the merged table is empty"), []
    analyst = ctx.agent("analyst", prompts.ANALYST_SYSTEM.format(field=field), params={"temperature": 0.8})
    query = prompts.ANALYST_QUERY.format(head=table_head(rows, columns), imports=prompts.ANALYST_IMPORTS)
    result = AnalysisResult(status="failed")
    failures: list[Failure] = []
    prompt = query
    csv_text = csv_path.read_text(encoding="utf-8")
    for attempt in range(regenerations + 1):
        try:
            reply = await ctx.ask(analyst, prompt, sample_index=attempt)
        except MaslabError as exc:
            failures.append(Failure.of("analyse", f"analyst attempt {attempt + 1}", exc))
            break
        code = extract_code(reply)
        errors, figures = await _run_in_sandbox(prompts.ANALYST_IMPORTS + "\n\n" + code, csv_text, timeout, memory_mb)
        result.attempts.append(AnalystAttempt(code=code, errors=errors))
        if figures:
            out = run_dir / "visualization"
            out.mkdir(exist_ok=True)
            for name, png in figures.items():
                (out / f"{name}.png").write_bytes(png)
                rel = f"visualization/{name}.png"
                if rel not in result.plots:
                    result.plots.append(rel)
        if not errors:
            result.status = "ok"
            break
        failures.append(Failure(stage="analyse", step=f"analyst attempt {attempt + 1}",
                                error="; ".join(f"{k}: {v}" for k, v in errors.items())[:500]))
        prompt = query + prompts.ANALYST_RETRY.format(code=code, errors="\n".join(f"[{k}] {v}" for k, v in errors.items()))
    return result, failures


async def _run_in_sandbox(code: str, csv_text: str, timeout: float, memory_mb: int) -> tuple[dict[str, str], dict[str, bytes]]:
    run = await arun_python(HARNESS % {"functions": ANALYST_FUNCTIONS}, timeout=timeout, memory_mb=memory_mb,
                            files={"meta_analysis.csv": csv_text, "analysis.py": code},
                            return_files=["analysis_result.json"])
    raw = run.files.get("analysis_result.json")
    if raw is None:
        reason = run.error or "the sandbox run produced no result"
        tail = run.stderr.strip().splitlines()[-1:] if run.stderr.strip() else []
        return {"run": f"{reason}{': ' + tail[0] if tail else ''}"}, {}
    try:
        results = json.loads(raw)
    except json.JSONDecodeError:
        return {"run": "the sandbox's result file is not JSON"}, {}
    errors = {k: str(v.get("error")) for k, v in results.items() if isinstance(v, dict) and "error" in v}
    figures = {k: base64.b64decode(v["png"]) for k, v in results.items() if isinstance(v, dict) and "png" in v}
    return errors, figures
