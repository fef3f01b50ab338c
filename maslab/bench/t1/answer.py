"""The structured answer a T1 system hands the `t1` scorer: `solution.metadata["t1"]`, format ``t1-answer/1``.

One record per planned user turn: the plan that counts, what the agent saw of the cache, the
execution the agent ran (without the cache contents), a failed model call, and any earlier
failed attempts (repairs). The `t1_agent` system writes it; any system may, by this schema.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from maslab.tools.travel.execute import ExecutionResult

ANSWER_FORMAT = "t1-answer/1"
ANSWER_KEY = "t1"  # where the structured answer sits in `Solution.metadata`


class Attempt(BaseModel):
    """An earlier, failed attempt at a turn's plan (only with ``repair_rounds`` > 0)."""

    code: str
    ok: bool
    error_category: str | None = None
    error: str | None = None


class TurnRecord(BaseModel):
    """What the system did on one user turn."""

    turn_index: int
    code: str = ""
    reasoning: str | None = None
    had_code_tag: bool = False
    cache_before: str = ""
    execution: ExecutionResult | None = None
    model_error: str | None = None
    attempts: list[Attempt] = Field(default_factory=list)


class T1Answer(BaseModel):
    """A system's answer for one dialogue."""

    format: Literal["t1-answer/1"] = ANSWER_FORMAT
    dialogue_id: str
    cache_mode: Literal["gold", "rollout"]
    turns: list[TurnRecord]
