"""Sweep reports: Wilson intervals, errors counted wrong, paired comparisons, CSV/Markdown/HTML output."""

from __future__ import annotations

import csv
import io
import math
import random
import re
import statistics
import subprocess
from pathlib import Path

import pytest
from rich.console import Console
from scipy.stats import norm, t

from maslab.bench.report import CSV_COLUMNS, render_table, to_csv, to_html, to_markdown
from maslab.bench.stats import (
    CellSummary,
    SeedAggregate,
    aggregate_seeds,
    compare,
    summarize,
    wilson_interval,
)
from maslab.bench.store import ResultRow, ResultStore
from maslab.cli import main
from maslab.errors import ConfigError


def report_command(dir: Path, fmt: str = "table", compare: list[str] | None = None) -> int:
    """`maslab report DIR --format FMT [--compare A B]` through the CLI."""
    return main(["report", str(dir), "--format", fmt, *(["--compare", *compare] if compare else [])])

CHROMIUM = Path("/usr/bin/chromium")


# ------------------------------------------------------------------------------------------ helpers


def _row(label: str, dataset: str, task: str, *, seed: int = 0, assignment: str = "default", status: str = "ok",
         correct: bool = False, prompt: int = 100, completion: int = 20, calls: int = 1, latency: float = 1.0,
         cache_hits: int = 0, method: str | None = None) -> ResultRow:
    return ResultRow(cell_id=f"{label}|{assignment}|{dataset}|seed={seed}", task_id=task, sweep="s",
                     method=method or label, method_label=label, assignment=assignment, dataset=dataset, seed=seed,
                     status=status, correct=correct, score=1.0 if correct else 0.0,
                     error="boom" if status != "ok" else None, prompt_tokens=prompt, completion_tokens=completion,
                     calls=calls, cache_hits=cache_hits, latency_s=latency,
                     usage_by_role={"solver": {"calls": calls, "prompt_tokens": prompt, "completion_tokens": completion}})


def _store(path: Path, rows: list[ResultRow], planned: dict[str, int] | None = None) -> ResultStore:
    store = ResultStore(path / "results.sqlite")
    for cell_id in sorted({r.cell_id for r in rows}):
        r = next(x for x in rows if x.cell_id == cell_id)
        store.add_cell({"cell_id": cell_id, "sweep": "s", "method": r.method, "method_label": r.method_label,
                        "method_params": {}, "assignment": r.assignment, "roles": {}, "dataset": r.dataset,
                        "seed": r.seed, "n_tasks": (planned or {}).get(cell_id, sum(x.cell_id == cell_id for x in rows))})
    for r in rows:
        store.write(r)
    return store


def _wilson_by_quadratic(k: int, n: int) -> tuple[float, float]:
    """The Wilson bounds as the roots of (p̂ − p)² = z² p(1 − p)/n, solved for p."""
    z = norm.ppf(0.975)
    ph = k / n
    a = 1 + z * z / n
    b = -(2 * ph + z * z / n)
    c = ph * ph
    disc = math.sqrt(b * b - 4 * a * c)
    return (-b - disc) / (2 * a), (-b + disc) / (2 * a)


def _sweep_rows() -> list[ResultRow]:
    """Two methods on two datasets; cot and debate run two seeds on arith."""
    rng = random.Random(7)
    rows = []
    for label, p_right, tokens in (("cot", 0.5, 300), ("debate", 0.8, 2400)):
        for seed in (0, 1):
            for i in range(12):
                status = "error" if rng.random() < 0.1 else "ok"
                rows.append(_row(label, "arith", f"a{i}", seed=seed, status=status, correct=rng.random() < p_right,
                                 prompt=tokens + rng.randrange(50), completion=rng.randrange(10, 90),
                                 calls=1 if label == "cot" else 7, latency=rng.uniform(0.1, 3.0)))
        for i in range(8):
            rows.append(_row(label, "gsm8k", f"g{i}", correct=rng.random() < p_right, prompt=tokens,
                             latency=rng.uniform(0.1, 3.0)))
    return rows


# --------------------------------------------------------------------------------------- statistics


