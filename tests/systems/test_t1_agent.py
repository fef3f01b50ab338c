"""t1_agent (arXiv 2505.16986) end to end: the agent, the `t1` dataset and the `t1` scorer.

Every test but the last runs on scripted, deterministic models (`ModelPool.scripted`): the script
reads the ``# CONVERSATION`` section of the prompt the agent sent, looks the turn up, and replies
with that turn's gold code wrapped in ``<REASONING>``/``<CODE>`` tags — or with a planted mistake.
Plans run in the real sandbox (about a second each; dialogues run concurrently). The last test
(`integration`) runs the embedded SmolLM2 on llama.cpp.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from maslab.agents.t1.prompt import render_conversation
from maslab.bench.datasets import load_dataset
from maslab.bench.scorers import Score, get_scorer, score_for
from maslab.bench.store import ResultStore
from maslab.bench.sweep import load_sweep, run_sweep
from maslab.bench.t1.answer import T1Answer
from maslab.bench.t1.dataset import dialogue_from_task
from maslab.bench.t1.metrics import TurnScore, aggregate
from maslab.drawing import to_mermaid
from maslab.errors import ModelCallError
from maslab.method import load_method
from maslab.models import ModelPool
from maslab.task import Solution, Task
from maslab.tools.travel.analysis import plan_graph_data, plan_mermaid
from maslab.tools.travel.dialogues import CATEGORIES, Dialogue, DialogueTurn
from maslab.tools.travel.kb import get_kb
from maslab.tools.travel.tools import NO_PLANNING
from maslab.workflow import load_workflow
from tests.t1_planted import two_flight_turns

REPO = Path(__file__).resolve().parents[2]
SECTIONS = ["# TOOL CONFIG", "# INSTRUCTIONS", "# OUTPUT FORMAT", "# EXAMPLES", "# CONVERSATION", "# CACHE"]
METRICS = ("tool_accuracy", "tool_precision", "tool_recall", "tool_f1", "param_accuracy", "param_precision",
           "param_recall", "param_f1", "exec_success", "cache_em")


# ---------------------------------------------------------------------------------------------
# helpers


def user_prompt(req) -> str:
    """The first user message of a request: the T1 prompt (later ones are repair feedback)."""
    return next(m.text for m in req.messages if m.role == "user")


def conversation(req) -> str:
    text = user_prompt(req)
    head = "\n# CONVERSATION\n"
    return text[text.rindex(head) + len(head): text.rindex("\n\n# CACHE\n")]


def cache_section(req) -> str:
    text = user_prompt(req)
    return text[text.rindex("\n# CACHE\n") + len("\n# CACHE\n"):]


def wrap(code: str) -> str:
    return f"<REASONING>\nscripted\n</REASONING>\n<CODE>\n{code}\n</CODE>"


class Script:
    """Replies with the gold code of the turn the prompt shows; `plant[(dialogue id, turn)]` overrides it."""

    def __init__(self, tasks: list[Task], plant: dict[tuple[str, int], str] | None = None):
        self.turns: dict[str, tuple[str, int, str]] = {}
        for t in tasks:
            d = dialogue_from_task(t)
            for i in d.user_turn_indices():
                key = render_conversation(d.conversation(i))
                assert key not in self.turns, "conversations must identify their turn"
                self.turns[key] = (d.id, i, d.turns[i].code)
        self.plant = plant or {}
        self.requests: list = []

    def __call__(self, req) -> str:
        self.requests.append(req)
        did, i, gold = self.turns[conversation(req)]
        code = self.plant.get((did, i), gold)
        return code if code.startswith(("<", "```")) else wrap(code)


async def solve_all(tasks: list[Task], pool: ModelPool, **params) -> list[tuple[Solution, Score]]:
    # Scripted model (orchestration under test); the sandbox is real. Dozens of plans run at once here, so the
    # per-plan sandbox limit is generous: a timeout on a loaded 2-core machine is not the behaviour tested.
    params.setdefault("timeout", 120.0)
    method = load_method("t1_agent", roles={"planner": "smol"}, **params)
    solutions = await asyncio.gather(*(method.solve(t, pool=pool) for t in tasks))
    scores = await asyncio.gather(*(score_for(t).score(t, s) for t, s in zip(tasks, solutions, strict=True)))
    return list(zip(solutions, scores, strict=True))


def turn(score: Score, k: int) -> dict:
    return score.detail["turns"][k]


def check(ts: dict, tool: tuple, param: tuple) -> None:
    assert (ts["tool_precision"], ts["tool_recall"], ts["tool_f1"]) == pytest.approx(tool)
    assert (ts["param_precision"], ts["param_recall"], ts["param_f1"]) == pytest.approx(param)


@pytest.fixture(scope="module")
def kb():
    return get_kb(0, "test")


@pytest.fixture(scope="module")
def tasks9(kb):
    """One generated test-split dialogue per category."""
    return load_dataset("t1", n=9, seed=0, split="test")


@pytest.fixture(scope="module")
def fx(kb):
    """A two-turn flights dialogue built by hand (as in test_t1_metrics): (1) search and save flights_1;
    (2) reuse flights_1, filter by budget, save flights_2. Two copies, 'a' and 'b', told apart by the greeting."""
    p = two_flight_turns(kb)
    o, d, day, budget = p["o"], p["d"], p["day"], p["budget"]
    cache1, cache2, gold1, gold2 = p["cache1"], p["cache2"], p["gold1"], p["gold2"]
    tasks = {}
    for copy in ("a", "b"):
        dlg = Dialogue(id=f"planted-{copy}", category="flights", domains=["flights"], split="test",
                       template_id="hand", seed=0, kb_seed=0, kb_scale="test", turns=[
                           DialogueTurn(role="assistant", text=f"Hello ({copy})! How can I help?"),
                           DialogueTurn(role="user", text=f"Flights from {o} to {d} on {day}, please.", kind="plan",
                                        code=gold1, cache_after=cache1.to_dict(), cache_summary=cache1.summary()),
                           DialogueTurn(role="assistant", text="I found some flights."),
                           DialogueTurn(role="user", text=f"Only up to ${budget}.", kind="plan", code=gold2,
                                        cache_after=cache2.to_dict(), cache_summary=cache2.summary())])
        tasks[copy] = Task(id=dlg.id, question="\n".join(x.text for x in dlg.turns), answer=gold2,
                           domain="flights", metadata={"benchmark": "t1", "scorer": "t1",
                                                       "dialogue": dlg.model_dump(mode="json"),
                                                       "kb": {"seed": 0, "scale": "test", "path": str(kb.path)}})
    return {"o": o, "d": d, "day": day, "budget": budget, "gold1": gold1, "gold2": gold2,
            "a": tasks["a"], "b": tasks["b"]}


# ---------------------------------------------------------------------------------------------
# spec item 4: gold code scores 100 everywhere, both cache modes


async def test_gold_code_scores_100_on_every_metric_in_both_cache_modes(tasks9):
    assert sorted(t.domain for t in tasks9) == sorted(CATEGORIES)
    script = Script(tasks9)
    pool = ModelPool.scripted(script, "smol")
    gold_runs, rollout_runs = await asyncio.gather(solve_all(tasks9, pool, cache_mode="gold"),
                                                   solve_all(tasks9, pool, cache_mode="rollout"))
    kinds = set()
    for task, (solution, score) in zip([*tasks9, *tasks9], [*gold_runs, *rollout_runs], strict=True):
        dialogue = dialogue_from_task(task)
        users = dialogue.user_turn_indices()
        assert score.value == 1.0 and score.correct and score.error is None, (task.id, score.extracted)
        metrics = score.detail["metrics"]
        for m in METRICS:
            assert metrics[m] == pytest.approx(100.0), (task.id, m)
        assert metrics["errors"] == {} and score.detail["n_turns"] == len(users)
        answer = T1Answer.model_validate(solution.metadata["t1"])
        assert [r.turn_index for r in answer.turns] == users
        for rec, ts in zip(answer.turns, score.detail["turns"], strict=True):
            kinds.add(ts["gold_kind"])
            if ts["gold_kind"] == "noop":  # the exact no-op line is not run; the cache stays
                assert rec.code == NO_PLANNING and rec.execution is None and ts["noop_exact"]
            else:
                assert rec.execution is not None and rec.execution.ok
        # the trace: one tool-dependency graph per turn
        assert [g["turn_index"] for g in solution.metadata["plan_graphs"]] == users
        assert solution.usage.calls == len(users), [r.attempts for r in answer.turns]
    assert kinds == {"plan", "seek", "noop"}
    for runs in (gold_runs, rollout_runs):  # micro over turns, per category: 100 everywhere
        report = aggregate([TurnScore.model_validate(ts) for _, s in runs for ts in s.detail["turns"]])
        assert set(report.per_category) == set(CATEGORIES)
        for summary in (report.overall, *report.per_category.values()):
            assert (summary.tool_f1, summary.param_f1, summary.exec_success, summary.cache_em) == (100, 100, 100, 100)

    # the prompt has the spec's sections in order; in gold mode # CACHE is the gold summary before the turn
    by_id = {t.id: dialogue_from_task(t) for t in tasks9}
    for req in script.requests:
        text = user_prompt(req)
        positions = [text.index(f"\n{s}\n") if s != "# TOOL CONFIG" else text.index(s) for s in SECTIONS]
        assert positions == sorted(positions)
        assert req.messages[0].role == "system" and "expert travel planner" in req.messages[0].text
        did, i, _ = script.turns[conversation(req)]
        summary = by_id[did].gold_cache_before(i).summary()
        assert cache_section(req) == (summary or "(empty)")


# ---------------------------------------------------------------------------------------------
# planted mistakes, by hand (the computations of test_t1_metrics, through the agent)


async def test_planted_mistakes_score_what_the_hand_computation_says(fx):
    o, d, day, budget = fx["o"], fx["d"], fx["day"], fx["budget"]
    wrong_type = fx["gold1"].replace(repr(day), "20250601")
    no_reuse = (f"flights = search_flights(origin={o!r}, destination={d!r}, departure_date={day!r})\n"
                f"cheap = filter_flights(prior_results=flights, budget={budget})\n"
                "save_to_cache('flights_2', cheap)")
    extra_search = fx["gold2"] + f"\nback = search_flights(origin={d!r}, destination={o!r}, departure_date={day!r})"
    tasks = [fx["a"], fx["b"]]
    script = Script(tasks, plant={("planted-a", 1): wrong_type, ("planted-a", 3): no_reuse,
                                  ("planted-b", 3): extra_search})
    pool = ModelPool.scripted(script, "smol")
    (sol_a, a), (_, b) = await solve_all(tasks, pool, cache_mode="gold", n_examples=0)

    # a, turn 1 — wrong argument type (departure_date=20250601): tools {search, save} = gold → 1;
    # params: 3 gold, 3 predicted, departure_date differs → 2/3; ValidationError → exec 0, cache "" ≠ gold.
    a1 = turn(a, 0)
    check(a1, (1, 1, 1), (2 / 3, 2 / 3, 2 / 3))
    assert (a1["tool_accuracy"], a1["param_accuracy"]) == (1.0, 0.0)
    assert a1["exec_success"] is False and a1["error_category"] == "validation_error" and a1["cache_em"] is False
    # a, turn 2 — missing cache reuse (gold mode: starts from the gold cache flights_1): tools {search, filter,
    # save} vs {get, filter, save} → 2/3; params: pred 3 + 1 pairs, gold 1, TP 1 → P 1/4, R 1, F1 0.4;
    # runs fine and saves the same provenance → cache EM 1.
    a2 = turn(a, 1)
    check(a2, (2 / 3, 2 / 3, 2 / 3), (0.25, 1.0, 0.4))
    assert a2["exec_success"] is True and a2["cache_em"] is True
    # b, turn 1 gold; turn 2 — an extra (unsaved) search: tools 3 of 4 → P 3/4, R 1, F1 6/7; params 1 of 4 → 0.4.
    check(turn(b, 0), (1, 1, 1), (1, 1, 1))
    b2 = turn(b, 1)
    check(b2, (0.75, 1.0, 6 / 7), (0.25, 1.0, 0.4))
    assert b2["exec_success"] is True and b2["cache_em"] is True

    # per dialogue: the headline is the mean tool F1 over its two turns; the detail has every mean
    assert a.value == pytest.approx((1 + 2 / 3) / 2) and not a.correct
    assert a.detail["metrics"]["param_f1"] == pytest.approx(100 * (2 / 3 + 0.4) / 2)
    assert a.detail["metrics"]["exec_success"] == pytest.approx(50.0)
    assert a.detail["metrics"]["cache_em"] == pytest.approx(50.0)
    assert a.detail["metrics"]["errors"] == {"validation_error": 1}
    assert b.value == pytest.approx((1 + 6 / 7) / 2) and not b.correct
    assert b.detail["metrics"]["param_f1"] == pytest.approx(100 * (1 + 0.4) / 2)
    assert b.detail["metrics"]["exec_success"] == pytest.approx(100.0) and b.detail["metrics"]["cache_em"] == 100.0
    # another headline, chosen by scorer option
    assert (await get_scorer("t1", headline="param_f1").score(fx["a"], sol_a)).value == pytest.approx(
        (2 / 3 + 0.4) / 2)

    # rollout: turn 1 is the same; turn 2 now starts from the agent's empty cache (turn 1 saved nothing), so
    # the re-search saves only flights_2 → cache EM 0 (the static metrics do not change)
    (_, ra), = await solve_all([fx["a"]], pool, cache_mode="rollout", n_examples=0)
    assert turn(ra, 0) == a1
    assert {k: v for k, v in turn(ra, 1).items() if k != "cache_em"} == {k: v for k, v in a2.items() if k != "cache_em"}
    assert turn(ra, 1)["cache_em"] is False and ra.detail["metrics"]["cache_em"] == 0.0


# ---------------------------------------------------------------------------------------------
# spec items 2 and 9: errors go back to the model; gold vs rollout chaining


async def test_a_validation_error_goes_back_to_the_model_and_is_counted(fx):
    """By default (repair_rounds=1) the planner reads the ValidationError as its plan's result and fixes the
    plan; in the paper's single shot (repair_rounds=0) the error is recorded for the turn and the run goes on."""
    wrong_type = fx["gold1"].replace(repr(fx["day"]), "20250601")
    seen: list[str] = []

    def script(req):
        if conversation(req).endswith("please."):  # turn 1
            if len(req.messages) > 2:  # the repair request: the prompt, our reply, the feedback
                seen.append(req.messages[-1].text)
                return wrap(fx["gold1"])
            return wrap(wrong_type)
        return wrap(fx["gold2"])

    pool = ModelPool.scripted(script, "smol")
    (sol, score), = await solve_all([fx["a"]], pool, n_examples=0)
    assert len(seen) == 1
    assert "Execution failed (validation_error)" in seen[0]
    assert "ValidationError in search_flights" in seen[0] and "departure_date" in seen[0]
    answer = T1Answer.model_validate(sol.metadata["t1"])
    first = answer.turns[0]
    assert [(x.ok, x.error_category) for x in first.attempts] == [(False, "validation_error")]
    assert first.code == fx["gold1"] and first.execution.ok
    assert score.value == 1.0 and score.detail["metrics"]["exec_success"] == 100.0
    assert score.detail["first_attempt_exec_success"] == pytest.approx(50.0)  # turn 1 needed the repair
    assert sol.usage.calls == 3

    (sol0, score0), = await solve_all([fx["a"]], pool, n_examples=0, repair_rounds=0)  # single shot
    assert len(seen) == 1 and sol0.usage.calls == 2
    rec = T1Answer.model_validate(sol0.metadata["t1"]).turns[0]
    assert rec.execution.error_category == "validation_error" and "departure_date" in rec.execution.error
    assert score0.detail["metrics"]["errors"] == {"validation_error": 1}
    assert score0.detail["metrics"]["exec_success"] == 50.0 and len(score0.detail["turns"]) == 2


