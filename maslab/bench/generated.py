"""Task generator `arithmetic`: fresh, exactly-checkable word problems made from a seed.

Multi-step word problems with integer answers, deterministic in the seed (same seed → identical
tasks, different seeds → different tasks), each answer computed from its recorded steps. The
generator draws from its own `random.Random`; the global RNG is never touched. It is registered as
a generator dataset (`load_dataset("arithmetic", n=10, seed=1)`). The knapsack and assignment
generators are the KtR benchmark's (`maslab.bench.ktr`).
"""

from __future__ import annotations

import random

from maslab.bench.datasets import register_dataset
from maslab.task import Task

__all__ = ["ANSWER_FORMAT", "arithmetic"]

ANSWER_FORMAT = "Give the final answer as a single integer after ####, for example: #### 42"


def _rng(family: str, seed: int) -> random.Random:
    # string seeds hash through SHA-512 in CPython: stable across runs and PYTHONHASHSEED
    return random.Random(f"maslab-{family}-{seed}")


# ---------------------------------------------------------------------------------------------
# arithmetic word problems

_NAMES = ["Ava", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kemi", "Liam"]
_THINGS = [("marbles", "bags"), ("stickers", "sheets"), ("pencils", "boxes"), ("cookies", "trays"),
           ("stamps", "album pages"), ("beads", "jars"), ("cards", "packs")]


def _arithmetic_one(rng: random.Random) -> tuple[str, int, list[str]]:
    """One word problem: a starting amount and 2–4 operations, every intermediate a positive integer."""
    name = rng.choice(_NAMES)
    thing, container = rng.choice(_THINGS)
    per = rng.randint(3, 12)
    count = rng.randint(2, 9)
    value = per * count
    sentences = [f"{name} has {count} {container} of {thing}, each holding {per} {thing}."]
    steps = [f"{count} * {per} = {value}"]
    target = rng.randint(2, 4)
    ops = rng.sample(["buy", "give", "double", "share", "earn", "lose"], k=6)
    friend = rng.choice([n for n in _NAMES if n != name])
    for op in ops:
        if len(steps) > target:
            break
        if op == "buy":
            k, p = rng.randint(2, 5), rng.randint(2, 10)
            sentences.append(f"Then {name} buys {k} more packs with {p} {thing} in each pack.")
            steps.append(f"{value} + {k} * {p} = {value + k * p}")
            value += k * p
        elif op == "give" and value > 1:
            g = rng.randint(1, value - 1)
            sentences.append(f"{name} gives {g} {thing} to {friend}.")
            steps.append(f"{value} - {g} = {value - g}")
            value -= g
        elif op == "double" and value <= 500:
            m = rng.choice([2, 3])
            word = {2: "doubles", 3: "triples"}[m]
            sentences.append(f"A game {word} the number of {thing} {name} has.")
            steps.append(f"{value} * {m} = {value * m}")
            value *= m
        elif op == "share":
            divisors = [d for d in range(2, 7) if value % d == 0 and value // d > 0]
            if divisors:
                d = rng.choice(divisors)
                sentences.append(
                    f"{name} splits all the {thing} equally into {d} groups and keeps just one group."
                )
                steps.append(f"{value} / {d} = {value // d}")
                value //= d
        elif op == "earn":
            k = rng.randint(2, 6)
            each = rng.randint(2, 5)
            sentences.append(f"Over the next {k} days, {name} wins {each} {thing} per day.")
            steps.append(f"{value} + {k} * {each} = {value + k * each}")
            value += k * each
        elif op == "lose" and value > 2:
            lost = rng.randint(1, min(value - 1, 9))
            sentences.append(f"Sadly, {name} loses {lost} {thing} on the way home.")
            steps.append(f"{value} - {lost} = {value - lost}")
            value -= lost
    sentences.append(f"How many {thing} does {name} have now?")
    return " ".join(sentences), value, steps


@register_dataset("arithmetic", kind="generator")
def arithmetic(n: int = 20, seed: int = 0) -> list[Task]:
    """`n` multi-step arithmetic word problems with integer answers."""
    rng = _rng("arithmetic", seed)
    tasks = []
    for i in range(n):
        story, value, steps = _arithmetic_one(rng)
        tasks.append(
            Task(
                id=f"arithmetic-{seed}-{i}",
                question=f"{story}\n\n{ANSWER_FORMAT}",
                answer=str(value),
                domain="math",
                metadata={"scorer": "numeric", "generator": "arithmetic", "seed": seed, "steps": steps},
            )
        )
    return tasks
