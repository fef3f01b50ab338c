"""ktr_knapsack — Know-The-Ropes' knapsack blueprint (arXiv 2505.16979; spec §3 and "must show").

Unit tests of the oracle, the instances and the exact step functions use no model. System tests run the
leaves on scripted models (`ModelPool.scripted`): replies are the exact step output computed from the typed
input each agent received, or a known fault — right for checking the controller's orchestration, the
contracts, the trace and the per-agent accounting. The last test runs both blueprints end to end on the
embedded SmolLM2 (accuracy not asserted).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json

import pytest

from maslab.agents.ktr import knapsack as K
from maslab.agents.ktr.design import diagnose, finetune_data
from maslab.bench.datasets import load_dataset
from maslab.bench.ktr.instances import (
    KNAPSACK_SIZES,
    knapsack_bruteforce,
    knapsack_instance,
    knapsack_optimum,
    knapsack_selection,
)
from maslab.bench.scorers import get_scorer
from maslab.bench.stats import wilson_interval
from maslab.blueprint import ISOLATED_SUFFIX, Controller
from maslab.method import load_method
from maslab.models import ModelPool
from maslab.task import Solution
from tests.systems.scripts import Script


def S(items, weight, value):  # noqa: N802 - a state, as the spec writes it
    return K.PackState(items=items, weight=weight, value=value)


def leaf_of(req) -> str:
    return req.role.removesuffix(ISOLATED_SUFFIX)


def exact(req, blueprint=K.BLUEPRINT) -> str:
    task = blueprint.task(leaf_of(req))
    return task.solve(task.input.model_validate_json(req.messages[1].text)).model_dump_json()


# --------------------------------------------------------------------------- oracle and instances


def test_dp_oracle_equals_brute_force_on_every_instance_up_to_8_items_over_1000_seeds():
    checked = 0
    for seed in range(1000):
        for size in KNAPSACK_SIZES:
            inst = knapsack_instance(size, 0, seed)
            w, v, c = inst["weights"], inst["values"], inst["capacity"]
            best = knapsack_optimum(w, v, c)
            assert best == knapsack_bruteforce(w, v, c), (seed, size)
            chosen = knapsack_selection(w, v, c)
            assert sum(w[i - 1] for i in chosen) <= c and sum(v[i - 1] for i in chosen) == best
            checked += 1
    assert checked == 6000


def test_dp_oracle_agrees_with_or_tools():
    pywrapknapsack = pytest.importorskip("ortools.algorithms.python.knapsack_solver")
    for seed in range(100):
        for size in KNAPSACK_SIZES:
            inst = knapsack_instance(size, seed, 7)
            solver = pywrapknapsack.KnapsackSolver(
                pywrapknapsack.SolverType.KNAPSACK_DYNAMIC_PROGRAMMING_SOLVER, "ktr")
            solver.init(inst["values"], [inst["weights"]], [inst["capacity"]])
            assert solver.solve() == knapsack_optimum(inst["weights"], inst["values"], inst["capacity"])


def test_instances_follow_the_spec_and_are_identical_per_size_index_seed_and_differ_otherwise():
    a = knapsack_instance(5, 3, 0)
    assert a == knapsack_instance(5, 3, 0)
    others = [knapsack_instance(5, 4, 0), knapsack_instance(5, 3, 1), knapsack_instance(6, 3, 0),
              knapsack_instance(5, 3, 0, split="train")]
    assert all(o != a for o in others)
    tasks = load_dataset("knapsack", n=600, seed=2)
    assert {t.metadata["size"] for t in tasks} == set(range(3, 9))
    assert all(sum(t.metadata["size"] == s for t in tasks) == 100 for s in range(3, 9))  # 100 per size
    for t in tasks:
        inst = t.metadata["instance"]
        assert len(inst["weights"]) == t.metadata["size"] == len(inst["values"])
        assert all(1 <= w <= 20 for w in inst["weights"]) and all(1 <= v <= 50 for v in inst["values"])
        assert inst["capacity"] == sum(inst["weights"]) // 2
        assert t.answer == str(t.metadata["optimum"]) and t.metadata["scorer"] == "knapsack"
    # a task is its (size, index, seed): the same whatever else is generated with it
    small = load_dataset("knapsack", n=4, seed=2, sizes=[3, 4])
    assert [t.model_dump() for t in small] == [t.model_dump() for t in tasks if t.id in {s.id for s in small}]
    assert [t.question for t in load_dataset("knapsack", n=6, seed=3)] != [t.question for t in tasks[:6]]


async def test_scorer_needs_a_feasible_item_set_of_optimal_value():
    (task,) = load_dataset("knapsack", n=1, seed=0, sizes=[3])  # w [18, 5, 1], v [29, 13, 48], C 12
    scorer = get_scorer("knapsack")

    async def score(answer):
        return await scorer.score(task, Solution(answer=answer))

    assert (await score('So I pack {"items": [3, 2], "value": 61}')).correct
    assert (await score('{"items": [2, 3], "value": 1}')).correct  # the value is recomputed from the items
    wrong = await score('{"items": [1, 3], "value": 77}')  # weight 19 > 12
    assert not wrong.correct and wrong.detail["feasible"] is False
    assert not (await score('{"items": [3], "value": 48}')).correct  # feasible, not optimal
    for bad in ("61", '{"items": [4]}', '{"items": [2, 2]}', '{"items": "2,3"}'):
        result = await score(bad)
        assert not result.correct and result.detail["reason"] and result.detail["size"] == 3


# --------------------------------------------------------------------------- the exact step functions


def test_exact_step_controller_solves_every_spec_instance():
    """All leaves replaced by their exact step functions: 100 % on 100 instances of each size 3–8."""
    scorer = get_scorer("knapsack")

    async def run_all():
        tasks = load_dataset("knapsack", n=600, seed=0)
        results = []
        for t in tasks:
            out = await Controller.exact(K.BLUEPRINT).run(K.BLUEPRINT.instance(t))
            results.append((await scorer.score(t, Solution(answer=out.model_dump_json()))).correct)
        return results

    results = asyncio.run(run_all())
    assert len(results) == 600 and all(results)


def test_trimmer_removes_overweight_and_dominated_states_and_collapses_equal_ones():
    states = [S([], 0, 0), S([1], 5, 10), S([2], 7, 9),  # [2] is dominated by [1]
              S([3], 12, 30), S([1, 2], 12, 19),  # [1, 2] is dominated by [3] (same weight, less value)
              S([1, 3], 17, 40),  # over the capacity
              S([2, 4], 9, 15), S([1, 5], 9, 15)]  # equal (W, V): [1, 5] comes first
    out = K.trim(K.TrimIn(states=states, capacity=15))
    assert out.states == [S([], 0, 0), S([1], 5, 10), S([1, 5], 9, 15), S([3], 12, 30)]
    for perm in itertools.islice(itertools.permutations(states), 0, 5000, 97):  # the tie rule ignores order
        assert K.trim(K.TrimIn(states=list(perm), capacity=15)) == out
    assert K.TRIMMER.check(K.TrimIn(states=states, capacity=15), K.States(states=list(reversed(out.states))))
    kept_dominated = K.States(states=[*out.states, S([2], 7, 9)])
    assert not K.TRIMMER.check(K.TrimIn(states=states, capacity=15), kept_dominated)


def test_expander_adds_the_item_to_every_state_and_selector_breaks_ties_by_weight_then_items():
    grown = K.expand(K.ExpandIn(states=[S([], 0, 0), S([1], 4, 7)], item=K.Item(number=2, weight=3, value=5)))
    assert grown.states == [S([], 0, 0), S([1], 4, 7), S([2], 3, 5), S([1, 2], 7, 12)]
    assert K.EXPANDER.check(K.ExpandIn(states=[S([], 0, 0)], item=K.Item(number=1, weight=1, value=1)),
                            K.States(states=[S([1], 1, 1), S([], 0, 0)]))  # order does not matter
    choice = K.select(K.SelectIn(states=[S([3], 9, 20), S([1, 2], 8, 20), S([4], 8, 20), S([5], 2, 19)]))
    assert choice == K.Choice(items=[1, 2], value=20)


# --------------------------------------------------------------------------- the system on scripted leaves


async def test_blueprint_on_exact_scripted_leaves_answers_optimally_in_2n_plus_1_calls():
    task = load_dataset("knapsack", n=1, seed=0, sizes=[5])[0]
    script = Script(exact)
    sol = await load_method("ktr_knapsack").solve(task, pool=ModelPool.scripted(script))
    assert (await get_scorer("knapsack").score(task, sol)).correct
    assert sol.usage.calls == 11 and [r.role for r in script.requests[:3]] == ["expander", "trimmer", "expander"]
    record = sol.metadata["blueprint"]
    assert record["failure"] is None and all(s["holds"] for s in record["steps"])
    assert record["reconstructed"] and record["isolated"] is None


async def test_each_agent_context_holds_only_its_own_typed_input():
    """Trace check: the Expander's prose never reaches another agent; every user message is exactly the
    JSON of the agent's typed input, re-serialised by the controller."""
    task = load_dataset("knapsack", n=1, seed=1, sizes=[4])[0]

    def chatty(req):
        marker = f"EXPANDER-NOTE-{len(req.prompt)}" if req.role == "expander" else ""
        return f"{marker} here you go: {exact(req)}"

    sol = await load_method("ktr_knapsack").solve(task, pool=ModelPool.scripted(chatty))
    inputs = {"expander": K.ExpandIn, "trimmer": K.TrimIn, "selector": K.SelectIn}
    for step in sol.messages:
        assert [m.role for m in step.messages] == ["system", "user"]
        user = step.messages[1].text
        assert user == inputs[step.agent].model_validate_json(user).model_dump_json()
        assert step.messages[0].text.startswith(K.PROMPTS[step.agent])
        if step.agent != "expander":
            assert "EXPANDER-NOTE" not in "".join(m.text for m in step.messages)
    assert any("EXPANDER-NOTE" in s.reply.text for s in sol.messages)


