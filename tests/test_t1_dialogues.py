"""T1 dialogues: shape, splits, determinism, gold-code rules, gold code run in the sandbox, prompt, Tasks."""

from __future__ import annotations

import re

import pytest

from maslab.agents.t1.prompt import build_prompt, default_examples
from maslab.bench.t1.dataset import dialogue_from_task, t1_tasks
from maslab.bench.t1.metrics import aggregate, score_turn
from maslab.tools.travel.analysis import extract_calls, parse_reply
from maslab.tools.travel.dialogues import (
    CATEGORIES,
    CATEGORY_DOMAINS,
    generate_dialogues,
    template_split,
)
from maslab.tools.travel.execute import execute_plans
from maslab.tools.travel.kb import SPLITS, build_kb, load_kb
from maslab.tools.travel.tools import NO_PLANNING


@pytest.fixture(scope="module")
def kb(tmp_path_factory):
    return load_kb(build_kb(tmp_path_factory.mktemp("kb") / "kb.sqlite", seed=0, scale="test"))


@pytest.fixture(scope="module")
def dialogues(kb):
    """18 test-split dialogues: every category twice."""
    return generate_dialogues(18, seed=0, split="test", kb=kb)


def test_every_category_has_the_paper_shape(dialogues):
    assert sorted({d.category for d in dialogues}) == sorted(CATEGORIES)
    for d in dialogues:
        roles = [t.role for t in d.turns]
        assert roles[0] == "assistant" and roles[-1] == "user"
        assert all(a != b for a, b in zip(roles, roles[1:], strict=False)), "turns must alternate"
        lo, hi = (6, 8) if len(CATEGORY_DOMAINS[d.category]) == 1 else (8, 10)
        assert lo <= len(d.turns) <= hi, (d.id, len(d.turns))
        for t in d.turns:
            assert t.text and "<" not in t.text, t.text  # every placeholder filled
            assert (t.code is not None) == (t.role == "user")
        users = [d.turns[i] for i in d.user_turn_indices()]
        assert re.search(r"<[A-Z_0-9]+>", users[0].template)  # templates carry numbered placeholders
        used = set(re.findall(r"<([A-Z_0-9]+)>", " ".join(t.template for t in users)))
        assert used == set(d.placeholders)


def test_generation_is_deterministic_per_seed(kb):
    a = [d.model_dump() for d in generate_dialogues(9, seed=3, split="test", kb=kb)]
    b = [d.model_dump() for d in generate_dialogues(9, seed=3, split="test", kb=kb)]
    c = [d.model_dump() for d in generate_dialogues(9, seed=4, split="test", kb=kb)]
    assert a == b and a != c


def test_templates_and_cities_respect_the_splits(kb):
    for cat in CATEGORIES:
        parts = template_split(cat)
        ids = {s: {t.id for t in parts[s]} for s in SPLITS}
        assert not (ids["train"] & ids["test"]) and not (ids["validation"] & ids["test"])
        n = sum(len(v) for v in ids.values())
        assert len(ids["train"]) == round(0.25 * n) and len(ids["test"]) >= 0.6 * n
    splits = kb.splits()
    for split in SPLITS:
        for d in generate_dialogues(9, seed=1, split=split, kb=kb):
            assert d.template_id in {t.id for t in template_split(d.category)[split]}
            for i in d.user_turn_indices():
                for c in extract_calls(d.turns[i].code):
                    for arg in ("origin", "destination", "city"):
                        if isinstance(c.args.get(arg), str):
                            assert c.args[arg] in splits[split], (split, c.name, c.args[arg])


def test_gold_code_follows_the_cache_rules(dialogues):
    kinds = set()
    for d in dialogues:
        for i in d.user_turn_indices():
            t = d.turns[i]
            kinds.add(t.kind)
            before = d.gold_cache_before(i)
            calls = extract_calls(t.code)
            after_keys = [e["key"] for e in t.cache_after["entries"]]
            if t.kind == "noop":
                assert t.code == NO_PLANNING and after_keys == before.keys()
            elif t.kind == "seek":
                assert [c.name for c in calls] == ["seek_information"] and after_keys == before.keys()
            else:
                saved = [c.args["key"] for c in calls if c.name == "save_to_cache"]
                assert saved and not set(saved) & set(before.keys())  # fresh keys only
                assert after_keys == before.keys() + saved
                assert all(re.fullmatch(r"(flights|hotels|restaurants|attractions)_\d+", k) for k in saved)
                for c in calls:
                    if c.name == "get_results_from_cache":
                        assert c.args["key"] in before  # reuse reads what an earlier turn saved
                    if c.name == "search_hotels":
                        assert c.args["checkin_date"] < c.args["checkout_date"]  # folded adjust_date too
    assert kinds == {"plan", "seek", "noop"}