async def test_gold_and_rollout_agree_on_the_first_turns_then_diverge(tasks9):
    """A wrong cache key saved on one turn: identical scores up to that turn in both modes; afterwards the
    gold mode restarts from the gold cache (100) while the rollout mode reads a key it never saved."""
    pick = None
    for task in tasks9:
        d = dialogue_from_task(task)
        users = d.user_turn_indices()
        for k, i in enumerate(users):
            code = d.turns[i].code
            if "save_to_cache('" not in code:
                continue
            key = code.split("save_to_cache('", 1)[1].split("'", 1)[0]
            if any(f"key='{key}'" in d.turns[j].code for j in users[k + 1:]):
                pick = (task, d, k, i, key)
                break
        if pick:
            break
    assert pick is not None
    task, d, k, i, key = pick
    plant = {(d.id, i): d.turns[i].code.replace(f"'{key}'", f"'my_{key}'")}
    pool = ModelPool.scripted(Script([task], plant), "smol")
    (_, gold), = await solve_all([task], pool, cache_mode="gold", n_examples=0)
    (_, roll), = await solve_all([task], pool, cache_mode="rollout", n_examples=0)
    g, r = gold.detail["turns"], roll.detail["turns"]
    assert g[: k + 1] == r[: k + 1]  # identical up to and including the planted turn
    assert g[k]["cache_em"] is False and g[k]["tool_f1"] == 1 and g[k]["param_f1"] == 1
    for ts in g[k + 1:]:
        assert (ts["tool_f1"], ts["param_f1"], ts["cache_em"]) == (1, 1, True)
    reader = next(j for j, ts in enumerate(r) if j > k and ts["exec_success"] is False)
    assert r[reader]["error_category"] == "other" and r[reader]["cache_em"] is False
    assert gold.detail["metrics"]["cache_em"] > roll.detail["metrics"]["cache_em"]
    assert gold.detail["cache_mode"] == "gold" and roll.detail["cache_mode"] == "rollout"