@pytest.mark.parametrize(("k", "n"), [(0, 5), (3, 5), (5, 5), (1, 1), (17, 40), (199, 200)])
def test_wilson_interval_matches_the_quadratic_solution(k: int, n: int) -> None:
    lo, hi = wilson_interval(k, n)
    elo, ehi = _wilson_by_quadratic(k, n)
    assert lo == pytest.approx(max(0.0, elo), abs=1e-12)
    assert hi == pytest.approx(min(1.0, ehi), abs=1e-12)
    assert 0.0 <= lo <= k / n <= hi <= 1.0


def test_errors_count_as_wrong_and_valid_only_is_separate(tmp_path: Path) -> None:
    rows = [_row("cot", "arith", f"t{i}", correct=True, latency=float(i + 1)) for i in range(3)]
    rows.append(_row("cot", "arith", "t3", correct=False, latency=4.0))
    # an inference failure that even carries a stale "correct" flag is wrong
    rows.append(_row("cot", "arith", "t4", status="error", correct=True, prompt=0, completion=0, calls=0,
                     latency=10.0))
    # a second cell: two right, one scoring failure
    rows += [_row("sc", "arith", f"t{i}", correct=True, calls=5, cache_hits=2) for i in range(2)]
    rows.append(_row("sc", "arith", "t2", status="score_error", correct=True, calls=5))
    store = _store(tmp_path, rows, planned={"cot|default|arith|seed=0": 6})
    by_label = {s.method_label: s for s in summarize(store)}

    cot = by_label["cot"]
    assert (cot.n, cot.correct, cot.valid, cot.errors, cot.score_errors) == (5, 3, 4, 1, 0)
    assert cot.accuracy == pytest.approx(3 / 5)
    assert cot.accuracy_valid == pytest.approx(3 / 4)
    assert (cot.ci_low, cot.ci_high) == pytest.approx(_wilson_by_quadratic(3, 5))
    assert cot.n_planned == 6
    cot_rows = [r for r in rows if r.method_label == "cot"]
    assert cot.tokens_per_task == pytest.approx(sum(r.prompt_tokens + r.completion_tokens for r in cot_rows) / 5)
    assert cot.prompt_tokens_per_task == pytest.approx(sum(r.prompt_tokens for r in cot_rows) / 5)
    assert cot.calls_per_task == pytest.approx(sum(r.calls for r in cot_rows) / 5)
    lat = sorted(r.latency_s for r in cot_rows)
    assert cot.latency_mean_s == pytest.approx(statistics.fmean(lat))
    assert cot.latency_p50_s == pytest.approx(statistics.median(lat))
    pos = 0.95 * (len(lat) - 1)  # linear interpolation between order statistics
    assert cot.latency_p95_s == pytest.approx(lat[int(pos)] + (pos - int(pos)) * (lat[int(pos) + 1] - lat[int(pos)]))

    sc = by_label["sc"]
    assert (sc.n, sc.correct, sc.score_errors, sc.errors, sc.cache_hits) == (3, 2, 1, 0, 4)
    assert sc.accuracy == pytest.approx(2 / 3)
    assert sc.accuracy_valid == pytest.approx(1.0)


def test_pooling_over_seeds_uses_every_task_seed_row(tmp_path: Path) -> None:
    rows = _sweep_rows()
    store = _store(tmp_path, rows)
    pooled = {(a.method_label, a.dataset): a for a in aggregate_seeds(store)}
    for label in ("cot", "debate"):
        mine = [r for r in rows if r.method_label == label and r.dataset == "arith"]
        k = sum(r.status == "ok" and r.correct for r in mine)
        agg = pooled[(label, "arith")]
        assert isinstance(agg, SeedAggregate)
        assert agg.seeds == [0, 1] and agg.n == len(mine) == 24 and agg.correct == k
        assert agg.accuracy == pytest.approx(k / 24)
        assert (agg.ci_low, agg.ci_high) == pytest.approx(_wilson_by_quadratic(k, 24))
        per_seed = [sum(r.status == "ok" and r.correct for r in mine if r.seed == s) / 12 for s in (0, 1)]
        assert agg.seed_accuracies == pytest.approx(per_seed)
        assert agg.seed_accuracy_sd == pytest.approx(statistics.stdev(per_seed))
        assert pooled[(label, "gsm8k")].seeds == [0] and pooled[(label, "gsm8k")].seed_accuracy_sd is None


# --------------------------------------------------------------------------------------- comparison


