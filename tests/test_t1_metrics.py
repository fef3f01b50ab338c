"""T1 metrics: hand-computed scores of planted mistakes, the spec's metric rules, gold vs rollout chaining."""

from __future__ import annotations

import asyncio
import math

import pytest

from maslab.bench.t1.metrics import (
    TurnScore,
    aggregate,
    evaluate_dialogue,
    score_turn,
    sentence_bleu,
    token_f1,
)
from maslab.tools.travel.cache import ToolCache
from maslab.tools.travel.dialogues import DialogueTurn, generate_dialogues
from maslab.tools.travel.execute import execute_plans
from maslab.tools.travel.kb import build_kb, load_kb
from maslab.tools.travel.tools import NO_PLANNING
from tests.t1_planted import two_flight_turns


@pytest.fixture(scope="module")
def kb(tmp_path_factory):
    return load_kb(build_kb(tmp_path_factory.mktemp("kb") / "kb.sqlite", seed=0, scale="test"))


@pytest.fixture(scope="module")
def fx(kb):
    """Two gold turns: (1) search flights and save flights_1; (2) reuse flights_1, filter by budget, save flights_2."""
    p = two_flight_turns(kb)
    o, d, day, budget = p["o"], p["d"], p["day"], p["budget"]
    cache1, cache2, gold1, gold2 = p["cache1"], p["cache2"], p["gold1"], p["gold2"]
    turn1 = DialogueTurn(role="user", text="", code=gold1, kind="plan", cache_after=cache1.to_dict(),
                         cache_summary=cache1.summary())
    turn2 = DialogueTurn(role="user", text="", code=gold2, kind="plan", cache_after=cache2.to_dict(),
                         cache_summary=cache2.summary())
    return {"o": o, "d": d, "day": day, "budget": budget, "cache1": cache1, "turn1": turn1, "turn2": turn2,
            "gold1": gold1, "gold2": gold2}


def _prf(tp, n_pred, n_gold):
    p, r = tp / n_pred, tp / n_gold
    return p, r, 2 * p * r / (p + r)


def _check(s: TurnScore, tool, param):
    assert (s.tool_precision, s.tool_recall, s.tool_f1) == pytest.approx(tool)
    assert (s.param_precision, s.param_recall, s.param_f1) == pytest.approx(param)


def test_planted_mistakes_score_what_the_hand_computation_says(kb, fx):
    o, d, day, budget = fx["o"], fx["d"], fx["day"], fx["budget"]
    wrong_type = fx["gold1"].replace(repr(day), "20250601")
    no_reuse = (f"flights = search_flights(origin={o!r}, destination={d!r}, departure_date={day!r})\n"
                f"cheap = filter_flights(prior_results=flights, budget={budget})\n"
                "save_to_cache('flights_2', cheap)")
    extra_search = fx["gold2"] + f"\nback = search_flights(origin={d!r}, destination={o!r}, departure_date={day!r})"
    runs = execute_plans([(wrong_type, None), (no_reuse, fx["cache1"]), (extra_search, fx["cache1"])], kb.path)

    # (a) wrong argument type, turn 1: departure_date=20250601 instead of the date string.
    # tools: gold {search_flights, save_to_cache} = pred → TP 2 of 2/2: P = R = F1 = 1, accuracy 1.
    # params (save_to_cache excluded): gold origin, destination, departure_date (3); pred the same names,
    # departure_date differs → TP 2: P = R = F1 = 2/3, accuracy 0.
    # execution: ValidationError before the save → failure; pred cache "" ≠ gold "flights_1: …" → EM 0.
    a = score_turn(wrong_type, fx["turn1"], execution=runs[0])
    _check(a, (1, 1, 1), (2 / 3, 2 / 3, 2 / 3))
    assert (a.tool_accuracy, a.param_accuracy) == (1.0, 0.0)
    assert a.exec_success is False and a.error_category == "validation_error" and a.cache_em is False

    # (b) missing cache reuse, turn 2: searches again instead of get_results_from_cache('flights_1').
    # tools: gold {get, filter, save}, pred {search, filter, save} → TP 2: P = R = F1 = 2/3, accuracy 0.
    # params: gold filter_flights(budget) = 1 pair (prior_results, get, save excluded); pred search (3 pairs)
    # + filter (1 pair) = 4; the filters match → TP 1: P = 1/4, R = 1, F1 = 2·(1/4)·1 / (5/4) = 0.4.
    # execution succeeds; the saved table has the same provenance (search | filter) → cache EM 1.
    b = score_turn(no_reuse, fx["turn2"], execution=runs[1])
    _check(b, (2 / 3, 2 / 3, 2 / 3), (0.25, 1.0, 0.4))
    assert (b.tool_accuracy, b.param_accuracy) == (0.0, 0.0)
    assert b.exec_success is True and b.cache_em is True

    # (c) an extra search, turn 2: gold code plus an unsaved return-flight search.
    # tools: gold 3, pred 4, TP 3 → P = 3/4, R = 1, F1 = 2·(3/4)/(7/4) = 6/7, accuracy 0.
    # params: gold 1 pair, pred 1 + 3 = 4, TP 1 → P = 1/4, R = 1, F1 = 0.4. Not saved → cache EM 1.
    c = score_turn(extra_search, fx["turn2"], execution=runs[2])
    _check(c, (0.75, 1.0, 6 / 7), (0.25, 1.0, 0.4))
    assert c.exec_success is True and c.cache_em is True

    report = aggregate([a, b, c])
    # mean over the three turns, in percent
    assert report.overall.tool_f1 == pytest.approx(100 * (1 + 2 / 3 + 6 / 7) / 3)
    assert report.overall.param_f1 == pytest.approx(100 * (2 / 3 + 0.4 + 0.4) / 3)
    assert report.overall.exec_success == pytest.approx(100 * 2 / 3)
    assert report.overall.cache_em == pytest.approx(100 * 2 / 3)
    assert report.overall.errors == {"validation_error": 1}