async def test_finetuned_trimmer_changes_only_the_trimmers_alias_in_the_trace():
    task = load_dataset("knapsack", n=1, seed=0, sizes=[4])[0]
    pool = ModelPool.scripted(exact, "base", "trimmer-ft")
    plain = await load_method("ktr_knapsack", model="base").solve(task, pool=pool)
    tuned = await load_method("ktr_knapsack", model="base",
                              augmentation={"trimmer": "finetuned(trimmer-ft)"}).solve(task, pool=pool)
    aliases = lambda sol: [(s.agent, s.alias) for s in sol.messages]  # noqa: E731
    assert [a for a, _ in aliases(plain)] == [a for a, _ in aliases(tuned)]
    assert {a: al for a, al in aliases(tuned)} == {"expander": "base", "trimmer": "trimmer-ft", "selector": "base"}
    assert {a: al for a, al in aliases(plain)} == {"expander": "base", "trimmer": "base", "selector": "base"}
    assert [s.messages for s in plain.messages] == [s.messages for s in tuned.messages]
    assert tuned.metadata["blueprint"]["leaves"]["trimmer"] == {"alias": "trimmer-ft",
                                                                "augmentation": "finetuned(trimmer-ft)"}
    assert tuned.answer == plain.answer


async def test_a_faulty_trimmer_lowers_only_its_own_isolated_accuracy():
    """The Trimmer keeps one dominated state whenever its input has one (a fault that never changes the
    final answer); isolated accuracy drops for the Trimmer alone."""

    def faulty(req):
        if leaf_of(req) != "trimmer":
            return exact(req)
        i = K.TrimIn.model_validate_json(req.prompt)
        out = K.trim(i)
        dominated = [s for s in i.states if s.weight <= i.capacity and s not in out.states
                     and not any(s.weight == t.weight and s.value == t.value for t in out.states)]
        return K.States(states=[*out.states, *dominated[:1]]).model_dump_json()

    tasks = load_dataset("knapsack", n=12, seed=4, sizes=[4, 5, 6])
    method = load_method("ktr_knapsack", isolated=True)
    rows = []
    for t in tasks:
        sol = await method.solve(t, pool=ModelPool.scripted(faulty))
        rows.append(sol.metadata["blueprint"])
    from maslab.blueprint import BlueprintRecord, agent_accuracy

    acc = {a.leaf: a for a in agent_accuracy(BlueprintRecord.model_validate(r) for r in rows)}
    assert acc["trimmer"].isolated < 1.0
    assert acc["expander"].isolated == 1.0 and acc["selector"].isolated == 1.0
    assert acc["expander"].propagated == 1.0 and acc["selector"].propagated == 1.0
    assert agent_accuracy(BlueprintRecord.model_validate(r) for r in rows)[0].leaf == "trimmer"


