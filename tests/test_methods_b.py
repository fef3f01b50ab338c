"""Method zoo B — AgentVerse, DyLAN, MacNet, CAMEL, MAV — on scripted deterministic models.

Every test here runs its system on `ModelPool.scripted(...)`: replies are a pure function of the
request, so call counts, prompts and sampling parameters can be asserted exactly.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections import Counter
from pathlib import Path

import networkx as nx
import pytest
import yaml
from maslab.agents.agentverse import parse_evaluation, parse_roles
from maslab.agents.dylan import parse_ranking
from maslab.agents.macnet import build_topology, validate_edges
from maslab.agents.mav import parse_approval

from maslab.errors import ConfigError
from maslab.method import load_method
from maslab.models import ModelPool, ScriptedRequest
from maslab.task import Solution, Task

METHODS = ("agentverse", "dylan", "macnet", "camel", "mav")
WORKFLOWS = Path(__file__).resolve().parents[1] / "workflows"
TASK = Task(id="t1", question="What is 6 times 7?")


class Script:
    """A scripted model that records every request it answers, in call order."""

    def __init__(self, fn):
        self.fn = fn
        self.requests: list[ScriptedRequest] = []

    def __call__(self, req: ScriptedRequest) -> str:
        self.requests.append(req)
        return self.fn(req)

    def by_role(self, role: str) -> list[ScriptedRequest]:
        return [r for r in self.requests if r.role == role]


async def solve(name: str, fn, task: Task = TASK, **params) -> tuple[Solution, Script]:
    script = fn if isinstance(fn, Script) else Script(fn)
    sol = await load_method(name, **params).solve(task, pool=ModelPool.scripted(script))
    return sol, script


def assert_accounting(sol: Solution, script: Script) -> None:
    """A Solution with a string answer whose per-role tokens and calls sum to the run totals."""
    assert isinstance(sol, Solution) and isinstance(sol.answer, str)
    by_role = sol.usage.by("role")
    assert sum(r.total_tokens for r in by_role.values()) == sol.usage.total_tokens > 0
    assert sum(r.calls for r in by_role.values()) == sol.usage.calls == len(sol.messages) == len(script.requests)


def generic(req: ScriptedRequest) -> str:
    """Agreeable replies every system can finish on."""
    if req.role == "evaluator":
        return "Correctness: 1\nAdvice: none"
    if req.role == "critic":
        return "[Agree]" if "Option" not in req.prompt else "Option 1"
    if req.role == "ranker":
        return "[1, 2]"
    if "FINAL VERIFICATION ANSWER" in req.prompt:
        return "FINAL VERIFICATION ANSWER: True"
    return "Solution: 6 * 7 = 42. The answer is 42."


# --------------------------------------------------------------------------- every method


@pytest.mark.parametrize("name", METHODS)
async def test_every_method_returns_a_solution_with_consistent_accounting(name):
    """Scripted deterministic models: each system returns a Solution, a string answer holding 42,
    and per-role tokens (and calls) that sum to the run totals."""
    sol, script = await solve(name, generic)
    assert_accounting(sol, script)
    assert "42" in sol.answer


@pytest.mark.parametrize("name", METHODS)
async def test_roles_on_several_aliases_sum_to_the_run_total(name):
    """Scripted deterministic models on two aliases: every role gets the list [a, b] (repeated roles
    alternate), and per-role and per-alias tokens both sum to the run total."""
    script = Script(generic)
    method = load_method(name, roles=dict.fromkeys(load_method(name).roles, ["a", "b"]))
    sol = await method.solve(TASK, pool=ModelPool.scripted(script, "a", "b"))
    assert_accounting(sol, script)
    by_alias = sol.usage.by("alias")
    assert sum(r.total_tokens for r in by_alias.values()) == sol.usage.total_tokens
    assert set(by_alias) == ({"a", "b"} if name in ("dylan", "macnet", "mav") else {"a"})


@pytest.mark.parametrize("name", METHODS)
def test_mermaid_and_workflow(name):
    """Scripted deterministic setting, no model call needed: the graph draws, and the workflow YAML validates as a config."""
    text = load_method(name).mermaid()
    assert "graph" in text and "__start__" in text
    wf = yaml.safe_load((WORKFLOWS / f"{name}.yaml").read_text())
    assert wf["method"] == name and set(wf) <= {"name", "method", "params", "roles"}
    for aliases in (wf.get("roles") or {}).values():
        assert set(aliases if isinstance(aliases, list) else [aliases]) <= {"smol"}
    method = load_method(name, **wf.get("params", {}), roles=wf.get("roles", {}))
    assert method.mermaid()


async def test_run_is_deterministic_per_seed():
    """Scripted deterministic models: the same seed and task give the same calls in the same order."""
    def fn(req):
        return generic(req) if req.role == "ranker" else f"The answer is {req.agent[-1]}"

    runs = [await solve("dylan", fn, seed=3) for _ in range(2)]
    assert [r.agent for r in runs[0][1].requests] == [r.agent for r in runs[1][1].requests]
    assert runs[0][0].answer == runs[1][0].answer


# --------------------------------------------------------------------------- AgentVerse


async def test_agentverse_critics_disagree_then_agree_stop_in_round_2():
    """Scripted deterministic models: with 2 critics who disagree in review round 1 and agree in
    round 2, the decision stops in round 2 (the reviews are reset between rounds) and the turn
    costs 1 recruit + 2 solver + 2·2 critic + 1 evaluator = 8 calls."""
    seen: Counter[str] = Counter()

    def fn(req):
        if req.role == "recruiter":
            return "1. An arithmetic expert\n2. A strict reviewer\n3. A units checker"
        if req.role == "critic":
            seen[req.agent] += 1
            return "The product is wrong, recompute it." if seen[req.agent] == 1 else "[Agree]"
        if req.role == "evaluator":
            return "Correctness: 1\nAdvice: none"
        return "6 * 7 = 42. The answer is 42."

    sol, script = await solve("agentverse", fn, cnt_agents=3)
    assert_accounting(sol, script)
    assert sol.usage.calls == 8
    assert {r: row.calls for r, row in sol.usage.by("role").items()} == {
        "recruiter": 1, "solver": 2, "critic": 4, "evaluator": 1}
    log = sol.metadata["log"]
    assert sol.metadata["turns"] == 1 and log[0]["rounds"] == 2 and log[0]["agreed"]
    assert log[0]["roles"] == ["An arithmetic expert", "A strict reviewer", "A units checker"]
    revise = script.by_role("solver")[1]
    assert "recompute it" in revise.prompt and revise.system == "You are An arithmetic expert."


async def test_agentverse_evaluator_advice_starts_the_next_turn():
    """Scripted deterministic models: correctness 0 starts turn 2, whose recruiter sees the advice;
    correctness 1 then stops it (2 turns × 4 calls with one agreeing critic)."""
    evaluations = iter(["Correctness: 0\nAdvice: check the multiplication", "**Correctness:** 1\nAdvice: ok"])

    def fn(req):
        if req.role == "evaluator":
            return next(evaluations)
        return "[Agree]" if req.role == "critic" else "1. Solver\n2. Critic\nThe answer is 42"

    sol, script = await solve("agentverse", fn)
    assert sol.usage.calls == 8 and sol.metadata["turns"] == 2 and sol.metadata["accepted"]
    assert "check the multiplication" in script.by_role("recruiter")[1].prompt


async def test_agentverse_tolerates_bad_role_count_and_unparseable_evaluator():
    """Scripted deterministic models: a recruiter with no numbered roles and an evaluator without a
    score neither raise; the evaluation counts as 0, so all max_turn turns run, then it answers."""
    def fn(req):
        if req.role == "recruiter":
            return "Sure, here is a team."
        if req.role == "evaluator":
            return "Hmm, hard to say."
        return "[Agree]" if req.role == "critic" else "The answer is 42"

    sol, script = await solve("agentverse", fn, max_turn=2, cnt_agents=3)
    assert_accounting(sol, script)
    assert sol.usage.calls == 2 * (1 + 1 + 2 + 1)
    assert sol.answer == "The answer is 42" and not sol.metadata["accepted"]
    assert not any(t["roles_parsed"] or t["evaluation_parsed"] for t in sol.metadata["log"])


def test_agentverse_parsers():
    """Scripted deterministic setting, pure parsing (no model call): roles are padded or truncated; scores read from several formats."""
    assert parse_roles("1. A\n2. B\n3. C", 2) == (["A", "B"], False)
    roles, ok = parse_roles("1) Expert", 3)
    assert len(roles) == 3 and roles[0] == "Expert" and not ok
    assert parse_evaluation("Correctness: 1\nAdvice: fine")[:2] == (1, "fine")
    assert parse_evaluation('{"correctness": 0, "advice": "redo step 2"}') == (0, "redo step 2", True)
    assert parse_evaluation("no idea") == (0, "no idea", False)


# --------------------------------------------------------------------------- DyLAN


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


# --------------------------------------------------------------------------- MacNet


@pytest.mark.parametrize("kind", ["chain", "star", "tree", "net", "mlp", "random"])
def test_macnet_topologies_are_dags_within_edge_bounds(kind):
    """Scripted deterministic setting, no model call needed: every topology, for 2–9 nodes and several seeds, is a connected forward DAG
    with n−1 to n(n−1)/2 edges."""
    for n in range(2, 10):
        for seed in range(8):
            dag = build_topology(kind, n, random.Random(seed))
            assert nx.is_directed_acyclic_graph(dag) and nx.is_weakly_connected(dag)
            assert sorted(dag.nodes) == list(range(1, n + 1))
            assert n - 1 <= dag.number_of_edges() <= n * (n - 1) // 2
            assert all(u < v for u, v in dag.edges)
    assert build_topology("chain", 1).number_of_edges() == 0
    sizes = {build_topology("random", 6, random.Random(s)).number_of_edges() for s in range(40)}
    assert len(sizes) > 3  # random really varies its edge count


async def test_macnet_chain_passes_answers_along_edges():
    """Scripted deterministic models: in a chain of 5, node 3's prompts hold node 2's answer; each
    edge costs critique + improve (1 + 2·4 = 9 calls); temperature falls 1 → 0 with depth."""
    def fn(req):
        return f"Critique by {req.agent}." if "Critique this" in req.prompt else f"{req.agent} finds 42."

    sol, script = await solve("macnet", fn, topology="chain")
    assert_accounting(sol, script)
    assert sol.usage.calls == 9
    node3 = [r for r in script.requests if r.agent == "node_3"]
    assert len(node3) == 2 and all("node_2 finds 42." in r.prompt for r in node3)
    assert "Critique by node_3." in node3[1].prompt
    temps = {r.agent: r.params["temperature"] for r in script.requests}
    assert temps == {"node_1": 1.0, "node_2": 0.75, "node_3": 0.5, "node_4": 0.25, "node_5": 0.0}
    assert sol.answer == "node_5 finds 42."


@pytest.mark.parametrize("kind", ["chain", "star", "tree", "net", "mlp", "random"])
async def test_macnet_call_count_matches_formula(kind):
    """Scripted deterministic models: calls = sources + 2·|E| + #{indeg ≥ 2} + [#sinks ≥ 2]."""
    sol, script = await solve("macnet", lambda req: "The answer is 42.", topology=kind)
    dag = nx.DiGraph(sol.metadata["edges"])
    dag.add_nodes_from(range(1, 6))
    sources = sum(1 for v in dag if dag.in_degree(v) == 0)
    merges = sum(1 for v in dag if dag.in_degree(v) >= 2)
    sinks = sum(1 for v in dag if dag.out_degree(v) == 0)
    assert sol.usage.calls == sources + 2 * dag.number_of_edges() + merges + (sinks >= 2)
    assert_accounting(sol, script)


