"""The `parity` benchmark: "Is N even?" — a seeded generator dataset and its `parity` scorer."""

from __future__ import annotations

import random

from maslab.bench.datasets import register_dataset
from maslab.bench.scorers import Score, Scorer, register_scorer
from maslab.task import Task


@register_dataset("parity", kind="generator", default_n=3)
def parity(n: int = 3, seed: int = 0) -> list[Task]:
    """`n` questions "Is N even?" with the answer yes or no."""
    rng = random.Random(f"parity-{seed}")
    numbers = [rng.randint(1, 999) for _ in range(n)]
    return [Task(id=f"parity-{i}", question=f"Is {k} even? Answer yes or no.", answer="yes" if k % 2 == 0 else "no",
                 metadata={"scorer": "parity"}) for i, k in enumerate(numbers)]


@register_scorer("parity")
class ParityScorer(Scorer):
    """Correct when the answer's first word is the reference (yes/no), case-insensitive."""

    async def _score(self, task: Task, answer: str) -> Score:
        words = answer.strip().lower().split()
        got = words[0].strip(".,!") if words else ""
        return Score.of(got == task.answer, got)