def test_paired_comparison_against_a_hand_computation(tmp_path: Path) -> None:
    # per task (A right, B right); t9 for A is an inference error flagged correct: it counts wrong
    pattern = {"t0": (1, 1), "t1": (1, 1), "t2": (1, 1), "t3": (1, 0), "t4": (1, 0), "t5": (1, 0),
               "t6": (0, 1), "t7": (0, 0), "t8": (0, 0), "t9": (0, 1)}
    rows = []
    for task, (a, b) in pattern.items():
        rows.append(_row("A", "d", task, correct=bool(a)) if task != "t9"
                    else _row("A", "d", task, status="error", correct=True))
        rows.append(_row("B", "d", task, correct=bool(b)))
    rows.append(_row("A", "d", "only-a", correct=True))           # B never ran it: unpaired
    rows.append(_row("B", "d", "t0", seed=1, correct=False))      # another seed: A never ran it
    rows.append(_row("B", "d", "t1", assignment="x", correct=False))  # another assignment
    store = _store(tmp_path, rows)

    c = compare(store, "A", "B")
    n = len(pattern)
    diffs = [a - b for a, b in pattern.values()]
    mean = sum(diffs) / n
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1))
    half = t.ppf(0.975, n - 1) * sd / math.sqrt(n)
    only_a = sum(a and not b for a, b in pattern.values())
    only_b = sum(b and not a for a, b in pattern.values())
    m = only_a + only_b
    p = min(1.0, 2 * sum(math.comb(m, i) for i in range(min(only_a, only_b) + 1)) / 2 ** m)

    assert c.n_pairs == n
    assert (c.only_a, c.only_b, c.both_correct, c.neither) == (only_a, only_b, 3, 2)
    assert c.accuracy_a == pytest.approx(sum(a for a, _ in pattern.values()) / n)
    assert c.accuracy_b == pytest.approx(sum(b for _, b in pattern.values()) / n)
    assert c.diff == pytest.approx(mean)
    assert (c.ci_low, c.ci_high) == pytest.approx((mean - half, mean + half))
    assert c.mcnemar_p == pytest.approx(p)

    swapped = compare(store, "B", "A", dataset="d")
    assert swapped.diff == pytest.approx(-mean) and swapped.mcnemar_p == pytest.approx(p)


def test_compare_rejects_unknown_methods_and_disjoint_tasks(tmp_path: Path) -> None:
    store = _store(tmp_path, [_row("A", "d", "t0", correct=True), _row("B", "e", "t1", correct=True)])
    with pytest.raises(ConfigError, match="nope"):
        compare(store, "A", "nope")
    with pytest.raises(ConfigError, match="share no"):
        compare(store, "A", "B")


# ---------------------------------------------------------------------------------------- renderers


def test_csv_has_the_columns_and_one_row_per_cell(tmp_path: Path) -> None:
    rows = _sweep_rows()
    summaries = summarize(_store(tmp_path, rows))
    parsed = list(csv.DictReader(io.StringIO(to_csv(summaries))))
    required = {"method", "assignment", "dataset", "seed", "n", "accuracy", "ci_low", "ci_high", "errors",
                "score_errors", "tokens_per_task", "calls_per_task", "latency_mean_s"}
    assert required <= set(parsed[0]) and list(parsed[0]) == list(CSV_COLUMNS)
    cells = {r.cell_id for r in rows}
    assert len(parsed) == len(cells) == 6
    assert {(p["method"], p["dataset"], p["seed"]) for p in parsed} == {
        (r.method_label, r.dataset, str(r.seed)) for r in rows}
    for p in parsed:
        mine = [r for r in rows if r.method_label == p["method"] and r.dataset == p["dataset"]
                and r.seed == int(p["seed"])]
        assert int(p["n"]) == len(mine)
        assert float(p["accuracy"]) == pytest.approx(sum(r.status == "ok" and r.correct for r in mine) / len(mine),
                                                     rel=1e-5)
        assert int(p["errors"]) == sum(r.status == "error" for r in mine)