async def test_malformed_json_is_retried_then_a_contract_violation_scores_the_instance_wrong():
    task = load_dataset("knapsack", n=1, seed=0, sizes=[3])[0]
    script = Script(lambda req: "I would pack the light ones." if req.role == "trimmer" else exact(req))
    sol = await load_method("ktr_knapsack", contract_retries=2).solve(task, pool=ModelPool.scripted(script))
    assert [r.role for r in script.requests] == ["expander", "trimmer", "trimmer", "trimmer"]
    assert "no JSON object" in script.requests[-1].prompt
    failure = sol.metadata["blueprint"]["failure"]
    assert failure["kind"] == "contract_violation" and failure["leaf"] == "trimmer" and failure["attempts"] == 3
    assert sol.answer.startswith("[contract_violation]")
    assert not (await get_scorer("knapsack").score(task, sol)).correct


# --------------------------------------------------------------------------- the sweep and the design loop


def _flip(req, salt: str) -> float:
    """A deterministic draw in [0, 1) per (agent input, salt): the same input always errs alike."""
    return int(hashlib.sha256(f"{salt}|{req.messages[1].text}".encode()).hexdigest()[:12], 16) / 16 ** 12


TRIMMER_VIOLATION_RATE = 0.15  # per Trimmer call: every attempt malformed → ContractViolation
SELECTOR_ERROR_RATE = 0.03  # per Selector call: answers the empty packing (always wrong: the optimum is > 0)