async def test_macnet_same_depth_nodes_run_concurrently():
    """Scripted deterministic models (async, with a short sleep): the 4 leaves of a star work at once."""
    state = {"now": 0, "peak": 0}

    async def fn(req):
        state["now"] += 1
        state["peak"] = max(state["peak"], state["now"])
        await asyncio.sleep(0.01)
        state["now"] -= 1
        return "The answer is 42."

    await solve("macnet", fn, topology="star")
    assert state["peak"] == 4


def test_macnet_rejects_cycles_at_validation(tmp_path):
    """Scripted deterministic setting, no model call needed: a cyclic edge list (in Python or in a workflow YAML) fails validation with
    the cycle named; explicit acyclic edges are accepted as topology `custom`."""
    with pytest.raises(ConfigError, match=r"cycle \(1 -> 2 -> 3 -> 1\)"):
        load_method("macnet", agent_num=3, edges=[[1, 2], [2, 3], [3, 1]])
    path = tmp_path / "cyclic.yaml"
    path.write_text("name: bad\nmethod: macnet\nparams:\n  agent_num: 4\n  edges: [[1, 2], [2, 4], [4, 1]]\n")
    wf = yaml.safe_load(path.read_text())
    with pytest.raises(ConfigError, match="edges.*cycle"):
        load_method(wf["method"], **wf["params"])
    with pytest.raises(ConfigError, match="outside 1..3"):
        load_method("macnet", agent_num=3, edges=[[1, 4]])
    with pytest.raises(ConfigError, match="either"):
        load_method("macnet", agent_num=3, topology="net", edges=[[1, 2]])
    ok = load_method("macnet", agent_num=3, edges=[[1, 3], [2, 3]])
    assert ok.config.topology == "custom" and "node_3" in ok.mermaid()
    with pytest.raises(ValueError, match="self-loop"):
        validate_edges([(2, 2)], 3)