# ---------------------------------------------------------------------------------------------
# spec item 8: hostile plans are stopped by the sandbox, counted, and the dialogue goes on


async def test_hostile_plans_are_stopped_and_the_dialogue_goes_on(tasks9, tmp_path):
    task = next(t for t in tasks9 if len(dialogue_from_task(t).user_turn_indices()) >= 4)
    d = dialogue_from_task(task)
    users = d.user_turn_indices()
    canary = tmp_path / "canary.txt"
    canary.write_text("still here")
    plant = {(d.id, users[0]): "while True:\n    pass",
             (d.id, users[1]): f"import os\nos.remove({str(canary)!r})\nos.system('rm -rf ~')",
             (d.id, users[2]): "blob = bytearray(4 * 1024 ** 3)\nblob[-1] = 1"}
    pool = ModelPool.scripted(Script([task], plant), "smol")
    start = time.perf_counter()
    (sol, score), = await solve_all([task], pool, n_examples=0, timeout=8.0)  # loaded CI: imports take >2 s
    assert time.perf_counter() - start < 60
    assert canary.read_text() == "still here"
    recs = T1Answer.model_validate(sol.metadata["t1"]).turns
    assert [r.turn_index for r in recs] == users  # every turn planned: the dialogue went on
    loop, imp, mem = (r.execution for r in recs[:3])
    assert not loop.ok and loop.timed_out and loop.error_type == "Timeout"
    assert not imp.ok and imp.error_type == "ImportError" and "'os' is not allowed" in imp.error
    assert not mem.ok and mem.error_type == "MemoryError"
    turns = score.detail["turns"]
    for ts in turns[:3]:
        assert ts["exec_success"] is False and ts["error_category"] == "other"
    for ts in turns[3:]:  # gold mode: the later gold plans score 100
        assert (ts["tool_f1"], ts["param_f1"], ts["cache_em"]) == (1, 1, True)
    expected = [ts for ts in turns if ts["exec_expected"]]
    assert score.detail["metrics"]["exec_success"] == pytest.approx(
        100 * sum(ts["exec_success"] for ts in expected) / len(expected))
    assert score.detail["metrics"]["errors"] == {"other": 3}
    assert [t["ok"] for t in sol.metadata["turns"][:3]] == [False, False, False]


