"""Answer extraction and the two voting modes of the Avengers spec §5 (faithful and default)."""

from __future__ import annotations

import pytest

from maslab.answers import (
    AnswerFormat,
    answer_format,
    canonical_answer,
    extract_answer,
    first_boxed,
    last_boxed,
    vote,
)

# --------------------------------------------------------------------------- formats


def test_answer_formats_resolve_dataset_names_and_ranges():
    assert answer_format("MMLU-Pro").letters == "ABCDEFGHIJ"
    assert answer_format("GPQA").letters == "ABCD"
    assert answer_format("ARC-C").letters == "ABCDE"
    assert answer_format("MELD").letters == "ABCDEFG"
    assert answer_format("Winogrande").letters == "AB"
    assert answer_format("AIME").kind == "math"
    assert answer_format("mcq:B-D") == AnswerFormat(kind="mcq", letters="BCD")
    assert answer_format("mcq").letters == "ABCD"
    with pytest.raises(ValueError, match="unknown task kind"):
        answer_format("poetry")
    with pytest.raises(ValueError):
        answer_format("mcq:D-A")


# --------------------------------------------------------------------------- extraction


@pytest.mark.parametrize(
    ("text", "kind", "expected"),
    [
        ("Answer: A\nwait, no.\nAnswer: C", "gpqa", "C"),  # the last "Answer:"
        ("Answer: C\nAnswer: E", "gpqa", "C"),  # E is outside A-D: ignored
        ("Answer: C\nAnswer: E", "arc-c", "E"),  # ... but inside A-E
        ("Reasoning...\n**Answer:** (b)", "medqa", "B"),
        ("answer: Based on the passage it is unclear", "gpqa", ""),  # a word, not a choice letter
        ("Final Answer\n\nD", "gpqa", "D"),
        ("I think \\boxed{B} or maybe \\boxed{C}", "gpqa", "B"),  # first boxed for non-math
        (" B ", "gpqa", "B"),  # short text returned stripped
        ("Answer: 72\nthat is all", "bbh", "72"),
        ("The Final Answer\nvalid\n", "bbh", "valid"),
        ("so \\boxed{\\frac{a^{2}}{b}} and finally \\boxed{\\sqrt{\\frac{1}{2}}}", "math", "\\sqrt{\\frac{1}{2}}"),
        ("x = \\boxed{\\{1, 2\\}}", "aime", "\\{1, 2\\}"),
        ("result: \\boxed 7$ done", "math500", "7"),
        ("Answer: 42", "math", "42"),  # no box: falls back to "Answer:"
        ("nothing to see here at all", "math", ""),
        ("", "gpqa", ""),
    ],
)
def test_extraction(text, kind, expected):
    assert extract_answer(text, kind) == expected


def test_boxed_helpers_handle_nesting_and_unbalanced():
    text = "a \\boxed{\\frac{1}{\\sqrt{2}}} b \\boxed{x^{2}}"
    assert first_boxed(text) == "\\frac{1}{\\sqrt{2}}"
    assert last_boxed(text) == "x^{2}"
    assert first_boxed("\\boxed{1 + {2") is None
    assert last_boxed("no box") is None


def test_code_tasks_are_not_voted():
    with pytest.raises(ValueError, match="sample 0"):
        vote(["def f(): pass"], "HumanEval")


# --------------------------------------------------------------------------- faithful voting


def test_faithful_tie_goes_to_the_earliest_sample():
    r = vote(["b", "a", "a", "b", ""], "free", "faithful", extracted=True)
    assert r.answer == "b"
    assert r.counts == {"b": 2, "a": 2, "": 1}
    assert r.consistency == pytest.approx(0.4)
    assert r.stats()["a"] == {"count": 2, "frequency": 0.4}


def test_faithful_empty_extractions_vote_and_can_win():
    r = vote(["", "", "a"], "free", "faithful", extracted=True)
    assert r.answer == ""
    assert r.consistency == pytest.approx(2 / 3)


def test_faithful_counts_raw_strings():
    samples = ["\\boxed{0.5}", "\\boxed{\\frac{1}{2}}", "\\boxed{\\frac12}", "\\boxed{3}", "\\boxed{3}"]
    r = vote(samples, "math", "faithful")
    assert r.answer == "3"
    assert r.counts == {"0.5": 1, "\\frac{1}{2}": 1, "\\frac12": 1, "3": 2}
    assert r.extracted == ["0.5", "\\frac{1}{2}", "\\frac12", "3", "3"]


# --------------------------------------------------------------------------- default (normalised) voting


def test_default_merges_equivalent_math_answers():
    samples = ["\\boxed{0.5}", "\\boxed{\\frac{1}{2}}", "\\boxed{\\frac12}", "\\boxed{3}", "\\boxed{3}"]
    r = vote(samples, "math")
    assert r.answer == "0.5"  # the class's first raw extraction
    assert r.counts == {"0.5": 3, "3": 2}
    assert r.consistency == pytest.approx(0.6)
    assert canonical_answer("0.5", "math") == canonical_answer("\\frac12", "math") == canonical_answer("$1/2$", "math")
    assert canonical_answer("\\sqrt{8}", "math") == canonical_answer("2\\sqrt{2}", "math")
    assert canonical_answer("x = 1,000", "math") == canonical_answer("1000", "math")
    assert canonical_answer("0.5", "math") != canonical_answer("0.25", "math")
    assert canonical_answer("valid", "bbh") != canonical_answer("dilav", "bbh")  # letters are not multiplied


def test_default_empty_extractions_do_not_vote():
    r = vote(["", "", "a"], "free", extracted=True)
    assert r.answer == "a"
    assert r.counts == {"a": 1}
    assert r.consistency == pytest.approx(1 / 3)  # share of all samples, empties included
    assert vote(["", "  "], "free", extracted=True).answer == ""
    assert vote([], "math").answer == ""


def test_default_tie_and_letter_normalisation():
    r = vote(["Answer: b", "Answer: (A)", "Answer: B", "Answer: A", "the answer is unclear"], "gpqa")
    assert r.extracted[:4] == ["B", "A", "B", "A"]
    assert r.answer == "B"  # 2-2 tie -> the earlier class
    r = vote(["(C)", "c.", "\\text{C}", "D"], "mcq", extracted=True)
    assert r.answer == "(C)" and r.counts["(C)"] == 3


def test_modes_disagree_where_the_spec_says_they_should():
    samples = ["\\boxed{\\frac{1}{2}}", "\\boxed{0.50}", "no box at all, sorry", "no box either", "\\boxed{7}"]
    faithful = vote(samples, "math", "faithful")
    default = vote(samples, "math")
    assert faithful.answer == ""  # two empty extractions form the largest raw group
    assert default.answer == "\\frac{1}{2}"
    with pytest.raises(ValueError, match="vote mode"):
        vote(samples, "math", "weighted")  # type: ignore[arg-type]