# --------------------------------------------------------------------------- CAMEL


def camel_script(done_at: int | None):
    def fn(req):
        if req.role == "specifier":
            return "Compute the product 6 × 7."
        turn = sum(1 for m in req.messages if m.role == "assistant") + 1
        if req.role == "user":
            return "<CAMEL_TASK_DONE>" if turn == done_at else f"Instruction: step {turn}\nInput: None"
        return f"Solution: partial result {turn}; the answer is 42.\nNext request."
    return fn


async def test_camel_stops_on_done_token_and_answers_with_the_solution():
    """Scripted deterministic models: the user says the done token on turn 2 — specifier + user +
    assistant + user = 4 calls — and the answer is the assistant's last solution, not the transcript."""
    sol, script = await solve("camel", camel_script(done_at=2))
    assert_accounting(sol, script)
    assert sol.usage.calls == 4 and sol.metadata["stopped"] == "done"
    assert sol.answer == "partial result 1; the answer is 42."
    assert "Instruction" not in sol.answer
    assert "Compute the product" in script.by_role("assistant")[0].system


async def test_camel_stops_at_the_turn_limit():
    """Scripted deterministic models: without the done token, chat_turn_limit 3 gives 1 + 2·3 = 7
    calls and the answer is the third solution."""
    sol, _ = await solve("camel", camel_script(done_at=None))
    assert sol.usage.calls == 7 and sol.metadata["stopped"] == "turn_limit"
    assert sol.answer == "partial result 3; the answer is 42."


