"""The arithmetic generator: determinism per seed, answers that follow their steps. (The knapsack and
assignment generators and their oracles are the KtR benchmark's: tests/systems/test_ktr_*.py.)"""

from __future__ import annotations

import random
import re

import pytest

from maslab.answers import extract_number
from maslab.bench.generated import ANSWER_FORMAT, arithmetic

FAMILIES = [arithmetic]


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

