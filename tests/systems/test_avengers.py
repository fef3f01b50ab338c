"""The `avengers` system (arXiv 2505.19797): route → generate → vote, end to end.

Unit tests run on scripted deterministic models (`ModelPool.scripted`): a model's reply is computed
from the request — the synthetic calibration topics each have one model that answers right (the
scripted function answers correctly only for its own topic) — so routes, call counts per alias,
votes and answers are checked exactly (the orchestration logic; the topics live in
`tests/systems/avengers_topics.py`). Routers are calibrated for real with the offline
all-MiniLM-L6-v2 embedder (loaded once per test process). The integration test at the end runs the
embedded SmolLM2 model: a tiny real sweep, `maslab route calibrate --store`, then the system.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from maslab.drawing import to_mermaid
from maslab.errors import ConfigError
from maslab.method import load_method
from maslab.models import ModelPool, ScriptedRequest
from maslab.task import Task
from tests.systems.avengers_topics import (
    MODELS,
    ORACLE,
    calibration_records,
    chemistry,
    held_out_tasks,
    topic_expert,
)
from tests.systems.scripts import SCENARIOS

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def records_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("records") / "synthetic.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in calibration_records()))
    return path


@pytest.fixture(scope="module")
def router_dir(records_file, tmp_path_factory) -> Path:
    """The router calibrated offline on the synthetic records (K = 3, real MiniLM), saved as artefacts."""
    from maslab.routers.avengers import calibrate, load_records
    from maslab.routers.embeddings import SentenceTransformerEmbedder

    out = tmp_path_factory.mktemp("router") / "router"
    calibrate(load_records(records_file), SentenceTransformerEmbedder(), k=3, seed=42).save(out, heatmap=False)
    return out


def pool(fn: Any = topic_expert, *aliases: str) -> ModelPool:
    return ModelPool.scripted(fn, *(aliases or MODELS))


def by_alias(solution: Any) -> dict[str, int]:
    return {alias: row.calls for alias, row in solution.usage.by("alias").items()}


# --------------------------------------------------------------------------- routing to the oracle


async def test_held_out_questions_go_to_their_topic_oracle_and_are_answered_right(router_dir):
    method = load_method("avengers", router=str(router_dir))
    p = pool()
    for task in held_out_tasks():
        solution = await method.solve(task, pool=p)
        oracle = ORACLE[task.metadata["topic"]]
        assert by_alias(solution) == {oracle: 10}, task.id  # 10-sample self-consistency on the oracle only
        assert solution.metadata["models"] == [oracle] and solution.metadata["aliases"] == [oracle]
        assert re.search(rf"Answer: {task.answer}$", solution.answer), solution.answer
        assert solution.metadata["vote"]["answer"] == task.answer
        assert solution.metadata["consistency"] == 1.0
        assert solution.metadata["cluster"] is not None and solution.metadata["route"]["clusters"]
    assert p.ledger.snapshot().calls == 10 * len(held_out_tasks())


async def test_samples_are_parallel_distinct_sample_indices_at_the_configured_temperature(router_dir):
    seen: list[tuple[int, Any]] = []

    def fn(req: ScriptedRequest) -> str:
        seen.append((req.sample_index, req.params.get("temperature")))
        return topic_expert(req)

    method = load_method("avengers", router=str(router_dir), samples=6)
    await method.solve(held_out_tasks()[0], pool=pool(fn))
    assert sorted(seen) == [(k, 0.7) for k in range(6)]


async def test_the_expert_sees_the_reference_prompt_with_its_answer_format(router_dir):
    prompts: list[str] = []

    def fn(req: ScriptedRequest) -> str:
        prompts.append(req.prompt)
        return topic_expert(req)

    method = load_method("avengers", router=str(router_dir), samples=1)
    await method.solve(Task(question=chemistry(13)[0], domain="math"), pool=pool(fn))
    assert "\\boxed{$ANSWER}" in prompts[0] and chemistry(13)[0] in prompts[0]
    await method.solve(Task(question=chemistry(13)[0], choices=["12", "14", "16"]), pool=pool(fn))
    assert "where LETTER is one of A, B, C" in prompts[1] and "(C) 16" in prompts[1]
    plain = load_method("avengers", router=str(router_dir), samples=1, prompt_template="plain")
    await plain.solve(Task(question=chemistry(13)[0]), pool=pool(fn))
    assert prompts[2] == chemistry(13)[0]


# --------------------------------------------------------------------------- voting through the system


def by_sample(replies: list[str]) -> Any:
    return lambda req: replies[req.sample_index]


async def test_faithful_and_default_vote_modes(router_dir):
    task = Task(question=chemistry(12)[0], domain="math")
    # the official math evaluators read the last \\boxed{} (an unboxed "Answer: 7" gives nothing there)
    replies = ["So \\boxed{0.5}", "Hence \\boxed{\\frac12}", "Thus \\boxed{7}", "\\boxed{1/2}", "Finally \\boxed{7}"]
    faithful = await load_method("avengers", router=str(router_dir), samples=5, vote_mode="faithful").solve(
        task, pool=pool(by_sample(replies)))
    assert faithful.metadata["vote"]["answer"] == "7" and faithful.answer == "Thus \\boxed{7}"  # raw strings: 7 has 2
    default = await load_method("avengers", router=str(router_dir), samples=5).solve(
        task, pool=pool(by_sample(replies)))
    assert default.metadata["vote"]["answer"] == "0.5" and default.answer == "So \\boxed{0.5}"  # 0.5 = 1/2: 3 votes
    assert default.metadata["consistency"] == pytest.approx(0.6)

    empties = ["I am not sure about this one.", "No idea here, sorry about that.", "Answer: 4"]
    faithful = await load_method("avengers", router=str(router_dir), samples=3, vote_mode="faithful").solve(
        task, pool=pool(by_sample(empties)))
    assert faithful.metadata["vote"]["answer"] == "" and faithful.answer == empties[0]  # empty extractions win
    default = await load_method("avengers", router=str(router_dir), samples=3).solve(
        task, pool=pool(by_sample(empties)))
    assert default.metadata["vote"]["answer"] == "4" and default.answer == "Answer: 4"


async def test_default_mode_falls_back_to_generic_extraction_and_multiple_choice_letters(router_dir):
    task = Task(question=chemistry(12)[0], domain="math")
    replies = ["The total is 13.\n#### 13", "so it is 12", "#### 13"]
    solution = await load_method("avengers", router=str(router_dir), samples=3).solve(
        task, pool=pool(by_sample(replies)))
    assert solution.metadata["vote"]["answer"] == "13" and solution.answer == replies[0]
    faithful = await load_method("avengers", router=str(router_dir), samples=3, vote_mode="faithful").solve(
        task, pool=pool(by_sample(replies)))
    assert faithful.metadata["vote"]["answer"] == ""  # the reference extraction finds nothing in "####"

    mcq = Task(question=chemistry(12)[0], choices=["11", "12", "13", "14", "15", "16"])
    letters = ["Answer: F", "Answer: C", "I pick it. Answer: (C)", "Answer: Z"]
    solution = await load_method("avengers", router=str(router_dir), samples=4).solve(
        mcq, pool=pool(by_sample(letters)))
    assert solution.metadata["vote"]["answer"] == "C" and solution.answer == "Answer: C"


async def test_code_tasks_are_not_voted_and_draw_only_sample_zero(router_dir):
    task = Task(question="def add(a, b):\n    '''Add two numbers.'''", domain="code")

    def fn(req: ScriptedRequest) -> str:
        return f"def add(a, b):\n    return a + b  # sample {req.sample_index}"

    solution = await load_method("avengers", router=str(router_dir)).solve(task, pool=pool(fn))
    assert solution.usage.calls == 1 and solution.answer.endswith("# sample 0")
    assert solution.metadata["vote"] is None


# --------------------------------------------------------------------------- generators


def switch_script(first: list[str], second: str) -> Any:
    """Model 1 (alpha, the chemistry oracle) replies first[k]; model 2 (beta, ranked second) always `second`."""
    def fn(req: ScriptedRequest) -> str:
        return first[req.sample_index] if req.alias == "alpha" else second
    return fn


@pytest.mark.parametrize("mode", ["paper", "lazy_weighted"])
async def test_model_switch_keeps_a_consistent_first_model(router_dir, mode):
    method = load_method("avengers", router=str(router_dir), generator="model_switch", mode=mode)
    task = held_out_tasks()[0]  # chemistry: alpha first, then beta
    solution = await method.solve(task, pool=pool(switch_script(["Answer: 12"] * 5, "Answer: 99")))
    assert solution.metadata["models"] == ["alpha", "beta"]
    assert by_alias(solution) == ({"alpha": 5, "beta": 5} if mode == "paper" else {"alpha": 5})
    assert solution.metadata["switch"]["used"] == "model_1"
    assert solution.metadata["vote"]["answer"] == "12" and solution.answer == "Answer: 12"


async def test_model_switch_votes_over_the_union_when_the_first_model_is_inconsistent(router_dir):
    method = load_method("avengers", router=str(router_dir), generator="model_switch")
    first = ["Answer: 1", "Answer: 1", "Answer: 2", "Answer: 2", "Answer: 3"]  # consistency 0.4 < 0.8
    solution = await method.solve(held_out_tasks()[0], pool=pool(switch_script(first, "Answer: 99")))
    assert by_alias(solution) == {"alpha": 5, "beta": 5}
    assert solution.metadata["switch"]["used"] == "union"
    assert solution.metadata["switch"]["model_1_consistency"] == pytest.approx(0.4)
    assert solution.metadata["vote"]["answer"] == "99" and solution.metadata["consistency"] == pytest.approx(0.5)
    # the first model's 1 and 2 would tie the second model's 99 without it: the union decides
    mixed = await method.solve(held_out_tasks()[0], pool=pool(switch_script(first, "Answer: 2")))
    assert mixed.metadata["vote"]["answer"] == "2" and mixed.answer == "Answer: 2"


async def test_lazy_weighted_model_switch_samples_the_second_model_only_when_needed(router_dir):
    method = load_method("avengers", router=str(router_dir), generator="model_switch", mode="lazy_weighted",
                         consistency_rate_threshold=0.8)
    first = ["Answer: 1", "Answer: 1", "Answer: 1", "Answer: 2", "Answer: 3"]  # 0.6: switch
    second = "Answer: 5"
    solution = await method.solve(held_out_tasks()[0], pool=pool(switch_script(first, second)))
    assert by_alias(solution) == {"alpha": 5, "beta": 5}
    switch = solution.metadata["switch"]
    assert switch["used"] == "weighted_2" and switch["weights"] == [pytest.approx(0.6), pytest.approx(1.0)]
    # unweighted, "1" (3 votes) would lose to "5" (5 votes) anyway; weighted 1.8 vs 5.0
    assert solution.metadata["vote"]["answer"] == "5"


async def test_model_switch_with_one_callable_model_is_self_consistency(router_dir):
    method = load_method("avengers", router=str(router_dir), generator="model_switch")
    solution = await method.solve(held_out_tasks()[0], pool=pool(topic_expert, "alpha"))
    assert by_alias(solution) == {"alpha": 10} and solution.metadata["models"] == ["alpha"]
    assert "switch" not in solution.metadata and solution.metadata["vote"]["answer"] == held_out_tasks()[0].answer


async def test_routing_on_the_templated_prompt(router_dir):
    method = load_method("avengers", router=str(router_dir), samples=1, route_on="templated")
    solution = await method.solve(held_out_tasks()[0], pool=pool())
    assert solution.metadata["models"][0] in MODELS and solution.usage.calls == 1


async def test_direct_makes_one_call_at_temperature_0_2(router_dir):
    temps: list[Any] = []

    def fn(req: ScriptedRequest) -> str:
        temps.append(req.params.get("temperature"))
        return topic_expert(req)

    solution = await load_method("avengers", router=str(router_dir), generator="direct").solve(
        held_out_tasks()[5], pool=pool(fn))
    assert solution.usage.calls == 1 and temps == [0.2]
    assert solution.metadata["vote"]["answer"] == held_out_tasks()[5].answer


async def test_aggregation_calls_each_routed_expert_once_then_the_aggregator(router_dir):
    seen: list[ScriptedRequest] = []

    def fn(req: ScriptedRequest) -> str:
        seen.append(req)
        return topic_expert(req)

    task = held_out_tasks()[4]  # history: beta first
    solution = await load_method("avengers", router=str(router_dir), generator="aggregation", top_n=2).solve(
        task, pool=pool(fn))
    assert solution.usage.calls == 3
    roles = Counter(r.role for r in seen)
    assert roles == {"expert": 2, "aggregator": 1}
    agg = next(r for r in seen if r.role == "aggregator")
    assert agg.alias == "beta" and agg.params["temperature"] == 0.2  # default: the top-1 routed model
    assert "### Result of beta" in agg.prompt and "### Result of" in agg.prompt.split("### Result of beta")[1]
    assert "aggregation agent" in agg.system
    assert solution.metadata["vote"]["answer"] == task.answer

    assigned = await load_method("avengers", router=str(router_dir), generator="aggregation", top_n=3,
                                 roles={"aggregator": "gamma"}).solve(task, pool=pool(fn))
    assert assigned.usage.calls == 4 and by_alias(assigned)["gamma"] == 2  # gamma: one expert + the aggregator


async def test_moa_runs_its_layers_then_the_aggregator(router_dir):
    seen: list[ScriptedRequest] = []

    def fn(req: ScriptedRequest) -> str:
        seen.append(req)
        return topic_expert(req)

    solution = await load_method("avengers", router=str(router_dir), generator="moa", top_n=2).solve(
        held_out_tasks()[0], pool=pool(fn))
    assert solution.usage.calls == 3 * 2 + 1
    assert Counter(r.role for r in seen) == {"expert": 6, "aggregator": 1}
    refined = [r for r in seen if r.role == "expert" and "Original question:" in r.prompt]
    assert len(refined) == 4 and all("### Result of alpha" in r.prompt for r in refined)
    assert all(r.params["temperature"] == 0.2 for r in seen)
    one = await load_method("avengers", router=str(router_dir), generator="moa", top_n=2, moa_layers=1).solve(
        held_out_tasks()[0], pool=pool(fn))
    assert one.usage.calls == 2 + 1


def test_long_responses_are_cut_from_the_front_to_the_budget():
    from maslab.agents.avengers import count_tokens, format_responses

    long = "start " + "x" * 40_000 + " conclusion 42"
    shown = format_responses(["m1", "m2"], [long, "short"], "Q?", 3000)
    first = shown.split("### Result of m2")[0]
    assert first.startswith("### Result of m1\n") and "conclusion 42" in first and "start" not in first
    assert count_tokens(first) <= 3000 // 2 + 5
    assert shown.endswith("### Result of m2\nshort\n\n")


# --------------------------------------------------------------------------- random routing, model maps, artefacts


async def test_random_routing_spreads_over_models_and_is_reproducible_per_seed(router_dir):
    tasks = [Task(id=f"t{i}", question=chemistry(i % 16)[0]) for i in range(24)]

    async def routes(seed: int) -> list[str]:
        method = load_method("avengers", router=str(router_dir), routing="random", samples=1, seed=seed)
        out = []
        for t in tasks:
            s = await method.solve(t, pool=pool())
            assert s.metadata["routing"] == "random" and s.metadata["route"]["clusters"] == []
            out.append(s.metadata["models"][0])
        return out

    first, again, other = await routes(0), await routes(0), await routes(1)
    assert first == again
    assert first != other
    assert set(first) == set(MODELS)  # chemistry questions, yet every model is drawn


async def test_model_map_sends_router_ids_to_pool_aliases(router_dir):
    method = load_method("avengers", router=str(router_dir), samples=2,
                         model_map={"alpha": "qwen", "beta": "llama", "gamma": "mistral"})

    def fn(req: ScriptedRequest) -> str:
        return "Answer: 1"

    solution = await method.solve(held_out_tasks()[0], pool=ModelPool.scripted(fn, "qwen", "llama", "mistral"))
    assert by_alias(solution) == {"qwen": 2} and solution.metadata["models"] == ["alpha"]
    assert solution.metadata["aliases"] == ["qwen"]


async def test_only_models_the_pool_can_call_are_candidates(router_dir):
    method = load_method("avengers", router=str(router_dir), samples=2)
    solution = await method.solve(held_out_tasks()[0], pool=pool(topic_expert, "beta", "gamma"))  # no alpha
    assert solution.metadata["route"]["candidates"] == ["beta", "gamma"]
    assert set(by_alias(solution)) <= {"beta", "gamma"}
    with pytest.raises(ConfigError, match="none of the router's models has a pool alias.*model_map"):
        await method.solve(held_out_tasks()[0], pool=ModelPool.scripted(topic_expert, "other"))


async def test_saved_and_loaded_router_routes_identically_through_the_system(router_dir):
    from maslab.agents.avengers import Avengers
    from maslab.routers.avengers import Router

    loaded = load_method("avengers", router=str(router_dir), samples=1)
    injected = Avengers.with_router(Router.load(router_dir), samples=1)
    for task in [*held_out_tasks(), Task(question="Which planet is the largest in the solar system?")]:
        b = await loaded.solve(task, pool=pool())
        c = await injected.solve(task, pool=pool())
        assert b.metadata["route"] == c.metadata["route"]
        assert b.answer == c.answer


async def test_the_router_directory_is_loaded_once_per_system(router_dir, monkeypatch):
    import asyncio

    from maslab.routers.avengers import Router

    calls = []
    real = Router.load

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(Router, "load", counting)
    method = load_method("avengers", router=str(router_dir), samples=1)
    await asyncio.gather(*(method.solve(t, pool=pool()) for t in held_out_tasks()))
    assert len(calls) == 1


# --------------------------------------------------------------------------- configuration and drawing


def test_configuration_errors_are_clear(router_dir, tmp_path):
    with pytest.raises(ConfigError, match="roles.expert.*model_map"):
        load_method("avengers", router=str(router_dir), roles={"expert": "alpha"})
    with pytest.raises(ConfigError, match="records"):  # run-time calibration is gone: calibrate offline
        load_method("avengers", records="calibration.jsonl")
    with pytest.raises(ConfigError, match="router: .*no directory"):
        load_method("avengers", router=str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="generator"):
        load_method("avengers", generator="fast_slow")


async def test_a_missing_router_fails_before_any_model_call(tmp_path):
    p = pool()
    with pytest.raises(ConfigError, match="needs `router`"):
        await load_method("avengers").solve(held_out_tasks()[0], pool=p)
    (tmp_path / "broken").mkdir()
    with pytest.raises(ConfigError, match="cannot load the router"):
        await load_method("avengers", router=str(tmp_path / "broken")).solve(held_out_tasks()[0], pool=p)
    assert p.ledger.snapshot().calls == 0


@pytest.mark.parametrize("generator", ["self_consistency", "model_switch", "direct", "aggregation", "moa"])
def test_the_graph_draws_without_a_pool_or_router(generator):
    text = to_mermaid(load_method("avengers", generator=generator, mode="lazy_weighted"))
    for node in ("route", "generate", "vote"):
        assert f"{node}({node})" in text
    assert ("vote -.-> generate" in text) == (generator == "model_switch")


def test_a_relative_router_path_resolves_against_the_workflow_file(tmp_path, monkeypatch):
    from maslab.workflow import load_workflow

    monkeypatch.chdir(tmp_path)  # not the repository: the path is read relative to the workflow file
    method = load_workflow(REPO / "workflows" / "avengers.yaml", aliases=["smol"]).to_method()
    assert Path(method.config.router) == (REPO / "workflows" / "data" / "avengers_smol_router").resolve()


async def test_the_shipped_workflow_routes_to_smol(monkeypatch, tmp_path):
    from maslab.workflow import load_workflow

    monkeypatch.chdir(tmp_path)  # the router path resolves against the workflow file
    workflow = load_workflow(REPO / "workflows" / "avengers.yaml", aliases=["smol"])
    solution = await workflow.to_method().solve(Task(question="What is 6 times 7?"),
                                               pool=ModelPool.scripted(lambda r: "6 x 7 = 42. Answer: 42", "smol"))
    assert solution.metadata["models"] == ["smol"] and solution.metadata["vote"]["answer"] == "42"
    assert solution.usage.calls == 10


# --------------------------------------------------------------------------- the embedded model, end to end


@pytest.mark.integration
async def test_sweep_calibrate_route_on_the_embedded_model(embedded_pool, embedded_models_file, tmp_path):
    """A real 2-sample self-consistency sweep on 4 arithmetic tasks, `maslab route calibrate --store`,
    then the avengers system on one question — every layer for real (the answers may be wrong)."""
    from maslab.bench.sweep import Sweep, run_sweep
    from maslab.cli import main

    sweep = Sweep.model_validate({
        "name": "avengers-it", "methods": [{"method": "self_consistency", "params": {"samples": 2}}],
        "assignments": [{"name": "smol", "model": "smol"}],
        "datasets": [{"name": "arithmetic", "generator": "arithmetic", "n": 4}], "max_tokens": 32})
    summary = await run_sweep(sweep, out=tmp_path / "sweep", pool=embedded_pool, progress=False)
    assert summary.ran == 4 and summary.failed == 0
    assert main(["route", "calibrate", "--store", str(tmp_path / "sweep"), "--k", "2", "--out",
                 str(tmp_path / "router"), "--models", str(embedded_models_file)]) == 0
    method = load_method("avengers", router=str(tmp_path / "router"), samples=2)
    solution = await method.solve(Task(question="What is 6 times 7?", domain="math"), pool=embedded_pool)
    assert solution.metadata["models"] == ["smol"] and solution.usage.calls == 2 and solution.usage.errors == 0
    assert solution.answer.strip() and solution.metadata["cluster"] in (0, 1)


# --------------------------------------------------------------------------- reference profile (the official code)

SCENARIO_CALLS = {"self_consistency": 10, "model_switch": 10, "direct": 1, "aggregation": 11}
# self_consistency: 10 samples of the top model; model_switch: 5 + 5 (both models at once); direct: 1;
# aggregation (top_n 2): 5 samples per expert as the official code draws (the first is shown) + aggregator


def scenario_samples(scenario: str, position: int, k: int) -> str:
    """A math reply: distinct boxes (disagree), one box (agree), one box worded three ways (paraphrase), or
    disagreeing first five samples of the first model and agreeing ones after (disagree_then_agree)."""
    agree = "So the result is \\boxed{12}."
    if scenario == "disagree" or (scenario == "disagree_then_agree" and position == 0 and k < 5):
        return f"Attempt {k} gives \\boxed{{{20 + 10 * position + k}}}."
    if scenario == "paraphrase":
        return ["So the result is \\boxed{12}.", "Multiplying out: \\boxed{12}", "Clearly \\boxed{12} here."][k % 3]
    return agree


@pytest.mark.parametrize("generator", sorted(SCENARIO_CALLS))
@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_reference_profile_generators_per_scenario(router_dir, generator, scenario):
    """Scripted deterministic models, each (generator, scenario): the official generators' sample counts
    (SCENARIO_CALLS, one request per sample), the official vote (raw boxed strings), Model-Switch's
    branch by model 1's consistency, and an aggregator that reads the first sample of each expert."""
    task = Task(question=chemistry(12)[0], domain="math")
    seen: list[ScriptedRequest] = []

    def fn(req: ScriptedRequest) -> str:
        seen.append(req)
        if req.role == "aggregator":
            return "Combined: \\boxed{12}"
        return scenario_samples(scenario, int(req.agent.split("_")[1]) - 1, req.sample_index)

    method = load_method("avengers", router=str(router_dir), generator=generator, profile="reference",
                         **({"top_n": 2} if generator == "aggregation" else {}))
    assert (method.config.route_on, method.config.ties, method.config.vote_mode) == ("templated", "cluster",
                                                                                     "faithful")
    solution = await method.solve(task, pool=pool(fn))
    assert solution.usage.calls == SCENARIO_CALLS[generator]
    vote = solution.metadata["vote"]
    if generator == "self_consistency":
        assert vote["answer"] == ("20" if scenario == "disagree" else "12")  # 10 distinct → the first
    if generator == "model_switch":
        used = solution.metadata["switch"]["used"]
        assert used == ("union" if scenario in ("disagree", "disagree_then_agree") else "model_1")
    if generator == "aggregation":
        [agg] = [r for r in seen if r.role == "aggregator"]
        for name in solution.metadata["route"]["names"]:
            assert agg.prompt.count(f"### Result of {name}\n") == 1  # one (the first) sample per expert
        assert vote["answer"] == "12"


