"""SpatialScore scoring (arXiv 2505.17012 spec §4): option letters, yes/no, values with units, MRA.

The `spatial` scorer reads a task's `metadata["question_type"]` (multi-choice | judgment |
open-ended) and, for numbers, `metadata["numeric_metric"]`:

* **multi-choice** — the option letter (`maslab.answers.extract_choice`; "(b)", "B", "B. 3 m" and
  "<answer>(B)</answer>" all read as B) equals the gold letter;
* **judgment** — the first yes/no word equals the gold's;
* **ratio** (v0, numeric answers with a unit) — both values in centimetres; correct iff
  max(pred/gt, gt/pred) < 2 (so 1.72 m against 4.0 m is wrong: the ratio is 2.33);
* **mra** (VSI-Bench in v0; every numeric answer in v3) — Mean Relative Accuracy, the mean over
  θ ∈ {0.50, 0.55, …, 0.95} of 1[|pred − gt| / gt < 1 − θ]; the score's value is the MRA (correct
  when MRA ≥ 0.5, i.e. a relative error below 25 %; the benchmark's number is the mean value);
* **exact** (other numbers, e.g. counts) — equal values.

An answer without a unit is read in the gold's unit. The text inside ``<answer>…</answer>`` is
scored when the answer has such a tag. `SpatialScorer(numeric_metric="mra")` scores every numeric
item by MRA, as v3 does. Complex open-ended answers (v3's parser + GPT-OSS-20B judge mean) are not
implemented.
"""

from __future__ import annotations

import re
from typing import Literal

from maslab.answers import (
    LENGTH_UNITS_CM,
    LETTERS,
    extract_choice,
    extract_measure,
    extract_tag,
    extract_yes_no,
)
from maslab.bench.scorers import Score, Scorer, register_scorer
from maslab.task import Task

__all__ = ["MRA_THRESHOLDS", "NumericMetric", "SpatialScorer", "mean_relative_accuracy", "option_letters",
           "ratio_correct"]

NumericMetric = Literal["mra", "ratio", "exact"]
MRA_THRESHOLDS = tuple(round(0.50 + 0.05 * i, 2) for i in range(10))  # 0.50 … 0.95


def mean_relative_accuracy(pred: float, gt: float) -> float:
    """VSI-Bench's MRA: the share of thresholds θ ∈ {0.50, …, 0.95} with |pred − gt| / |gt| < 1 − θ."""
    if gt == 0:
        return 1.0 if pred == 0 else 0.0
    rel = abs(pred - gt) / abs(gt)
    return sum(rel < round(1 - theta, 2) for theta in MRA_THRESHOLDS) / len(MRA_THRESHOLDS)


def ratio_correct(pred: float, gt: float) -> bool:
    """The v0 unit rule: max(pred/gt, gt/pred) < 2 (values in one unit; non-positive values are wrong)."""
    if pred <= 0 or gt <= 0:
        return False
    return max(pred / gt, gt / pred) < 2.0


_OPTION_LINE = re.compile(r"(?m)^\s*\(?([A-Z])[.):]\s")


def option_letters(task: Task) -> str:
    """The option letters of a multiple-choice task: from `choices`, else the lines of its question."""
    if task.choices:
        return LETTERS[:len(task.choices)]
    found = "".join(dict.fromkeys(_OPTION_LINE.findall(task.question)))
    return found if found and LETTERS.startswith(found) else LETTERS[:max(4, len(found))]


def _answer_text(answer: str) -> str:
    return extract_tag(answer, "answer") or answer


@register_scorer("spatial")
class SpatialScorer(Scorer):
    """SpatialScore's rules by question type (see the module docstring)."""

    def __init__(self, *, numeric_metric: NumericMetric | None = None) -> None:
        self.numeric_metric = numeric_metric

    async def _score(self, task: Task, answer: str) -> Score:
        text = _answer_text(answer)
        qtype = task.metadata.get("question_type") or ("multi-choice" if task.choices else "open-ended")
        if qtype == "multi-choice":
            return self._choice(task, text)
        if qtype == "judgment":
            gold = extract_yes_no(task.answer)
            if gold is None:
                return Score.scoring_error(f"spatial: judgment reference {task.answer!r} is neither yes nor no")
            got = extract_yes_no(text)
            return Score.of(got == gold, got, gold=gold, question_type=qtype)
        return self._numeric(task, text)

    def _choice(self, task: Task, text: str) -> Score:
        letters = option_letters(task)
        gold = extract_choice(task.answer, len(letters))
        if gold is None:
            return Score.scoring_error(f"spatial: multiple-choice reference {task.answer!r} is not an option letter")
        got = extract_choice(text, len(letters))
        return Score.of(got == gold, got, gold=gold, question_type="multi-choice")

    def _numeric(self, task: Task, text: str) -> Score:
        gold = extract_measure(task.answer)
        if gold is None:
            return Score.scoring_error(f"spatial: numeric reference {task.answer!r} has no number")
        metric: NumericMetric = (self.numeric_metric or task.metadata.get("numeric_metric")
                                 or ("ratio" if gold.unit else "exact"))
        got = extract_measure(text)
        detail = {"question_type": "open-ended", "metric": metric, "gold": f"{gold.value:g} {gold.unit or ''}".strip()}
        if got is None:
            return Score.of(False, None, reason="no number in answer", **detail)
        pred_unit = got.unit or gold.unit  # a bare number is read in the reference's unit
        if (pred_unit is None) != (gold.unit is None):
            return Score.of(False, f"{got.value:g}", reason="a length unit against a unitless reference", **detail)
        p = got.value * (LENGTH_UNITS_CM[pred_unit] if pred_unit else 1.0)
        g = gold.value * (LENGTH_UNITS_CM[gold.unit] if gold.unit else 1.0)
        extracted = f"{got.value:g} {pred_unit or ''}".strip()
        if metric == "mra":
            value = mean_relative_accuracy(p, g)
            return Score(value=value, correct=value >= 0.5, extracted=extracted, detail=detail)
        if metric == "ratio":
            return Score.of(ratio_correct(p, g), extracted, **detail)
        return Score.of(abs(p - g) <= 1e-9 * max(1.0, abs(g)), extracted, **detail)

