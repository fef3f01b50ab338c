"""DyLAN (`dylan`, arXiv 2310.02170): a layered agent network with early stopping and a ranker.

They run on scripted deterministic models (`ModelPool.scripted`): replies are a pure function of the
request, so the orchestration logic (call counts, prompts, sampling parameters) is asserted exactly.
"""

from __future__ import annotations

import asyncio
import re

import pytest

from maslab.agents.dylan import parse_ranking
from maslab.task import Task
from tests.systems.scripts import SCENARIOS, assert_accounting, scenario_reply
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


# --------------------------------------------------------------------------- reference profile (MASLab 74265c7)

REFERENCE_CALLS = {
    # dylan_main (a GSM8K task): consensus compares whole replies, ≥ 90 % of words shared
    ("main", "disagree"): 11,  # 4 + 4 + ranker + 2
    ("main", "agree"): 3,  # identical replies: 3 > ⌊2/3·4⌋ after the 3rd reply of layer 1
    ("main", "paraphrase"): 11,  # the same answer in other words is no consensus for whole replies
    ("main", "disagree_then_agree"): 7,  # layer 1 (4), then layer 2 agrees after 3
    # dylan_math (a MATH task): consensus on the extracted answers
    ("math", "disagree"): 11,  # 4 + 4 + ranker + the 2 picked agents
    ("math", "agree"): 3,
    ("math", "paraphrase"): 3,  # "The answer is 42" and "… 42 …" extract to the same answer
    ("math", "disagree_then_agree"): 7,
    # dylan_mmlu (an MMLU task): 7 experts, consensus on the letter
    ("mmlu", "disagree"): 17,  # 7 + 7 + ranker + 2
    ("mmlu", "agree"): 5,  # 5 > ⌊2/3·7⌋ = 4 letters agree
    ("mmlu", "paraphrase"): 5,
    ("mmlu", "disagree_then_agree"): 12,  # 7, then 5 in layer 2
}
TASKS = {
    "main": Task(id="g1", question="What is 6 times 7?", metadata={"source": "gsm8k"}),
    "math": Task(id="m1", question="What is 6 times 7?", metadata={"source": "data/math500.jsonl"}),
    "mmlu": Task(id="u1", question="What is 6 times 7?", choices=["40", "42", "44", "46"],
                 metadata={"dataset": "mmlu_pro"}),
}


def dylan_reply(variant: str, scenario: str):
    def fn(req):
        if req.role == "ranker":
            return "The best two are [1, 3]."
        i = int(req.agent.split("_")[1]) - 1
        layer = 2 if "other agents'" in req.prompt else 1
        text = scenario_reply(scenario, i, layer)
        if variant == "mmlu":  # a letter per answer: 42 is (B); the others spread over A, C, D
            letter = "B" if "42" in text else "ACD"[i % 3]
            return f"{text} So ({letter})."
        return text
    return fn


@pytest.mark.parametrize(("variant", "scenario"), sorted(REFERENCE_CALLS))
async def test_reference_profile_picks_the_program_by_dataset_and_makes_its_calls(variant: str, scenario: str):
    """Scripted deterministic models, each (program, scenario): `profile: reference` runs MASLab's
    dylan_main / dylan_math / dylan_mmlu, chosen by the task's dataset name, with its call count."""
    sol, script = await solve("dylan", dylan_reply(variant, scenario), task=TASKS[variant], profile="reference")
    assert sol.metadata["variant"] == variant
    assert sol.usage.calls == REFERENCE_CALLS[(variant, scenario)]
    assert {s for v, s in REFERENCE_CALLS if v == variant} == set(SCENARIOS)


async def test_reference_main_layer_3_reads_every_previous_reply_and_only_picked_agents_answer():
    """Scripted deterministic models, dylan_main without consensus: layer-2 agents read all 4 layer-1
    replies; the ranker reads the 4 layer-2 replies and picks the 1st and 3rd shown; exactly those two
    agents answer layer 3, each reading all 4 layer-2 replies (not only the 2 picked)."""
    sol, script = await solve("dylan", dylan_reply("main", "disagree"), task=TASKS["main"], profile="reference")
    layer2 = script.requests[4:8]
    assert all(len(re.findall(r"Agent response \d+: ```", r.prompt)) == 4 for r in layer2)
    [rank] = script.by_role("ranker")
    shown = [int(m) for m in re.findall(r"My working gives (\d+) as", rank.prompt)]
    picked = {f"agent_{(shown[k] - 40) // 3 + 1}" for k in (0, 2)}
    layer3 = script.requests[9:]
    assert {r.agent for r in layer3} == picked and len(layer3) == 2
    assert all(len(re.findall(r"Agent response \d+: ```", r.prompt)) == 4 for r in layer3)
    assert sorted(sol.metadata["rankings"][0]["kept"]) == sorted(int(a.split("_")[1]) - 1 for a in picked)


async def test_reference_math_final_layer_reads_the_two_picked_solutions_and_boxes_the_answer():
    """Scripted deterministic models, dylan_math without consensus: after the ranker picks solutions 1 and
    3, those two agents answer once more, each reading exactly those 2 solutions; the answer is boxed."""
    sol, script = await solve("dylan", dylan_reply("math", "disagree"), task=TASKS["math"], profile="reference")
    final = script.requests[9:]
    assert [r.agent for r in final] == ["agent_1", "agent_3"]
    for r in final:
        seen = re.findall(r"One agent's solution: ```(.*?)```", r.prompt, re.S)
        assert seen == [scenario_reply("disagree", 0, 2), scenario_reply("disagree", 2, 2)]
    assert sol.answer.startswith("\\boxed{") and sol.answer.endswith("}")


async def test_reference_orders_are_the_same_for_every_task():
    """Scripted deterministic models: the reference reseeds its RNG with `seed` for every task, so two tasks
    see the agents in the same order (the default profile seeds by task id)."""
    orders = []
    for tid in ("a", "b"):
        _, script = await solve("dylan", dylan_reply("main", "disagree"), profile="reference",
                                task=Task(id=tid, question="What is 6 times 7?"))
        orders.append([r.agent for r in script.requests])
    assert orders[0] == orders[1]