# ---------------------------------------------------------------------------------------------
# spec item 10 through the agent; model-call failures; other answers


async def test_replies_without_reasoning_or_with_fences_still_score(fx):
    replies = {"please.": f"<CODE>\n```python\n{fx['gold1']}\n```\n</CODE>",
               ".": f"Here is the plan:\n```python\n{fx['gold2']}\n```"}

    def script(req):
        conv = conversation(req)
        return replies["please."] if conv.endswith("please.") else replies["."]

    (sol, score), = await solve_all([fx["a"]], ModelPool.scripted(script, "smol"), n_examples=0)
    assert score.value == 1.0 and score.correct
    recs = T1Answer.model_validate(sol.metadata["t1"]).turns
    assert [r.had_code_tag for r in recs] == [True, False] and recs[0].reasoning is None


async def test_a_failed_model_call_is_recorded_and_the_dialogue_goes_on(fx):
    def script(req):
        if conversation(req).endswith("please."):
            return ModelCallError("context window exceeded", alias="smol")
        return wrap(fx["gold2"])

    (sol, score), = await solve_all([fx["a"]], ModelPool.scripted(script, "smol"), n_examples=0)
    first, second = T1Answer.model_validate(sol.metadata["t1"]).turns
    assert "context window exceeded" in first.model_error and first.code == "" and first.execution is None
    assert second.execution.ok  # gold mode: turn 2 starts from the gold cache
    assert turn(score, 0)["tool_f1"] == 0 and turn(score, 0)["exec_success"] is False
    assert turn(score, 1)["tool_f1"] == 1
    # when every call fails, the run fails (an inference error, not a zero score)
    always = ModelPool.scripted(lambda req: ModelCallError("server down", alias="smol"), "smol")
    with pytest.raises(Exception, match="every model call"):
        await load_method("t1_agent", n_examples=0, model="smol").solve(fx["a"], pool=always)