def test_extra_cache_calls_change_tool_f1_but_not_param_f1(fx):
    gold = fx["turn2"]
    extra_save = fx["gold2"] + "\nsave_to_cache('flights_copy', cheap)"
    extra_get = "again = get_results_from_cache(key='flights_1')\n" + fx["gold2"]
    for pred in (extra_save, extra_get):
        s = score_turn(pred, gold)
        # tools: gold 3, pred 4 (one extra cache call), TP 3 → P 3/4, R 1, F1 6/7; params untouched → 1.
        _check(s, (0.75, 1.0, 6 / 7), (1, 1, 1))
        assert s.param_accuracy == 1.0 and s.tool_accuracy == 0.0


def test_a_different_prior_results_value_does_not_lower_param_f1(fx):
    other_var = fx["gold2"].replace("cached", "previous_results")
    inline = (f"cheap = filter_flights(prior_results=get_results_from_cache('flights_1'), budget={fx['budget']}.0)\n"
              "save_to_cache('flights_2', cheap)")
    s1, s2 = score_turn(other_var, fx["turn2"]), score_turn(inline, fx["turn2"])
    _check(s1, (1, 1, 1), (1, 1, 1))
    _check(s2, (1, 1, 1), (1, 1, 1))  # also: 300.0 == 300


def test_list_valued_parameters_match_in_any_order():
    gold = DialogueTurn(role="user", text="", kind="plan", code=(
        "h = search_hotels(city='Boston', checkin_date='2025-06-10', checkout_date='2025-06-12', "
        "amenities=['pool', 'gym', 'spa'])"))
    same = "h = search_hotels('Boston', '2025-06-10', '2025-06-12', amenities=['spa', 'pool', 'gym'])"
    fewer = "h = search_hotels('Boston', '2025-06-10', '2025-06-12', amenities=['pool', 'gym'])"
    _check(score_turn(same, gold), (1, 1, 1), (1, 1, 1))
    # 4 gold pairs, 4 predicted, the amenities sets differ → TP 3: P = R = F1 = 3/4
    _check(score_turn(fewer, gold), (1, 1, 1), (0.75, 0.75, 0.75))


def test_folded_values_compare_equal_to_literals():
    gold = DialogueTurn(role="user", text="", kind="plan", code=(
        "checkout = adjust_date(date='2025-06-10', days=3)\n"
        "h = search_hotels(city='Boston', checkin_date='2025-06-10', checkout_date=checkout)"))
    literal = ("checkout = adjust_date('2025-06-10', 3)\n"
               "h = search_hotels(city='Boston', checkin_date='2025-06-10', checkout_date='2025-06-13')")
    _check(score_turn(literal, gold), (1, 1, 1), (1, 1, 1))


def test_no_op_line(fx):
    noop_gold = DialogueTurn(role="user", text="", kind="noop", code=NO_PLANNING,
                             cache_summary=fx["cache1"].summary())
    s = score_turn(NO_PLANNING, noop_gold, cache_before=fx["cache1"])
    _check(s, (1, 1, 1), (1, 1, 1))
    assert s.noop_exact and s.cache_em is True and not s.exec_expected and s.exec_success is None
    assert score_turn("print('No planning needed')", noop_gold, cache_before=fx["cache1"]).noop_exact
    assert score_turn("print('Nothing to do')", noop_gold).noop_exact is False
    # the same line on a turn that needs a search: recall 0 everywhere, execution counted as failed
    t = score_turn(NO_PLANNING, fx["turn1"], cache_before=ToolCache())
    assert t.tool_recall == 0 and t.param_recall == 0 and t.tool_f1 == 0
    assert t.exec_expected and t.exec_success is False and t.cache_em is False


