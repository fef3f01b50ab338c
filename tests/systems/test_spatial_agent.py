"""spatial_agent (arXiv 2505.17012): ReAct and Plan-Execute over the spatial toolbox, the `spatial` scorer,
the synthetic benchmark (labelled synthetic) and the SpatialScore record loader.

Orchestration tests run on scripted models (`ModelPool.scripted`): the script reads what the agent sent
and answers deterministically, so turns, feedback, images and calls are checked exactly; the tools are
the real ones (`maslab.tools.spatial`) on the benchmark's rendered images. `tests/systems/spatial_scripts.py`
holds the scripted oracle (calls the right tool, answers from its result) and the guesser (no tools).
The last test (`integration`) runs the ReAct loop on the embedded SmolLM2, which is text only.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from maslab.agents.spatial_agent.actions import (
    ActionError,
    PlanError,
    forced_answer,
    parse_action,
    parse_plan,
)
from maslab.bench.datasets import load_dataset
from maslab.bench.scorers import get_scorer, score_for
from maslab.bench.spatial.scoring import mean_relative_accuracy
from maslab.bench.spatial.synthetic import TYPES
from maslab.bench.store import ResultStore
from maslab.bench.sweep import Sweep, run_sweep
from maslab.errors import ConfigError
from maslab.method import load_method
from maslab.models import ModelPool, ScriptedRequest
from maslab.task import Task
from maslab.trace import RunRecorder
from maslab.workflow import load_workflow
from tests.systems.spatial_scripts import (
    GuessingObserver,
    OracleObserver,
    action,
    chance_of,
    terminate,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """The synthetic benchmark rendered into a temporary folder: 18 tasks, two of each of the 9 types."""
    root = tmp_path_factory.mktemp("spatial-synthetic")
    return root, load_dataset("spatial_synthetic", n=18, seed=0, root=str(root))


def by_type(tasks: list[Task], kind: str) -> Task:
    return next(t for t in tasks if t.metadata["task_type"] == kind)


async def run(task: Task, script, *, vision: bool = True, recorder=None, **params):
    pool = ModelPool.from_dict({"default": "m", "models": {"m": {"scripted": [""], "vision": vision}}},
                               scripted={"m": script})
    method = load_method("spatial_agent", model="m", **params)
    return await method.solve(task, pool=pool, recorder=recorder)


class Script:
    """A scripted model answering per role from lists (the last reply repeats); records every request."""

    def __init__(self, **replies: list[str]) -> None:
        self.replies = replies
        self.requests: list[ScriptedRequest] = []

    def __call__(self, req: ScriptedRequest) -> str:
        self.requests.append(req)
        mine = [r for r in self.requests if r.role == req.role]
        replies = self.replies[req.role]
        return replies[min(len(mine), len(replies)) - 1]

    def of(self, role: str) -> list[ScriptedRequest]:
        return [r for r in self.requests if r.role == role]


# ----------------------------------------------------------------------------------------- 2. the action parser


def test_the_parser_accepts_a_fenced_reply_and_keeps_only_the_first_action():
    reply = ('Here is my step.\n```json\n{"thought": "look {first}", "actions": [\n'
             '{"name": "CountObjects", "arguments": {"image": "image-0", "objects": ["bed"]}},\n'
             '{"name": "Terminate", "arguments": {"answer": "3"}}]}\n```')
    parsed = parse_action(reply)
    assert parsed.thought == "look {first}"
    assert parsed.action == {"name": "CountObjects", "arguments": {"image": "image-0", "objects": ["bed"]}}
    assert parse_action('{"thought": "", "actions": []}').action is None


@pytest.mark.parametrize(("reply", "kind"), [
    ("{'thought': 'single quotes', 'actions': []}", "json"),
    ('{"thought": "x", "actions": [{"name": "A"}]}', "other"),
    ('{"thought": "x"}', "other"),
    ("no json at all", "json"),
])
def test_the_parser_tells_malformed_json_from_other_defects(reply, kind):
    with pytest.raises(ActionError) as err:
        parse_action(reply)
    assert err.value.kind == kind


async def test_only_actions_0_is_executed_and_malformed_json_gets_the_repair_feedback(synthetic):
    _, tasks = synthetic
    task = by_type(tasks, "counting")
    two = ('```json\n{"thought": "t", "actions": [{"name": "CountObjects", "arguments": {"image": "image-0", '
           '"objects": ["triangles"]}}, {"name": "Terminate", "arguments": {"answer": "99"}}]}\n```')
    script = Script(observer=[two, "{'thought': 'oops', 'actions': []}", terminate("4")])
    recorder = RunRecorder()
    solution = await run(task, script, recorder=recorder)
    observer = script.of("observer")
    assert len(observer) == 3 and solution.answer == "4"  # the Terminate inside the first reply was ignored
    assert [s.get("name") for s in solution.metadata["steps"][:1]] == ["CountObjects"]
    assert observer[1].prompt.startswith("OBSERVATION:\n{") and '"points"' in observer[1].prompt
    feedback = observer[2].prompt
    assert feedback.startswith("OBSERVATION:\nJSONDecodeError:") and "json.loads()" in feedback
    assert "1. Keep the content unchanged" in feedback and "3. Add or remove curly brackets" in feedback
    assert solution.metadata["steps"][1] == {"turn": 2, "parse_error": "json", "message": feedback.split("\n")[1]}


async def test_a_non_json_defect_asks_for_a_fix_or_terminate(synthetic):
    _, tasks = synthetic
    script = Script(observer=['{"thought": "x", "actions": [{"name": "CountObjects"}]}', terminate("2")])
    await run(tasks[0], script)
    assert "missing 'name' or 'arguments'" in script.of("observer")[1].prompt
    assert "Reply with Terminate only if you believe it cannot be fixed" in script.of("observer")[1].prompt


# ----------------------------------------------------------------------------------------- 3. image ids


async def test_image_ids_resolve_in_the_images_key_and_generated_images_follow_the_inputs(synthetic):
    _, tasks = synthetic
    task = by_type(tasks, "camera_motion")  # two inputs: image-0, image-1
    script = Script(observer=[
        action("EstimateOpticalFlow", images=["image-0", "image-1"]),  # the paper's demo uses `images`
        action("LocalizeObjects", image="image-1", objects=["shapes"]),  # no coloured shape: nothing drawn
        action("GetObjectMask", image="image-0", objects=["objects"]),
        terminate("(A)"),
    ])
    solution = await run(task, script)
    flow = solution.metadata["steps"][0]
    assert flow["ok"] and set(flow["result"]["output"]) == {"mean_flow_x", "mean_flow_y"}

    scene = by_type(tasks, "judgment_position")  # one input: image-0
    script = Script(observer=[
        action("LocalizeObjects", image="image-0", objects=["circle", "square", "triangle"]),
        action("GetObjectMask", image=["image-0"], objects=["circle", "square", "triangle"]),
        action("CountObjects", image="image-2", objects=["shapes"]),  # a generated image, used again
        terminate("Yes"),
    ])
    solution = await run(scene, script)
    steps = solution.metadata["steps"]
    assert steps[0]["result"]["image"] == "image-1" and steps[1]["result"]["image"] == "image-2"
    assert [Path(p).name for p in solution.metadata["generated_images"]] == ["image-1.jpg", "image-2.jpg"]
    assert steps[2]["ok"] and Path(solution.metadata["result_dir"]).name.startswith(scene.id)


# ----------------------------------------------------------------------------------------- 4. failures are observations


async def test_tool_exceptions_and_bad_arguments_become_observations_never_a_crash(synthetic):
    _, tasks = synthetic
    task = by_type(tasks, "homography")  # its images have no depth map: the depth oracle raises
    script = Script(observer=[
        action("CountObjects", image="image-0"),  # missing argument
        action("FlyToTheMoon", image="image-0"),  # not a tool
        action("CountObjects", image="image-7", objects=["x"]),  # unknown image id
        action("EstimateObjectDepth", image="image-0", objects=["red circle"], indoor_or_outdoor="indoor"),
        action("LocalizeObjects", image="image-0", objects=["coffee mug"]),  # outside the stand-in's vocabulary
        terminate("(B)"),
    ])
    solution = await run(task, script)
    prompts = [r.prompt.split("\n")[1] for r in script.of("observer")[1:]]
    assert prompts[0].startswith("Execution failed with ArgumentError: CountObjects: missing required argument 'objects'")
    assert prompts[1].startswith("Execution failed with ToolError: unknown action 'FlyToTheMoon'")
    assert prompts[2] == "Execution failed with ValueError: unknown image id 'image-7' (this task has image-0, image-1)"
    assert prompts[3].startswith("Execution failed with ToolFailure: EstimateObjectDepth: metric depth is an oracle")
    assert prompts[4].startswith("Execution failed with ToolFailure: LocalizeObjects: the offline detector")
    assert solution.answer == "(B)" and [s["ok"] for s in solution.metadata["steps"][:5]] == [False] * 5


# ----------------------------------------------------------------------------------------- 5. Terminate and the cap


async def test_react_stops_at_terminate(synthetic):
    _, tasks = synthetic
    script = Script(observer=['{"thought": "indoor: no tool needed", "actions": []}', terminate("(A)")])
    solution = await run(tasks[0], script)
    assert solution.answer == "(A)" and solution.usage.calls == 2
    assert solution.metadata["stopped"] == "terminate" and solution.metadata["turns"] == 2
    assert script.of("observer")[1].prompt.startswith("OBSERVATION:\n{}\nThe OBSERVATION can be incomplete")


async def test_react_is_cut_off_at_exactly_10_turns_and_the_summarizer_forces_an_answer(synthetic):
    _, tasks = synthetic
    task = by_type(tasks, "counting")
    script = Script(observer=[action("CountObjects", image="image-0", objects=["triangles"])],
                    summarizer=["{'thought': 'enough', 'actions': [{'name': 'Terminate', 'arguments': {'answer': '3'}}]}"])
    solution = await run(task, script)
    assert len(script.of("observer")) == 10 and len(script.of("summarizer")) == 1
    assert solution.answer == "3"  # read out of the summarizer's malformed JSON by json_repair
    assert solution.metadata["stopped"] == "turn_cap" and solution.metadata["forced"]
    summary = script.of("summarizer")[0].prompt
    assert "ALL_OBSERVATION: [" in summary and summary.count('"CountObjects"') == 10
    assert "Call **Terminate** with the final answer." in summary
    capped = await run(task, Script(observer=[action("CountObjects", image="image-0", objects=["x"])],
                                    summarizer=["<answer>(C)</answer>"]), max_turns=3)
    assert capped.answer == "(C)" and capped.usage.calls == 4


def test_the_forced_answer_reads_terminate_tags_or_text():
    assert forced_answer(terminate("1.5 meters")) == "1.5 meters"
    assert forced_answer('{"thought": "x", "actions": [{"name": "Terminate", "arguments": {"answer": "(B)"}}') == "(B)"
    assert forced_answer("I think <answer> No </answer>.") == "No"
    assert forced_answer("  (D)  ") == "(D)"


# ----------------------------------------------------------------------------------------- 6. Plan-Execute


async def test_plan_execute_runs_the_plan_then_executor_and_summarizer(synthetic):
    _, tasks = synthetic
    task = by_type(tasks, "counting")
    plan = '```json\n[{"name": "CountObjects", "arguments": {"image": "image-0", "objects": ["triangles"]}}]\n```'
    script = Script(planner=[plan], executor=["<thinking>counted</thinking><tool>…</tool><observation>…</observation>"],
                    summarizer=["<thinking>so</thinking><answer>4</answer>"])
    solution = await run(task, script, paradigm="plan_execute")
    assert solution.answer == "4" and solution.metadata["stopped"] == "answer" and solution.usage.calls == 3
    executor_prompt = script.of("executor")[0].prompt
    assert 'Tool Plan: [{"name": "CountObjects"' in executor_prompt and '"points"' in executor_prompt
    assert "CoT Steps: <thinking>counted" in script.of("summarizer")[0].prompt


async def test_plan_execute_falls_back_to_the_plain_model_after_3_failed_attempts(synthetic):
    _, tasks = synthetic
    script = Script(planner=["I would just look at it.", '[{"name": "Teleport", "arguments": {}}]',
                             '[{"name": "CountObjects", "arguments": {"image": "/abs/path.png", "objects": ["x"]}}]'],
                    solver=["<thinking>no tools</thinking><answer>(B)</answer>"])
    solution = await run(tasks[0], script, paradigm="plan_execute")
    assert len(script.of("planner")) == 3 and not script.of("executor") and len(script.of("solver")) == 1
    assert solution.answer == "(B)" and solution.metadata["stopped"] == "fallback"
    errors = [s["error"] for s in solution.metadata["steps"]]
    assert "no JSON list" in errors[0] and "not in the toolbox" in errors[1] and "image-0, image-1" in errors[2]
    assert "without external tools" in script.of("solver")[0].prompt

    unanswered = Script(planner=['[{"name": "CountObjects", "arguments": {"image": "image-0", "objects": ["x"]}}]'],
                        executor=["<thinking>hm</thinking>"], summarizer=["It cannot be determined."],
                        solver=["(A)"])
    solution = await run(tasks[0], unanswered, paradigm="plan_execute")
    assert [len(unanswered.of(r)) for r in ("planner", "executor", "summarizer", "solver")] == [3, 3, 3, 1]
    assert solution.answer == "(A)"


def test_a_plan_must_use_toolbox_tools_and_image_ids():
    assert parse_plan('```json [{"name": "LocalizeObjects", "arguments": {"image": "image-0", "objects": ["dog"]}},\n'
                      '{"name": "Terminate", "arguments": {"answer": "A"}},]\n```') == [
        {"name": "LocalizeObjects", "arguments": {"image": "image-0", "objects": ["dog"]}}]
    with pytest.raises(PlanError, match="no tool"):
        parse_plan('[{"name": "Terminate", "arguments": {"answer": "A"}}]')


# ----------------------------------------------------------------------------------------- images to the model


async def test_a_vision_model_sees_the_images_and_a_text_only_one_is_told_it_cannot(synthetic):
    _, tasks = synthetic
    task = by_type(tasks, "judgment_position")
    script = Script(observer=[action("LocalizeObjects", image="image-0", objects=["circle"]), terminate("No")])
    solution = await run(task, script, vision=True)
    first, second = script.of("observer")
    assert [p.path for p in first.messages[1].images] == task.images  # [system, request + image-0]
    assert [Path(p.path).name for p in second.messages[-1].images] == ["image-1.jpg"]  # the drawn boxes
    assert not solution.metadata["text_only"]

    blind = Script(observer=[action("LocalizeObjects", image="image-0", objects=["circle"]), terminate("No")])
    solution = await run(task, blind, vision=False)
    first, second = blind.of("observer")
    assert not any(m.images for m in first.messages + second.messages)
    assert "You cannot see the images (image-0) yourself" in first.messages[1].text
    assert '"regions"' in second.prompt and solution.metadata["text_only"]


# ----------------------------------------------------------------------------------------- 7. scorers


async def test_option_letters_yes_no_and_units_are_scored_by_the_spatialscore_rules():
    scorer = get_scorer("spatial")
    mcq = Task(question="Which? A. left B. right", answer="B", metadata={"question_type": "multi-choice"})
    assert (await scorer.score(mcq, "(b)")).correct and (await scorer.score(mcq, "B. 3.25 meters.")).correct
    assert not (await scorer.score(mcq, "(A)")).correct
    assert (await scorer.score(Task(question="q", answer="(a)", metadata={"question_type": "multi-choice"}), "A")).correct
    yes = Task(question="Is it?", answer="Yes", metadata={"question_type": "judgment"})
    assert (await scorer.score(yes, "<answer>yes</answer>")).correct and not (await scorer.score(yes, "No.")).correct
    metres = Task(question="How far?", answer="1.5 m", metadata={"question_type": "open-ended"})
    assert (await scorer.score(metres, "150 centimeters")).correct  # unit conversion, ratio 1
    far = Task(question="How far?", answer="4.0 meters", metadata={"question_type": "open-ended"})
    score = await scorer.score(far, "1.72 meters")
    assert not score.correct and score.detail["metric"] == "ratio"  # 4.0 / 1.72 = 2.33 ≥ 2
    assert (await scorer.score(far, "2.1 m")).correct  # ratio 1.9 < 2
    assert (await scorer.score(far, "2.1")).correct  # a bare number is read in the reference's unit
    count = Task(question="How many?", answer="4", metadata={"question_type": "open-ended"})
    assert (await scorer.score(count, "4")).correct and not (await scorer.score(count, "5")).correct


async def test_mean_relative_accuracy_equals_hand_values_on_a_three_item_fixture():
    # relative errors 0, 0.12 and 0.3 against the thresholds 1 − θ = 0.50, 0.45, …, 0.10, 0.05:
    # 0 beats all 10; 0.12 beats 0.50 … 0.15 (8 of 10); 0.3 beats 0.50, 0.45, 0.40, 0.35 (4 of 10)
    assert [mean_relative_accuracy(p, g) for p, g in ((4.0, 4.0), (2.24, 2.0), (1.3, 1.0))] == [1.0, 0.8, 0.4]
    scorer = get_scorer("spatial", numeric_metric="mra")
    tasks = [Task(question=f"q{i}", answer=a, metadata={"question_type": "open-ended"})
             for i, a in enumerate(["4 meters", "200 cm", "1 m"])]
    scores = [await scorer.score(t, s) for t, s in zip(tasks, ["4 m", "2.24 m", "130 centimeters"], strict=True)]
    assert [s.value for s in scores] == [1.0, 0.8, 0.4] and [s.correct for s in scores] == [True, True, False]
    assert sum(s.value for s in scores) / 3 == pytest.approx(2.2 / 3)


# ----------------------------------------------------------------------------------------- 8. the synthetic benchmark


async def _score_all(tasks: list[Task], script, **params) -> list[float]:
    pool = ModelPool.scripted(script, "m")
    method = load_method("spatial_agent", model="m", **params)
    values = []
    for task in tasks:
        solution = await method.solve(task, pool=pool)
        values.append((await score_for(task).score(task, solution)).value)
    return values


async def test_an_8_record_synthetic_fixture_scores_100_percent_with_the_scripted_oracle(tmp_path):
    tasks = load_dataset("spatial_synthetic", n=8, seed=3, root=str(tmp_path))
    assert {t.metadata["task_type"] for t in tasks} >= {"homography", "camera_motion", "metric_depth", "counting",
                                                         "relative_depth", "judgment_position"}
    assert {t.metadata["question_type"] for t in tasks} == {"multi-choice", "open-ended", "judgment"}
    oracle = OracleObserver(tasks)
    assert await _score_all(tasks, oracle) == [1.0] * 8
    assert oracle.calls == 8 * 2 + 1  # one tool and Terminate per task; distance takes two tools


async def test_the_scripted_oracle_scores_100_percent_on_every_task_type(synthetic):
    _, tasks = synthetic
    assert {t.metadata["task_type"] for t in tasks} == set(TYPES)
    assert await _score_all(tasks, OracleObserver(tasks)) == [1.0] * len(tasks)


async def test_an_agent_answering_without_tools_scores_at_chance(tmp_path):
    tasks = load_dataset("spatial_synthetic", n=90, seed=1, root=str(tmp_path))
    values = await _score_all(tasks, GuessingObserver(tasks))
    choice = [(v, chance_of(t)) for v, t in zip(values, tasks, strict=True) if t.metadata["question_type"] != "open-ended"]
    accuracy, chance = (sum(v for v, _ in choice) / len(choice), sum(c for _, c in choice) / len(choice))
    sd = (chance * (1 - chance) / len(choice)) ** 0.5
    assert len(choice) == 60 and abs(accuracy - chance) < 3 * sd, (accuracy, chance)
    numeric = [v for v, t in zip(values, tasks, strict=True) if t.metadata["question_type"] == "open-ended"]
    assert sum(numeric) / len(numeric) < 0.35  # guessed depths, distances and counts: mostly wrong
    # and the gold letters are spread over the options: always answering (A) is no better
    letters = [t.answer for t in tasks if t.choices]
    assert max(letters.count(x) for x in "ABCD") / len(letters) < 0.6


def test_the_synthetic_benchmark_is_seeded_written_outside_the_repository_and_labelled(tmp_path):
    a = load_dataset("spatial_synthetic", n=3, seed=5, root=str(tmp_path / "a"))
    b = load_dataset("spatial_synthetic", n=3, seed=5, root=str(tmp_path / "b"))
    c = load_dataset("spatial_synthetic", n=3, seed=6, root=str(tmp_path / "a"))
    assert [t.answer for t in a] == [t.answer for t in b] and [t.question for t in a] != [t.question for t in c]
    assert all(Path(a[i].images[0]).read_bytes() == Path(b[i].images[0]).read_bytes() for i in range(3))
    assert all(t.metadata["synthetic"] and "synthetic" in t.metadata["source"] for t in a)
    assert all(str(tmp_path) in p for t in a for p in t.images)
    meta = json.loads(Path(a[2].images[0]).with_name("image-0.spatial.json").read_text())
    assert meta["synthetic"] and meta["depth"] == "image-0.depth.npy"
    with pytest.raises(ConfigError, match="unknown task type"):
        load_dataset("spatial_synthetic", n=1, types=["juggling"], root=str(tmp_path))


# ----------------------------------------------------------------------------------------- 9. oracles in the trace


async def test_traces_and_results_mark_every_oracle_stand_in(synthetic, tmp_path):
    _, tasks = synthetic
    task = by_type(tasks, "distance_3d")
    recorder = RunRecorder(tmp_path / "trace.jsonl", run_id=task.id)
    solution = await run(task, OracleObserver(tasks), recorder=recorder)
    events = [json.loads(line) for line in (tmp_path / "trace.jsonl").read_text().splitlines()]
    tools = [e for e in events if e["event"] == "tool"]
    assert [(e["name"], e["backend"]) for e in tools] == [("LocalizeObjects", "stand_in"), ("Get3DDistance", "oracle")]
    assert tools[1]["provenance"].startswith("oracle: back-projection of both pixels with the metric depth map")
    assert tools[0]["provenance"].startswith("stand-in: HSV colour threshold")
    assert solution.metadata["oracles"] == ["Get3DDistance"] and solution.metadata["stand_ins"] == ["LocalizeObjects"]
    assert '"provenance": "oracle:' in solution.messages[-1].messages[-1].text  # what the model read


async def test_a_sweep_on_the_synthetic_benchmark_stores_the_oracle_labels_with_each_row(synthetic, tmp_path,
                                                                                          monkeypatch):
    root, tasks = synthetic
    monkeypatch.setenv("MASLAB_SPATIAL_DIR", str(root))
    sweep = Sweep(name="spatial", methods=[{"method": "spatial_agent"}], assignments=[{"name": "m", "model": "m"}],
                  datasets=[{"name": "synthetic", "generator": "spatial_synthetic", "n": 3}], seeds=[0])
    pool = ModelPool.scripted(OracleObserver(tasks), "m")
    summary = await run_sweep(sweep, out=tmp_path / "run", pool=pool, progress=False)
    assert summary.failed == 0
    rows = ResultStore(tmp_path / "run" / "results.sqlite").rows()
    assert [r.correct for r in rows] == [True] * 3
    assert {o for r in rows for o in r.metadata["oracles"]} == {"EstimateObjectDepth"}


# ----------------------------------------------------------------------------------------- SpatialScore records


def _records(tmp_path: Path) -> list[dict]:
    """A hand-made fixture in the SpatialScore record format (synthetic; the real data is not redistributed)."""
    (tmp_path / "img").mkdir()
    for name in ("a.png", "b.png"):
        (tmp_path / "img" / name).write_bytes(b"\x89PNG fake")
    base = {"category": "Depth", "subcategory": "metric", "input_modality": "single-image", "img_paths": ["img/a.png"],
            "index_origin": 7, "category_origin": "metric_depth_vqa"}
    return [
        {**base, "index": 0, "question_type": "multi-choice", "source": "VGBench",
         "question": "Which is closer?\n(a) the mug\n(b) the laptop", "answer": "(a)"},
        {**base, "index": 1, "question_type": "judgment", "source": "cvbench", "question": "Is it left?", "answer": "Yes"},
        {**base, "index": 2, "question_type": "open-ended", "source": "VGBench", "question": "How far?",
         "answer": "1.72 meters"},
        {**base, "index": 3, "question_type": "open-ended", "source": "VSI-Bench_8", "question": "How big?",
         "answer": "2.5", "input_modality": "video", "img_paths": ["img/a.png", "img/b.png"]},
    ]


async def test_spatialscore_records_load_as_tasks_with_images_and_scoring_rules(tmp_path):
    records = _records(tmp_path)
    (tmp_path / "hard.json").write_text(json.dumps(records))
    (tmp_path / "v3.ndjson").write_text("\n".join(json.dumps(r) for r in records))
    for file in ("hard.json", "v3.ndjson"):
        tasks = load_dataset("spatialscore", path=tmp_path / file)
        assert [t.metadata["question_type"] for t in tasks] == ["multi-choice", "judgment", "open-ended", "open-ended"]
        assert tasks[0].images == [str(tmp_path / "img" / "a.png")] and len(tasks[3].images) == 2
        assert [t.metadata.get("numeric_metric") for t in tasks[2:]] == ["ratio", "mra"]
        assert tasks[0].metadata["source"] == "VGBench" and tasks[0].metadata["category_origin"] == "metric_depth_vqa"
    assert load_dataset(str(tmp_path / "v3.ndjson"))[0].id == "spatialscore-0"  # sniffed from its first row
    scores = [await score_for(t).score(t, a) for t, a in zip(tasks, ["A", "no", "3.0 m", "2.3"], strict=True)]
    assert [s.correct for s in scores] == [True, False, True, True] and scores[3].value == 0.9


def test_a_record_whose_image_is_missing_is_a_located_error(tmp_path):
    records = _records(tmp_path)
    records[1]["img_paths"] = ["img/missing.png"]
    (tmp_path / "bad.ndjson").write_text("\n".join(json.dumps(r) for r in records))
    with pytest.raises(ConfigError, match=r"bad.ndjson:2: image 'img/missing.png' not found"):
        load_dataset("spatialscore", path=tmp_path / "bad.ndjson")


# ----------------------------------------------------------------------------------------- workflows


def test_both_workflows_load_and_draw():
    from maslab.drawing import to_mermaid

    react = load_workflow(REPO / "workflows" / "spatial_agent.yaml").to_method()
    plan = load_workflow(REPO / "workflows" / "spatial_plan_execute.yaml").to_method()
    assert react.config.paradigm == "react" and plan.config.paradigm == "plan_execute"
    assert "observe" in to_mermaid(react) and "fallback" in to_mermaid(plan)


# ----------------------------------------------------------------------------------------- integration


@pytest.mark.integration
async def test_react_on_the_embedded_text_only_model_runs_two_synthetic_tasks(embedded_pool, tmp_path):
    """SmolLM2-135M cannot see images (the probe tells the pool): it gets the compact prompt, the note and the
    tools' textual observations; each episode ends at Terminate or the cap, never in a crash."""
    tasks = load_dataset("spatial_synthetic", n=4, seed=0, root=str(tmp_path))[2:4]  # metric depth, counting
    method = load_method("spatial_agent", model="smol", tool_detail="signatures", demos=0, max_turns=2,
                         max_tokens=32)  # ~1.1k prompt tokens a call: about a minute a task on two CPU cores
    for task in tasks:
        solution = await method.solve(task, pool=embedded_pool)
        assert solution.metadata["text_only"] and solution.metadata["stopped"] in {"terminate", "turn_cap", "model_error"}
        assert 1 <= solution.usage.calls <= 3 and isinstance(solution.answer, str)
        observer_calls = [s for s in solution.messages if s.agent == "observer"]
        assert observer_calls and not any(m.images for s in solution.messages for m in s.messages)
        assert "You cannot see the images" in observer_calls[0].messages[1].text
        score = await score_for(task).score(task, solution)
        assert score.error is None and 0.0 <= score.value <= 1.0
