"""Meta-analytic statistics: effect sizes, fixed-effect and DerSimonian–Laird pooling, forest and funnel plots.

Not part of the Manalyzer paper (arXiv 2505.20310), whose released code computes no statistics;
this is maslab's clearly labelled statistics step (spec `manalyzer.md` §2). Each study gives an
effect y with variance v:

- **Hedges g** (standardised mean difference, group 1 minus group 2):
  s_p = √(((n₁−1)s₁² + (n₂−1)s₂²)/(n₁+n₂−2)), d = (m₁−m₂)/s_p, g = [1 − 3/(4(n₁+n₂)−9)]·d,
  v = (n₁+n₂)/(n₁n₂) + g²/(2(n₁+n₂)).
- **log odds ratio** (2×2 cells a, b | c, d: events / non-events in group 1 | group 2):
  y = ln(ad/bc), v = 1/a + 1/b + 1/c + 1/d.
- **log risk ratio**: y = ln((a/(a+b))/(c/(c+d))), v = 1/a − 1/(a+b) + 1/c − 1/(c+d).
  For both ratios 0.5 is added to every cell of a study with an empty cell (the spec states it
  for the odds ratio; applying it to the risk ratio too is ours, and the usual practice).
- **raw mean**: y = mean, v = sd²/n (Manalyzer's pooled descriptive values).

Pooling (`meta_analyze`):

1. fixed effect: w = 1/v, θ_FE = Σwy/Σw, SE = √(1/Σw);
2. heterogeneity: Q = Σw(y − θ_FE)², df = k − 1, p from χ²(df);
3. DerSimonian–Laird: τ² = max(0, (Q − df)/(Σw − Σw²/Σw));
4. random effects: w* = 1/(v + τ²), θ_RE = Σw*y/Σw*, SE = √(1/Σw*);
5. I² = max(0, (Q − df)/Q)·100 %, and 0 when Q = 0;
6. 95 % CIs θ ± z·SE and two-sided z-tests, with z = Φ⁻¹(0.975) = 1.95996… (the spec's "1.96",
   unrounded so that the numbers agree with statsmodels to machine precision); ratios are also
   given back-transformed (exp) for display; k = 1 is reported unpooled.

The cross-check is `statsmodels.stats.meta_analysis.combine_effects(y, v, method_re="dl")`,
which leaves τ² and I² unclamped (negative when Q < df): `statsmodels_check` clamps them before
comparing (statsmodels is a test-extra dependency, imported only there).

Plots (matplotlib, Agg backend, imported lazily): `forest_plot` — one row per study (point and CI,
marker area ∝ its random-effects weight — ours; the fixed-effect weights when τ² = 0 are the
same), the FE and RE diamonds and a null line (0, or 1 for back-transformed ratios on a log
axis); `funnel_plot` — effect against standard error (inverted axis) with the pseudo 95 %
funnel around θ_FE.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from maslab.errors import MaslabError

__all__ = [
    "MEASURES",
    "EffectError",
    "MeasureSpec",
    "MetaAnalysis",
    "Pooled",
    "Study",
    "effect_size",
    "forest_plot",
    "funnel_plot",
    "hedges_g",
    "log_odds_ratio",
    "log_risk_ratio",
    "meta_analyze",
    "raw_mean",
    "statsmodels_check",
]

Measure = Literal["hedges_g", "log_or", "log_rr", "raw_mean"]
CONFIDENCE = 0.95


class EffectError(MaslabError, ValueError):
    """A study's inputs cannot give an effect size (missing, non-positive n or sd, negative counts)."""


# ---------------------------------------------------------------------------------------------
# effect sizes


def _finite(name: str, x: float) -> float:
    try:
        value = float(x)
    except (TypeError, ValueError):
        raise EffectError(f"{name} is not a number: {x!r}") from None
    if not math.isfinite(value):
        raise EffectError(f"{name} is not finite: {x!r}")
    return value


def hedges_g(m1: float, s1: float, n1: float, m2: float, s2: float, n2: float) -> tuple[float, float]:
    """(g, v): Hedges' bias-corrected standardised mean difference of group 1 over group 2."""
    m1, s1, n1, m2, s2, n2 = (_finite(k, x) for k, x in
                              (("m1", m1), ("s1", s1), ("n1", n1), ("m2", m2), ("s2", s2), ("n2", n2)))
    if n1 < 2 or n2 < 2:
        raise EffectError(f"Hedges g needs n1, n2 >= 2 (got {n1:g}, {n2:g})")
    if s1 < 0 or s2 < 0:
        raise EffectError(f"standard deviations must be >= 0 (got {s1:g}, {s2:g})")
    sp = math.sqrt(((n1 - 1) * s1 ** 2 + (n2 - 1) * s2 ** 2) / (n1 + n2 - 2))
    if sp == 0:
        raise EffectError("Hedges g needs a positive pooled standard deviation")
    d = (m1 - m2) / sp
    g = (1 - 3 / (4 * (n1 + n2) - 9)) * d
    v = (n1 + n2) / (n1 * n2) + g ** 2 / (2 * (n1 + n2))
    return g, v


