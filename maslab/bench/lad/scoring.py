"""LAD scoring (arXiv 2505.17019 spec §4): MCQ accuracy, and the OSQ judge's 1–5 rating.

* `lad_mcq` — the option letter of the reply by `maslab.answers.extract_tagged_choice`: the first
  letter inside ``<answer>``, else the last standalone capital A–F; a reply with neither is wrong and
  flagged (`detail.flagged`). Correct iff the letter is the gold letter. Metric: accuracy.
* `lad_osq` — one call (temperature 0) to a judge alias (`alias`; default: the pool's default alias),
  shown the image when the alias takes images (`detail.judge_saw_image`), with the reference's rubric:
  ratings 1–5 over five perspectives (surface information, emotional expression, domain and context,
  rhetorical skill, deep implication), against position and length bias, answering ``[rating]``.
  The rating is the first integer in ``[…]`` (`maslab.answers.extract_bracket_rating`). The reference
  answer is the record's `explanation` (English) or `metaphorical_meaning` + ";" + `explanation`
  (Chinese), re-read from the data file by item id — it is never part of the task. Score value =
  rating / 5 (so a report's mean score × 5 is the paper's number); correct iff rating ≥ 4 (ours: "largely
  consistent with the standard answer"). An unreadable verdict is a scoring error (the paper's mean
  counts it as 0: `mean_rating`).

The judge prompt is the LAD reference notebook's (`prompt_OSQ`, MIT License, Copyright (c) 2025 MING_X).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from maslab.answers import LETTERS, extract_bracket_rating, extract_tagged_choice
from maslab.bench.lad.dataset import record_for
from maslab.bench.scorers import Score, Scorer, register_scorer
from maslab.errors import ConfigError, MaslabError
from maslab.messages import ImagePart, Message, TextPart
from maslab.task import Solution, Task

if TYPE_CHECKING:
    from maslab.models import ModelPool

__all__ = ["JUDGE_PROMPT", "LADChoiceScorer", "LADJudgeScorer", "mean_rating", "reference_answer"]

JUDGE_PROMPT = """# Role
You are an impartial judge who is familiar with Internet culture and memes, and is good at digging out and analyzing the deep meaning of Internet memes.

## Attention
You are responsible for evaluating the quality of the answer provided by the model for Internet culture and memes. Your evaluation should refer to the human answer and image, and score based on the Evaluation Standard.

## Evaluation Standard:
[1 point]: Fails to capture key elements within the image (such as text, and important entities). Does not identify emotions, domain, or rhetorical devices. Only provides a superficial description of surface-level information, lacking depth and creativity, with a significant gap from the standard answer.

[2 points]: Captures some key elements within the image, but the identification of emotions, domain, and rhetorical devices is vague. The description of surface-level information is relatively complete, but there is a clear deficiency in exploring deeper meanings, showing a noticeable gap from the standard answer.

[3 points]: Effectively captures key elements within the image and initially identifies emotions, domain, and rhetorical devices. The description of surface-level information is relatively accurate, and there is some relevant expression of deep meanings. However, there is still room for improvement in depth and creativity, and it is generally close to the standard answer.

[4 points]: Accurately captures key elements within the image and clearly identifies emotions, domain, and rhetorical devices. The description of surface-level information is detailed and precise, with a relatively deep exploration of deep meanings, demonstrating a certain level of creativity and depth. It is largely consistent with the standard answer but may have minor deficiencies in some details or depth.

[5 points]: Accurately and precisely captures key elements within the image and profoundly identifies emotions, domain, and rhetorical devices. The description of surface-level information is comprehensive and precise, with unique insights into deep meanings, skillfully integrating image elements with metaphorical implications. It demonstrates exceptional creativity and depth, is highly consistent with the standard answer, and shows a profound grasp of metaphor creation and cultural understanding.

## Standard Answer:
Human answer: {reference}

## Constraints
- Avoid any position biases and be as objective as possible
- Do not allow the length of the descriptions to influence your evaluation
- Output your final directly by strictly following this format: "[ratings]"

