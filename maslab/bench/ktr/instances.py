"""Seeded knapsack and assignment instances with exact oracles ([reconstructed] generators, spec §3–§4).

Each instance has its own RNG, seeded by (family, split, size, index, run seed), so an instance is
the same whatever else is generated with it; `split="train"` draws from a disjoint seed space
(fine-tune data, never the test set). A dataset of `n` tasks over `sizes` takes sizes round-robin:
task k has size ``sizes[k % len(sizes)]`` and index ``k // len(sizes)`` — 100 instances per size,
as in the spec, is ``n = 100 * len(sizes)``.

* **knapsack**: n items, integer weights uniform on 1–20 and values on 1–50, capacity
  ⌊0.5 · Σw⌋; the optimum by dynamic programming over capacities (`knapsack_optimum`).
* **assignment**: an n×n cost matrix, integers uniform on 1–100; the optimum by
  `scipy.optimize.linear_sum_assignment` (`assignment_optimum`).

The brute-force solvers (`knapsack_bruteforce`, `assignment_bruteforce`) are the cross-checks of
the oracles' tests.
"""

from __future__ import annotations

import functools
import itertools
import json
import random
from collections.abc import Sequence
from typing import Any, Literal

from maslab.bench.datasets import register_dataset
from maslab.task import Task

__all__ = [
    "ASSIGNMENT_SIZES",
    "KNAPSACK_SIZES",
    "assignment",
    "assignment_bruteforce",
    "assignment_instance",
    "assignment_optimum",
    "assignment_solution",
    "knapsack",
    "knapsack_bruteforce",
    "knapsack_instance",
    "knapsack_optimum",
    "knapsack_selection",
]

KNAPSACK_SIZES = tuple(range(3, 9))
ASSIGNMENT_SIZES = tuple(range(6, 16))
Split = Literal["test", "train"]


def instance_rng(family: str, split: str, size: int, index: int, seed: int) -> random.Random:
    # a string seed hashes through SHA-512 in CPython: stable across runs and PYTHONHASHSEED
    return random.Random(f"maslab-ktr-{family}-{split}-{size}-{index}-{seed}")


def _sizes(sizes: int | Sequence[int] | None, default: tuple[int, ...], family: str) -> list[int]:
    out = default if sizes is None else ([sizes] if isinstance(sizes, int) else list(sizes))
    if not out or any(not isinstance(s, int) or s < 1 for s in out):
        raise ValueError(f"{family}: sizes must be whole numbers >= 1, got {sizes!r}")
    return list(out)


def _split(split: str) -> str:
    if split not in ("test", "train"):
        raise ValueError(f"split must be 'test' or 'train', got {split!r}")
    return split


