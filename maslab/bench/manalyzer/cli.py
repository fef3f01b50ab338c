"""`maslab manalyzer hitrate RUN_DIR`: the Manalyzer benchmark's hit rates of a sweep, per cell × field × level.

Sums the `manalyzer` scorer's per-paper counts (`results.sqlite` of `maslab bench`) into the
reference's table — hits / gold strings per field and level (lenient substring match) — plus the
cell-aligned hit rate (ours)."""

from __future__ import annotations

import argparse
from pathlib import Path

from maslab.errors import ConfigError
from maslab.plugins import CommandOutput


class ManalyzerCommand:
    help = "Manalyzer benchmark tools: `hitrate RUN_DIR` sums a sweep's hit rates per field and level"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="manalyzer_command", metavar="ACTION", required=True)
        h = sub.add_parser("hitrate", help="hit rate per cell × field × level of a sweep's manalyzer results")
        h.add_argument("dir", help="a sweep's output folder (holding results.sqlite)")

    def run(self, args: argparse.Namespace) -> CommandOutput:
        from rich.table import Table

        from maslab.bench.manalyzer.metrics import LEVELS, hit_rates
        from maslab.bench.store import ResultStore

        path = Path(args.dir) / "results.sqlite"
        if not path.is_file():
            raise ConfigError(f"{path}: no sweep results here (run `maslab bench` first)")
        store = ResultStore.open(path, readonly=True)
        try:
            rows = [r for r in store.rows() if r.score_detail.get("levels")]
        finally:
            store.close()
        if not rows:
            raise ConfigError(f"{path}: no results scored by the `manalyzer` scorer")
        table = Table("cell", "field", *LEVELS, "cell-aligned", "papers")
        for cell in sorted({r.cell_id for r in rows}):
            mine = [r for r in rows if r.cell_id == cell]
            rates = hit_rates((r.score_detail["field"], r.score_detail["levels"]) for r in mine)
            for field, levels in rates.items():
                aligned = [r.score_detail.get("cell_aligned", {}) for r in mine if r.score_detail["field"] == field]
                hit, total = sum(a.get("hit", 0) for a in aligned), sum(a.get("total", 0) for a in aligned)
                table.add_row(cell, field, *(_rate(levels[lv]) for lv in LEVELS), _rate({"hit": hit, "total": total}),
                              str(sum(r.score_detail["field"] == field for r in mine)))
        return CommandOutput([table])


def _rate(cell: dict) -> str:
    return f"{100 * cell['hit'] / cell['total']:.2f}% ({cell['hit']}/{cell['total']})" if cell.get("total") else "n/a"


command = ManalyzerCommand()
