"""Plug-ins: a package outside maslab adds a benchmark (dataset + scorer) and a system through its entry
points alone, and a sweep runs on them — nothing in maslab is edited.

The package is `tests/plugins/maslab-parity`; it is really installed (pip, into a temporary target
folder put on PYTHONPATH of the `maslab` processes started here), so discovery goes through
`importlib.metadata` exactly as for any installed distribution. Scripted models (a models file with
`scripted:` replies): the test is about discovery and orchestration, not model quality.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from maslab.bench.store import ResultStore

PLUGIN = Path(__file__).resolve().parent / "plugins" / "maslab-parity"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("site")
    source = tmp_path_factory.mktemp("src") / PLUGIN.name  # build from a copy: no build files in the checkout
    shutil.copytree(PLUGIN, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                           "--no-index", "--target", str(target), str(source)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert list(target.glob("maslab_parity-*.dist-info"))
    return target


def maslab(args: list[str], site: Path | None, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if site is not None:
        env["PYTHONPATH"] = str(site)
    return subprocess.run([sys.executable, "-m", "maslab.cli", *args], capture_output=True, text=True, timeout=300,
                          cwd=cwd, env=env)


def test_an_installed_package_adds_a_system_listed_by_maslab_methods(site, tmp_path):
    with_plugin = maslab(["methods"], site, tmp_path)
    without = maslab(["methods"], None, tmp_path)
    assert with_plugin.returncode == 0 and "parity_guesser" in with_plugin.stdout
    assert without.returncode == 0 and "parity_guesser" not in without.stdout


def test_a_sweep_runs_on_a_benchmark_and_a_system_registered_outside_maslab(site, tmp_path):
    models = tmp_path / "models.yaml"
    models.write_text(yaml.safe_dump({"default": "s", "models": {"s": {"scripted": ["yes", "no. It is odd."]}}}))
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(yaml.safe_dump({
        "name": "parity", "methods": [{"method": "parity_guesser"}, {"method": "vanilla"}],
        "datasets": [{"name": "parity", "generator": "parity", "n": 3}], "seeds": [0]}))
    assert maslab(["validate", str(sweep), "--models", str(models)], site, tmp_path).returncode == 0
    unknown = maslab(["validate", str(sweep), "--models", str(models)], None, tmp_path)
    assert unknown.returncode == 2 and "sweep.yaml:" in unknown.stderr and "parity_guesser" in unknown.stderr

    run = maslab(["bench", str(sweep), "--out", str(tmp_path / "out"), "--models", str(models)], site, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    rows = ResultStore.open(tmp_path / "out").rows()
    assert len(rows) == 6 and {r.method for r in rows} == {"parity_guesser", "vanilla"}
    assert all(r.status == "ok" and r.dataset == "parity" for r in rows)
    for r in rows:  # the plug-in's own scorer read the first word of each scripted reply
        assert r.extracted in ("yes", "no") and r.correct == (r.extracted == r.reference)
    assert {r.reference for r in rows} <= {"yes", "no"}