## Solve:
Model answer: {answer}
"""


def reference_answer(task: Task) -> str:
    """The open-answer reference of a LAD task, re-read from its data file (`lad_source`, `lad_item`)."""
    source, item = task.metadata.get("lad_source"), task.metadata.get("lad_item")
    if not source or not item:
        raise ConfigError(f"task {task.id!r} is not a LAD task (no lad_source / lad_item in its metadata)")
    meta = record_for(str(source), str(item)).get("meta_data") or {}
    explanation = str(meta.get("explanation") or "").strip()
    if not explanation:
        raise ConfigError(f"{source}: item {item!r} has no meta_data.explanation")
    meaning = str(meta.get("metaphorical_meaning") or "").strip()
    return f"{meaning};{explanation}" if meaning else explanation


def _labels(task: Task) -> dict[str, Any]:
    """The record's image type and language, for breakdowns in the score detail (read by the scorer only)."""
    try:
        meta = record_for(str(task.metadata["lad_source"]), str(task.metadata["lad_item"])).get("meta_data") or {}
    except (KeyError, ConfigError):
        return {}
    return {"image_type": str(meta.get("image_type", "")), "lang": task.metadata.get("lang")}


@register_scorer("lad_mcq")
class LADChoiceScorer(Scorer):
    """The `<answer>` letter (else the last standalone letter) equals the gold letter."""

    async def _score(self, task: Task, answer: str) -> Score:
        letters = LETTERS[:len(task.choices) if task.choices else 6]
        gold = (task.answer or "").strip().upper()
        if len(gold) != 1 or gold not in letters:
            return Score.scoring_error(f"lad_mcq: reference {task.answer!r} is not an option letter")
        letter, source = extract_tagged_choice(answer, letters)
        return Score.of(letter == gold, letter, gold=gold, parse=source, flagged=source == "none", **_labels(task))


@register_scorer("lad_osq")
class LADJudgeScorer(Scorer):
    """The LAD judge: one temperature-0 call, the rubric, the first integer in `[…]` (see the module docstring)."""

    needs_reference = False  # the reference is read from the data file, never carried by the task
    needs_pool: ClassVar[bool] = True

    def __init__(self, *, pool: ModelPool | None = None, alias: str | None = None, max_tokens: int | None = None,
                 image: bool = True) -> None:
        if pool is None:
            raise ConfigError("scorer 'lad_osq' needs pool= (a ModelPool with the judge alias)")
        self.pool, self.alias = pool, pool.resolve(alias)
        self.max_tokens, self.image = max_tokens, image

    async def score_solution(self, task: Task, solution: Solution) -> Score:
        prompt = JUDGE_PROMPT.format(reference=reference_answer(task), answer=solution.answer)
        see = bool(self.image and task.images) and await self.pool.supports_images(self.alias)
        message = (Message.user([TextPart(text=prompt), *(ImagePart(path=p) for p in task.images)]) if see
                   else Message.user(prompt))
        detail: dict[str, Any] = {"judge_alias": self.alias, "judge_saw_image": see, "temperature": 0.0,
                                  "prompt_sha256": hashlib.sha256(prompt.encode()).hexdigest(), **_labels(task)}
        params: dict[str, Any] = {"temperature": 0.0}
        if self.max_tokens is not None:
            params["max_tokens"] = self.max_tokens
        try:
            completion = await self.pool.complete(self.alias, [message], agent="judge", role="judge", **params)
        except MaslabError as exc:
            return Score.scoring_error(f"lad_osq: judge call failed: {exc}", **detail)
        detail.update(judge_model=completion.model, verdict_raw=completion.text[:500])
        rating = extract_bracket_rating(completion.text)
        if rating is None:
            return Score.scoring_error(f"lad_osq: no rating 1-5 in {completion.text[:80]!r}", rating=None, **detail)
        return Score(value=rating / 5, correct=rating >= 4, extracted=str(rating), detail={"rating": rating, **detail})


def mean_rating(scores: Sequence[Score]) -> float:
    """The paper's OSQ number: the mean judge rating over items, an unreadable verdict counting 0 (as the reference)."""
    if not scores:
        return 0.0
    return sum(int(s.detail.get("rating") or 0) for s in scores) / len(scores)

