"""Blueprint primitives (maslab.blueprint, after Know-The-Ropes arXiv 2505.16979): typed well-posed tasks,
the augmentation ladder, the contract-enforcing controller, per-agent accuracy, user blueprints in Python
and YAML.

Leaf agents run on scripted models (`ModelPool.scripted`) — right for the controller's orchestration
logic: what each agent is sent, how replies are parsed, retried and rejected. Replies are computed from
the request (usually the exact step function applied to the typed input the agent received).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from maslab.blueprint import (
    ISOLATED_SUFFIX,
    RETRY_PROMPT,
    SELF_CHECK_PROMPT,
    Augmentation,
    Blueprint,
    ContractViolation,
    Controller,
    LeafAgent,
    WellPosedTask,
    agent_accuracy,
    isolated_steps,
    load_blueprint,
    make_record,
    oracle,
)
from maslab.errors import ConfigError
from maslab.models import ModelPool
from maslab.task import Task
from tests.systems.scripts import Script

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


class Pair(BaseModel):
    a: int
    b: int


class Sum(BaseModel):
    total: int


class Numbers(BaseModel):
    numbers: list[int]


ADD = WellPosedTask("add", Pair, Sum, "Add a and b.", solve=lambda i: Sum(total=i.a + i.b))


async def add_all(ctl: Controller, x: Numbers) -> Sum:
    total = 0
    for n in x.numbers:
        total = (await ctl.call("adder", Pair(a=total, b=n))).total
    return Sum(total=total)


SUMMER = Blueprint("summer", {"adder": ADD}, add_all)


def exact_reply(blueprint: Blueprint, prefix: str = "") -> Script:
    """A scripted model that answers every leaf with its exact step output (after `prefix`)."""

    def fn(req):
        task = blueprint.task(req.role.removesuffix(ISOLATED_SUFFIX))
        return prefix + task.solve(task.input.model_validate_json(req.messages[1].text)).model_dump_json()

    return Script(fn)


# --------------------------------------------------------------------------- tasks and the ladder


def test_augmentation_ladder_parses_each_rung_and_rejects_the_rest():
    assert Augmentation.model_validate("none") == Augmentation()
    assert str(Augmentation.model_validate("cot")) == "cot"
    assert Augmentation.model_validate("tool(calculator)").arg == "calculator"
    assert Augmentation.model_validate("self_check(3)").arg == 3
    assert str(Augmentation.model_validate(" finetuned( smol-ft ) ")) == "finetuned(smol-ft)"
    for bad in ("magic", "cot(2)", "tool()", "self_check(0)", "self_check(x)", "finetuned"):
        with pytest.raises(ValidationError):
            Augmentation.model_validate(bad)


def test_well_posed_task_checks_r_by_relation_or_by_the_exact_step():
    assert ADD.check(Pair(a=2, b=3), Sum(total=5)) and not ADD.check(Pair(a=2, b=3), Sum(total=6))
    loose = WellPosedTask("add", Pair, Sum, "", relation=lambda i, o: abs(o.total - i.a - i.b) <= 1)
    assert loose.check(Pair(a=2, b=3), Sum(total=6)) and not loose.exact
    with pytest.raises(ConfigError, match="pydantic models"):
        WellPosedTask("x", dict, Sum, "")  # type: ignore[arg-type]


def test_replies_are_read_leniently_as_the_last_json_object_and_validated():
    i = Pair(a=1, b=2)
    assert ADD.parse('reasoning {"total": 9} ... so ```json\n{"total": 3,}\n```', i) == Sum(total=3)
    for reply, error in (("three", "no JSON object"), ('{"sum": 3}', "total"), ('{"total": "x"}', "total")):
        with pytest.raises(ValueError, match=error):
            ADD.parse(reply, i)


# --------------------------------------------------------------------------- the controller


async def test_exact_leaves_run_the_protocol_and_record_every_step():
    out, steps = await oracle(SUMMER, {"numbers": [4, 5, 6]})
    assert out == Sum(total=15)
    assert [(s.input.a, s.input.b, s.output.total) for s in steps] == [(0, 4, 4), (4, 5, 9), (9, 6, 15)]
    assert all(s.alias is None and s.augmentation == "exact" for s in steps)


async def test_each_leaf_sees_only_its_role_contract_and_typed_input():
    script = exact_reply(SUMMER)
    ctl = Controller(SUMMER, {"adder": LeafAgent(name="adder", prompt="You add.")}, pool=ModelPool.scripted(script))
    assert await ctl.run(Numbers(numbers=[1, 2])) == Sum(total=3)
    first = script.requests[0]
    assert [m.role for m in first.messages] == ["system", "user"]
    assert first.prompt == '{"a":0,"b":1}'
    assert first.system.startswith("You add.") and "Task: Add a and b." in first.system
    assert '"total"' in first.system and OUTPUT_CUE_NONE in first.system


OUTPUT_CUE_NONE = "Reply with the JSON object only."


async def test_a_broken_contract_is_retried_with_the_error_then_raises_contract_violation():
    script = Script(lambda req: "the total is five")
    ctl = Controller(SUMMER, {"adder": LeafAgent(name="adder")}, pool=ModelPool.scripted(script), contract_retries=2)
    with pytest.raises(ContractViolation) as info:
        await ctl.run(Numbers(numbers=[2, 3]))
    assert len(script.requests) == 3 and info.value.attempts == 3 and info.value.leaf == "adder"
    for k, req in enumerate(script.requests):
        assert len(req.messages) == 2 + 2 * k  # its own conversation grows by (its reply, the error)
    retry = script.requests[1].messages
    assert retry[-2].text == "the total is five"
    assert retry[-1].text == RETRY_PROMPT.format(error="no JSON object found in the reply")
    assert ctl.steps[-1].error and ctl.steps[-1].attempts == 3 and ctl.steps[-1].output is None


async def test_a_retry_that_fixes_the_reply_is_accepted():
    script = Script(lambda req: '{"total": "five"}' if len(req.messages) == 2 else '{"total": 5}')
    ctl = Controller(SUMMER, {"adder": LeafAgent(name="adder")}, pool=ModelPool.scripted(script), contract_retries=1)
    assert await ctl.run(Numbers(numbers=[5])) == Sum(total=5)
    assert ctl.steps[0].attempts == 2 and "total" in script.requests[1].prompt


async def test_zero_retries_raise_at_the_first_broken_reply():
    script = Script(lambda req: "{}")
    ctl = Controller(SUMMER, {"adder": LeafAgent(name="adder")}, pool=ModelPool.scripted(script), contract_retries=0)
    with pytest.raises(ContractViolation):
        await ctl.run(Numbers(numbers=[1]))
    assert len(script.requests) == 1


async def test_cot_asks_for_reasoning_and_reads_the_final_json():
    script = exact_reply(SUMMER, prefix='First 0 + 1, as {"total": 99} would be wrong. So: ')
    ctl = Controller(SUMMER, {"adder": LeafAgent(name="adder", augmentation="cot")}, pool=ModelPool.scripted(script))
    assert await ctl.run(Numbers(numbers=[1, 2])) == Sum(total=3)
    assert "Think step by step" in script.requests[0].system


async def test_tool_augmentation_runs_the_tool_loop_with_that_tool():
    def fn(req):
        if len(req.messages) == 2:
            return '{"tool": "calculator", "arguments": {"expression": "40 + 2"}}'
        return '{"total": 42}'

    script = Script(fn)
    ctl = Controller(SUMMER, {"adder": LeafAgent(name="adder", augmentation="tool(calculator)")},
                     pool=ModelPool.scripted(script))
    assert await ctl.run(Numbers(numbers=[42])) == Sum(total=42)
    assert "calculator" in script.requests[0].system and "42" in script.requests[1].messages[-1].text


async def test_self_check_revises_until_the_agent_keeps_its_output():
    replies = iter(['{"total": 4}', '{"total": 3}', '{"total": 3}'])
    script = Script(lambda req: next(replies))
    ctl = Controller(SUMMER, {"adder": LeafAgent(name="adder", augmentation="self_check(5)")},
                     pool=ModelPool.scripted(script))
    assert await ctl.run(Numbers(numbers=[3])) == Sum(total=3)
    assert len(script.requests) == 3  # answer, a revision, a confirmation: stops before 5 rounds
    check = script.requests[1].messages
    assert [m.role for m in check] == ["system", "user", "assistant", "user"]
    assert check[1].text == '{"a":0,"b":3}' and check[2].text == '{"total":4}' and check[3].text == SELF_CHECK_PROMPT


async def test_finetuned_is_just_another_alias():
    script = exact_reply(SUMMER)
    pool = ModelPool.scripted(script, "base", "tuned")
    leaf = LeafAgent(name="adder", alias="base", augmentation="finetuned(tuned)")
    ctl = Controller(SUMMER, {"adder": leaf}, pool=pool)
    await ctl.run(Numbers(numbers=[1, 1]))
    assert {r.alias for r in script.requests} == {"tuned"} and ctl.steps[0].alias == "tuned"
    assert "finetuned" not in script.requests[0].system  # prompted like `none`


def test_controller_rejects_missing_and_unknown_leaves():
    with pytest.raises(ConfigError, match="no agent"):
        Controller(SUMMER, {}, pool=ModelPool.scripted(["{}"]))
    with pytest.raises(ConfigError, match="no leaf"):
        Controller(SUMMER, {"adder": "exact", "oops": "exact"})
    with pytest.raises(ConfigError, match="needs a pool"):
        Controller(SUMMER, {"adder": LeafAgent(name="adder")})


def test_blueprint_reads_input_and_output_from_the_protocol_and_tasks():
    assert SUMMER.input is Numbers and SUMMER.output is Sum and SUMMER.leaves == ("adder",)

    def not_async(ctl, x: Numbers) -> Sum:
        return Sum(total=0)

    with pytest.raises(ConfigError, match="async"):
        Blueprint("x", {"adder": ADD}, not_async)  # type: ignore[arg-type]
    task = Task(id="q", question='{"numbers": [1]}')
    assert SUMMER.instance(task) == Numbers(numbers=[1])
    assert SUMMER.instance(Task(id="m", question="?", metadata={"instance": {"numbers": [2]}})).numbers == [2]
    with pytest.raises(ConfigError, match="task 'z'.*JSON"):
        SUMMER.instance(Task(id="z", question="add things"))


# --------------------------------------------------------------------------- per-agent accuracy


async def test_isolated_accuracy_uses_oracle_inputs_and_propagated_uses_real_ones():
    # a flawed adder that adds one too many whenever b is 5: every later step gets a wrong total
    def fn(req):
        i = Pair.model_validate_json(req.prompt)
        return Sum(total=i.a + i.b + (i.b == 5)).model_dump_json()

    script = Script(fn)
    pool = ModelPool.scripted(script)
    leaves = {"adder": LeafAgent(name="adder")}
    ctl = Controller(SUMMER, leaves, pool=pool)
    out = await ctl.run(Numbers(numbers=[5, 1, 2]))
    assert out.total == 9  # 8 + 1
    assert [s.holds for s in ctl.steps] == [False, True, True]  # later steps are right given their input
    iso = await isolated_steps(SUMMER, leaves, Numbers(numbers=[5, 1, 2]), pool=pool)
    assert [r.correct for r in iso] == [False, True, True]
    assert all(r.agent.endswith(ISOLATED_SUFFIX) for r in script.requests[3:])
    record = make_record(SUMMER, ctl, output=out, isolated=iso)
    (acc,) = agent_accuracy([record, record])
    assert (acc.isolated_correct, acc.isolated_total, acc.propagated_correct, acc.propagated_total) == (4, 6, 4, 6)


def test_agent_accuracy_ranks_the_bottleneck_first_and_counts_violations():
    from maslab.blueprint import BlueprintRecord

    rec = BlueprintRecord.model_validate({
        "blueprint": "b", "leaves": {"a": {}, "b": {}, "c": {}},
        "steps": [{"leaf": "a", "task": "t", "holds": True}, {"leaf": "b", "task": "t", "holds": True},
                  {"leaf": "c", "task": "t", "error": "broke", "attempts": 3}],
        "isolated": [{"leaf": "a", "task": "t", "correct": True}, {"leaf": "b", "task": "t", "correct": False},
                     {"leaf": "c", "task": "t", "correct": True}]})
    ranked = agent_accuracy([rec])
    assert [a.leaf for a in ranked] == ["b", "c", "a"]
    assert ranked[1].violations == 1 and ranked[1].propagated == 0.0


# --------------------------------------------------------------------------- user blueprints


async def test_the_example_blueprint_in_python_solves_with_exact_and_with_scripted_leaves():
    bp = load_blueprint(f"{EXAMPLES / 'average_blueprint.py'}:BLUEPRINT")
    out, steps = await oracle(bp, {"numbers": [3, 5, 10]})
    assert out.mean == 6.0 and [s.leaf for s in steps] == ["adder"] * 3 + ["divider"]
    ctl = Controller(bp, {"adder": LeafAgent(name="adder"), "divider": LeafAgent(name="divider")},
                     pool=ModelPool.scripted(exact_reply(bp)))
    assert (await ctl.run({"numbers": [1, 2]})).mean == 1.5


async def test_the_example_blueprint_declared_in_yaml_runs_as_a_system():
    from maslab.workflow import load_workflow

    method = load_workflow(EXAMPLES / "average_blueprint.yaml", aliases=["smol"]).to_method()
    bp = method.blueprint_of()
    assert set(bp.tasks) == {"adder", "divider"} and bp.tasks["divider"].name == "divide"
    script = exact_reply(bp, prefix="Let me think. ")
    sol = await method.solve('{"numbers": [3, 5, 10]}', pool=ModelPool.scripted(script, "smol"))
    assert sol.answer == '{"mean":6.0}' and sol.usage.calls == 4
    assert sol.metadata["blueprint"]["leaves"]["divider"] == {"alias": "smol", "augmentation": "cot"}


def test_yaml_blueprint_errors_are_located(tmp_path):
    from maslab.workflow import WorkflowError, load_workflow

    (tmp_path / "bp.py").write_text((EXAMPLES / "average_blueprint.py").read_text())
    bad = tmp_path / "wf.yaml"
    bad.write_text("name: x\nmethod: blueprint\nparams:\n  blueprint: bp.py:protocol\n  leaves:\n"
                   "    adder: {contract: ADD}\n    divider: {contract: DIVIDEE}\n")
    with pytest.raises(WorkflowError, match=r"wf\.yaml:3: params: .*'DIVIDEE' is not a WellPosedTask"):
        load_workflow(bad, aliases=["smol"])
    bad.write_text("name: x\nmethod: blueprint\nparams:\n  blueprint: bp.py:BLUEPRINT\n  leaves:\n"
                   "    multiplier: {model: smol}\n")
    with pytest.raises(WorkflowError, match="unknown leaf multiplier"):
        load_workflow(bad, aliases=["smol"])
    with pytest.raises(ConfigError, match="no such file"):
        load_blueprint(f"{tmp_path / 'nope.py'}:BLUEPRINT")
    with pytest.raises(ConfigError, match="name each leaf's contract"):
        load_blueprint(f"{tmp_path / 'bp.py'}:protocol")


@pytest.mark.integration
async def test_the_example_yaml_blueprint_runs_end_to_end_on_the_embedded_model(embedded_pool):
    """SmolLM2-135M (32-token cap, no contract retries) as both leaves of the example blueprint: the run
    ends with an answer or a recorded failure, never an exception (accuracy not asserted)."""
    from maslab.workflow import load_workflow

    method = load_workflow(EXAMPLES / "average_blueprint.yaml", aliases=["smol"],
                           overrides=["contract_retries=0"]).to_method()
    sol = await method.solve('{"numbers": [3, 5]}', pool=embedded_pool)
    record = sol.metadata["blueprint"]
    assert 1 <= sol.usage.calls <= 3 and len(record["steps"]) == sol.usage.calls
    assert (record["failure"] is None) == (record["output"] is not None)
    if record["failure"] is not None:
        assert sol.answer.startswith("[contract_violation]")