def erring(req) -> str:
    if leaf_of(req) == "trimmer" and _flip(req, "trim") < TRIMMER_VIOLATION_RATE:
        return '{"states": "the usual ones"}'
    if leaf_of(req) == "selector" and _flip(req, "select") < SELECTOR_ERROR_RATE:
        return '{"items": [], "value": 0}'
    return exact(req)


async def test_sweep_with_agents_erring_at_known_rates_reproduces_per_size_accuracy_and_diagnose_names_them(tmp_path):
    """Sizes 3–5, 60 instances each, on scripted leaves that err at known rates: the Trimmer breaks its
    contract on 15 % of inputs, the Selector answers wrong on 3 %. A size-n instance is right iff all n
    Trimmer calls and the Selector call are: expected accuracy 0.85ⁿ · 0.97, inside each size's 95 %
    Wilson interval. Violations score wrong, the sweep finishes every row, and `diagnose` ranks the
    Trimmer first (isolated ≈ 85 %), then the Selector (≈ 97 %)."""
    from maslab.agents.ktr.cli import render
    from maslab.bench.store import ResultStore
    from maslab.bench.sweep import DatasetEntry, MethodEntry, Sweep, run_sweep

    per_size = 60
    sweep = Sweep(name="ktr-known-rates", methods=[MethodEntry(method="ktr_knapsack", params={"isolated": True})],
                  datasets=[DatasetEntry(name=f"knapsack-{n}", generator="knapsack", n=per_size,
                                         options={"sizes": [n]}) for n in (3, 4, 5)],
                  seeds=[0], concurrency=8)
    summary = await run_sweep(sweep, out=tmp_path, pool=ModelPool.scripted(erring), progress=False)
    assert summary.ran == 3 * per_size and summary.failed == 0
    rows = ResultStore.open(tmp_path).rows()
    assert all(r.status == "ok" for r in rows)
    violated = [r for r in rows if r.answer.startswith("[contract_violation]")]
    assert violated and not any(r.correct for r in violated)

    report = diagnose(rows)
    for cell in report.sizes:
        expected = (1 - TRIMMER_VIOLATION_RATE) ** cell.size * (1 - SELECTOR_ERROR_RATE)
        assert cell.n == per_size and cell.ci_low <= expected <= cell.ci_high, (cell.size, cell.accuracy, expected)
        assert (cell.ci_low, cell.ci_high) == wilson_interval(cell.correct, cell.n)
    assert sum(c.violations for c in report.sizes) == len(violated)
    (bp,) = report.blueprints
    assert bp.bottleneck == "trimmer" and [leaf.accuracy.leaf for leaf in bp.leaves] == ["trimmer", "selector",
                                                                                        "expander"]
    trimmer, selector, expander = (leaf.accuracy for leaf in bp.leaves)
    assert abs(trimmer.isolated - 0.85) < 0.05 and abs(selector.isolated - 0.97) < 0.04 and expander.isolated == 1
    assert trimmer.violations == len(violated) and expander.violations == 0
    assert bp.leaves[0].calls > 0 and bp.leaves[0].isolated_calls > 0
    text = "\n".join(str(x) for x in render(report) if isinstance(x, str))
    assert "bottleneck trimmer" in text and "reconstructed" in text


