"""X-MAS-Design (`maslab.routers.xmas`): role → alias by argmax over an X-MAS-Bench table, with the spec's tie
rules and optional constraints, and the sweep hook that computes an assignment (`{xmas: {...}}`).

Tables are hand-made (`BenchTable` of synthetic cells, so every argmax is known); the sweep runs on scripted
deterministic models (`ModelPool.scripted`), since only the assignment logic is under test here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from maslab.bench.store import ResultStore
from maslab.bench.sweep import load_sweep, run_sweep
from maslab.bench.xmas.table import BenchTable, TableCell
from maslab.errors import ConfigError
from maslab.method import method_class
from maslab.routers.xmas import xmas_assign
from maslab.yamlfile import FileErrors

PROTO = method_class("x_mas_proto").functions
DEBATE = method_class("llm_debate").functions


def table(scores: dict[tuple[str, str, str], float], n: int = 100) -> BenchTable:
    """A hand-made table: {(function, domain, alias): percent of twos} over n items."""
    return BenchTable(cells=[TableCell(function=f, domain=d, alias=a, n=n, score2=round(v * n / 100))
                             for (f, d, a), v in scores.items()])


HAND = table({
    ("plan", "math", "a"): 40, ("plan", "math", "b"): 70, ("plan", "math", "c"): 50,
    ("qa", "math", "a"): 90, ("qa", "math", "b"): 60, ("qa", "math", "c"): 80,
    ("evaluate", "math", "a"): 30, ("evaluate", "math", "b"): 85, ("evaluate", "math", "c"): 40,
    ("revise", "math", "a"): 55, ("revise", "math", "b"): 50, ("revise", "math", "c"): 75,
    ("aggregate", "math", "a"): 20, ("aggregate", "math", "b"): 30, ("aggregate", "math", "c"): 95,
    ("qa", "code", "a"): 10, ("qa", "code", "b"): 99, ("qa", "code", "c"): 50,
})


def test_each_role_gets_the_argmax_of_its_function_in_the_target_domain():
    """Hand-made table: Proto's planner → b (plan 70), solver → a (qa 90), evaluator → b (85), reviser → c
    (75), aggregator → c (95); debate's debaters → a, aggregator → c. In `code`, qa goes to b."""
    proto = xmas_assign(HAND, PROTO, ["a", "b", "c"], "math")
    assert proto.roles == {"planner": "b", "solver": "a", "evaluator": "b", "reviser": "c", "aggregator": "c"}
    assert all(c.rule == "argmax" for c in proto.choices)
    assert next(c for c in proto.choices if c.role == "solver").scores == {"a": 90.0, "b": 60.0, "c": 80.0}
    assert xmas_assign(HAND, DEBATE, ["a", "b", "c"], "math").roles == {"debater": "a", "aggregator": "c"}
    assert xmas_assign(HAND, {"solver": "qa"}, ["a", "b", "c"], "coding").roles == {"solver": "b"}


def test_ties_go_to_the_higher_cross_domain_mean_then_to_candidate_order():
    """Hand-made ties: qa/math a = b = 80, but b's qa mean over domains is higher → b; with equal means too,
    the earlier candidate wins, whichever order the candidates are given in."""
    tied = table({("qa", "math", "a"): 80, ("qa", "math", "b"): 80, ("qa", "code", "a"): 10,
                  ("qa", "code", "b"): 60})
    choice = xmas_assign(tied, {"solver": "qa"}, ["a", "b"], "math").choices[0]
    assert (choice.alias, choice.rule) == ("b", "tie: cross-domain mean")
    flat = table({("qa", "math", "a"): 80, ("qa", "math", "b"): 80})
    assert xmas_assign(flat, {"solver": "qa"}, ["a", "b"], "math").choices[0].alias == "a"
    second = xmas_assign(flat, {"solver": "qa"}, ["b", "a"], "math").choices[0]
    assert (second.alias, second.rule) == ("b", "tie: candidate order")


