"""The KtR scorers: the spec's correctness criteria, on the last JSON object of the answer.

* `knapsack`: correct iff the named item set is feasible (total weight ≤ capacity) **and** its
  value equals the DP optimum (spec §3: we check both; the paper's exact criterion is not
  published). The value is recomputed from the items; a stated ``value`` that differs is kept in
  the detail, not held against the answer.
* `assignment`: correct iff the answer is a permutation (each worker one job, each job one worker)
  and its cost on the matrix equals the optimum (spec §4; any optimal assignment is accepted).

No JSON object, or one of the wrong shape, scores wrong with the reason in `Score.detail`. Every
score's detail carries the instance size, so reports can group by it.
"""

from __future__ import annotations

import json
from typing import Any

from maslab.answers import extract_json_object
from maslab.bench.scorers import Score, Scorer, register_scorer
from maslab.task import Solution, Task


def _numbers(obj: dict[str, Any], key: str, n: int) -> list[int] | str:
    """obj[key] as a list of distinct whole numbers 1…n, or the reason it is not one."""
    raw = obj.get(key)
    if not isinstance(raw, list) or not all(isinstance(x, int) and not isinstance(x, bool) for x in raw):
        return f"`{key}` is not a list of whole numbers"
    if any(not 1 <= x <= n for x in raw):
        return f"`{key}` names a number outside 1–{n}"
    if len(set(raw)) != len(raw):
        return f"`{key}` repeats a number"
    return raw


@register_scorer("knapsack")
class KnapsackScorer(Scorer):
    """A feasible item set whose value is the optimum."""

    async def score_solution(self, task: Task, solution: Solution) -> Score:
        inst = task.metadata["instance"]
        weights, values, capacity = inst["weights"], inst["values"], inst["capacity"]
        optimum = int(task.metadata.get("optimum", task.answer))
        detail: dict[str, Any] = {"size": len(weights), "optimum": optimum}
        obj = extract_json_object(solution.answer)
        if obj is None:
            return Score.of(False, None, **detail, reason="no JSON object in the answer")
        items = _numbers(obj, "items", len(weights))
        if isinstance(items, str):
            return Score.of(False, json.dumps(obj.get("items")), **detail, reason=items)
        weight = sum(weights[i - 1] for i in items)
        value = sum(values[i - 1] for i in items)
        feasible = weight <= capacity
        return Score.of(feasible and value == optimum, json.dumps(sorted(items)), **detail, value=value,
                        weight=weight, feasible=feasible, claimed_value=obj.get("value"))


@register_scorer("assignment")
class AssignmentScorer(Scorer):
    """A permutation whose cost is the optimum."""

    async def score_solution(self, task: Task, solution: Solution) -> Score:
        cost = task.metadata["instance"]["cost"]
        n = len(cost)
        optimum = int(task.metadata.get("optimum", task.answer))
        detail: dict[str, Any] = {"size": n, "optimum": optimum}
        obj = extract_json_object(solution.answer)
        if obj is None:
            return Score.of(False, None, **detail, reason="no JSON object in the answer")
        jobs = _numbers(obj, "assignment", n)
        if isinstance(jobs, str) or len(jobs) != n:
            reason = jobs if isinstance(jobs, str) else f"`assignment` gives {len(jobs)} jobs for {n} workers"
            return Score.of(False, json.dumps(obj.get("assignment")), **detail, reason=reason)
        total = sum(cost[w][j - 1] for w, j in enumerate(jobs))
        return Score.of(total == optimum, json.dumps(jobs), **detail, cost=total, claimed_cost=obj.get("cost"))
