"""KtR's design loop (spec §1, ARR version): find the bottleneck from per-agent accuracy, then give
that leaf the lightest augmentation that works — here, the data for its micro fine-tune.

* `diagnose(store)`: a sweep's blueprint runs pooled into the spec's report (§5) — accuracy per
  size with 95 % Wilson intervals for every method (blueprints and single-agent baselines alike),
  contract-violation counts, and per leaf: isolated and propagated accuracy, violations, calls
  and tokens, ranked by isolated accuracy; the lowest is named the bottleneck.
* `finetune_data(...)`: chat JSONL for one leaf — the exact system and user messages the controller
  sends it, answered by the step oracle — from instances of the benchmark's *train* split, with
  any instance that also occurs in the given test set dropped ([reconstructed]: the paper's
  fine-tune data are not published). The tuned model is then just another alias:
  ``augmentation: {trimmer: finetuned(my-tuned-alias)}``.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from maslab.bench.stats import wilson_interval
from maslab.bench.store import ResultRow, ResultStore
from maslab.blueprint import (
    ISOLATED_SUFFIX,
    AgentAccuracy,
    BlueprintRecord,
    LeafAgent,
    agent_accuracy,
    finetune_pairs,
    oracle,
)
from maslab.errors import ConfigError
from maslab.task import Task

RECONSTRUCTED_NOTE = ("Know-The-Ropes (arXiv 2505.16979): the blueprint agents' specifications, their prompts, "
                      "the instance generators and the fine-tune data are reconstructed (ours); the paper "
                      "publishes none of them.")
_SIZE = re.compile(r"-n(\d+)-")


class SizeAccuracy(BaseModel):
    """One method × assignment × dataset × size cell."""

    method: str
    assignment: str
    dataset: str
    size: int | None
    n: int
    correct: int
    ci_low: float
    ci_high: float
    violations: int = 0  # contract violations (blueprint runs)
    failures: int = 0  # other blueprint failures (loop guards)
    errors: int = 0  # inference errors
    tokens_per_task: float = 0.0
    calls_per_task: float = 0.0

    @property
    def accuracy(self) -> float:
        return self.correct / self.n if self.n else 0.0


class LeafReport(BaseModel):
    accuracy: AgentAccuracy
    calls: int = 0
    tokens: int = 0
    isolated_calls: int = 0


class BlueprintDiagnosis(BaseModel):
    """The per-agent view of one method × assignment of a sweep."""

    method: str
    assignment: str
    blueprint: str
    runs: int
    reconstructed: list[str] = Field(default_factory=list)
    leaves: list[LeafReport] = Field(default_factory=list)  # ranked: lowest isolated accuracy first

    @property
    def bottleneck(self) -> str | None:
        """The leaf with the lowest isolated accuracy (None when none was measured)."""
        measured = [r for r in self.leaves if r.accuracy.isolated is not None]
        return measured[0].accuracy.leaf if measured else None


class Diagnosis(BaseModel):
    sizes: list[SizeAccuracy]
    blueprints: list[BlueprintDiagnosis]
    note: str = RECONSTRUCTED_NOTE


def _size(row: ResultRow) -> int | None:
    size = row.score_detail.get("size")
    if isinstance(size, int):
        return size
    m = _SIZE.search(row.task_id)
    return int(m.group(1)) if m else None


def _record(row: ResultRow) -> BlueprintRecord | None:
    raw = row.metadata.get("blueprint") if row.metadata else None
    return BlueprintRecord.model_validate(raw) if isinstance(raw, dict) else None


def diagnose(rows: Iterable[ResultRow]) -> Diagnosis:
    """Accuracy per size for every method, and the per-agent view of every blueprint method."""
    rows = list(rows)
    cells: dict[tuple[str, str, str, int | None], list[ResultRow]] = defaultdict(list)
    for r in rows:
        cells[(r.method_label, r.assignment, r.dataset, _size(r))].append(r)
    sizes = []
    for (method, assignment, dataset, size), group in sorted(cells.items(), key=lambda kv: (
            kv[0][0], kv[0][1], kv[0][2], kv[0][3] if kv[0][3] is not None else -1)):
        correct = sum(r.correct and r.status == "ok" for r in group)
        low, high = wilson_interval(correct, len(group))
        failures = [rec.failure for rec in map(_record, group) if rec is not None and rec.failure]
        sizes.append(SizeAccuracy(
            method=method, assignment=assignment, dataset=dataset, size=size, n=len(group), correct=correct,
            ci_low=low, ci_high=high, violations=sum(f["kind"] == "contract_violation" for f in failures),
            failures=sum(f["kind"] != "contract_violation" for f in failures),
            errors=sum(r.status == "error" for r in group),
            tokens_per_task=sum(r.prompt_tokens + r.completion_tokens for r in group) / len(group),
            calls_per_task=sum(r.calls for r in group) / len(group)))

    by_method: dict[tuple[str, str], list[tuple[ResultRow, BlueprintRecord]]] = defaultdict(list)
    for r in rows:
        rec = _record(r)
        if rec is not None:
            by_method[(r.method_label, r.assignment)].append((r, rec))
    blueprints = []
    for (method, assignment), pairs in sorted(by_method.items()):
        usage: dict[str, dict[str, int]] = defaultdict(lambda: {"calls": 0, "tokens": 0})
        for r, _ in pairs:
            for role, u in r.usage_by_role.items():
                usage[role]["calls"] += int(u.get("calls", 0))
                usage[role]["tokens"] += int(u.get("prompt_tokens", 0)) + int(u.get("completion_tokens", 0))
        leaves = [LeafReport(accuracy=a, calls=usage[a.leaf]["calls"], tokens=usage[a.leaf]["tokens"],
                             isolated_calls=usage[a.leaf + ISOLATED_SUFFIX]["calls"])
                  for a in agent_accuracy(rec for _, rec in pairs)]
        first = pairs[0][1]
        blueprints.append(BlueprintDiagnosis(method=method, assignment=assignment, blueprint=first.blueprint,
                                             runs=len(pairs), reconstructed=first.reconstructed, leaves=leaves))
    return Diagnosis(sizes=sizes, blueprints=blueprints)


def diagnose_store(path: str | Path) -> Diagnosis:
    store = ResultStore.open(path, readonly=True)
    try:
        return diagnose(store.rows())
    finally:
        store.close()


# ------------------------------------------------------------------------------ fine-tune data


class FinetuneExport(BaseModel):
    path: str
    leaf: str
    examples: int
    instances: int
    dropped_overlaps: int  # train instances identical to a test instance, left out


def _instance_key(task: Task) -> str:
    return json.dumps(task.metadata.get("instance"), sort_keys=True)


async def finetune_data(system: Any, leaf: str, train: list[Task], test: list[Task], out: str | Path) -> FinetuneExport:
    """Write chat JSONL for `leaf` of `system` (a blueprint system) from the step oracle on `train`,
    leaving out every instance that also occurs in `test`."""
    blueprint = system.blueprint_of()
    if leaf not in blueprint.tasks:
        raise ConfigError(f"{system.name} has no leaf {leaf!r}; its leaves: {', '.join(blueprint.tasks)}")
    held_out = {_instance_key(t) for t in test}
    kept = [t for t in train if _instance_key(t) not in held_out]
    agent = LeafAgent(name=leaf, prompt=getattr(system, "prompts", {}).get(leaf, ""))
    rows: list[dict[str, Any]] = []
    for task in kept:
        _, steps = await oracle(blueprint, blueprint.instance(task))
        rows.extend(finetune_pairs(blueprint, agent, steps))
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return FinetuneExport(path=str(path), leaf=leaf, examples=len(rows), instances=len(kept),
                          dropped_overlaps=len(train) - len(kept))
