"""Task generators: fresh, exactly-checkable problems made from a seed.

Three families, each deterministic in its seed (same seed → identical tasks, different seeds →
different tasks) and each with a reference answer computed by an exact solver:

- `arithmetic`: multi-step word problems with integer answers;
- `knapsack`: 0/1 knapsack with 3–8 items, answered by dynamic programming (`knapsack_optimum`);
- `assignment`: n×n worker/job cost matrices (6–15), answered by the Hungarian algorithm
  (`assignment_optimum`, SciPy) and cross-checkable by `assignment_optimum_bruteforce` /
  `assignment_optimum_dp` for small n.

Every generator draws from its own `random.Random`; the global RNG is never touched. Each is
registered as a generator dataset (`load_dataset("knapsack", n=10, seed=1)`).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence

from maslab.bench.datasets import register_dataset
from maslab.task import Task

__all__ = [
    "ANSWER_FORMAT",
    "arithmetic",
    "assignment",
    "assignment_optimum",
    "assignment_optimum_bruteforce",
    "assignment_optimum_dp",
    "knapsack",
    "knapsack_bruteforce",
    "knapsack_optimum",
]

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


# ---------------------------------------------------------------------------------------------
# 0/1 knapsack


def knapsack_optimum(weights: Sequence[int], values: Sequence[int], capacity: int) -> int:
    """The best total value of a 0/1 knapsack, by dynamic programming over capacities (O(n·C))."""
    if len(weights) != len(values):
        raise ValueError("weights and values differ in length")
    if capacity < 0 or any(w < 0 for w in weights):
        raise ValueError("negative capacity or weight")
    best = [0] * (capacity + 1)
    for w, v in zip(weights, values, strict=True):
        for c in range(capacity, w - 1, -1):
            cand = best[c - w] + v
            if cand > best[c]:
                best[c] = cand
    return best[capacity]


def knapsack_bruteforce(weights: Sequence[int], values: Sequence[int], capacity: int) -> int:
    """The same optimum by enumerating every subset (2^n; for cross-checks on small n)."""
    best = 0
    for mask in range(1 << len(weights)):
        w = sum(weights[i] for i in range(len(weights)) if mask >> i & 1)
        if w <= capacity:
            best = max(best, sum(values[i] for i in range(len(values)) if mask >> i & 1))
    return best


def _knapsack_selection(weights: Sequence[int], values: Sequence[int], capacity: int) -> list[int]:
    """One optimal item set (1-based item numbers), recovered from the full DP table."""
    n = len(weights)
    table = [[0] * (capacity + 1) for _ in range(n + 1)]
    for i in range(1, n + 1):
        w, v = weights[i - 1], values[i - 1]
        for c in range(capacity + 1):
            table[i][c] = table[i - 1][c]
            if w <= c and table[i - 1][c - w] + v > table[i][c]:
                table[i][c] = table[i - 1][c - w] + v
    chosen, c = [], capacity
    for i in range(n, 0, -1):
        if table[i][c] != table[i - 1][c]:
            chosen.append(i)
            c -= weights[i - 1]
    return sorted(chosen)


@register_dataset("knapsack", kind="generator", options=("min_items", "max_items"))
def knapsack(n: int = 20, seed: int = 0, *, min_items: int = 3, max_items: int = 8) -> list[Task]:
    """`n` 0/1 knapsack problems with `min_items`–`max_items` items; answer = optimal total value."""
    if not 1 <= min_items <= max_items:
        raise ValueError("need 1 <= min_items <= max_items")
    rng = _rng("knapsack", seed)
    tasks = []
    for i in range(n):
        k = rng.randint(min_items, max_items)
        weights = [rng.randint(1, 20) for _ in range(k)]
        values = [rng.randint(1, 60) for _ in range(k)]
        capacity = max(max(weights), int(sum(weights) * rng.uniform(0.35, 0.65)))
        optimum = knapsack_optimum(weights, values, capacity)
        lines = [f"- Item {j + 1}: weight {w}, value {v}" for j, (w, v) in enumerate(zip(weights, values, strict=True))]
        question = (
            f"A backpack can carry a total weight of at most {capacity}. These items are available, "
            "one of each:\n"
            + "\n".join(lines)
            + "\n\nChoose a set of items whose total weight is at most "
            f"{capacity} and whose total value is as large as possible. Each item is either taken "
            "whole or left behind. What is the largest total value you can carry?\n\n"
            + ANSWER_FORMAT
        )
        tasks.append(
            Task(
                id=f"knapsack-{seed}-{i}",
                question=question,
                answer=str(optimum),
                domain="optimization",
                metadata={
                    "scorer": "numeric",
                    "generator": "knapsack",
                    "seed": seed,
                    "weights": weights,
                    "values": values,
                    "capacity": capacity,
                    "best_items": _knapsack_selection(weights, values, capacity),
                },
            )
        )
    return tasks


# ---------------------------------------------------------------------------------------------
# task assignment


def assignment_optimum(cost: Sequence[Sequence[int]]) -> int:
    """The minimal total cost of a one-to-one worker→job assignment (SciPy's Hungarian solver)."""
    import numpy as np
    from scipy.optimize import linear_sum_assignment

    matrix = np.asarray(cost, dtype=np.int64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError("cost must be a square matrix")
    rows, cols = linear_sum_assignment(matrix)
    return int(matrix[rows, cols].sum())


def assignment_optimum_bruteforce(cost: Sequence[Sequence[int]]) -> int:
    """The same optimum by trying every permutation (n!; for cross-checks with n ≤ 8)."""
    n = len(cost)
    return min(sum(cost[i][p[i]] for i in range(n)) for p in itertools.permutations(range(n)))


def assignment_optimum_dp(cost: Sequence[Sequence[int]]) -> int:
    """The same optimum by dynamic programming over subsets of jobs (O(n·2^n))."""
    n = len(cost)
    inf = float("inf")
    best: list[float] = [inf] * (1 << n)
    best[0] = 0
    for mask in range(1 << n):
        if best[mask] == inf:
            continue
        worker = mask.bit_count()  # workers are assigned in order 0, 1, …
        if worker == n:
            continue
        for job in range(n):
            if not mask >> job & 1:
                nxt = mask | 1 << job
                cand = best[mask] + cost[worker][job]
                if cand < best[nxt]:
                    best[nxt] = cand
    return int(best[(1 << n) - 1])


def _assignment_pairs(cost: Sequence[Sequence[int]]) -> list[list[int]]:
    import numpy as np
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(np.asarray(cost))
    return [[int(r) + 1, int(c) + 1] for r, c in zip(rows, cols, strict=True)]


@register_dataset("assignment", kind="generator", options=("min_size", "max_size"))
def assignment(n: int = 20, seed: int = 0, *, min_size: int = 6, max_size: int = 15) -> list[Task]:
    """`n` assignment problems, each an s×s cost matrix with s in `min_size`–`max_size`."""
    if not 1 <= min_size <= max_size:
        raise ValueError("need 1 <= min_size <= max_size")
    rng = _rng("assignment", seed)
    tasks = []
    for i in range(n):
        size = rng.randint(min_size, max_size)
        cost = [[rng.randint(1, 99) for _ in range(size)] for _ in range(size)]
        optimum = assignment_optimum(cost)
        width = 4
        header = "          " + "".join(f"J{j + 1:<{width - 1}}" for j in range(size))
        rows = [f"Worker {w + 1:<3}" + "".join(f"{c:<{width}}" for c in cost[w]) for w in range(size)]
        question = (
            f"There are {size} workers (Worker 1 to Worker {size}) and {size} jobs (J1 to J{size}). The table gives the "
            "cost of each worker doing each job (row = worker, column = job):\n\n"
            + header.rstrip()
            + "\n"
            + "\n".join(r.rstrip() for r in rows)
            + "\n\nAssign every worker exactly one job so that every job is done by exactly one "
            "worker, making the total cost as small as possible. What is the minimal total cost?\n\n"
            + ANSWER_FORMAT
        )
        tasks.append(
            Task(
                id=f"assignment-{seed}-{i}",
                question=question,
                answer=str(optimum),
                domain="optimization",
                metadata={
                    "scorer": "numeric",
                    "generator": "assignment",
                    "seed": seed,
                    "cost": cost,
                    "size": size,
                    "best_assignment": _assignment_pairs(cost),
                },
            )
        )
    return tasks

