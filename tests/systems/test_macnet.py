"""MacNet (`macnet`, arXiv 2406.07155): agents on a DAG topology, answers passed and critiqued along edges.

They run on scripted deterministic models (`ModelPool.scripted`): replies are a pure function of the
request, so the orchestration logic (call counts, prompts, sampling parameters) is asserted exactly.
"""

from __future__ import annotations

import asyncio
import random

import networkx as nx
import pytest
import yaml

from maslab.agents.macnet import build_topology, validate_edges
from maslab.drawing import to_mermaid
from maslab.errors import ConfigError
from maslab.method import load_method
from maslab.task import Task
from tests.systems.scripts import SCENARIOS, assert_accounting, scenario_reply
from tests.systems.scripts import solve_recorded as solve


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
    assert ok.config.topology == "custom" and "node_3" in to_mermaid(ok)
    with pytest.raises(ValueError, match="self-loop"):
        validate_edges([(2, 2)], 3)


# --------------------------------------------------------------------------- reference profile (MASLab 74265c7)

# MASLab reseeds with 2025 for every task; on 5 nodes that draws these 8 edges (the reference's 0-based
# (3,4), (1,3), (1,4), (0,4), (2,4), (0,1), (1,2), (0,3), shifted to maslab's nodes 1..5)
REFERENCE_EDGES = [(1, 2), (1, 4), (1, 5), (2, 3), (2, 4), (2, 5), (3, 5), (4, 5)]


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_reference_profile_calls_on_the_reference_graph(scenario: str):
    """Scripted deterministic models, each scenario (MacNet never stops early): on the reference's seed-2025
    graph, source 1 answers once from the virtual input node (1), each of the 8 edges costs a review and an
    improvement (16), nodes 4 and 5 have ≥ 2 inputs and integrate them (2), and the virtual output node
    reviews and improves sink 5's answer (2): 21 calls. MASLab's own code makes 10 here because its
    review never runs — the bug the deviation list names."""
    sol, script = await solve("macnet", lambda req: f"{req.agent}: {scenario_reply(scenario, 0)}", profile="reference")
    assert sol.metadata["edges"] == REFERENCE_EDGES and sol.metadata["sinks"] == [5]
    assert sol.usage.calls == 21  # 1 + 2·8 + 2 + 2
    temps = {r.agent: r.params["temperature"] for r in script.requests}
    assert temps == pytest.approx({"node_1": 0.8, "node_2": 0.6, "node_3": 0.4, "node_4": 0.4, "node_5": 0.2,
                                   "node_out": 0.0})  # 1 − depth/5, the virtual nodes counted


async def test_reference_answers_travel_along_the_edges():
    """Scripted deterministic models: node 2 reviews and improves node 1's answer; node 4 integrates the
    improvements of nodes 1 and 2's answers; the output node reviews node 5's answer; the answer is the
    output node's; every system prompt is one of the 99 profiles."""
    from maslab.agents.macnet import PROFILES

    sol, script = await solve("macnet", lambda req: f"<{req.agent} #{len(req.messages)}>", profile="reference")
    node2 = [r for r in script.requests if r.agent == "node_2"]
    assert len(node2) == 2 and all("[Node 1's answer]\n<node_1" in r.prompt for r in node2)
    merge4 = [r for r in script.requests if r.agent == "node_4"][-1]
    assert merge4.prompt.count("'s answer:]") == 2 and "[Node 1's answer:]" in merge4.prompt
    out = [r for r in script.requests if r.agent == "node_out"]
    assert len(out) == 2 and all("[Node 5's answer]\n<node_5" in r.prompt for r in out)
    assert sol.answer.startswith("<node_out")
    assert all(r.messages[0].text in PROFILES for r in script.requests) and len(PROFILES) == 99


async def test_reference_graph_is_compiled_once_and_the_same_for_every_task():
    """Scripted deterministic models: with topology_seed set the random graph does not depend on the task,
    so it is compiled once and two tasks make the same calls."""
    method = load_method("macnet", profile="reference")
    assert not method.per_run_graph()
    runs = []
    for q in ("What is 6 times 7?", "What is 5 times 8?"):
        _, script = await solve("macnet", lambda req: "42", task=Task(question=q), profile="reference")
        runs.append([(r.agent, r.params["temperature"]) for r in script.requests])
    assert runs[0] == runs[1]
