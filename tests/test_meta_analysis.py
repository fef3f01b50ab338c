"""The statistics step (`maslab.tools.meta_analysis`): effect sizes, FE and DerSimonian–Laird pooling, plots.

Manalyzer spec §2 and its "must show" item 7: FE, DL, τ² and I² match hand values and statsmodels'
`combine_effects(..., method_re="dl")` to 1e-9; Q < df gives τ² = I² = 0; a forest-plot PNG is
written. The reference data set is the classic BCG-vaccine meta-analysis (13 trials; Colditz et al.,
JAMA 1994), analysed as log relative risks.
"""

from __future__ import annotations

import math

import pytest
from PIL import Image

from maslab.tools.meta_analysis import (
    EffectError,
    effect_size,
    forest_plot,
    funnel_plot,
    hedges_g,
    log_odds_ratio,
    log_risk_ratio,
    meta_analyze,
    raw_mean,
    statsmodels_check,
)

# The 13 BCG trials as in R metafor's `dat.bcg` (Colditz et al. 1994): tpos, tneg (vaccinated: TB cases,
# non-cases), cpos, cneg (not vaccinated: TB cases, non-cases).
BCG = [
    ("Aronson 1948", 4, 119, 11, 128),
    ("Ferguson & Simes 1949", 6, 300, 29, 274),
    ("Rosenthal et al 1960", 3, 228, 11, 209),
    ("Hart & Sutherland 1977", 62, 13536, 248, 12619),
    ("Frimodt-Moller et al 1973", 33, 5036, 47, 5761),
    ("Stein & Aronson 1953", 180, 1361, 372, 1079),
    ("Vandiviere et al 1973", 8, 2537, 10, 619),
    ("TPT Madras 1980", 505, 87886, 499, 87892),
    ("Coetzee & Berjak 1968", 29, 7470, 45, 7232),
    ("Rosenthal et al 1961", 17, 1699, 65, 1600),
    ("Comstock et al 1974", 186, 50448, 141, 27197),
    ("Comstock & Webster 1969", 5, 2493, 3, 2338),
    ("Comstock et al 1976", 27, 16886, 29, 17825),
]


@pytest.fixture(scope="module")
def bcg():
    effects = [log_risk_ratio(a, b, c, d) for _, a, b, c, d in BCG]
    y, v = [e[0] for e in effects], [e[1] for e in effects]
    return y, v, meta_analyze(y, v, [name for name, *_ in BCG], measure="log_rr")


def test_bcg_trials_reproduce_the_published_dersimonian_laird_analysis(bcg):
    _, _, result = bcg
    assert result.k == 13 and result.df == 12
    assert round(result.tau2, 4) == 0.3088
    assert round(result.i2, 2) == 92.12
    assert round(result.random.estimate, 4) == -0.7141
    assert round(result.random.se, 4) == 0.1787
    assert round(result.q, 2) == 152.23
    assert round(result.fixed.estimate, 4) == -0.4303
    # back-transformed: the vaccine roughly halves the risk of TB
    est, lo, hi = result.random.display
    assert (round(est, 4), round(lo, 4), round(hi, 4)) == (0.4896, 0.3449, 0.6950)
    assert result.random.p_value < 1e-4


def test_bcg_pooling_agrees_with_statsmodels_combine_effects_to_1e_9(bcg):
    y, v, result = bcg
    ref = statsmodels_check(y, v)
    ours = {"fixed": result.fixed.estimate, "fixed_se": result.fixed.se, "random": result.random.estimate,
            "random_se": result.random.se, "random_ci_low": result.random.ci_low,
            "random_ci_high": result.random.ci_high, "q": result.q, "tau2": result.tau2, "i2": result.i2}
    for key, value in ours.items():
        assert value == pytest.approx(ref[key], abs=1e-9, rel=1e-9), key
    assert sum(s.weight_fixed for s in result.studies) == pytest.approx(100)
    assert sum(s.weight_random for s in result.studies) == pytest.approx(100)


def test_pooling_matches_hand_computed_values():
    # y = (0.1, 0.3, 0.5), v = (0.01, 0.02, 0.04): w = (100, 50, 25), Σw = 175, Σw² = 13125
    result = meta_analyze([0.1, 0.3, 0.5], [0.01, 0.02, 0.04])
    assert result.fixed.estimate == pytest.approx(37.5 / 175, abs=1e-12)  # = 3/14
    assert result.fixed.se == pytest.approx(math.sqrt(1 / 175), abs=1e-12)
    assert result.q == pytest.approx(26 / 7, abs=1e-12)  # 100(0.1-3/14)² + 50(0.3-3/14)² + 25(0.5-3/14)²
    assert result.tau2 == pytest.approx((26 / 7 - 2) / (175 - 13125 / 175), abs=1e-12)  # (Q-df)/C, C = 100
    assert result.i2 == pytest.approx(100 * (26 / 7 - 2) / (26 / 7), abs=1e-12)  # 6/13
    w = [1 / (vi + 12 / 700) for vi in (0.01, 0.02, 0.04)]
    assert result.random.estimate == pytest.approx(sum(wi * yi for wi, yi in zip(w, (0.1, 0.3, 0.5), strict=True)) / sum(w),
                                                   abs=1e-12)
    assert result.random.se == pytest.approx(math.sqrt(1 / sum(w)), abs=1e-12)
    crit = 1.959963984540054
    assert result.random.ci_low == pytest.approx(result.random.estimate - crit * result.random.se, abs=1e-12)
    ref = statsmodels_check([0.1, 0.3, 0.5], [0.01, 0.02, 0.04])
    assert (result.tau2, result.i2, result.random.estimate) == pytest.approx(
        (ref["tau2"], ref["i2"], ref["random"]), abs=1e-9)