def test_a_pool_of_one_model_reproduces_the_homogeneous_baseline():
    """Hand-made table: with only qwen-2.5-32b-instruct as candidate every role gets it (X-MAS's shipped
    configs), whatever the other aliases score."""
    t = table({**{(f, "math", "qwen-2.5-32b-instruct"): 10 for f in ("plan", "qa", "evaluate", "revise", "aggregate")},
               **{(f, "math", "better"): 90 for f in ("plan", "qa", "evaluate", "revise", "aggregate")}})
    result = xmas_assign(t, PROTO, ["qwen-2.5-32b-instruct"], "math")
    assert set(result.roles.values()) == {"qwen-2.5-32b-instruct"} and set(result.roles) == set(PROTO)


def test_a_cost_cap_and_the_chatbot_planner_constraint_narrow_the_candidates():
    """Hand-made table: capping cost at 5 drops c (cost 9), so aggregate falls to b; "chatbot planner"
    keeps the reasoner b off the planner, which falls to c — b still evaluates."""
    capped = xmas_assign(HAND, PROTO, ["a", "b", "c"], "math", costs={"a": 1, "b": 2, "c": 9}, cost_cap=5)
    assert capped.excluded == {"c": "cost 9 above the cap 5"}
    assert capped.roles["aggregator"] == "b" and capped.roles["reviser"] == "a"
    chat = xmas_assign(HAND, PROTO, ["a", "b", "c"], "math", chatbot_planner=True, reasoners=["b"])
    assert chat.roles["planner"] == "c" and chat.roles["evaluator"] == "b"
    with pytest.raises(ConfigError, match="every candidate left is a reasoner"):
        xmas_assign(HAND, {"planner": "plan"}, ["b"], "math", chatbot_planner=True, reasoners=["b"])


def test_missing_cells_fall_back_or_fail_with_a_message():
    """Hand-made table without `finance`: the role goes to the best cross-domain mean (recorded as such);
    a function the table lacks is an error naming it; roles without a function are reported."""
    choice = xmas_assign(HAND, {"solver": "qa"}, ["a", "b", "c"], "finance").choices[0]
    assert (choice.alias, choice.rule, choice.score) == ("b", "no domain cell: cross-domain mean", None)
    with pytest.raises(ConfigError, match="no `plan` scores"):
        xmas_assign(table({("qa", "math", "a"): 1}), PROTO, ["a"], "math")
    result = xmas_assign(HAND, {"solver": "qa"}, ["a"], "math", roles=["solver", "helper"])
    assert result.unassigned == ["helper"]
    with pytest.raises(ConfigError, match="unknown X-MAS domain"):
        xmas_assign(HAND, PROTO, ["a"], "astrology")


# ------------------------------------------------------------------------------------------ the sweep hook


def _models(**extra) -> dict:
    return {"default": "a", "models": {**{a: {"scripted": ["The answer is 3."]} for a in "abc"}, **extra}}


def _sweep(tmp_path: Path, assignments: list, models: dict | None = None) -> Path:
    csv_path = tmp_path / "bench.csv"
    csv_path.write_text(HAND.to_csv())
    doc = {"name": "hetero", "models": models or _models(),
           "methods": [{"method": "x_mas_proto"}, {"method": "llm_debate", "params": {"rounds": 1}}],
           "assignments": assignments, "datasets": [{"name": "arith", "generator": "arithmetic", "n": 2}]}
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


