"""ktr_assignment — Know-The-Ropes' Hungarian-algorithm blueprint of six agents (arXiv 2505.16979; spec §4
and "must show").

Unit and property tests of the oracle, the instances and the exact step functions use no model. System
tests run the leaves on scripted models (`ModelPool.scripted`) whose replies are the exact step output
for the typed input each agent received, or a known fault — right for the controller's orchestration:
the loop, its guard, the contracts. The end-to-end run on the embedded model is in test_ktr_knapsack.py
(both blueprints in one test, to start the embedded server's work once).
"""

from __future__ import annotations

import asyncio
import random

import pytest

from maslab.agents.ktr import assignment as A
from maslab.bench.datasets import load_dataset
from maslab.bench.ktr.instances import (
    ASSIGNMENT_SIZES,
    assignment_bruteforce,
    assignment_instance,
    assignment_optimum,
    assignment_solution,
)
from maslab.bench.scorers import get_scorer
from maslab.blueprint import ISOLATED_SUFFIX, Controller
from maslab.method import load_method
from maslab.models import ModelPool
from maslab.task import Solution
from tests.systems.scripts import Script


def exact(req) -> str:
    task = A.BLUEPRINT.task(req.role.removesuffix(ISOLATED_SUFFIX))
    return task.solve(task.input.model_validate_json(req.messages[1].text)).model_dump_json()


def random_matrix(rng: random.Random, n: int, high: int = 100) -> list[list[int]]:
    return [[rng.randint(1, high) for _ in range(n)] for _ in range(n)]


# --------------------------------------------------------------------------- oracle and instances


def test_scipy_oracle_equals_brute_force_permutation_search_up_to_n_7():
    rng = random.Random(0)
    checked = 0
    for n in range(1, 8):
        for _ in range(150):
            cost = random_matrix(rng, n, high=rng.choice([3, 20, 100]))  # few values: many ties
            assert assignment_optimum(cost) == assignment_bruteforce(cost)
            checked += 1
    for seed in range(100):
        for n in (6, 7):  # the benchmark's own instances at the sizes brute force reaches
            cost = assignment_instance(n, 0, seed)["cost"]
            optimum, jobs = assignment_solution(cost)
            assert optimum == assignment_bruteforce(cost) == sum(cost[w][j - 1] for w, j in enumerate(jobs))
            checked += 1
    assert checked == 7 * 150 + 200


def test_scipy_oracle_agrees_with_or_tools():
    lsa = pytest.importorskip("ortools.graph.python.linear_sum_assignment")
    for seed in range(30):
        for n in ASSIGNMENT_SIZES:
            cost = assignment_instance(n, seed, 3)["cost"]
            solver = lsa.SimpleLinearSumAssignment()
            for w in range(n):
                for j in range(n):
                    solver.add_arc_with_cost(w, j, cost[w][j])
            assert solver.solve() == solver.OPTIMAL
            assert solver.optimal_cost() == assignment_optimum(cost)


def test_instances_follow_the_spec_and_are_identical_per_size_index_seed_and_differ_otherwise():
    a = assignment_instance(9, 2, 0)
    assert a == assignment_instance(9, 2, 0)
    assert all(o != a for o in (assignment_instance(9, 3, 0), assignment_instance(9, 2, 1),
                                assignment_instance(10, 2, 0), assignment_instance(9, 2, 0, split="train")))
    tasks = load_dataset("assignment", n=20, seed=5)
    assert [t.metadata["size"] for t in tasks] == [*ASSIGNMENT_SIZES, *ASSIGNMENT_SIZES]
    for t in tasks:
        cost = t.metadata["instance"]["cost"]
        assert len(cost) == t.metadata["size"] and all(1 <= c <= 100 for row in cost for c in row)
        assert t.answer == str(assignment_optimum(cost)) and t.metadata["scorer"] == "assignment"
    assert [t.model_dump() for t in load_dataset("assignment", n=20, seed=5)] == [t.model_dump() for t in tasks]
    assert load_dataset("assignment", n=1, seed=5, sizes=[6])[0].model_dump() == tasks[0].model_dump()