async def test_the_scorer_reads_a_plain_reply_as_the_last_turn(fx):
    scorer = score_for(fx["a"])
    good = await scorer.score(fx["a"], f"Reasoning...\n<CODE>\n{fx['gold2']}\n</CODE>")
    assert good.value == 1.0 and good.detail["answer_format"] == "reply" and good.detail["n_turns"] == 1
    bad = await scorer.score(fx["a"], "I cannot plan that.")
    assert bad.value == 0.0 and not bad.correct
    other = Solution(answer="", metadata={"t1": T1Answer(dialogue_id="elsewhere", cache_mode="gold", turns=[])
                                          .model_dump(mode="json")})
    assert (await scorer.score(fx["a"], other)).error is not None  # an answer for another dialogue
    assert (await scorer.score(Task(question="x", metadata={"scorer": "t1"}), "y")).error is not None


# ---------------------------------------------------------------------------------------------
# graphs, workflow, dataset and sweep


def test_graphs_workflow_and_plan_mermaid(fx):
    method = load_workflow(REPO / "workflows" / "t1_agent.yaml").to_method()
    text = to_mermaid(method)
    for node in ("setup", "plan", "execute", "finish"):
        assert node in text
    assert "execute -.-> plan" in text  # the bounded loop over user turns
    mermaid = plan_mermaid(fx["gold2"])
    assert mermaid.splitlines()[0] == "graph TD"
    assert "get_results_from_cache" in mermaid and "c0 -->|prior_results| c1" in mermaid
    assert "c1 -->|value| c2" in mermaid
    assert plan_mermaid(wrap(fx["gold2"])) == mermaid  # a whole reply: its <CODE> block
    assert "no tool calls" in plan_mermaid(NO_PLANNING)
    data = plan_graph_data(fx["gold2"])
    assert [n["name"] for n in data["nodes"]] == ["get_results_from_cache", "filter_flights", "save_to_cache"]
    assert data["edges"] == [{"source": 0, "target": 1, "args": ["prior_results"]},
                             {"source": 1, "target": 2, "args": ["value"]}]
    json.dumps(data)
    assert "error" in plan_graph_data("x = (")
    with pytest.raises(SyntaxError):
        plan_mermaid("x = (")