def _plan(n: int, sizes: list[int]) -> list[tuple[int, int]]:
    """(size, index) of each of `n` tasks, sizes round-robin."""
    return [(sizes[k % len(sizes)], k // len(sizes)) for k in range(n)]


# ---------------------------------------------------------------------------------------------- knapsack


def knapsack_instance(size: int, index: int, seed: int, split: Split = "test") -> dict[str, object]:
    """One instance: ``{"weights", "values", "capacity"}``."""
    rng = instance_rng("knapsack", split, size, index, seed)
    weights = [rng.randint(1, 20) for _ in range(size)]
    values = [rng.randint(1, 50) for _ in range(size)]
    return {"weights": weights, "values": values, "capacity": sum(weights) // 2}


def knapsack_optimum(weights: Sequence[int], values: Sequence[int], capacity: int) -> int:
    """The best total value of a 0/1 knapsack, by dynamic programming over capacities (O(n·C))."""
    if len(weights) != len(values):
        raise ValueError("weights and values differ in length")
    if capacity < 0 or any(w < 0 for w in weights):
        raise ValueError("negative capacity or weight")
    best = [0] * (capacity + 1)
    for w, v in zip(weights, values, strict=True):
        for c in range(capacity, w - 1, -1):
            best[c] = max(best[c], best[c - w] + v)
    return best[capacity]


def knapsack_selection(weights: Sequence[int], values: Sequence[int], capacity: int) -> list[int]:
    """One optimal item set (item numbers from 1), recovered from the full DP table."""
    n = len(weights)
    table = [[0] * (capacity + 1) for _ in range(n + 1)]
    for i in range(1, n + 1):
        w, v = weights[i - 1], values[i - 1]
        for c in range(capacity + 1):
            table[i][c] = table[i - 1][c]
            if w <= c:
                table[i][c] = max(table[i][c], table[i - 1][c - w] + v)
    chosen, c = [], capacity
    for i in range(n, 0, -1):
        if table[i][c] != table[i - 1][c]:
            chosen.append(i)
            c -= weights[i - 1]
    return sorted(chosen)


def knapsack_bruteforce(weights: Sequence[int], values: Sequence[int], capacity: int) -> int:
    """The same optimum by enumerating every subset (2^n; the oracle's cross-check)."""
    import numpy as np

    n = len(weights)
    masks = (np.arange(1 << n)[:, None] >> np.arange(n)) & 1
    w = masks @ np.asarray(weights, dtype=np.int64).reshape(n)
    v = masks @ np.asarray(values, dtype=np.int64).reshape(n)
    return int(v[w <= capacity].max())


def knapsack_question(inst: dict[str, object]) -> str:
    weights, values, capacity = inst["weights"], inst["values"], inst["capacity"]
    assert isinstance(weights, list) and isinstance(values, list)
    lines = "\n".join(f"- Item {k}: weight {w}, value {v}"
                      for k, (w, v) in enumerate(zip(weights, values, strict=True), start=1))
    return (f"A backpack can carry a total weight of at most {capacity}. These items are available, one of "
            f"each:\n{lines}\n\nChoose the items to pack so that their total weight is at most {capacity} and "
            "their total value is as large as possible; each item is packed whole or left behind. End your "
            'reply with a JSON object naming the packed items by number and their total value, for example: '
            '{"items": [1, 3], "value": 42}')


@register_dataset("knapsack", kind="generator", options=("sizes", "split"))
def knapsack(n: int = 20, seed: int = 0, *, sizes: int | list[int] | None = None,
             split: Split = "test") -> list[Task]:
    """0/1 knapsack instances, 3–8 items (or `sizes`), sizes round-robin; answer: items and value."""
    tasks = []
    for size, index in _plan(n, _sizes(sizes, KNAPSACK_SIZES, "knapsack")):
        inst = knapsack_instance(size, index, seed, _split(split))  # type: ignore[arg-type]
        w, v, c = inst["weights"], inst["values"], inst["capacity"]
        optimum = knapsack_optimum(w, v, c)  # type: ignore[arg-type]
        tasks.append(Task(
            id=f"knapsack-{split}-n{size}-{index}-s{seed}", question=knapsack_question(inst), answer=str(optimum),
            domain="optimization",
            metadata={"scorer": "knapsack", "generator": "knapsack", "size": size, "index": index, "seed": seed,
                      "split": split, "instance": inst, "optimum": optimum,
                      "best_items": knapsack_selection(w, v, c)}))  # type: ignore[arg-type]
    return tasks


# ---------------------------------------------------------------------------------------------- assignment


def assignment_instance(size: int, index: int, seed: int, split: Split = "test") -> dict[str, object]:
    """One instance: ``{"cost": n×n matrix}`` (row = worker, column = job)."""
    rng = instance_rng("assignment", split, size, index, seed)
    return {"cost": [[rng.randint(1, 100) for _ in range(size)] for _ in range(size)]}


def assignment_solution(cost: Sequence[Sequence[int]]) -> tuple[int, list[int]]:
    """The minimal total cost and one optimal assignment (job of each worker, from 1), by SciPy."""
    import numpy as np
    from scipy.optimize import linear_sum_assignment

    matrix = np.asarray(cost, dtype=np.int64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError("cost must be a square matrix")
    rows, cols = linear_sum_assignment(matrix)
    return int(matrix[rows, cols].sum()), [int(c) + 1 for c in cols]


def assignment_optimum(cost: Sequence[Sequence[int]]) -> int:
    """The minimal total cost of a one-to-one worker→job assignment."""
    return assignment_solution(cost)[0]


def assignment_bruteforce(cost: Sequence[Sequence[int]]) -> int:
    """The same optimum by trying every permutation (n!; the oracle's cross-check for n ≤ 8)."""
    import numpy as np

    n = len(cost)
    return int(np.asarray(cost, dtype=np.int64)[np.arange(n), _permutations(n)].sum(axis=1).min())


@functools.cache
def _permutations(n: int) -> Any:
    import numpy as np

    return np.array(list(itertools.permutations(range(n))), dtype=np.int64).reshape(-1, n)


def assignment_question(inst: dict[str, object]) -> str:
    cost = inst["cost"]
    assert isinstance(cost, list)
    n = len(cost)
    header = "          " + "".join(f"J{j:<3}" for j in range(1, n + 1))
    rows = [f"Worker {w:<3}" + "".join(f"{c:<4}" for c in row) for w, row in enumerate(cost, start=1)]
    table = "\n".join(r.rstrip() for r in [header, *rows])
    return (f"There are {n} workers (Worker 1 to Worker {n}) and {n} jobs (J1 to J{n}). The table gives the cost "
            f"of each worker doing each job (row = worker, column = job):\n\n{table}\n\nAssign every worker exactly "
            "one job so that every job is done by exactly one worker and the total cost is as small as possible. "
            "End your reply with a JSON object giving each worker's job number in worker order and the total "
            'cost, for example: {"assignment": [2, 3, 1], "cost": 57}')


@register_dataset("assignment", kind="generator", options=("sizes", "split"))
def assignment(n: int = 20, seed: int = 0, *, sizes: int | list[int] | None = None,
               split: Split = "test") -> list[Task]:
    """n×n task-assignment instances, n = 6–15 (or `sizes`), sizes round-robin; answer: jobs and cost."""
    tasks = []
    for size, index in _plan(n, _sizes(sizes, ASSIGNMENT_SIZES, "assignment")):
        inst = assignment_instance(size, index, seed, _split(split))  # type: ignore[arg-type]
        optimum, best = assignment_solution(inst["cost"])  # type: ignore[arg-type]
        tasks.append(Task(
            id=f"assignment-{split}-n{size}-{index}-s{seed}", question=assignment_question(inst),
            answer=str(optimum), domain="optimization",
            metadata={"scorer": "assignment", "generator": "assignment", "size": size, "index": index,
                      "seed": seed, "split": split, "instance": inst, "optimum": optimum,
                      "best_assignment": best}))
    return tasks


def instance_key(task: Task) -> str:
    """A task's instance as canonical JSON (for disjointness checks between splits)."""
    return json.dumps(task.metadata.get("instance"), sort_keys=True)
