"""Every bad input is a located error, never a traceback: files that are not UTF-8, YAML nested too deep
or built as an alias bomb, counts that would multiply model calls without bound, a graph that never
finishes, a megabyte-long value. The CLI cases run `maslab` in a subprocess and check the exit code (2:
invalid input) and that stderr names the file and holds no traceback. (Damaged SQLite files: tests in
test_models.py and test_sweep.py; CLI numbers: test_cli.py.)"""

from __future__ import annotations

import asyncio
import os
import resource
import subprocess
import sys
import time

import pytest

from maslab.errors import RunawayGraphError
from maslab.method import load_method
from maslab.models import ModelPool


def maslab(*args: str, env: dict[str, str] | None = None, memory_gib: float | None = None
           ) -> subprocess.CompletedProcess[str]:
    """Run `maslab ARGS`, optionally under an address-space limit (a runaway allocation then fails)."""
    def limit() -> None:
        if memory_gib:
            size = int(memory_gib * 1024**3)
            resource.setrlimit(resource.RLIMIT_AS, (size, size))

    return subprocess.run([sys.executable, "-m", "maslab.cli", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})}, preexec_fn=limit)


def validate(path, *extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    proc = maslab("validate", str(path), *extra, env=env)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


@pytest.mark.parametrize("kind", ["workflow", "sweep"])
def test_a_file_that_is_not_utf8_is_named_with_the_byte_offset(tmp_path, kind):
    text = "name: caf\u00e9\nmethod: vanilla\n" if kind == "workflow" else \
        "name: caf\u00e9\nmethods: [{method: vanilla}]\ndatasets: [{name: a, generator: arithmetic}]\n"
    path = tmp_path / f"{kind}.yaml"
    path.write_bytes(text.encode("latin-1"))
    proc = validate(path)
    assert proc.returncode == 2
    assert f"{path}: <top>: not UTF-8 text (byte 9: invalid continuation byte)" in proc.stderr


def test_yaml_nested_a_thousand_deep_is_refused_with_its_line(tmp_path):
    path = tmp_path / "deep.yaml"
    path.write_text("name: deep\nmethod: vanilla\nparams:\n  roles: " + "[" * 1000 + "]" * 1000 + "\n")
    proc = validate(path)
    assert proc.returncode == 2 and f"{path}:4: <top>: nested deeper than 64 levels" in proc.stderr


def test_an_alias_bomb_is_refused_before_it_expands(tmp_path):
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\nname: bomb\nmethod: vanilla\nparams: {roles: {x: *a8}}\n")
    assert path.stat().st_size < 600  # 9**9 nodes once expanded
    start = time.monotonic()
    proc = maslab("validate", str(path), memory_gib=1)  # a plain `maslab validate` fits in 1 GiB easily
    assert proc.returncode == 2 and "aliases are expanded" in proc.stderr and str(path) in proc.stderr, proc.stderr
    assert time.monotonic() - start < 60


def test_counts_that_multiply_calls_are_bounded_and_the_bound_can_be_raised(tmp_path):
    path = tmp_path / "debate.yaml"
    path.write_text("name: debate\nmethod: llm_debate\nparams:\n  rounds: 1000000000\n")
    proc = validate(path)
    assert proc.returncode == 2
    assert (f"{path}:4: params.rounds: Value error, rounds=1000000000 is above the maximum of 100 for counts "
            "that multiply model calls (set MASLAB_MAX_COUNT to allow more)") in proc.stderr
    assert validate(path, env={"MASLAB_MAX_COUNT": "1000000000"}).returncode == 0
    graph = tmp_path / "graph.yaml"
    graph.write_text("name: loop\nagents:\n  a: {}\n  b: {}\ngraph:\n  - a -> b\n"
                     "  - b -> a: {unless: DONE, max_rounds: 5000}\noutput: b\n")
    proc = validate(graph)
    assert proc.returncode == 2 and "max_rounds=5000 is above the maximum of 100" in proc.stderr


def test_a_graph_past_its_recursion_limit_is_a_clear_error():
    method = load_method("llm_debate", agents=2, rounds=3)
    method.recursion_limit = 3
    with pytest.raises(RunawayGraphError, match=r"system 'llm_debate' took more than 3 graph steps without "
                                                r"finishing \(task \w+, \d+ model calls made\)"):
        asyncio.run(method.solve("Is 91 prime?", pool=ModelPool.scripted(["No: 91 = 7 * 13."])))


def test_a_megabyte_value_is_not_echoed_whole(tmp_path):
    path = tmp_path / "debate.yaml"
    path.write_text("name: debate\nmethod: llm_debate\nparams:\n  rounds: " + "x" * 1_000_000 + "\n")
    proc = validate(path)
    assert proc.returncode == 2 and f"{path}:4: params.rounds" in proc.stderr
    assert len(proc.stderr) < 3000 and "more characters]" in proc.stderr
    path.write_text("name: debate\nmethod: llm_debate\n")  # the same through --set (an argument < 128 KiB)
    proc = validate(path, "--set", "rounds=" + "x" * 100_000)
    assert proc.returncode == 2
    assert len(proc.stderr) < 3000 and "more characters]" in proc.stderr
    proc = validate(path, "--set", "rounds=" + "9" * 100_000)  # an integer Python will not even convert
    assert proc.returncode == 2 and "--set rounds: <top>: cannot read a value: Exceeds the limit" in proc.stderr