async def test_scorer_needs_a_permutation_of_optimal_cost():
    (task,) = load_dataset("assignment", n=1, seed=0, sizes=[6])
    scorer = get_scorer("assignment")
    best = task.metadata["best_assignment"]
    assert (await scorer.score(task, Solution(answer=f'... {{"assignment": {best}, "cost": 0}}'))).correct
    swapped = [best[1], best[0], *best[2:]]
    assert not (await scorer.score(task, Solution(answer=f'{{"assignment": {swapped}}}'))).correct
    for bad in ('{"assignment": [1, 1, 2, 3, 4, 5]}', '{"assignment": [1, 2, 3]}', '{"assignment": [0, 1, 2, 3, 4, 5]}',
                "the cost is 99"):
        result = await scorer.score(task, Solution(answer=bad))
        assert not result.correct and result.detail["reason"]


# --------------------------------------------------------------------------- the exact step functions


def test_exact_step_controller_solves_every_spec_instance():
    """All six leaves replaced by their exact step functions: 100 % on 100 instances of each size 6–15."""
    scorer = get_scorer("assignment")

    async def run_all():
        results = []
        for t in load_dataset("assignment", n=1000, seed=0):
            out = await Controller.exact(A.BLUEPRINT).run(A.BLUEPRINT.instance(t))
            results.append((await scorer.score(t, Solution(answer=out.model_dump_json()))).correct)
        return results

    results = asyncio.run(run_all())
    assert len(results) == 1000 and all(results)


def test_konig_step_always_returns_as_many_lines_as_the_matching_size():
    """Property test over 3,000 random zero patterns and random maximum matchings: König's construction
    returns exactly |matching| lines, and they cover every zero."""
    rng = random.Random(11)
    for _ in range(3000):
        n = rng.randint(1, 9)
        m = [[rng.choice([0, 0, 1, 2, 5]) if rng.random() < 0.7 else rng.randint(1, 9) for _ in range(n)]
             for _ in range(n)]
        # a random maximum matching: Kuhn's algorithm on shuffled rows and columns
        rows, cols = list(range(n)), list(range(n))
        rng.shuffle(rows)
        rng.shuffle(cols)
        shuffled = [[m[r][c] for c in cols] for r in rows]
        zeros = [(rows[r], cols[c]) for r, c in A.independent_zeros(A.MatrixIn(matrix=shuffled)).zeros]
        assert A.zeros_hold(A.MatrixIn(matrix=m), A.Zeros(zeros=zeros))
        lines = A.konig_cover(A.CoverIn(matrix=m, zeros=zeros))
        assert len(lines.rows) + len(lines.cols) == len(zeros)
        assert all(r in lines.rows or c in lines.cols for r in range(n) for c in range(n) if m[r][c] == 0)


def test_cover_seeker_a_accepts_any_maximum_matching_and_nothing_else():
    m = A.MatrixIn(matrix=[[0, 0, 3], [0, 4, 0], [5, 0, 6]])
    for zeros in ([(0, 0), (1, 2), (2, 1)], [(0, 1), (1, 0)] + [], [(0, 0), (2, 1), (1, 2)]):
        ok = A.COVER_SEEKER_A.check(m, A.Zeros(zeros=zeros))
        assert ok == (len(zeros) == 3)
    assert not A.COVER_SEEKER_A.check(m, A.Zeros(zeros=[(0, 0), (1, 0), (2, 1)]))  # two in column 0
    assert not A.COVER_SEEKER_A.check(m, A.Zeros(zeros=[(0, 2), (1, 0), (2, 1)]))  # (0, 2) is not a zero