def test_unparseable_prediction_scores_zero_and_is_flagged(fx):
    s = score_turn("flights = search_flights(origin='X'", fx["turn1"])
    assert not s.parsed and s.tool_f1 == 0 and s.param_f1 == 0


def test_information_seeking_similarity_by_hand():
    gold = DialogueTurn(role="user", text="", kind="seek", code="seek_information('Could you please provide the date?')")
    pred = "seek_information('Could you provide the date?')"
    s = score_turn(pred, gold)
    # tokens: hyp [Could you provide the date ?] (6), ref [Could you please provide the date ?] (7)
    # n-gram matches: 1-grams 6/6, 2-grams 4/5, 3-grams 2/4, 4-grams 1/3; brevity penalty exp(1 - 7/6)
    bleu = 100 * math.exp(1 - 7 / 6) * (1 * 4 / 5 * 2 / 4 * 1 / 3) ** 0.25
    assert s.seek_bleu == pytest.approx(bleu)
    assert sentence_bleu("Could you provide the date?", "Could you provide the date?") == pytest.approx(100)
    # words: hyp 5, ref 6, shared 5 → P 1, R 5/6, F1 10/11
    assert s.seek_token_f1 == pytest.approx(10 / 11) == token_f1("Could you provide the date?",
                                                                 "could you please provide the date")
    assert score_turn(pred, gold, semantic_similarity=lambda a, b: 0.5).seek_semantic == 0.5
    assert score_turn("print(1)", gold).seek_bleu is None  # only when both sides ask


def test_aggregate_means_per_category_and_macro():
    def ts(cat, f1, exec_ok, em, err=None):
        return TurnScore(category=cat, tool_accuracy=f1, tool_precision=f1, tool_recall=f1, tool_f1=f1,
                         param_accuracy=f1, param_precision=f1, param_recall=f1, param_f1=f1,
                         tool_counts=(0, 0, 0), param_counts=(0, 0, 0), exec_expected=True,
                         exec_success=exec_ok, cache_em=em, error_category=err)

    scores = [ts("flights", 1.0, True, True), ts("flights", 0.5, False, False, "undefined_variable"),
              ts("hotels", 0.0, False, False, "index_out_of_range")]
    r = aggregate(scores)
    assert r.per_category["flights"].tool_f1 == pytest.approx(75.0)  # (1 + 0.5) / 2
    assert r.per_category["hotels"].tool_f1 == pytest.approx(0.0)
    assert r.overall.tool_f1 == pytest.approx(50.0)  # (1 + 0.5 + 0) / 3, every turn weighs the same
    assert r.macro is not None and r.macro.tool_f1 == pytest.approx(37.5)  # (75 + 0) / 2
    assert r.overall.exec_success == pytest.approx(100 / 3) and r.overall.cache_em == pytest.approx(100 / 3)
    assert r.overall.errors == {"index_out_of_range": 1, "undefined_variable": 1}


async def test_gold_and_rollout_chaining_agree_on_turn_one_then_diverge(kb):
    # a test-split flights dialogue whose second user turn reuses the key saved by the first
    dialogue = None
    for dlg in generate_dialogues(40, seed=7, split="test", categories=["flights"], kb=kb):
        users = dlg.user_turn_indices()
        if (len(users) == 3 and dlg.turns[users[0]].kind == "plan"
                and "get_results_from_cache(key='flights_1')" in (dlg.turns[users[1]].code or "")):
            dialogue = dlg
            break
    assert dialogue is not None
    first = dialogue.user_turn_indices()[0]

    def scripted(dlg, i, cache):
        code = dlg.turns[i].code
        return code.replace("'flights_1'", "'my_flights'") if i == first else code  # wrong key on turn 1 only

    gold, rollout = await asyncio.gather(
        evaluate_dialogue(dialogue, scripted, cache_mode="gold", kb_path=kb.path),
        evaluate_dialogue(dialogue, scripted, cache_mode="rollout", kb_path=kb.path))
    assert gold[0].model_dump() == rollout[0].model_dump()
    assert gold[0].cache_em is False and gold[0].tool_f1 == 1 and gold[0].param_f1 == 1
    # gold mode: every later turn starts from the gold cache, so the gold code scores 100 everywhere
    for s in gold[1:]:
        assert (s.tool_f1, s.param_f1, s.cache_em) == (1, 1, True) and s.exec_success in (True, None)
    # rollout mode: turn 2 reads 'flights_1', which the model never saved
    assert rollout[1].exec_success is False and rollout[1].error_category == "other" and rollout[1].cache_em is False
    assert aggregate(gold).overall.cache_em > aggregate(rollout).overall.cache_em
