"""YAML workflows: both forms compile and run (scripted deterministic models), and malformed files give
located errors with exit code 2 from `maslab validate`."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from maslab.cli import main
from maslab.models import ModelPool
from maslab.workflow import WorkflowError, load_workflow

REPO = Path(__file__).resolve().parents[1]
MODELS = "default: smol\nmodels:\n  smol: {scripted: ['x']}\n  qwen: {scripted: ['x']}\n  llama: {scripted: ['x']}\n"


def write(tmp_path: Path, text: str, name: str = "wf.yaml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text).lstrip())
    return p


PLAN_SOLVE_CHECK = """
    name: plan-solve-check
    agents:
      planner: {model: qwen, prompt: "Break the problem into steps."}
      solver:  {model: llama, prompt: "Solve it.", tools: [calculator]}
      checker: {model: qwen, prompt: "Reply APPROVED or list the errors."}
    graph:
      - planner -> solver
      - solver -> checker
      - checker -> solver: {unless: APPROVED, max_rounds: 3}
    output: solver
"""


def test_graph_form_loops_until_approved(tmp_path):
    wf = load_workflow(write(tmp_path, PLAN_SOLVE_CHECK), aliases=["smol", "qwen", "llama"])
    verdicts = iter(["step 2 is wrong", "APPROVED"])
    seen = []

    def script(req):
        seen.append(req)
        if req.agent == "checker":
            return next(verdicts)
        return f"{req.agent} draft {sum(r.agent == req.agent for r in seen)}"

    pool = ModelPool.scripted(script, "smol", "qwen", "llama")
    sol = asyncio.run(wf.to_method().solve("What is 2+3?", pool=pool))
    assert [r.agent for r in seen] == ["planner", "solver", "checker", "solver", "checker"]
    assert sol.answer == "solver draft 2"
    assert "step 2 is wrong" in seen[3].transcript  # the solver saw the checker's feedback
    assert sol.usage.by("alias")["qwen"].calls == 3 and sol.usage.by("alias")["llama"].calls == 2


def test_graph_form_loop_is_bounded_by_max_rounds(tmp_path):
    wf = load_workflow(write(tmp_path, PLAN_SOLVE_CHECK))
    pool = ModelPool.scripted(lambda req: "never happy" if req.agent == "checker" else "draft", "smol", "qwen",
                              "llama")
    sol = asyncio.run(wf.to_method().solve("q", pool=pool))
    by_agent = sol.usage.by("agent")
    assert by_agent["solver"].calls == 4 and by_agent["checker"].calls == 4  # 1 + max_rounds back-edges


def test_fan_out_and_fan_in_run_in_parallel_and_join(tmp_path):
    wf = load_workflow(write(tmp_path, """
        name: fan
        agents:
          lead: {prompt: "Split."}
          a: {prompt: "A."}
          b: {prompt: "B."}
          judge: {prompt: "Pick."}
        graph:
          - lead -> [a, b]
          - a, b -> judge
        output: judge
    """))
    active = {"now": 0, "max": 0}

    async def script(req):
        active["now"] += 1
        active["max"] = max(active["max"], active["now"])
        await asyncio.sleep(0.05)
        active["now"] -= 1
        return f"{req.agent} says hi"

    seen_judge = []
    pool = ModelPool.scripted(lambda req: seen_judge.append(req) if req.agent == "judge" else None or script(req))
    sol = asyncio.run(wf.to_method().solve("q", pool=pool))
    assert sol.usage.calls == 4 and active["max"] == 2
    assert "a said" in seen_judge[0].transcript and "b said" in seen_judge[0].transcript


def test_method_form_with_overrides(tmp_path):
    p = write(tmp_path, """
        name: debate
        method: llm_debate
        params: {agents: 3, rounds: 2}
        roles: {debater: [qwen, llama, smol], aggregator: qwen}
    """)
    method = load_workflow(p, aliases=["smol", "qwen", "llama"], overrides=["rounds=1", "roles.aggregator=llama"]
                           ).to_method()
    assert method.config.rounds == 1 and method.config.roles["aggregator"] == "llama"


MALFORMED = {
    "yaml_syntax": ("name: x\nmethod: vanilla\nparams: a: b\n", 3, "YAML syntax error"),
    "yaml_unclosed": ("name: x\nmethod: vanilla\nparams: {samples: [1, 2\n", 4, "while parsing a flow sequence on line 3"),
    "wrong_type": ("name: x\nmethod: llm_debate\nparams:\n  rounds: two\n", 4, "params.rounds"),
    "unknown_method": ("name: x\nmethod: llm_debat\n", 2, "did you mean llm_debate"),
    "unknown_param": ("name: x\nmethod: llm_debate\nparams:\n  agents: 3\n  roundz: 2\n", 5, "params.roundz"),
    "unknown_alias": ("name: x\nmethod: llm_debate\nroles:\n  debater: [smol, gpt9]\n", 4, "unknown model alias 'gpt9'"),
    "unknown_role": ("name: x\nmethod: vanilla\nroles:\n  judge: smol\n", 4, "has no role 'judge'"),
    "undeclared_agent": ("name: x\nagents:\n  a: {prompt: p}\ngraph:\n  - a -> ghost\noutput: a\n", 5,
                         "'ghost' is used in an edge but not declared"),
    "unbounded_loop": ("name: x\nagents:\n  a: {prompt: p}\n  b: {prompt: q}\ngraph:\n  - a -> b\n"
                       "  - b -> a: {unless: OK}\noutput: b\n", 7, "has no bound"),
    "cycle_no_exit": ("name: x\nagents:\n  s: {prompt: p}\n  a: {prompt: p}\n  b: {prompt: q}\ngraph:\n"
                      "  - s -> a\n  - a -> b\n  - b -> a\noutput: b\n", 8, "has no exit"),
    "undeclared_output": ("name: x\nagents:\n  a: {prompt: p}\ngraph:\n  - a -> a: {when: X, max_rounds: 2}\n"
                          "output: judge\n", 6, "output agent 'judge'"),
    "unknown_tool": ("name: x\nagents:\n  a: {prompt: p, tools: [hammer]}\ngraph: []\noutput: a\n", 3,
                     "unknown tool 'hammer'"),
    "macnet_cycle": ("name: x\nmethod: macnet\nparams:\n  agent_num: 3\n  edges: [[1, 2], [2, 3], [3, 1]]\n", 5,
                     "cycle"),
    "agent_wrong_type": ("name: x\nagents:\n  a: {prompt: 3}\ngraph: []\noutput: a\n", 3, "agents.a.prompt"),
    "not_a_mapping": ("- just\n- a list\n", 1, "expected a mapping"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_workflows_give_located_errors_and_exit_2(tmp_path, capsys, case):
    text, line, fragment = MALFORMED[case]
    wf = tmp_path / f"{case}.yaml"
    wf.write_text(text)
    models = tmp_path / "models.yaml"
    models.write_text(MODELS)
    assert main(["validate", str(wf), "--models", str(models)]) == 2
    err = capsys.readouterr().err
    assert f"{wf}:{line}:" in err, err
    assert fragment in err, err
    assert "Traceback" not in err


def test_validate_subprocess_has_no_traceback(tmp_path):
    wf = write(tmp_path, "name: x\nmethod: vanilla\nparams: {nope: 1}\n")
    r = subprocess.run([sys.executable, "-m", "maslab.cli", "validate", str(wf)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and "params.nope" in r.stderr and "Traceback" not in r.stderr


def test_every_shipped_workflow_validates():
    from maslab.bench.sweep import is_sweep_document

    files = [f for f in sorted((REPO / "workflows").glob("*.yaml"))
             if not is_sweep_document(yaml.safe_load(f.read_text()))]  # xmas_bench.yaml is a sweep
    assert len(files) >= 13
    for f in files:
        load_workflow(f, aliases=["smol"])


def test_every_error_is_reported_not_only_the_first(tmp_path):
    p = write(tmp_path, """
        name: x
        agents:
          a: {prompt: 3}
          b: {model: nope}
        graph:
          - a -> ghost
        output: zed
    """)
    with pytest.raises(WorkflowError) as e:
        load_workflow(p, aliases=["smol"])
    messages = " | ".join(str(x) for x in e.value.errors)
    for fragment in ("agents.a.prompt", "unknown model alias 'nope'", "'ghost'", "'zed'"):
        assert fragment in messages, messages
