"""The architecture holds: runtime layers, no cycles, the runtime never imports a plug-in, ruff is clean.

`lint-imports` checks the contracts in pyproject.toml (layers cli → workflow/bench → drawing →
method/graph → agent → models/tool/sandbox/answers → … → messages, forbidden imports, acyclic
siblings). The second test re-checks the plug-in rules against the entry points themselves, so a
system or benchmark added later is covered without editing any list.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp
import pytest

from maslab import plugins

REPO = Path(__file__).resolve().parents[1]
PLUGIN_ROOTS = ("maslab.agents", "maslab.tools", "maslab.routers")


def test_lint_imports_keeps_every_contract():
    # `lint-imports --no-cache`, run by this interpreter (so it checks this checkout's maslab)
    code = "import sys; from importlinter.cli import lint_imports_command; sys.argv[1:] = ['--no-cache']; " \
           "sys.exit(lint_imports_command())"
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "BROKEN" not in proc.stdout and "KEPT" in proc.stdout


def _plugin_modules(group: str) -> set[str]:
    return {ep.value.split(":")[0] for ep in plugins.entry_points(group) if ep.value.startswith("maslab.")}


def _within(module: str, roots: set[str] | tuple[str, ...]) -> bool:
    return any(module == r or module.startswith(r + ".") for r in roots)


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("maslab", cache_dir=None)


def test_the_runtime_never_imports_a_plug_in_named_by_the_entry_points(graph):
    benchmarks = _plugin_modules(plugins.BENCHMARKS)
    methods = _plugin_modules(plugins.METHODS)
    assert "maslab.bench.t1" in benchmarks and "maslab.agents.vanilla" in methods
    plugin_roots = {*PLUGIN_ROOTS, *benchmarks, *methods, *_plugin_modules(plugins.TOOLS),
                    *_plugin_modules(plugins.COMMANDS)}
    runtime = sorted(m for m in graph.modules if not _within(m, plugin_roots) and m != "maslab")
    assert "maslab.bench.sweep" in runtime and "maslab.cli" in runtime
    targets = {t for p in plugin_roots if p in graph.modules for t in {p, *graph.find_descendants(p)}}
    offenders = [(m, t) for m in runtime for t in sorted(targets)
                 if graph.chain_exists(importer=m, imported=t, as_packages=False)]
    assert offenders == []


def test_systems_and_benchmarks_never_import_each_other(graph):
    """A benchmark package may register its own harness as a system (X-MAS-Bench's `xmas_bench`, inside
    maslab.bench.xmas): the rule is about a system and *another* package's benchmark."""
    benchmarks = sorted(_plugin_modules(plugins.BENCHMARKS))
    systems = sorted(_plugin_modules(plugins.METHODS))
    assert "maslab.bench.xmas.harness" in systems and "maslab.bench.xmas" in benchmarks
    crossing = [(a, b) for a in systems for b in benchmarks
                if not (_within(a, (b,)) or _within(b, (a,)))
                and (graph.chain_exists(importer=a, imported=b, as_packages=True)
                     or graph.chain_exists(importer=b, imported=a, as_packages=True))]
    assert crossing == []


def test_the_tree_is_ruff_clean():
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "."], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