def test_markdown_has_one_table_per_dataset(tmp_path: Path) -> None:
    store = _store(tmp_path, _sweep_rows())
    summaries = summarize(store)
    md = to_markdown([*summaries, *aggregate_seeds(store)], title="r")
    assert re.findall(r"^## (.+)$", md, flags=re.M) == ["arith", "gsm8k"]
    assert len(re.findall(r"^\| method \|", md, flags=re.M)) == 2
    arith = md.split("## arith")[1].split("## gsm8k")[0]
    body = [ln for ln in arith.splitlines() if ln.startswith("| cot") or ln.startswith("| debate")]
    assert len(body) == 6  # 2 methods × (2 seeds + 1 pooled row)
    assert sum("(pooled)" in ln for ln in body) == 2


def test_render_table_one_rich_table_per_dataset(tmp_path: Path) -> None:
    summaries = summarize(_store(tmp_path, _sweep_rows()))
    tables = render_table(summaries)
    assert len(tables) == 2
    assert [tb.row_count for tb in tables] == [4, 2]
    console = Console(record=True, width=220)
    for tb in tables:
        console.print(tb)
    text = console.export_text()
    first = next(s for s in summaries if isinstance(s, CellSummary) and s.dataset == "gsm8k")
    assert f"{100 * first.accuracy:.1f} [{100 * first.ci_low:.1f}, {100 * first.ci_high:.1f}]" in text


# --------------------------------------------------------------------------------------------- CLI


def test_report_command_writes_every_file_and_prints_the_format(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "240")  # rich sizes tables to the terminal; keep headers on one line
    store = _store(tmp_path, _sweep_rows())
    store.set_meta("sweep", {"name": "tiny-sweep", "seeds": [0, 1]})
    store.close()
    assert report_command(tmp_path, fmt="csv", compare=["cot", "debate"]) == 0
    out = capsys.readouterr().out
    for name in ("report.md", "report.csv", "report.html", "accuracy_vs_tokens.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert (tmp_path / "accuracy_vs_tokens.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out.startswith((tmp_path / "report.csv").read_text())
    assert "method_a,method_b" in out and "cot,debate,arith" in out and "cot,debate,," in out

    assert report_command(tmp_path, fmt="table", compare=["cot", "debate"]) == 0
    out = capsys.readouterr().out
    assert "McNemar" in out and "arith" in out and "gsm8k" in out

    assert report_command(tmp_path, fmt="html") == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "report.html")


def test_report_command_without_a_store_exits_2(tmp_path: Path, capsys) -> None:
    assert report_command(tmp_path / "missing") == 2
    assert "no result store" in capsys.readouterr().err
    _store(tmp_path, [_row("A", "d", "t0")]).close()
    assert report_command(tmp_path, compare=["A", "Z"]) == 2
    assert "'Z'" in capsys.readouterr().err


# -------------------------------------------------------------------------------------------- HTML


def test_html_is_self_contained(tmp_path: Path) -> None:
    store = _store(tmp_path, _sweep_rows())
    store.set_meta("sweep", {"name": "tiny-sweep", "methods": [{"method": "cot"}]})
    page = to_html(tmp_path)
    assert "tiny-sweep" in page and page.count('<table class="results">') == 2
    assert 'src="data:image/png;base64,' in page and '<table class="comparisons">' in page
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:|//)|@import|url\(", page)


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium (Debian package `chromium`)")
def test_html_page_renders_in_headless_chromium(tmp_path: Path) -> None:
    from PIL import Image

    site = tmp_path / "sweep"
    rows = _sweep_rows()
    store = _store(site, rows)
    store.set_meta("sweep", {"name": "tiny-sweep"})
    store.close()
    assert report_command(site, fmt="html") == 0
    page = site / "report.html"
    flags = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([*flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120,
                         check=True).stdout
    summaries = summarize(ResultStore.open(site))
    for s in summaries:
        cell = f"{100 * s.accuracy:.1f} [{100 * s.ci_low:.1f}, {100 * s.ci_high:.1f}]"
        assert cell in dom, cell
    assert dom.count("<tr") >= len(summaries) + 2
    assert 'id="accuracy-vs-tokens"' in dom and "data:image/png;base64," in dom

    shot = tmp_path / "shot.png"
    subprocess.run([*flags, f"--screenshot={shot}", "--window-size=1200,1600", page.as_uri()],
                   capture_output=True, timeout=120, check=True)
    assert shot.stat().st_size > 20_000
    with Image.open(shot) as im:
        assert im.size == (1200, 1600)
        colours = im.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50