def test_gold_code_of_all_nine_categories_runs_and_scores_100(kb, dialogues):
    refs = [(d, i) for d in dialogues for i in d.user_turn_indices()]
    runs = execute_plans([(d.turns[i].code, d.gold_cache_before(i)) for d, i in refs], kb.path)
    scores = []
    for (d, i), res in zip(refs, runs, strict=True):
        turn = d.turns[i]
        assert res.ok, (d.id, i, res.error)
        assert res.cache_summary == turn.cache_summary and res.cache_after == turn.cache_after, (d.id, i)
        s = score_turn(turn.code, turn, execution=res, cache_before=d.gold_cache_before(i), category=d.category)
        assert (s.tool_f1, s.param_f1, s.tool_accuracy, s.param_accuracy, s.cache_em) == (1, 1, 1, 1, True)
        assert s.exec_success is (None if turn.kind == "noop" else True)
        if turn.kind == "seek":
            assert s.seek_bleu == pytest.approx(100) and s.seek_token_f1 == 1
        scores.append(s)
    report = aggregate(scores)
    assert set(report.per_category) == set(CATEGORIES)
    for summary in (report.overall, report.macro, *report.per_category.values()):
        for field in ("tool_accuracy", "tool_precision", "tool_recall", "tool_f1", "param_accuracy",
                      "param_precision", "param_recall", "param_f1", "exec_success", "cache_em"):
            assert getattr(summary, field) == pytest.approx(100.0), field
        assert summary.errors == {}


def test_prompt_has_the_paper_sections_in_order(kb, dialogues):
    d = dialogues[4]
    i = d.user_turn_indices()[1]
    examples = default_examples(3, kb=kb)
    assert len(examples) == 3 and all("<" not in e.conversation for e in examples)
    p = build_prompt(d, i, d.gold_cache_before(i), examples=examples)
    heads = ["# TOOL CONFIG", "# INSTRUCTIONS", "# OUTPUT FORMAT", "# EXAMPLES", "# CONVERSATION", "# CACHE"]
    pos = [p.user.index(h) for h in heads]
    assert pos == sorted(pos)
    assert "expert travel planner" in p.system and NO_PLANNING in p.user
    conversation = p.user[p.user.index("# CONVERSATION"):p.user.index("# CACHE")]
    assert d.turns[i].text in conversation and (i + 1 >= len(d.turns) or d.turns[i + 1].text not in conversation)
    assert p.user.rstrip().endswith(d.gold_cache_before(i).summary() or "(empty)")
    assert [m["role"] for m in p.messages()] == ["system", "user"]
    assert "<REASONING>" not in build_prompt(d, i, None, with_reasoning=False).user


@pytest.mark.parametrize(("reply", "reasoning", "code"), [
    ("<REASONING>need flights</REASONING><CODE>x = 1</CODE>", "need flights", "x = 1"),
    ("<CODE>\nx = 1\n</CODE>", None, "x = 1"),  # no reasoning block
    ("<REASONING>r</REASONING>\n<CODE>\n```python\nx = 1\n```\n</CODE>", "r", "x = 1"),  # fences inside
    ("<REASONING>r\n<CODE>x = 1", "r", "x = 1"),  # unclosed tags
    ("Sure!\n```python\nx = 1\n```", None, "x = 1"),  # no tags, fenced
    ("x = 1", None, "x = 1"),  # bare code
    ('<code>print("No planning needed")</code>', None, NO_PLANNING),  # lower-case tag
])
def test_reply_parser_tolerates_missing_tags_and_fences(reply, reasoning, code):
    parsed = parse_reply(reply)
    assert parsed.reasoning == reasoning and parsed.code == code


def test_t1_tasks_carry_their_dialogue(monkeypatch, tmp_path):
    monkeypatch.setenv("MASLAB_T1_KB_DIR", str(tmp_path))
    tasks = t1_tasks(4, seed=2, split="validation", categories=["hotels", "flights-hotels"])
    assert [t.domain for t in tasks] == ["hotels", "flights-hotels", "hotels", "flights-hotels"]
    assert len({t.id for t in tasks}) == 4
    for t in tasks:
        d = dialogue_from_task(t)
        assert d.split == "validation" and t.metadata["benchmark"] == "t1"
        assert t.answer == d.turns[d.user_turn_indices()[-1]].code
        assert t.question.splitlines()[0].startswith("Assistant:")
    assert list(tmp_path.glob("*.sqlite"))  # the KB was built where we asked
