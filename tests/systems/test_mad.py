"""MAD, Multi-Agent Debate (`mad`, arXiv 2305.19118): two sides, a moderator, and a judge when undecided.

They run on scripted deterministic models (`ModelPool.scripted`): replies are computed from the
request, so the orchestration logic (call counts, prompts, routing) is checked exactly, in milliseconds.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from maslab.models import ScriptedRequest
from tests.systems.scripts import SCENARIOS, agrees_now, n_assistant, scenario_reply, solve, solve_recorded


def mad_model(moderator: Any, judge: Any = None, log: list[ScriptedRequest] | None = None) -> Any:
    """Sides reply with their role and round; the moderator/judge replies come from the given callables."""

    def fn(req: ScriptedRequest) -> str:
        if log is not None:
            log.append(req)
        rnd = n_assistant(req) + 1
        if req.role == "moderator":
            return moderator(rnd)
        if req.role == "judge":
            return (judge or (lambda r: "Candidates: 41, 42" if r == 1 else '{"Reason": "x", "debate_answer": "42"}'))(rnd)
        return f"<{req.role} round {rnd}> I say {40 + rnd}."

    return fn


def verdict(answer: str, fenced: bool = False) -> str:
    text = json.dumps({"Whether there is a preference": "Yes" if answer else "No", "Supported Side": "Affirmative",
                       "Reason": "because", "debate_answer": answer})
    return f"```json\n{text}\n```" if fenced else text


async def test_mad_stops_when_the_moderator_gives_an_answer() -> None:
    """Scripted deterministic models: a non-empty debate_answer in round 1 ends MAD after 3 calls."""
    sol = await solve("mad", mad_model(lambda r: verdict("42", fenced=True)))
    assert sol.answer == "42" and sol.usage.calls == 3
    assert sol.metadata["decided_by"] == "moderator" and sol.metadata["rounds"] == 1


async def test_mad_continues_until_an_answer_or_max_round_then_the_judge_decides() -> None:
    """Scripted deterministic models: empty answers continue the debate (3 calls a round); an answer
    in round 3 stops at 9 calls; none by max_round hands over to the judge (+2 calls = 11), who sees
    both sides' first answers."""
    log: list[ScriptedRequest] = []
    sol = await solve("mad", mad_model(lambda r: verdict("42" if r == 3 else ""), log=log))
    assert sol.answer == "42" and sol.usage.calls == 9 and sol.metadata["rounds"] == 3
    moderator_prompts = [r.prompt for r in log if r.role == "moderator"]
    assert [p.split()[2] for p in moderator_prompts] == ["first", "second", "third"]
    aff_round2 = next(r for r in log if r.role == "affirmative" and n_assistant(r) == 1)
    assert aff_round2.prompt.startswith("<negative round 1>")  # replies to the other side's latest argument

    log.clear()
    sol = await solve("mad", mad_model(lambda r: verdict(""), log=log))
    assert sol.usage.calls == 3 * 3 + 2 and sol.metadata["decided_by"] == "judge" and sol.answer == "42"
    judge_first = next(r for r in log if r.role == "judge")
    assert "<affirmative round 1>" in judge_first.prompt and "<negative round 1>" in judge_first.prompt
    assert "round 2>" not in judge_first.prompt and "round 3>" not in judge_first.prompt

    sol = await solve("mad", mad_model(lambda r: verdict("")), max_round=1)
    assert sol.usage.calls == 5


async def test_mad_malformed_moderator_json_never_executes_and_goes_to_the_judge(tmp_path: Any) -> None:
    """Scripted deterministic models: an unparsable moderator reply (here Python that would write a
    file if evaluated) is never executed; the judge decides at once (3 + 2 calls)."""
    marker = tmp_path / "pwned"
    payload = f"__import__('pathlib').Path({str(marker)!r}).write_text('pwned')"
    sol = await solve("mad", mad_model(lambda r: payload))
    assert not marker.exists()
    assert sol.usage.calls == 5 and sol.answer == "42"
    assert sol.metadata["decided_by"] == "judge" and sol.metadata["moderator_parse_failed"] is True

    # a truncated JSON object is repaired, not rejected
    sol = await solve("mad", mad_model(lambda r: '{"Whether there is a preference": "Yes", "debate_answer": "42"'))
    assert sol.answer == "42" and sol.usage.calls == 3

    # a judge reply that is not JSON either: its text is the answer, still a string
    sol = await solve("mad", mad_model(lambda r: "no idea", judge=lambda r: "I pick 42"))
    assert sol.answer == "I pick 42" and sol.metadata["judge_answer_parsed"] is False


