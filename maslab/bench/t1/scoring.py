"""Scoring T1 answers: per-user-turn metrics of a solution on its dialogue, and the `t1` scorer.

A solution that carries a ``t1-answer/1`` record (`solution.metadata["t1"]`, see
`maslab.bench.t1.answer`) is scored turn by turn from what it records (its code and the
execution the system ran, from the cache its ``cache_mode`` prescribes); the scorer never
re-runs its code. A turn the record lacks scores as an empty prediction (execution failed, cache
EM 0). Any other solution (a plain reply of another system, with or without ``<CODE>`` tags) is
read as the plan of the *last* user turn, run in the sandbox from the gold cache before that
turn, and only that turn is scored.
"""

from __future__ import annotations

from typing import Any

from maslab.bench.scorers import Score, Scorer, register_scorer
from maslab.bench.t1.answer import ANSWER_FORMAT, ANSWER_KEY, T1Answer, TurnRecord
from maslab.bench.t1.metrics import TurnScore, aggregate, score_turn
from maslab.errors import ConfigError
from maslab.task import Solution, Task
from maslab.tools.travel.analysis import is_noop, parse_reply
from maslab.tools.travel.dialogues import Dialogue
from maslab.tools.travel.execute import ExecutionResult, aexecute_plan
from maslab.tools.travel.kb import kb_path_for

__all__ = ["T1Scorer", "score_dialogue", "structured_answer"]

_NOT_PLANNED = "\x00(turn not planned)"
_HEADLINES = ("tool_f1", "param_f1", "exec_success", "cache_em", "tool_accuracy", "param_accuracy")


def structured_answer(solution: Solution) -> T1Answer | None:
    """The solution's ``t1-answer/1`` record, or None when it has none (a plain reply)."""
    data = solution.metadata.get(ANSWER_KEY)
    if not isinstance(data, dict) or data.get("format") != ANSWER_FORMAT:
        return None
    return T1Answer.model_validate(data)


async def score_dialogue(task: Task, solution: Solution | str, *, timeout: float = 10.0,
                         memory_mb: int = 1024) -> tuple[list[TurnScore], dict[str, Any]]:
    """Per-user-turn T1 metrics (`score_turn`) of `solution` on the dialogue of T1 task `task`.

    Returns the scores and ``{"format", "cache_mode", "first_attempt_exec_success"}``.
    `ValueError` for a record of another dialogue.
    """
    if isinstance(solution, str):
        solution = Solution(answer=solution)
    dialogue = Dialogue.model_validate(task.metadata["dialogue"])
    users = dialogue.user_turn_indices()
    common = {"dialogue_id": dialogue.id, "category": dialogue.category}
    parsed = structured_answer(solution)
    if parsed is None:
        last = users[-1]
        code = parse_reply(solution.answer).code
        before = dialogue.gold_cache_before(last)
        if code.strip() and not is_noop(code):
            kb = kb_path_for(dialogue.kb_seed, dialogue.kb_scale, (task.metadata.get("kb") or {}).get("path"))
            execution = await aexecute_plan(code, before, kb, timeout=timeout, memory_mb=memory_mb)
        else:
            execution = ExecutionResult(ok=True, cache_summary=before.summary())
        score = score_turn(code, dialogue.turns[last], execution=execution, turn_index=last, **common)
        first_reply = None if score.exec_success is None else 100.0 * score.exec_success
        return [score], {"format": "reply", "cache_mode": "gold", "first_attempt_exec_success": first_reply}
    if parsed.dialogue_id != dialogue.id:
        raise ValueError(f"the answer is for dialogue {parsed.dialogue_id!r}, the task is {dialogue.id!r}")
    by_turn = {r.turn_index: r for r in parsed.turns}
    scores: list[TurnScore] = []
    first_ok: list[bool] = []
    for i in users:
        rec = by_turn.get(i)
        if rec is None:
            rec = TurnRecord(turn_index=i, execution=ExecutionResult(ok=True, cache_summary=_NOT_PLANNED))
        execution = rec.execution
        if execution is None and (not rec.code.strip() or is_noop(rec.code)):
            execution = ExecutionResult(ok=True, cache_summary=rec.cache_before)  # nothing ran: cache unchanged
        s = score_turn(rec.code, dialogue.turns[i], execution=execution, turn_index=i, **common)
        scores.append(s)
        if s.exec_success is not None:
            first_ok.append(bool(s.exec_success) and not rec.attempts)
    first = 100.0 * sum(first_ok) / len(first_ok) if first_ok else None
    return scores, {"format": ANSWER_FORMAT, "cache_mode": parsed.cache_mode, "first_attempt_exec_success": first}


@register_scorer("t1")
class T1Scorer(Scorer):
    """The T1 metrics of one dialogue (`score_dialogue`, `metrics.aggregate`).

    `value` is the headline (default ``tool_f1``: the mean tool-call F1 over the dialogue's user
    turns, as a fraction; ``headline=`` picks ``param_f1``, ``exec_success``, ``cache_em``,
    ``tool_accuracy`` or ``param_accuracy``; a metric no turn applies to scores 1). `correct`:
    every turn has exact tool and parameter multisets, no failed execution and no cache-summary
    mismatch. `detail`: ``metrics`` (every aggregate, in percent, with the error taxonomy),
    ``turns`` (every `TurnScore`), ``first_attempt_exec_success``, ``cache_mode``.
    """

    needs_reference = False

    def __init__(self, *, headline: str = "tool_f1", timeout: float = 10.0, memory_mb: int = 1024) -> None:
        if headline not in _HEADLINES:
            raise ConfigError(f"t1: headline must be one of {list(_HEADLINES)}, got {headline!r}")
        self.headline, self.timeout, self.memory_mb = headline, timeout, memory_mb

    async def score_solution(self, task: Task, solution: Solution) -> Score:
        if "dialogue" not in task.metadata:
            return Score.scoring_error(f"t1: task {task.id!r} has no metadata 'dialogue' (use load_dataset('t1'))")
        try:
            scores, info = await score_dialogue(task, solution, timeout=self.timeout, memory_mb=self.memory_mb)
        except ValueError as exc:  # includes pydantic's ValidationError of a malformed record
            return Score.scoring_error(f"t1: {exc}"[:2000])
        overall = aggregate(scores).overall
        head = getattr(overall, self.headline)
        value = 1.0 if head is None else min(1.0, max(0.0, head / 100.0))
        correct = all(s.tool_accuracy == 1 and s.param_accuracy == 1 and s.exec_success is not False
                      and s.cache_em is not False for s in scores)

        def pct(x: float | None) -> str:
            return "n/a" if x is None else f"{x:.1f}"

        extracted = (f"tool_f1={pct(overall.tool_f1)} param_f1={pct(overall.param_f1)} "
                     f"exec={pct(overall.exec_success)} cache_em={pct(overall.cache_em)}")
        return Score(value=value, correct=correct, extracted=extracted, detail={
            "headline": self.headline, "answer_format": info["format"], "cache_mode": info["cache_mode"],
            "n_turns": len(scores), "metrics": overall.model_dump(mode="json"),
            "first_attempt_exec_success": info["first_attempt_exec_success"],
            "turns": [s.model_dump(mode="json") for s in scores]})
