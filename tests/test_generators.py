"""Generators: determinism per seed, exact solvers cross-checked against brute force."""

from __future__ import annotations

import random
import re

import pytest

from maslab.answers import extract_number
from maslab.bench.generated import (
    ANSWER_FORMAT,
    arithmetic,
    assignment,
    assignment_optimum,
    assignment_optimum_bruteforce,
    assignment_optimum_dp,
    knapsack,
    knapsack_bruteforce,
    knapsack_optimum,
)

FAMILIES = [arithmetic, knapsack, assignment]


@pytest.mark.parametrize("gen", FAMILIES, ids=lambda g: g.__name__)
def test_same_seed_same_tasks_different_seed_different(gen):
    a, b, c = gen(n=8, seed=42), gen(n=8, seed=42), gen(n=8, seed=43)
    assert [t.model_dump() for t in a] == [t.model_dump() for t in b]
    assert [t.question for t in a] != [t.question for t in c]
    assert len({t.id for t in a + c}) == 16  # ids are unique across seeds too
    assert len({t.question for t in a}) == 8


@pytest.mark.parametrize("gen", FAMILIES, ids=lambda g: g.__name__)
def test_questions_state_the_answer_format(gen):
    for t in gen(n=5, seed=1):
        assert ANSWER_FORMAT in t.question
        assert t.metadata["scorer"] == "numeric"
        assert re.fullmatch(r"-?\d+", t.answer)
        # the format the question asks for is one the numeric extractor reads back
        assert extract_number(f"reasoning ...\n#### {t.answer}") == t.answer


def test_generators_leave_global_rng_alone():
    random.seed(123)
    expected = random.random()
    random.seed(123)
    arithmetic(n=3, seed=0)
    knapsack(n=3, seed=0)
    assignment(n=2, seed=0, max_size=7)
    assert random.random() == expected


def test_arithmetic_answer_follows_the_steps():
    for t in arithmetic(n=40, seed=5):
        steps = t.metadata["steps"]
        assert 3 <= len(steps) <= 5
        value = None
        for step in steps:
            lhs, rhs = step.split(" = ")
            nums = [int(x) for x in re.findall(r"\d+", lhs)]
            if value is not None:
                assert nums[0] == value  # each step starts from the previous result
            if "/" in lhs:
                assert nums[0] % nums[1] == 0
            value = int(rhs)
            assert value > 0
        assert t.answer == str(value)
        for number in re.findall(r"\d+", t.question.split("\n\n")[0]):
            assert int(number) > 0


def test_knapsack_shape_and_metadata():
    for t in knapsack(n=30, seed=2):
        w, v, cap = t.metadata["weights"], t.metadata["values"], t.metadata["capacity"]
        assert 3 <= len(w) <= 8 and len(w) == len(v)
        assert f"at most {cap}" in t.question
        for j, (wj, vj) in enumerate(zip(w, v, strict=True)):
            assert f"Item {j + 1}: weight {wj}, value {vj}" in t.question
        best = t.metadata["best_items"]
        assert sum(w[i - 1] for i in best) <= cap
        assert sum(v[i - 1] for i in best) == int(t.answer)


def test_knapsack_dp_matches_brute_force():
    for t in knapsack(n=60, seed=9):
        m = t.metadata
        assert int(t.answer) == knapsack_bruteforce(m["weights"], m["values"], m["capacity"])
    rng = random.Random(0)
    for _ in range(200):
        k = rng.randint(0, 10)
        w = [rng.randint(0, 15) for _ in range(k)]
        v = [rng.randint(0, 30) for _ in range(k)]
        cap = rng.randint(0, 40)
        assert knapsack_optimum(w, v, cap) == knapsack_bruteforce(w, v, cap)


def test_knapsack_known_instance_and_bad_input():
    # classic: capacity 50, take items 2 and 3 for 220
    assert knapsack_optimum([10, 20, 30], [60, 100, 120], 50) == 220
    with pytest.raises(ValueError):
        knapsack_optimum([1, 2], [1], 3)


def test_assignment_shape_and_metadata():
    sizes = set()
    for t in assignment(n=25, seed=4):
        cost, size = t.metadata["cost"], t.metadata["size"]
        sizes.add(size)
        assert 6 <= size <= 15 and len(cost) == size and all(len(r) == size for r in cost)
        pairs = t.metadata["best_assignment"]
        assert sorted(p[0] for p in pairs) == sorted(p[1] for p in pairs) == list(range(1, size + 1))
        assert sum(cost[r - 1][c - 1] for r, c in pairs) == int(t.answer)
        assert f"Worker {size}" in t.question
    assert len(sizes) > 3


def test_assignment_scipy_matches_brute_force_small_n():
    tasks = assignment(n=12, seed=8, min_size=6, max_size=8)
    assert {t.metadata["size"] for t in tasks} <= {6, 7, 8}
    for t in tasks:
        cost = t.metadata["cost"]
        assert int(t.answer) == assignment_optimum_bruteforce(cost) == assignment_optimum_dp(cost)


def test_assignment_dp_matches_scipy_on_larger_and_random_matrices():
    for t in assignment(n=3, seed=1, min_size=10, max_size=12):
        assert assignment_optimum_dp(t.metadata["cost"]) == int(t.answer)
    rng = random.Random(1)
    for _ in range(50):
        n = rng.randint(1, 6)
        cost = [[rng.randint(-5, 20) for _ in range(n)] for _ in range(n)]
        assert assignment_optimum(cost) == assignment_optimum_bruteforce(cost) == assignment_optimum_dp(cost)
    with pytest.raises(ValueError):
        assignment_optimum([[1, 2, 3], [4, 5, 6]])
