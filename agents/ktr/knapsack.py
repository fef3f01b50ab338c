"""The KtR knapsack blueprint (arXiv 2505.16979 §case study 1; spec §3): Expander → Trimmer → Selector.

Known from the paper and its reviews: three agents, dynamic programming as the algorithmic prior,
the Trimmer as the bottleneck (fixed by a micro fine-tune: size-5 accuracy 3 % → 95 %). Everything
below — the agents' exact inputs and outputs, the state representation, the tie rules and the
prompts — is **[reconstructed]**: DP over a Pareto set of partial packings.

    0. S ← [(∅, 0, 0)]                                   (the controller, plain code)
    for each item i = 1 … n:
    1. Expander (S, item i)       → S ∪ {(items ∪ {i}, W + wᵢ, V + vᵢ) for each state of S}
    2. Trimmer  (S, capacity C)   → drop states with W > C; drop dominated states (another state has
                                    W′ ≤ W and V′ ≥ V, one strictly); states with equal (W, V)
                                    collapse to the lexicographically smallest item list; sorted by W
    3. Selector (S)               → the state with the largest V (ties: smaller W, then the
                                    lexicographically smaller item list): its items and value

Calls: 2n + 1 (n items), each up to 1 + `contract_retries` attempts. Items are numbered from 1.
The instance is `KnapsackInstance` — ``{"weights", "values", "capacity"}``, the format of the
`knapsack` benchmark's ``metadata["instance"]`` — and the output ``{"items": [...], "value": V}``
is the answer format that benchmark scores.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from maslab.blueprint import Blueprint, Controller, WellPosedTask

RECONSTRUCTED = ("agent specifications", "state representation and tie rules", "prompts")


class Item(BaseModel):
    number: int = Field(ge=1, description="the item's number (from 1)")
    weight: int = Field(ge=0)
    value: int = Field(ge=0)


class PackState(BaseModel):
    """A partial packing: the item numbers packed (ascending) and their total weight and value."""

    model_config = ConfigDict(frozen=True)
    items: list[int]
    weight: int
    value: int

    @field_validator("items")
    @classmethod
    def _distinct(cls, items: list[int]) -> list[int]:
        if len(set(items)) != len(items):
            raise ValueError("an item is packed at most once")
        if any(i < 1 for i in items):
            raise ValueError("item numbers start at 1")
        return sorted(items)

    def key(self) -> tuple[int, int, tuple[int, ...]]:
        return (self.weight, self.value, tuple(self.items))


class ExpandIn(BaseModel):
    states: list[PackState]
    item: Item


class TrimIn(BaseModel):
    states: list[PackState]
    capacity: int = Field(ge=0)


class SelectIn(BaseModel):
    states: list[PackState]


class States(BaseModel):
    states: list[PackState]


class Choice(BaseModel):
    """The Selector's output and the blueprint's answer: the packed items and their total value."""

    items: list[int]
    value: int

    @field_validator("items")
    @classmethod
    def _sorted(cls, items: list[int]) -> list[int]:
        return sorted(items)


class KnapsackInstance(BaseModel):
    weights: list[int] = Field(min_length=1)
    values: list[int] = Field(min_length=1)
    capacity: int = Field(ge=0)

    @model_validator(mode="after")
    def _same_length(self) -> KnapsackInstance:
        if len(self.weights) != len(self.values):
            raise ValueError("weights and values differ in length")
        return self


# ------------------------------------------------------------------------------ exact step functions


def expand(i: ExpandIn) -> States:
    it = i.item
    grown = [PackState(items=[*s.items, it.number], weight=s.weight + it.weight, value=s.value + it.value)
             for s in i.states if it.number not in s.items]
    return States(states=[*i.states, *grown])


def trim(i: TrimIn) -> States:
    best: dict[tuple[int, int], PackState] = {}
    for s in i.states:
        if s.weight > i.capacity:
            continue
        kept = best.get((s.weight, s.value))
        if kept is None or s.items < kept.items:  # equal (W, V): the lexicographically smallest items
            best[(s.weight, s.value)] = s
    pareto = [s for s in best.values()
              if not any(t.weight <= s.weight and t.value >= s.value and (t.weight, t.value) != (s.weight, s.value)
                         for t in best.values())]
    return States(states=sorted(pareto, key=PackState.key))


def select(i: SelectIn) -> Choice:
    if not i.states:
        return Choice(items=[], value=0)
    best = min(i.states, key=lambda s: (-s.value, s.weight, s.items))
    return Choice(items=best.items, value=best.value)


def same_states(_: Any, o: States, exact: States) -> bool:
    return sorted(s.key() for s in o.states) == sorted(s.key() for s in exact.states)


EXPANDER = WellPosedTask(
    "expand", ExpandIn, States,
    "Each state is a partial packing: the numbers of the items packed, their total weight and their total "
    "value. Return every input state unchanged, followed by one new state per input state that also packs "
    "the given item: its number added to `items`, its weight added to `weight`, its value added to `value`. "
    "So return twice as many states as you were given.",
    solve=expand, relation=lambda i, o: same_states(i, o, expand(i)))

TRIMMER = WellPosedTask(
    "trim", TrimIn, States,
    "Each state is a partial packing: item numbers, total weight, total value. First remove every state whose "
    "weight is above the capacity. Then remove every dominated state: one for which another state has a "
    "weight at most its weight and a value at least its value, with at least one of the two strictly better. "
    "Of states with the same weight and the same value keep only the one whose item list comes first in "
    "lexicographic order. Return the remaining states sorted by weight.",
    solve=trim, relation=lambda i, o: same_states(i, o, trim(i)))

SELECTOR = WellPosedTask(
    "select", SelectIn, Choice,
    "Each state is a packing: item numbers, total weight, total value. Return the state with the largest value "
    "(if several, the one with the smaller weight, then the one whose item list comes first in lexicographic "
    "order), as its item numbers and its value.",
    solve=select)


async def protocol(ctl: Controller, x: KnapsackInstance) -> Choice:
    """S₀ = [(∅, 0, 0)]; Expander → Trimmer for each item; then the Selector."""
    states = [PackState(items=[], weight=0, value=0)]
    for number, (w, v) in enumerate(zip(x.weights, x.values, strict=True), start=1):
        expanded = await ctl.call("expander", ExpandIn(states=states, item=Item(number=number, weight=w, value=v)))
        states = (await ctl.call("trimmer", TrimIn(states=expanded.states, capacity=x.capacity))).states
    return await ctl.call("selector", SelectIn(states=states))


BLUEPRINT: Blueprint[KnapsackInstance, Choice] = Blueprint(
    "ktr_knapsack", {"expander": EXPANDER, "trimmer": TRIMMER, "selector": SELECTOR}, protocol,
    reconstructed=RECONSTRUCTED,
    summary="0/1 knapsack as DP over a Pareto set: Expander → Trimmer per item, then the Selector.")

# Role prompts [reconstructed]: our wording; the paper publishes none.
PROMPTS = {
    "expander": "You are the Expander of a 0/1 knapsack solver that works like dynamic programming over "
                "partial packings.",
    "trimmer": "You are the Trimmer of a 0/1 knapsack solver that works like dynamic programming over partial "
               "packings.",
    "selector": "You are the Selector of a 0/1 knapsack solver that works like dynamic programming over "
                "partial packings.",
}