async def test_mad_judge_runs_on_the_moderators_model_unless_assigned() -> None:
    """Scripted deterministic models on three aliases: the judge follows the moderator's alias."""
    sol = await solve("mad", mad_model(lambda r: "bad"), "x", "m", "j", roles={"moderator": "m"})
    assert {(r.role, r.alias) for r in sol.usage.rows if r.role in ("moderator", "judge")} == {
        ("moderator", "m"), ("judge", "m")}
    sol = await solve("mad", mad_model(lambda r: "bad"), "x", "m", "j", roles={"moderator": "m", "judge": "j"})
    assert sol.usage.by("alias")["j"].calls == 2


# --------------------------------------------------------------------------- reference profile (MASLab 74265c7)

REFERENCE_CALLS = {
    "disagree": 11,  # the moderator never concludes: 3 rounds × (affirmative, negative, moderator) + judge's 2
    "agree": 3,  # round 1 concludes: affirmative, negative, moderator
    "paraphrase": 3,  # the sides word the same answer differently; the moderator still concludes in round 1
    "disagree_then_agree": 6,  # round 1 undecided, round 2 concludes: 2 × 3
}


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_reference_profile_calls_and_what_each_side_reads(scenario: str) -> None:
    """Scripted deterministic models, each scenario: the calls MASLab's MAD makes (REFERENCE_CALLS), the
    negative side rebutting the affirmative's answer, the moderator reading both sides' latest answers
    under a strict-JSON request, and the judge (when undecided) reading both sides' first answers."""
    def fn(req: ScriptedRequest) -> str:
        rnd = n_assistant(req) + 1
        if req.role == "moderator":
            return verdict("42" if agrees_now(scenario, rnd) else "", fenced=True)
        if req.role == "judge":
            return "Candidates: 40, 43" if rnd == 1 else '{"Reason": "x", "debate_answer": "42"}'
        return scenario_reply(scenario, 0 if req.role == "affirmative" else 1, rnd)

    sol, script = await solve_recorded("mad", fn, profile="reference")
    assert sol.usage.calls == REFERENCE_CALLS[scenario] and sol.answer == "42"
    first_neg = script.by_role("negative")[0]
    assert first_neg.prompt.startswith(scenario_reply(scenario, 0, 1))  # the affirmative's answer, rebutted
    for req in script.by_role("moderator"):
        rnd = n_assistant(req) + 1
        assert scenario_reply(scenario, 0, rnd) in req.prompt and scenario_reply(scenario, 1, rnd) in req.prompt
        assert req.prompt.endswith("Reply strictly with that JSON object and nothing else.")
        assert "```" not in req.transcript  # the reference keeps its replies without code fences
    judge = script.by_role("judge")
    assert len(judge) == (2 if scenario == "disagree" else 0)
    if judge:
        assert scenario_reply(scenario, 0, 1) in judge[0].prompt and scenario_reply(scenario, 1, 1) in judge[0].prompt


async def test_reference_profile_debates_on_after_an_unparseable_moderator_reply() -> None:
    """Scripted deterministic models: MASLab's loop stops only on a non-empty debate_answer (its eval would
    raise on prose); the reference profile counts prose as no conclusion and debates on — round 2
    concludes: 6 calls, no judge (the default profile sends prose straight to the judge: 5 calls)."""
    moderator = {1: "I cannot decide yet.", 2: verdict("42")}
    sol, script = await solve_recorded("mad", mad_model(lambda r: moderator[r]), profile="reference")
    assert sol.usage.calls == 6 and sol.answer == "42" and not script.by_role("judge")
    default = await solve("mad", mad_model(lambda r: moderator[r]))
    assert default.usage.calls == 5 and default.metadata["decided_by"] == "judge"