def test_reducers_adjuster_and_assigner_follow_the_hungarian_steps():
    c = [[4, 1, 3], [2, 0, 5], [3, 2, 2]]
    rows = A.row_reduce(A.MatrixIn(matrix=c)).matrix
    assert rows == [[3, 0, 2], [2, 0, 5], [1, 0, 0]]
    cols = A.column_reduce(A.MatrixIn(matrix=rows)).matrix
    assert cols == [[2, 0, 2], [1, 0, 5], [0, 0, 0]]
    zeros = A.independent_zeros(A.MatrixIn(matrix=cols)).zeros
    lines = A.konig_cover(A.CoverIn(matrix=cols, zeros=zeros))
    assert len(zeros) == 2 and len(lines.rows) + len(lines.cols) == 2
    adjusted = A.adjust(A.AdjustIn(matrix=cols, rows=[2], cols=[1])).matrix  # δ = 1
    assert adjusted == [[1, 0, 1], [0, 0, 4], [0, 1, 0]]
    result = A.assign(A.AssignIn(matrix=adjusted, cost=c))
    assert result.cost == assignment_optimum(c) == 5
    assert A.ASSIGNER.check(A.AssignIn(matrix=adjusted, cost=c), result)
    assert not A.ASSIGNER.check(A.AssignIn(matrix=adjusted, cost=c), A.Assignment(assignment=result.assignment,
                                                                                   cost=result.cost + 1))


# --------------------------------------------------------------------------- the system on scripted leaves


async def test_six_agents_on_exact_scripted_leaves_answer_optimally():
    task = load_dataset("assignment", n=1, seed=0, sizes=[7])[0]
    script = Script(exact)
    sol = await load_method("ktr_assignment", isolated=True).solve(task, pool=ModelPool.scripted(script))
    assert (await get_scorer("assignment").score(task, sol)).correct
    roles = [r.role for r in script.requests]
    assert roles[:4] == ["row_reducer", "column_reducer", "cover_seeker_a", "cover_seeker_b"]
    assert {r.removesuffix(ISOLATED_SUFFIX) for r in roles} == set(A.BLUEPRINT.tasks)
    record = sol.metadata["blueprint"]
    assert all(s["holds"] for s in record["steps"]) and all(r["correct"] for r in record["isolated"])
    assert len(record["isolated"]) == len(record["steps"])


async def test_a_matrix_of_the_wrong_shape_breaks_the_contract_and_is_retried_with_the_error():
    task = load_dataset("assignment", n=1, seed=0, sizes=[6])[0]

    def short_first(req):
        if req.role == "row_reducer" and len(req.messages) == 2:
            return '{"matrix": [[0, 1, 2, 3, 4, 5]]}'
        return exact(req)

    script = Script(short_first)
    sol = await load_method("ktr_assignment").solve(task, pool=ModelPool.scripted(script))
    assert (await get_scorer("assignment").score(task, sol)).correct
    retry = script.requests[1]
    assert retry.role == "row_reducer" and "square" in retry.prompt
    assert sol.metadata["blueprint"]["steps"][0]["attempts"] == 2


async def test_the_loop_guard_stops_an_adjuster_that_never_adjusts():
    task = load_dataset("assignment", n=1, seed=3, sizes=[6])[0]
    _, steps = await __import__("maslab.blueprint", fromlist=["oracle"]).oracle(A.BLUEPRINT, A.BLUEPRINT.instance(task))
    assert any(s.leaf == "adjuster" for s in steps)  # this instance needs an adjustment

    def lazy(req):
        if req.role == "adjuster":
            return A.MatrixOut(matrix=A.AdjustIn.model_validate_json(req.prompt).matrix).model_dump_json()
        return exact(req)

    script = Script(lazy)
    sol = await load_method("ktr_assignment").solve(task, pool=ModelPool.scripted(script))
    failure = sol.metadata["blueprint"]["failure"]
    assert failure["kind"] == "protocol_guard" and sol.answer.startswith("[protocol_guard]")
    assert sum(r.role == "adjuster" for r in script.requests) == 36  # n² rounds for n = 6
    assert not (await get_scorer("assignment").score(task, sol)).correct
