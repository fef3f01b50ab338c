"""A small user blueprint (Know-The-Ropes style, arXiv 2505.16979): the mean of a list of numbers.

Two well-posed leaves with typed contracts — an `adder` called once per number and a `divider` —
and a protocol in plain async Python that the controller runs, checking every reply against the
leaf's output model (retrying with the validation error, then raising `ContractViolation`).

    python examples/average_blueprint.py            # exact leaves, then the embedded SmolLM2
    maslab run examples/average_blueprint.yaml --question '{"numbers": [3, 5, 10]}'

The YAML file declares the same blueprint's leaves and their contracts by name
(`protocol` and the `ADD` / `DIVIDE` tasks of this file).
"""

from __future__ import annotations

import asyncio

from pydantic import BaseModel, Field

from maslab.blueprint import Blueprint, BlueprintFailure, Controller, LeafAgent, WellPosedTask, oracle


class Numbers(BaseModel):
    numbers: list[int] = Field(min_length=1)


class AddIn(BaseModel):
    total: int
    number: int


class Total(BaseModel):
    total: int


class DivideIn(BaseModel):
    total: int
    count: int = Field(ge=1)


class Mean(BaseModel):
    mean: float


ADD = WellPosedTask("add", AddIn, Total, "Add `number` to `total` and return the new total.",
                    solve=lambda i: Total(total=i.total + i.number))
DIVIDE = WellPosedTask("divide", DivideIn, Mean,
                       "Divide `total` by `count` and return the result as `mean`, rounded to two decimals.",
                       solve=lambda i: Mean(mean=round(i.total / i.count, 2)),
                       relation=lambda i, o: abs(o.mean - i.total / i.count) <= 0.005 + 1e-9)


async def protocol(ctl: Controller, x: Numbers) -> Mean:
    """Add the numbers one at a time, then divide by their count."""
    total = 0
    for number in x.numbers:
        total = (await ctl.call("adder", AddIn(total=total, number=number))).total
    return await ctl.call("divider", DivideIn(total=total, count=len(x.numbers)))


BLUEPRINT = Blueprint("average", {"adder": ADD, "divider": DIVIDE}, protocol)


async def main() -> None:
    from maslab.models import ModelPool

    x = Numbers(numbers=[3, 5, 10])
    answer, steps = await oracle(BLUEPRINT, x)  # every leaf its exact step function
    print("exact leaves:", answer, f"({len(steps)} steps)")

    pool = ModelPool.default(overrides={"max_tokens": 64})  # ./models.yaml, else the embedded model
    leaves = {"adder": LeafAgent(name="adder"), "divider": LeafAgent(name="divider", augmentation="cot")}
    ctl = Controller(BLUEPRINT, leaves, pool=pool, contract_retries=2)
    try:
        print("model leaves:", await ctl.run(x))
    except BlueprintFailure as failure:  # a weak model may break a contract on every attempt
        print("model leaves:", failure)
    print("per step:", [(s.leaf, s.attempts, s.holds) for s in ctl.steps])


if __name__ == "__main__":
    asyncio.run(main())
