"""DyLAN (`dylan`, arXiv 2310.02170): a layered agent network with early stopping and a ranker.

They run on scripted deterministic models (`ModelPool.scripted`): replies are a pure function of the
request, so the orchestration logic (call counts, prompts, sampling parameters) is asserted exactly.
"""

from __future__ import annotations

import asyncio
import re

import pytest

from maslab.agents.dylan import parse_ranking
from tests.systems.scripts import assert_accounting
from tests.systems.scripts import solve_recorded as solve


async def test_dylan_stops_in_round_1_under_unanimity():
    """Scripted deterministic models: all agents agree, so after ⌊2/3·4⌋+1 = 3 replies the top
    answer has 3 > 2 votes and the network stops in round 1 with 3 calls."""
    sol, script = await solve("dylan", lambda req: "The answer is 42.")
    assert_accounting(sol, script)
    assert sol.usage.calls == 3 and sol.metadata["rounds"] == 1 and sol.metadata["early_stop"]
    assert sol.answer == "The answer is 42."


async def test_dylan_ranker_choice_activates_only_those_agents():
    """Scripted deterministic models: four agents keep distinct answers (no consensus); in round 3
    the ranker picks [1, 3], and only the two agents whose replies were shown 1st and 3rd answer,
    each reading exactly those two replies: 4 + 4 + 1 ranker + 2 = 11 calls."""
    def fn(req):
        if req.role == "ranker":
            return "The best are [1, 3]."
        ident = int(req.agent.split("_")[1])
        rating = " [[5, 4, 3, 2]]" if "Solution 4:" in req.prompt else ""
        return f"I am agent {ident}. The answer is {ident * 11}.{rating}"

    sol, script = await solve("dylan", fn)
    assert_accounting(sol, script)
    assert sol.usage.calls == 11 and sol.metadata["rounds"] == 3
    [rank_req] = script.by_role("ranker")
    shown = re.findall(r"Response \d+:\nI am agent (\d+)", rank_req.prompt)
    chosen = {f"agent_{shown[0]}", f"agent_{shown[2]}"}
    round3 = script.requests[script.requests.index(rank_req) + 1:]
    assert len(round3) == 2 and {r.agent for r in round3} == chosen
    for r in round3:
        assert "Solution 2:" in r.prompt and "Solution 3:" not in r.prompt
        assert {f"agent_{a}" for a in re.findall(r"I am agent (\d+)", r.prompt)} == chosen
    assert {f"agent_{a + 1}" for a in sol.metadata["rankings"][0]["kept"]} == chosen
    # the dropped agents make no more calls; their ratings of round 2 were parsed
    assert all(ratings == [5, 4, 3, 2] for _, ratings in sol.metadata["ratings"][0])
    assert sum(sol.metadata["importance"].values()) == pytest.approx(3.0)  # each layer shares 1
    assert sol.answer.startswith("I am agent")


async def test_dylan_layer_runs_concurrently():
    """Scripted deterministic models (async, with a short sleep): the first ⌊2/3·N⌋+1 replies of a
    layer are in flight together."""
    state = {"now": 0, "peak": 0}

    async def fn(req):
        state["now"] += 1
        state["peak"] = max(state["peak"], state["now"])
        await asyncio.sleep(0.01)
        state["now"] -= 1
        return "The answer is 42."

    await solve("dylan", fn)
    assert state["peak"] == 3


def test_dylan_ranking_parser_falls_back():
    """Scripted deterministic setting, pure parsing (no model call): valid picks are kept, missing ones filled in shown order."""
    assert parse_ranking("[3, 1]", 4, 2) == ([2, 0], True)
    assert parse_ranking("Response 9 and 2", 4, 2) == ([1, 0], False)
    assert parse_ranking("no idea", 3, 2) == ([0, 1], False)
