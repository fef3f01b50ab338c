"""`maslab ktr`: Know-The-Ropes' design-loop tools (a plug-in command).

    maslab ktr diagnose RUN_DIR          accuracy per size (95 % Wilson CI) for every method, contract
                                         violations, and per blueprint leaf: isolated and propagated
                                         accuracy, violations, calls, tokens — ranked, bottleneck named
    maslab ktr finetune-data SYSTEM LEAF --out FILE [--n N] [--sizes S …] [--seed S]
                                         chat JSONL for LEAF from the step oracle on train-split
                                         instances, disjoint from the test split (--test-n, --test-seed)

Plug-ins never print: the command returns rich tables and lines for `maslab.cli` to show.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from maslab.errors import ConfigError
from maslab.plugins import CommandOutput

DATASETS = {"ktr_knapsack": "knapsack", "ktr_assignment": "assignment"}


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}"


def render(diagnosis: Any) -> list[Any]:
    """The diagnosis as rich tables and lines."""
    from rich.table import Table

    items: list[Any] = [diagnosis.note]
    sizes = Table("method", "assignment", "dataset", "size", "n", "acc % [95% CI]", "violations", "failures",
                  "errors", "tok/task", "calls/task", title="Accuracy per size")
    for s in diagnosis.sizes:
        sizes.add_row(s.method, s.assignment, s.dataset, "?" if s.size is None else str(s.size), str(s.n),
                      f"{_pct(s.accuracy)} [{_pct(s.ci_low)}, {_pct(s.ci_high)}]", str(s.violations),
                      str(s.failures), str(s.errors), f"{s.tokens_per_task:,.0f}", f"{s.calls_per_task:.1f}")
    items.append(sizes)
    for bp in diagnosis.blueprints:
        table = Table("leaf", "isolated % (k/n)", "propagated % (k/n)", "violations", "calls", "tokens",
                      "isolated calls",
                      title=f"{bp.method} on {bp.assignment}: per-agent accuracy over {bp.runs} runs "
                            f"(blueprint {bp.blueprint}; reconstructed: {', '.join(bp.reconstructed) or '—'})")
        for leaf in bp.leaves:
            a = leaf.accuracy
            table.add_row(a.leaf, f"{_pct(a.isolated)} ({a.isolated_correct}/{a.isolated_total})",
                          f"{_pct(a.propagated)} ({a.propagated_correct}/{a.propagated_total})",
                          str(a.violations), str(leaf.calls), f"{leaf.tokens:,}", str(leaf.isolated_calls))
        items.append(table)
        if bp.bottleneck is None:
            items.append(f"{bp.method}: no isolated measurements — run it with `isolated: true` to locate the "
                         "bottleneck")
        else:
            worst = bp.leaves[0].accuracy
            items.append(f"{bp.method}: bottleneck {bp.bottleneck} (isolated accuracy {_pct(worst.isolated)} %)")
    return items


class KtRCommand:
    help = "Know-The-Ropes: `diagnose RUN_DIR` (per-agent accuracy, bottleneck), `finetune-data SYSTEM LEAF`"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="ktr_command", metavar="ACTION", required=True)
        d = sub.add_parser("diagnose", help="accuracy per size and per-agent accuracy of a sweep's blueprints")
        d.add_argument("dir", help="a sweep folder (or its results.sqlite)")
        f = sub.add_parser("finetune-data", help="oracle chat JSONL for one leaf, from train-split instances")
        f.add_argument("system", choices=sorted(DATASETS), help="the blueprint system")
        f.add_argument("leaf", help="the leaf to tune (e.g. trimmer)")
        f.add_argument("--out", required=True, help="the JSONL file to write")
        f.add_argument("--n", type=int, default=200, help="train instances (default 200)")
        f.add_argument("--sizes", type=int, nargs="+", help="instance sizes (default: the benchmark's)")
        f.add_argument("--seed", type=int, default=0, help="train seed")
        f.add_argument("--test-n", type=int, default=100, help="test instances to stay disjoint from")
        f.add_argument("--test-seed", type=int, default=0, help="the test set's seed")

    def run(self, args: argparse.Namespace) -> CommandOutput:
        if args.ktr_command == "diagnose":
            from maslab.agents.ktr.design import diagnose_store

            return CommandOutput(render(diagnose_store(args.dir)))
        return self._finetune(args)

    def _finetune(self, args: argparse.Namespace) -> CommandOutput:
        from maslab.agents.ktr.design import finetune_data
        from maslab.bench.datasets import load_dataset
        from maslab.method import load_method

        if args.n < 1 or args.test_n < 0:
            raise ConfigError("--n must be >= 1 and --test-n >= 0")
        dataset = DATASETS[args.system]
        options = {"sizes": args.sizes} if args.sizes else {}
        train = load_dataset(dataset, n=args.n, seed=args.seed, split="train", **options)
        test = load_dataset(dataset, n=args.test_n, seed=args.test_seed, split="test", **options) if args.test_n else []
        export = asyncio.run(finetune_data(load_method(args.system), args.leaf, train, test, args.out))
        return CommandOutput([f"{export.examples} {export.leaf} examples from {export.instances} train instances "
                              f"({export.dropped_overlaps} identical to a test instance left out) → {export.path}"])


command = KtRCommand()