def _cells(a: float, b: float, c: float, d: float, correction: float) -> tuple[float, float, float, float]:
    cells = [_finite(k, x) for k, x in (("a", a), ("b", b), ("c", c), ("d", d))]
    if any(x < 0 for x in cells):
        raise EffectError(f"2x2 cells must be >= 0 (got {cells})")
    if any(x == 0 for x in cells):
        cells = [x + correction for x in cells]
    if any(x == 0 for x in cells):
        raise EffectError("a 2x2 cell is 0 and no continuity correction was asked for")
    return cells[0], cells[1], cells[2], cells[3]


def log_odds_ratio(a: float, b: float, c: float, d: float, correction: float = 0.5) -> tuple[float, float]:
    """(ln OR, v) of the 2×2 table [[a, b], [c, d]]; `correction` is added to every cell if one is 0."""
    a, b, c, d = _cells(a, b, c, d, correction)
    return math.log(a * d / (b * c)), 1 / a + 1 / b + 1 / c + 1 / d


def log_risk_ratio(a: float, b: float, c: float, d: float, correction: float = 0.5) -> tuple[float, float]:
    """(ln RR, v) of events a of a+b in group 1 against c of c+d in group 2 (same 0.5 correction)."""
    a, b, c, d = _cells(a, b, c, d, correction)
    return math.log((a / (a + b)) / (c / (c + d))), 1 / a - 1 / (a + b) + 1 / c - 1 / (c + d)


def raw_mean(mean: float, sd: float, n: float) -> tuple[float, float]:
    """(mean, sd²/n): a pooled descriptive value."""
    mean, sd, n = _finite("mean", mean), _finite("sd", sd), _finite("n", n)
    if n < 1 or sd < 0:
        raise EffectError(f"raw mean needs n >= 1 and sd >= 0 (got n={n:g}, sd={sd:g})")
    if sd == 0:
        raise EffectError("raw mean needs a positive sd (zero variance cannot be weighted)")
    return mean, sd ** 2 / n


class MeasureSpec(BaseModel):
    """An effect measure: the inputs it reads (in order), whether it is a log ratio, how to read it."""

    name: Measure
    inputs: tuple[str, ...]
    ratio: bool
    label: str
    fn: Callable[..., tuple[float, float]] = Field(exclude=True)


MEASURES: dict[str, MeasureSpec] = {
    "hedges_g": MeasureSpec(name="hedges_g", inputs=("m1", "s1", "n1", "m2", "s2", "n2"), ratio=False,
                            label="Hedges g", fn=hedges_g),
    "log_or": MeasureSpec(name="log_or", inputs=("a", "b", "c", "d"), ratio=True, label="odds ratio",
                          fn=log_odds_ratio),
    "log_rr": MeasureSpec(name="log_rr", inputs=("a", "b", "c", "d"), ratio=True, label="risk ratio",
                          fn=log_risk_ratio),
    "raw_mean": MeasureSpec(name="raw_mean", inputs=("mean", "sd", "n"), ratio=False, label="mean",
                            fn=raw_mean),
}


def effect_size(measure: str, values: Mapping[str, Any]) -> tuple[float, float]:
    """(y, v) of one study: `values` holds the measure's inputs by name (`MEASURES[measure].inputs`)."""
    spec = MEASURES.get(measure)
    if spec is None:
        raise EffectError(f"unknown effect measure {measure!r}; known: {', '.join(MEASURES)}")
    missing = [k for k in spec.inputs if values.get(k) is None]
    if missing:
        raise EffectError(f"{measure}: missing input(s) {', '.join(missing)}")
    return spec.fn(*(values[k] for k in spec.inputs))


# ---------------------------------------------------------------------------------------------
# pooling


def _z_crit(level: float = CONFIDENCE) -> float:
    from scipy.stats import norm

    return float(norm.ppf(1 - (1 - level) / 2))


