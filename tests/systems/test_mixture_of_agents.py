"""Mixture-of-Agents (`mixture_of_agents`, arXiv 2406.04692): layers of proposers, then an aggregator.

They run on scripted deterministic models (`ModelPool.scripted`): replies are computed from the
request, so the orchestration logic (call counts, prompts, routing) is checked exactly, in milliseconds.
"""

from __future__ import annotations

import re

import pytest

from maslab.models import ScriptedRequest
from tests.systems.scripts import QUESTION, SCENARIOS, Concurrency, scenario_reply, solve, solve_recorded


def moa_reply(req: ScriptedRequest) -> str:
    """A proposer of layer l (one more than the highest layer quoted in its system prompt) says so."""
    quoted = [int(x) for x in re.findall(r"<L(\d) ", req.system)]
    return f"<L{max(quoted, default=0) + 1} {req.agent}>"


async def test_moa_call_count_and_layers_see_all_previous_answers() -> None:
    """Scripted deterministic models: layers x proposers + 1 calls; each layer-2 proposer's system
    prompt lists every layer-1 answer (and nothing later); the aggregator sees the last layer."""
    log: list[ScriptedRequest] = []
    sol = await solve("mixture_of_agents", lambda req: log.append(req) or moa_reply(req))
    assert sol.usage.calls == 3 * 3 + 1
    layer2 = [r for r in log if r.role == "proposer" and "<L1 " in r.system and "<L2 " not in r.system]
    assert len(layer2) == 3
    for req in layer2:
        assert all(f"<L1 proposer_{i}>" in req.system for i in (1, 2, 3)) and req.prompt == QUESTION
    aggregator = next(r for r in log if r.role == "aggregator")
    assert all(f"<L3 proposer_{i}>" in aggregator.system for i in (1, 2, 3)) and "<L2 " not in aggregator.system
    assert [len(layer) for layer in sol.metadata["layers"]] == [3, 3, 3]

    sol = await solve("mixture_of_agents", moa_reply, layers=2, proposers=4)
    assert sol.usage.calls == 2 * 4 + 1


async def test_moa_proposers_run_concurrently_on_their_own_aliases() -> None:
    """Scripted deterministic async models: a layer's proposers are in flight together, and proposer i
    runs on the i-th alias in every layer."""
    model = Concurrency(moa_reply)
    sol = await solve("mixture_of_agents", model, "a", "b", "c", "d",
                      roles={"proposer": ["a", "b", "c"], "aggregator": "d"})
    assert model.peak["proposer"] == 3
    assert {k: r.calls for k, r in sol.usage.by("alias").items()} == {"a": 3, "b": 3, "c": 3, "d": 1}
    assert {(r.agent, r.alias) for r in sol.usage.rows} == {
        ("proposer_1", "a"), ("proposer_2", "b"), ("proposer_3", "c"), ("aggregator", "d")}


# --------------------------------------------------------------------------- reference profile (the paper's layers)


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_reference_profile_calls_and_every_layer_reads_the_previous_one(scenario: str) -> None:
    """Scripted deterministic models, each scenario: MoA is not in MASLab, so its reference is the paper's
    algorithm, which never stops early: 3 layers × 3 proposers + 1 aggregator = 10 calls; every
    proposer of layer l and the aggregator read all of layer l − 1's answers in their system prompt."""
    def fn(req: ScriptedRequest) -> str:
        return f"Layer answer {req.agent}: {scenario_reply(scenario, req.sample_index)}"

    sol, script = await solve_recorded("mixture_of_agents", fn, profile="reference")
    assert sol.usage.calls == 10  # layers 3 × proposers 3 + aggregator
    later = [r for r in script.requests if r.messages[0].role == "system"]
    assert len(later) == 7  # layers 2 and 3 (6 proposers) and the aggregator
    for req in later:
        assert sorted(re.findall(r"Layer answer (\w+):", req.messages[0].text)) == [
            "proposer_1", "proposer_2", "proposer_3"]