def test_q_below_df_clamps_tau2_and_i2_to_zero_where_statsmodels_goes_negative():
    y, v = [0.10, 0.11, 0.12], [0.04, 0.04, 0.04]
    result = meta_analyze(y, v)
    assert result.q < result.df
    assert result.tau2 == 0.0 and result.i2 == 0.0
    assert result.random.estimate == pytest.approx(result.fixed.estimate, abs=1e-12)
    import numpy as np
    from statsmodels.stats.meta_analysis import combine_effects

    raw = combine_effects(np.array(y), np.array(v), method_re="dl")
    assert raw.tau2 < 0 and raw.i2 < 0  # unclamped there
    assert statsmodels_check(y, v)["tau2"] == 0.0 and statsmodels_check(y, v)["i2"] == 0.0


def test_identical_effects_have_q_zero_and_i2_zero():
    result = meta_analyze([0.2, 0.2], [0.01, 0.03])
    assert result.q == pytest.approx(0.0, abs=1e-20) and result.i2 == 0.0 and result.tau2 == 0.0


def test_a_single_study_is_reported_unpooled():
    result = meta_analyze([0.4], [0.04], ["only study"])
    assert result.k == 1 and not result.pooled
    assert result.fixed is None and result.random is None
    ci = result.study_ci(result.studies[0])
    assert ci.estimate == 0.4 and ci.se == pytest.approx(0.2)


def test_hedges_g_follows_the_bias_corrected_formula():
    g, v = hedges_g(10.0, 2.0, 20, 8.0, 3.0, 25)
    sp = math.sqrt((19 * 4 + 24 * 9) / 43)
    d = 2.0 / sp
    j = 1 - 3 / (4 * 45 - 9)
    assert g == pytest.approx(j * d, abs=1e-12)
    assert v == pytest.approx(45 / 500 + (j * d) ** 2 / 90, abs=1e-12)


def test_log_odds_ratio_adds_half_to_every_cell_when_one_is_zero():
    y, v = log_odds_ratio(0, 10, 5, 5)
    assert y == pytest.approx(math.log(0.5 * 5.5 / (10.5 * 5.5)))
    assert v == pytest.approx(1 / 0.5 + 1 / 10.5 + 1 / 5.5 + 1 / 5.5)
    y2, _ = log_odds_ratio(2, 10, 5, 5)  # no zero cell: no correction
    assert y2 == pytest.approx(math.log(2 * 5 / (10 * 5)))


def test_log_risk_ratio_and_raw_mean():
    y, v = log_risk_ratio(4, 119, 11, 128)
    assert y == pytest.approx(math.log((4 / 123) / (11 / 139)))
    assert v == pytest.approx(1 / 4 - 1 / 123 + 1 / 11 - 1 / 139)
    assert raw_mean(12.0, 3.0, 9) == (12.0, 1.0)
    assert effect_size("raw_mean", {"mean": 12.0, "sd": 3.0, "n": 9}) == (12.0, 1.0)


@pytest.mark.parametrize("call", [
    lambda: hedges_g(1, 1, 1, 1, 1, 5),  # n < 2
    lambda: log_risk_ratio(-1, 3, 4, 5),  # negative count
    lambda: raw_mean(1.0, 0.0, 10),  # zero variance
    lambda: effect_size("hedges_g", {"m1": 1.0}),  # missing inputs
    lambda: effect_size("cohens_d", {}),  # unknown measure
    lambda: meta_analyze([0.1, 0.2], [0.01, 0.0]),  # a zero variance
    lambda: meta_analyze([], []),
])
def test_bad_inputs_raise_a_named_effect_error(call):
    with pytest.raises(EffectError):
        call()


def test_forest_and_funnel_plots_of_the_bcg_data_are_written(bcg, tmp_path):
    _, _, result = bcg
    forest = forest_plot(result, tmp_path / "forest.png", title="BCG vaccine and tuberculosis (log RR)")
    funnel = funnel_plot(result, tmp_path / "funnel.png")
    assert forest.is_file() and forest.stat().st_size > 20_000
    with Image.open(forest) as img:
        assert img.format == "PNG" and img.width >= 800 and img.height >= 13 * 30  # one row per trial
        assert len(img.convert("RGB").getcolors(maxcolors=1 << 20) or []) > 20  # drawn, not blank
    with Image.open(funnel) as img:
        assert img.format == "PNG" and img.width >= 400 and img.height >= 400


def test_an_empty_forest_plot_states_why(tmp_path):
    path = forest_plot(None, tmp_path / "forest.png", empty_reason="no row had every effect column")
    with Image.open(path) as img:
        assert img.format == "PNG" and img.width > 300