def test_load_dataset_t1():
    tasks = load_dataset("t1", n=3, seed=0, split="test")
    assert [t.domain for t in tasks] == list(CATEGORIES[:3])
    assert all(t.metadata["scorer"] == "t1" and t.metadata["benchmark"] == "t1" for t in tasks)
    assert [t.id for t in load_dataset("t1", n=3, seed=0, split="test")] == [t.id for t in tasks]
    assert {t.domain for t in load_dataset("t1", n=2, seed=1, categories=["hotels"])} == {"hotels"}
    assert {dialogue_from_task(t).split for t in load_dataset("t1", n=2, split="validation")} == {"validation"}


async def test_sweep_on_a_scripted_pool_produces_scored_rows(tmp_path):
    sweep = load_sweep(REPO / "workflows" / "sweeps" / "t1.yaml")
    tasks = load_dataset("t1", limit=2, seed=0)
    pool = ModelPool.scripted(Script(tasks), "smol")
    summary = await run_sweep(sweep, out=tmp_path / "run", pool=pool, progress=False)
    assert summary.ran == 2 and summary.failed == 0
    rows = ResultStore(tmp_path / "run" / "results.sqlite").rows()
    assert len(rows) == 2
    for row in rows:
        assert row.status == "ok" and row.score == 1.0 and row.correct
        assert row.score_detail["metrics"]["cache_em"] == 100.0 and row.calls >= 3
        assert T1Answer.model_validate(row.metadata["t1"]).dialogue_id == row.task_id