@pytest.mark.parametrize(("file", "system", "generator"), [("ktr.yaml", "ktr_knapsack", "knapsack"),
                                                            ("ktr_assignment.yaml", "ktr_assignment", "assignment")])
def test_the_ktr_sweep_files_compare_single_agents_with_the_blueprint_per_size(file, system, generator):
    from pathlib import Path

    from maslab.bench.sweep import load_sweep

    sweep = load_sweep(Path(__file__).resolve().parents[2] / "workflows" / "sweeps" / file, aliases=["smol"])
    assert {m.method for m in sweep.methods} == {"vanilla", "cot", system}
    sizes = [d.options["sizes"] for d in sweep.datasets]
    assert all(d.generator == generator for d in sweep.datasets) and len(sizes) == 3 == len({tuple(s) for s in sizes})


def test_unknown_generator_options_in_a_sweep_are_located(tmp_path):
    from maslab.bench.sweep import load_sweep
    from maslab.yamlfile import FileErrors

    path = tmp_path / "s.yaml"
    path.write_text("name: s\nmethods: [{method: vanilla}]\ndatasets:\n"
                    "  - {name: k, generator: knapsack, n: 2, options: {size: 3}}\n"
                    "models: {default: m, models: {m: {scripted: ['x']}}}\n")
    with pytest.raises(FileErrors, match=r"s\.yaml:4: datasets\[0\]\.options\.size: generator 'knapsack' has no option"):
        load_sweep(path)


async def test_finetune_data_is_oracle_chat_jsonl_for_the_trimmer_from_instances_disjoint_from_the_test_set(tmp_path):
    method = load_method("ktr_knapsack")
    train = load_dataset("knapsack", n=20, seed=0, sizes=[3, 4], split="train")
    test = load_dataset("knapsack", n=20, seed=0, sizes=[3, 4]) + [train[0]]  # one planted overlap
    export = await finetune_data(method, "trimmer", train, test, tmp_path / "trimmer.jsonl")
    assert export.dropped_overlaps == 1 and export.instances == 19
    rows = [json.loads(line) for line in (tmp_path / "trimmer.jsonl").read_text().splitlines()]
    assert len(rows) == export.examples == sum(t.metadata["size"] for t in train[1:])  # one Trimmer step per item
    system, user, assistant = rows[0]["messages"]
    assert (system["role"], user["role"], assistant["role"]) == ("system", "user", "assistant")
    i = K.TrimIn.model_validate_json(user["content"])
    assert K.States.model_validate_json(assistant["content"]) == K.trim(i)
    # the same messages the controller sends the Trimmer at run time
    script = Script(exact)
    await method.solve(train[1], pool=ModelPool.scripted(script))
    first = next(r for r in script.requests if r.role == "trimmer")
    assert first.system == system["content"] and first.prompt == user["content"]
    with pytest.raises(Exception, match="no leaf 'pruner'"):
        await finetune_data(method, "pruner", train, test, tmp_path / "x.jsonl")