async def test_a_sweep_assignment_computed_by_xmas_is_recorded_beside_the_homogeneous_ones(tmp_path):
    """Scripted models a, b, c: `{xmas: {table: bench.csv, domain: math}}` gives each method its argmax roles;
    the store's cells and rows carry them, its meta the reasons; the homogeneous assignment is untouched."""
    path = _sweep(tmp_path, [{"name": "all-a", "model": "a"}, {"xmas": {"table": "bench.csv", "domain": "math"}}])
    sweep = load_sweep(path)
    assert sweep.assignments[1].name == "xmas" and sweep.assignments[1].assigner == "xmas"
    summary = await run_sweep(sweep, out=tmp_path / "out", progress=False)
    assert summary.failed == 0
    store = ResultStore.open(tmp_path / "out")
    cells = {(c["method_label"], c["assignment"]): c["roles"] for c in store.cells()}
    assert cells[("x_mas_proto", "xmas")] == {"planner": "b", "solver": "a", "evaluator": "b", "reviser": "c",
                                              "aggregator": "c"}
    assert cells[("llm_debate", "xmas")] == {"debater": "a", "aggregator": "c"}
    assert cells[("llm_debate", "all-a")] == {}
    rows = store.rows("WHERE assignment='xmas' AND method='llm_debate'")
    assert rows and all(r.roles == {"debater": "a", "aggregator": "c"} for r in rows)
    calls = [json.loads(line) for line in Path(rows[0].trace_path).read_text().splitlines()]
    assert {(c["role"], c["alias"]) for c in calls if c["event"] == "call"} == {("debater", "a"), ("aggregator", "c")}
    meta = store.get_meta("computed_assignments")["xmas|x_mas_proto"]
    assert meta["roles"]["solver"] == "a" and meta["domain"] == "math" and meta["assigner"] == "xmas"
    assert next(c for c in meta["choices"] if c["role"] == "aggregator")["scores"]["c"] == 95.0


async def test_reasoners_come_from_the_models_files_strip_reasoning(tmp_path):
    """Scripted models where b strips an R1 trace: with `chatbot_planner`, Proto's planner avoids b."""
    models = _models(b={"scripted": ["The answer is 3."], "strip_reasoning": "r1"})
    path = _sweep(tmp_path, [{"name": "x", "xmas": {"table": "bench.csv", "domain": "math", "chatbot_planner": True}}],
                  models)
    await run_sweep(load_sweep(path), out=tmp_path / "out", progress=False)
    cells = {c["method_label"]: c["roles"] for c in ResultStore.open(tmp_path / "out").cells()}
    assert cells["x_mas_proto"]["planner"] == "c" and cells["x_mas_proto"]["evaluator"] == "b"


def test_bad_assigner_options_are_located_errors_before_any_call(tmp_path):
    """Validation: a missing table, an unknown option and an unknown candidate are reported at the
    assignment's `xmas` key, with the file and line."""
    path = _sweep(tmp_path, [{"name": "x", "xmas": {"table": "missing_dir", "domain": "math"}},
                             {"name": "y", "xmas": {"table": "bench.csv", "domain": "math", "colour": "red"}},
                             {"name": "z", "xmas": {"table": "bench.csv", "domain": "math", "candidates": ["q"]}}])
    with pytest.raises(FileErrors) as err:
        load_sweep(path)
    text = "\n".join(str(e) for e in err.value.errors)
    assert "assignments[0].xmas" in text and "no X-MAS bench table" in text
    assert "assignments[1].xmas" in text and "colour" in text
    assert "assignments[2].xmas" in text and "not aliases of the models file" in text
    assert str(path) in text


async def test_a_resumed_sweep_keeps_the_roles_it_computed_first(tmp_path):
    """Scripted models: after the first run the bench table changes (c becomes the best solver); `--resume`
    reuses the recorded roles, so rows under one assignment name never mix two assignments; a new sweep
    folder computes afresh. The report lists the computed roles."""
    from maslab.bench.report import write_report

    path = _sweep(tmp_path, [{"xmas": {"table": "bench.csv", "domain": "math"}}])
    sweep = load_sweep(path)
    await run_sweep(sweep, out=tmp_path / "out", progress=False)
    changed = table({**{(c.function, c.domain, c.alias): c.pct2 for c in HAND.cells}, ("qa", "math", "c"): 100})
    (tmp_path / "bench.csv").write_text(changed.to_csv())
    await run_sweep(load_sweep(path), out=tmp_path / "out", resume=True, progress=False)
    roles = {c["method_label"]: c["roles"] for c in ResultStore.open(tmp_path / "out").cells()}
    assert roles["llm_debate"]["debater"] == "a"
    await run_sweep(load_sweep(path), out=tmp_path / "fresh", progress=False)
    fresh = {c["method_label"]: c["roles"] for c in ResultStore.open(tmp_path / "fresh").cells()}
    assert fresh["llm_debate"]["debater"] == "c"
    report = write_report(tmp_path / "out")
    assert "| xmas | llm_debate | xmas | debater → a, aggregator → c |" in report.markdown