class Pooled(BaseModel):
    """A pooled (or single-study) estimate on the analysis scale, with its back-transform for ratios."""

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    z: float
    p_value: float
    ratio: bool = False

    @classmethod
    def of(cls, estimate: float, se: float, *, ratio: bool = False, level: float = CONFIDENCE) -> Pooled:
        from scipy.stats import norm

        crit = _z_crit(level)
        z = estimate / se if se > 0 else math.copysign(math.inf, estimate) if estimate else 0.0
        return cls(estimate=estimate, se=se, ci_low=estimate - crit * se, ci_high=estimate + crit * se, z=z,
                   p_value=float(2 * norm.sf(abs(z))), ratio=ratio)

    @property
    def display(self) -> tuple[float, float, float]:
        """(estimate, CI low, CI high) as shown: exp() for log ratios, else as is."""
        f = math.exp if self.ratio else float
        return f(self.estimate), f(self.ci_low), f(self.ci_high)

    def text(self, digits: int = 4) -> str:
        est, lo, hi = self.display
        return f"{est:.{digits}f} (95% CI {lo:.{digits}f} to {hi:.{digits}f})"


class Study(BaseModel):
    label: str
    y: float
    v: float
    weight_fixed: float  # percent
    weight_random: float  # percent

    @property
    def se(self) -> float:
        return math.sqrt(self.v)


class MetaAnalysis(BaseModel):
    """The result of `meta_analyze`: per-study effects and weights, both pooled estimates and heterogeneity."""

    measure: str | None = None
    ratio: bool = False
    k: int
    studies: list[Study]
    fixed: Pooled | None  # None when k == 1 (reported unpooled)
    random: Pooled | None
    q: float
    df: int
    p_q: float | None
    tau2: float
    i2: float  # percent, clamped to [0, 100]
    level: float = CONFIDENCE

    @property
    def pooled(self) -> bool:
        return self.k > 1

    def study_ci(self, study: Study) -> Pooled:
        return Pooled.of(study.y, study.se, ratio=self.ratio, level=self.level)


def meta_analyze(y: Sequence[float], v: Sequence[float], labels: Sequence[str] | None = None, *,
                 measure: str | None = None, level: float = CONFIDENCE) -> MetaAnalysis:
    """Fixed-effect and DerSimonian–Laird random-effects meta-analysis of effects `y` with variances `v`."""
    import numpy as np

    ys = np.asarray([_finite("y", x) for x in y], dtype=float)
    vs = np.asarray([_finite("v", x) for x in v], dtype=float)
    k = len(ys)
    if k == 0:
        raise EffectError("no studies to pool")
    if len(vs) != k:
        raise EffectError(f"{k} effects but {len(vs)} variances")
    if np.any(vs <= 0):
        raise EffectError("every variance must be > 0")
    names = list(labels) if labels is not None else [f"study {i + 1}" for i in range(k)]
    if len(names) != k:
        raise EffectError(f"{k} effects but {len(names)} labels")
    ratio = bool(measure and MEASURES[measure].ratio)

    w = 1 / vs
    theta_fe = float(np.sum(w * ys) / np.sum(w))
    q = float(np.sum(w * (ys - theta_fe) ** 2))
    df = k - 1
    c = float(np.sum(w) - np.sum(w ** 2) / np.sum(w))
    tau2 = max(0.0, (q - df) / c) if df > 0 and c > 0 else 0.0
    i2 = max(0.0, (q - df) / q) * 100 if q > 0 else 0.0
    w_re = 1 / (vs + tau2)
    theta_re = float(np.sum(w_re * ys) / np.sum(w_re))
    studies = [Study(label=str(n), y=float(yi), v=float(vi), weight_fixed=float(100 * wi / w.sum()),
                     weight_random=float(100 * wr / w_re.sum()))
               for n, yi, vi, wi, wr in zip(names, ys, vs, w, w_re, strict=True)]
    if k == 1:
        return MetaAnalysis(measure=measure, ratio=ratio, k=1, studies=studies, fixed=None, random=None, q=0.0,
                            df=0, p_q=None, tau2=0.0, i2=0.0, level=level)
    from scipy.stats import chi2

    return MetaAnalysis(
        measure=measure, ratio=ratio, k=k, studies=studies,
        fixed=Pooled.of(theta_fe, math.sqrt(1 / float(np.sum(w))), ratio=ratio, level=level),
        random=Pooled.of(theta_re, math.sqrt(1 / float(np.sum(w_re))), ratio=ratio, level=level),
        q=q, df=df, p_q=float(chi2.sf(q, df)), tau2=tau2, i2=i2, level=level)