class _Fixed:
    name = "fixed"

    def embed(self, texts: list[str]) -> Any:
        import numpy as np

        return np.array([[0.0, 1.0] for _ in texts])


def _tie_router() -> Any:
    """Two clusters; in cluster 1 beta and alpha tie, beta first among the cluster's own records while alpha
    comes first over all records (stored rankings: maslab's record order)."""
    import numpy as np
    from sklearn.preprocessing import Normalizer

    from maslab.routers.avengers import CalibrationRecord, Router, RouterConfig, cluster_rankings

    recs = [CalibrationRecord(query="a", dataset="d", records={"alpha": True, "beta": True}),
            CalibrationRecord(query="b", dataset="d", records={"beta": False, "alpha": False}),
            CalibrationRecord(query="c", dataset="d", records={"beta": True, "alpha": True})]
    centres = np.array([[1.0, 0.0], [0.0, 1.0]])
    config = RouterConfig(k=2, requested_k=2, seed=0, embedder="fixed", selected_models=["alpha", "beta"], dim=2,
                          n_records=3, ties="records", format=2)
    return Router(centres, cluster_rankings([0, 1, 1], recs, 2), {"alpha": "alpha", "beta": "beta"},
                  Normalizer().fit(centres), config, embedder=_Fixed())


async def test_reference_profile_breaks_ranking_ties_within_the_cluster():
    """Scripted deterministic models: records whose model order varies tie alpha and beta in the query's
    cluster; the default profile routes by the stored record order (alpha), the reference profile by the
    official per-cluster order (beta)."""
    from maslab.agents.avengers import Avengers

    task = Task(question="What is 6 times 7?", domain="math")
    default = await Avengers.with_router(_tie_router(), samples=1).solve(task, pool=pool(lambda r: "\\boxed{42}"))
    reference = await Avengers.with_router(_tie_router(), samples=1, profile="reference").solve(
        task, pool=pool(lambda r: "\\boxed{42}"))
    assert default.metadata["models"] == ["alpha"] and reference.metadata["models"] == ["beta"]