# ---------------------------------------------------------------------------------------------
# the embedded model


@pytest.mark.integration
async def test_t1_agent_on_the_embedded_model(embedded_pool):
    """SmolLM2-135M on a short attractions dialogue with the trimmed prompt: a low score, no failure.

    The turns run one after the other: llama.cpp then reuses the shared prompt prefix (system prompt,
    tool config, instructions), which on CPU is most of the time of a call."""
    tasks = load_dataset("t1", n=1, seed=0, categories=["attractions"])
    embedded_pool.overrides["max_tokens"] = 128  # the fixture caps completions at 16 tokens
    method = load_method("t1_agent", roles={"planner": "smol"}, n_examples=0, tools="dialogue",
                         tool_detail="signatures", max_tokens=128, timeout=5.0)
    start = time.perf_counter()
    for task in tasks:
        solution = await method.solve(task, pool=embedded_pool)
        score = await score_for(task).score(task, solution)
        answer = T1Answer.model_validate(solution.metadata["t1"])
        assert [r.turn_index for r in answer.turns] == dialogue_from_task(task).user_turn_indices()
        assert score.error is None and 0.0 <= score.value <= 1.0
        assert solution.usage.calls >= len(answer.turns)
        print(f"{task.id}: value={score.value:.3f} {score.extracted} ({time.perf_counter() - start:.1f}s)")