def statsmodels_check(y: Sequence[float], v: Sequence[float]) -> dict[str, float]:
    """statsmodels' `combine_effects(y, v, method_re="dl")` in `meta_analyze`'s terms, τ² and I² clamped
    (statsmodels leaves them negative when Q < df). Needs statsmodels (the `test` extra)."""
    import numpy as np
    from statsmodels.stats.meta_analysis import combine_effects

    res = combine_effects(np.asarray(y, dtype=float), np.asarray(v, dtype=float), method_re="dl")
    frame = res.summary_frame()
    return {"fixed": float(res.mean_effect_fe), "fixed_se": float(res.sd_eff_w_fe),
            "random": float(res.mean_effect_re), "random_se": float(res.sd_eff_w_re),
            "random_ci_low": float(frame.loc["random effect", "ci_low"]),
            "random_ci_high": float(frame.loc["random effect", "ci_upp"]),
            "q": float(res.q), "tau2": max(0.0, float(res.tau2)), "i2": max(0.0, float(res.i2)) * 100}


# ---------------------------------------------------------------------------------------------
# plots


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _empty_plot(path: Path, title: str, message: str) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 2.5))
    ax.axis("off")
    ax.set_title(title)
    ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def forest_plot(result: MetaAnalysis | None, path: str | Path, *, title: str = "Forest plot",
                empty_reason: str = "no studies to pool") -> Path:
    """Write a forest plot PNG of `result` (or a figure stating `empty_reason` when it is None)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if result is None:
        return _empty_plot(path, title, empty_reason)
    plt = _pyplot()
    from matplotlib.patches import Polygon

    k = result.k
    show = math.exp if result.ratio else float
    rows = k + (3 if result.pooled else 1)
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.38 * rows))
    max_w = max(s.weight_random for s in result.studies) or 1.0
    for i, s in enumerate(result.studies):
        row = rows - 1 - i
        ci = result.study_ci(s)
        est, lo, hi = ci.display
        ax.plot([lo, hi], [row, row], color="black", lw=1)
        ax.scatter([est], [row], marker="s", s=220 * s.weight_random / max_w, color="tab:blue", zorder=3)
        weight = f"{s.weight_random:5.1f}%" if result.pooled else ""
        ax.annotate(f"{est:.2f} [{lo:.2f}, {hi:.2f}] {weight}", xy=(1.01, row), xycoords=("axes fraction", "data"),
                    va="center", fontsize=8)
    ax.annotate("estimate [95% CI]" + (" weight (RE)" if result.pooled else ""), xy=(1.01, rows - 0.4),
                xycoords=("axes fraction", "data"), va="bottom", fontsize=8, fontstyle="italic")
    labels = [s.label for s in result.studies]
    ticks = [rows - 1 - i for i in range(k)]
    if result.pooled and result.fixed is not None and result.random is not None:
        for row, name, pooled, color in ((1, "Fixed effect", result.fixed, "tab:gray"),
                                         (0, f"Random effects (DL, I² = {result.i2:.1f}%)", result.random,
                                          "tab:red")):
            est, lo, hi = pooled.display
            ax.add_patch(Polygon([(lo, row), (est, row + 0.3), (hi, row), (est, row - 0.3)], closed=True,
                                 color=color, zorder=3))
            ax.annotate(f"{est:.2f} [{lo:.2f}, {hi:.2f}]", xy=(1.01, row), xycoords=("axes fraction", "data"),
                        va="center", fontsize=8, fontweight="bold")
            labels.append(name)
            ticks.append(row)
    ax.axvline(show(0.0), color="black", ls="--", lw=0.8)  # the null line
    if result.ratio:
        ax.set_xscale("log")
    spec = MEASURES.get(result.measure or "")
    ax.set_xlabel(spec.label if spec else "effect")
    ax.set_yticks(ticks, labels)
    ax.set_ylim(-0.8, rows - 0.2)
    ax.set_title(title)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def funnel_plot(result: MetaAnalysis | None, path: str | Path, *, title: str = "Funnel plot",
                empty_reason: str = "no studies to pool") -> Path:
    """Write a funnel plot PNG: each study's effect against its standard error, with the pseudo 95 % funnel."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if result is None:
        return _empty_plot(path, title, empty_reason)
    plt = _pyplot()
    centre = result.fixed.estimate if result.fixed is not None else result.studies[0].y
    se_max = max(s.se for s in result.studies) * 1.1
    crit = _z_crit(result.level)
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.plot([centre - crit * se_max, centre, centre + crit * se_max], [se_max, 0, se_max], color="gray", ls="--")
    ax.axvline(centre, color="black", lw=0.8)
    ax.scatter([s.y for s in result.studies], [s.se for s in result.studies], color="tab:blue", zorder=3)
    ax.set_ylim(se_max, 0)
    spec = MEASURES.get(result.measure or "")
    ax.set_xlabel(("log " if result.ratio else "") + (spec.label if spec else "effect"))
    ax.set_ylabel("standard error")
    ax.set_title(title)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path