def test_ktr_command_renders_diagnosis_and_writes_finetune_data(tmp_path, capsys):
    from maslab.cli import main

    out = tmp_path / "ft.jsonl"
    assert main(["ktr", "finetune-data", "ktr_knapsack", "trimmer", "--out", str(out), "--n", "6",
                 "--sizes", "3", "--test-n", "6"]) == 0
    assert "18 trimmer examples from 6 train instances" in capsys.readouterr().out
    assert len(out.read_text().splitlines()) == 18
    assert main(["ktr", "diagnose", str(tmp_path / "nothing")]) == 2
    assert "no result store" in capsys.readouterr().err

    from maslab.bench.sweep import DatasetEntry, MethodEntry, Sweep, run_sweep

    sweep = Sweep(name="tiny", methods=[MethodEntry(method="ktr_knapsack", params={"isolated": True})],
                  datasets=[DatasetEntry(name="k", generator="knapsack", n=2, options={"sizes": [3]})])
    asyncio.run(run_sweep(sweep, out=tmp_path / "run", pool=ModelPool.scripted(exact), progress=False))
    assert main(["ktr", "diagnose", str(tmp_path / "run")]) == 0
    shown = capsys.readouterr().out
    assert "Accuracy per size" in shown and "per-agent accuracy over 2 runs" in shown and "bottleneck" in shown


def test_reconstructed_parts_are_labelled_in_methods_docstrings_and_reports(capsys):
    from maslab.agents.ktr import assignment, systems
    from maslab.agents.ktr.design import RECONSTRUCTED_NOTE
    from maslab.bench.ktr import instances
    from maslab.cli import main

    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    for name in ("ktr_knapsack", "ktr_assignment"):
        start = next(k for k, ln in enumerate(lines) if f" {name} " in ln)
        row = itertools.takewhile(lambda ln: not ln.startswith(("├", "└")), lines[start:])
        assert "reconstructed" in " ".join(row)  # the table wraps the citation over several lines
    for module in (K, assignment, instances):
        assert "[reconstructed]" in (module.__doc__ or "")
    assert "reconstructed" in systems.CITATION and "reconstructed" in RECONSTRUCTED_NOTE
    assert K.BLUEPRINT.reconstructed and assignment.BLUEPRINT.reconstructed


# --------------------------------------------------------------------------- the embedded model


@pytest.mark.integration
async def test_both_blueprints_complete_on_the_embedded_model_and_violations_are_counted(embedded_pool, tmp_path):
    """SmolLM2-135M (32-token cap, one contract retry) as every leaf of both blueprints, two small instances
    each: every row finishes (accuracy not asserted) and the report counts the contract violations."""
    from maslab.agents.ktr.cli import render
    from maslab.bench.store import ResultStore
    from maslab.bench.sweep import DatasetEntry, MethodEntry, Sweep, run_sweep

    for method, dataset in (("ktr_knapsack", DatasetEntry(name="knapsack-3", generator="knapsack", n=2,
                                                          options={"sizes": [3]})),
                            ("ktr_assignment", DatasetEntry(name="assignment-6", generator="assignment", n=2,
                                                            options={"sizes": [6]}))):
        sweep = Sweep(name=method, methods=[MethodEntry(method=method, params={"contract_retries": 1})],
                      datasets=[dataset], seeds=[0], concurrency=2)
        await run_sweep(sweep, out=tmp_path / method, pool=embedded_pool, progress=False)
    rows = [r for method in ("ktr_knapsack", "ktr_assignment") for r in ResultStore.open(tmp_path / method).rows()]
    assert len(rows) == 4 and all(r.status == "ok" and r.calls >= 1 for r in rows)
    report = diagnose(rows)
    violations = sum(r.metadata["blueprint"]["failure"] is not None
                     and r.metadata["blueprint"]["failure"]["kind"] == "contract_violation" for r in rows)
    assert sum(c.violations for c in report.sizes) == violations
    assert {b.method for b in report.blueprints} == {"ktr_knapsack", "ktr_assignment"}
    assert any(not isinstance(x, str) for x in render(report))

