"""The X-MAS-Bench table score[function][domain][alias] from a bench store, and `maslab xmas table`.

The store is filled with hand-made result rows (synthetic, so every count is known), written through the
real `ResultStore`; the command runs in-process through `maslab.cli.main`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from maslab.bench.store import ResultRow, ResultStore
from maslab.bench.xmas.table import BenchTable
from maslab.cli import main
from maslab.errors import ConfigError


def row(i: int, function: str, alias: str, domain: str, grade: int | None, *, seed: int = 0,
        method: str = "xmas_bench") -> ResultRow:
    """A synthetic bench row; grade None is an inference error (no metadata, only the assignment)."""
    common = dict(cell_id=f"{function}|{alias}|ds|seed={seed}", task_id=f"t{i}", method=method, method_label=function,
                  method_params={"function": function}, assignment=alias, dataset="ds", seed=seed, domain=domain)
    if grade is None:
        return ResultRow(**common, status="error", error="boom")
    return ResultRow(**common, score=grade / 2, correct=grade == 2, score_detail={"xmas_score": grade},
                     metadata={"xmas": {"function": function, "examined": alias, "domain": domain}})


def fill(path: Path) -> Path:
    store = ResultStore(path / "results.sqlite")
    grades = {("qa", "A"): [2, 2, 2, 1], ("qa", "B"): [2, 0, None, 1], ("evaluate", "A"): [0, 0, 2, 2],
              ("evaluate", "B"): [2, 2, 2, 2]}
    for (function, alias), gs in grades.items():
        for i, g in enumerate(gs):
            store.write(row(i, function, alias, "math", g, seed=i % 2))
    store.write(row(100, "qa", "A", "code", 2))
    store.write(row(9, "qa", "A", "math", 0, method="vanilla"))  # not a bench row: ignored
    store.close()
    return path


def test_scores_are_the_share_of_twos_and_the_half_mean_with_errors_counted_zero(tmp_path):
    """Synthetic rows: qa/math/A graded 2,2,2,1 → 75 % of twos, mean/2 = 87.5 %; B's error row counts 0;
    both seeds pool; a non-bench row is ignored; domains, functions and aliases come out in order."""
    table = BenchTable.load(fill(tmp_path))
    assert table.score("qa", "math", "A") == 75.0 and table.score("qa", "math", "A", "mean_half") == 87.5
    b = table.cell("qa", "math", "B")
    assert (b.n, b.score2, b.score1, b.errors) == (4, 1, 1, 1) and table.score("qa", "math", "B") == 25.0
    assert table.score("evaluate", "math", "B") == 100.0 and table.score("evaluate", "code", "B") is None
    assert table.cross_domain_mean("qa", "A") == (75.0 + 100.0) / 2
    assert table.domains == ["math", "code"] and table.functions == ["qa", "evaluate"] and table.aliases == ["A", "B"]


def test_the_csv_round_trips_and_the_markdown_lists_every_cell(tmp_path):
    table = BenchTable.load(fill(tmp_path))
    csv_path = tmp_path / "t.csv"
    csv_path.write_text(table.to_csv())
    again = BenchTable.load(csv_path)
    assert [(c.function, c.domain, c.alias, c.n, c.score2, c.score1, c.errors) for c in again._sorted()] == \
        [(c.function, c.domain, c.alias, c.n, c.score2, c.score1, c.errors) for c in table._sorted()]
    md = table.to_markdown()
    assert "## math" in md and "| alias | qa | evaluate |" in md and "| A | 75.0 (87.5) n=4 | 50.0 (50.0) n=4 |" in md


def test_maslab_xmas_table_prints_and_writes_markdown_csv_and_a_heat_map_per_domain(tmp_path, capsys):
    """`maslab xmas table RUN_DIR`: exit 0, one table per domain on stdout, files beside the store."""
    run = fill(tmp_path / "run")
    assert main(["xmas", "table", str(run)]) == 0
    out = capsys.readouterr().out
    assert "math — % of items scoring 2" in out and "code — % of items scoring 2" in out and "75.0 (87.5)" in out
    for name in ("xmas_table.md", "xmas_table.csv", "xmas_heatmap_math.png", "xmas_heatmap_code.png"):
        assert (run / name).stat().st_size > 0, name
    assert (run / "xmas_heatmap_math.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    other = tmp_path / "elsewhere"
    assert main(["xmas", "table", str(run), "--out", str(other)]) == 0 and (other / "xmas_table.csv").is_file()


def test_a_missing_or_empty_store_is_a_clear_error(tmp_path, capsys):
    assert main(["xmas", "table", str(tmp_path / "nope")]) == 2
    assert "no result store" in capsys.readouterr().err
    ResultStore(tmp_path / "empty" / "results.sqlite").close()
    with pytest.raises(ConfigError, match="no `xmas_bench` rows"):
        BenchTable.load(tmp_path / "empty")
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(ConfigError, match="not an X-MAS table CSV"):
        BenchTable.load(bad)
