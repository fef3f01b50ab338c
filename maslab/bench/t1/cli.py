"""`maslab t1 graph PLAN`: draw a T1 plan's tool-dependency graph (Mermaid text) — one node per tool
call, an edge per data flow, labelled with the receiving parameters. PLAN is a Python file of plan
code or a whole model reply (its ``<CODE>`` block is used). Static: the plan is parsed, never run."""

from __future__ import annotations

import argparse
from pathlib import Path

from maslab.errors import ConfigError
from maslab.plugins import CommandOutput


class T1Command:
    help = "T1 travel-planning tools: `graph PLAN` draws a plan's tool-dependency graph"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="t1_command", metavar="ACTION", required=True)
        g = sub.add_parser("graph", help="Mermaid text of a plan's tool-dependency graph")
        g.add_argument("plan", help="a file of plan code, or a model reply with a <CODE> block")

    def run(self, args: argparse.Namespace) -> CommandOutput:
        from maslab.tools.travel.analysis import plan_mermaid

        path = Path(args.plan)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read ({exc})") from None
        try:
            return CommandOutput([plan_mermaid(text)])
        except SyntaxError as exc:
            raise ConfigError(f"{path}:{exc.lineno}: the plan does not parse ({exc.msg})") from None


command = T1Command()
