"""MAD, Multi-Agent Debate (`mad`, arXiv 2305.19118): two sides, a moderator, and a judge when undecided.

They run on scripted deterministic models (`ModelPool.scripted`): replies are computed from the
request, so the orchestration logic (call counts, prompts, routing) is checked exactly, in milliseconds.
"""

from __future__ import annotations

import json
from typing import Any

from maslab.models import ScriptedRequest
from tests.systems.scripts import n_assistant, solve


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