async def test_camel_critic_chooses_separately_for_each_side():
    """Scripted deterministic models: with 2 options per side the critic is asked once per side and
    turn, and its assistant-side pick (option 2) is the answer: 1 + 2 turns · 2 sides · 3 = 13 calls."""
    def fn(req):
        if req.role == "critic":
            return "Option 2" if "Postdoc" in req.prompt else "Option 1"
        if req.role == "assistant":
            return f"Solution: variant {req.sample_index + 1}"
        return camel_script(None)(req)

    sol, script = await solve("camel", fn, with_critic=True, option_num=2, chat_turn_limit=2)
    assert sol.usage.calls == 13 and len(script.by_role("critic")) == 4
    assert sol.answer == "variant 2"


# --------------------------------------------------------------------------- MAV


def mav_script(approve):
    def fn(req):
        if req.role == "generator":
            return f"Candidate {'AB'[req.sample_index]}: the answer is {41 + req.sample_index}."
        if "FINAL VERIFICATION ANSWER" in req.prompt:
            return f"FINAL VERIFICATION ANSWER: {approve(req.transcript)}"
        return "Analysis: the steps look fine."
    return fn


async def test_mav_makes_10_calls_with_approvals_at_temperature_0():
    """Scripted deterministic models: (2, 2) makes 2 + 2·2·2 = 10 calls; every approval-only call
    runs at temperature 0.0 after its analysis; the aspects are 2 distinct ones from the list."""
    sol, script = await solve("mav", mav_script(lambda t: True), temperature=0.7)
    assert_accounting(sol, script)
    assert sol.usage.calls == 10
    approvals = [r for r in script.requests if "FINAL VERIFICATION ANSWER" in r.prompt]
    analyses = [r for r in script.by_role("verifier") if r not in approvals]
    assert len(approvals) == 4 and all(r.params["temperature"] == 0.0 for r in approvals)
    assert len(analyses) == 4 and all(r.params["temperature"] == 0.7 for r in analyses)
    assert all("Analysis: the steps look fine." in r.transcript for r in approvals)
    aspects = sol.metadata["aspects"]
    assert len(set(aspects)) == 2 and set(aspects) <= {
        "units_steps", "general_summarize", "general_edge", "general_mistakes", "general_domain",
        "math_steps", "logic_steps", "general_diff"}


async def test_mav_verdicts_gate_the_answer():
    """Scripted deterministic models: the candidate with more approvals wins; ties go to the first."""
    sol, _ = await solve("mav", mav_script(lambda t: "Candidate B" in t))
    assert sol.answer.startswith("Candidate B") and sol.metadata["approvals"] == [0, 2]
    sol, _ = await solve("mav", mav_script(lambda t: True))
    assert sol.answer.startswith("Candidate A") and sol.metadata["approvals"] == [2, 2]
    sol, _ = await solve("mav", mav_script(lambda t: False))
    assert sol.answer.startswith("Candidate A") and sol.metadata["approvals"] == [0, 0]


def test_mav_approval_parser():
    """Scripted deterministic setting, pure parsing (no model call): the verdict symbol wins; unclear replies are rejections."""
    assert parse_approval("FINAL VERIFICATION ANSWER: **True**")
    assert not parse_approval("FINAL VERIFICATION ANSWER: False")
    assert parse_approval("Yes")
    assert not parse_approval("I cannot tell.")
