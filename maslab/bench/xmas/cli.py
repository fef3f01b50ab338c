"""`maslab xmas table RUN_DIR`: the X-MAS-Bench table of a bench sweep, score[function][domain][alias].

Prints one table per domain (aliases × functions: the percentage of items scoring 2, then
100 · mean grade / 2, and n) and writes xmas_table.md, xmas_table.csv and a heat map PNG per domain
(xmas_heatmap_<domain>.png) into RUN_DIR, or `--out DIR`. The CSV is what an X-MAS assignment can
read instead of the sweep folder (`assignments: [{xmas: {table: xmas_table.csv, domain: math}}]`).

A plug-in command (`maslab.commands` entry point `xmas`): it returns renderables in a
`CommandOutput`; `maslab.cli` prints them. A missing or empty store is a `ConfigError` (exit 2).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from maslab.errors import ConfigError
from maslab.plugins import CommandOutput


class XMASCommand:
    help = "X-MAS: `table RUN_DIR` prints and saves the bench table score[function][domain][alias]"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="xmas_command", metavar="ACTION", required=True)
        t = sub.add_parser("table", help="the bench table of an X-MAS-Bench sweep (Markdown, CSV, heat maps)")
        t.add_argument("run_dir", help="the bench sweep's folder (or its results.sqlite)")
        t.add_argument("--out", help="where to write the files (default: RUN_DIR)")

    def run(self, args: argparse.Namespace) -> CommandOutput:
        from rich.markup import escape
        from rich.text import Text

        from maslab.bench.xmas.table import BenchTable

        if args.xmas_command != "table":
            raise ConfigError(f"unknown xmas action {args.xmas_command!r} (table)")
        source = Path(args.run_dir).expanduser()
        table = BenchTable.from_store(source)
        out = Path(args.out).expanduser() if args.out else (source if source.is_dir() else source.parent)
        written = table.write(out)
        note = Text.from_markup(f"[green]wrote[/] {escape(', '.join(str(p) for p in written))}")
        return CommandOutput([*table.rich_tables(), note])


command = XMASCommand()
