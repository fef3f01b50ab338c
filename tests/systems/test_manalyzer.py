"""manalyzer (arXiv 2505.20310): the meta-analysis pipeline, its benchmark and the spec's "must show" list.

Must-show items (spec `manalyzer.md`) and the tests that show them:
1. scores [12.6, 12.6, 10] with N = 1 keep two papers — `test_scores_12_6_12_6_10_with_n_1_keep_two_papers`;
2. a wrong-length list reply is retried, then raises a typed error; `Feasibilty` → `Feasibility`; a
   5-character key is never fuzzy-matched — `test_a_wrong_length_list_reply_is_retried_then_raises_contract_error`,
   `test_feasibilty_maps_to_feasibility_but_five_character_keys_never_fuzzy_match`;
3. level 1 keeps 0.5 and drops 0.49; best-of-5 keeps the longest markdown block — `test_level_1_*`,
   `test_best_of_5_*`;
4. checker: Overall 5 → temperature-0 re-extraction holding the suggestion; 6 accepted; ≤ 2 checks —
   `test_checker_*`;
5. `Content (ug/L)` → `Content (µg/L)`; "1,200" → 1200, "45%" → 0.45, "3–5" → 4, "n.d." → None —
   `test_merger_maps_*`, `test_number_rules_*`;
6. hit rate matches hand counts, "1.5" hits inside "11.52" — `test_hit_rate_*`;
7. statistics — tests/test_meta_analysis.py;
8. analyst code that loops forever or deletes files outside its temp dir fails safely — `test_analyst_*`;
9. on the 6-paper fixture (4 relevant, 2 off-topic) the relevant papers rank first and the L1/L2 values
   are recovered — `test_relevant_papers_rank_first_*`, `test_fixture_run_*`.

Unit and end-to-end tests run on scripted models (`ModelPool.scripted`): orchestration logic, not
model quality. The end-to-end run uses `FixtureOracle` (examples/manalyzer_fixture.py), a scripted
stand-in that answers from the SYNTHETIC fixture's gold rows — labelled as such; the retrieval,
screening arithmetic, extraction loop, merging, statistics, sandbox and report are real. The last
test (`integration`) runs the embedded SmolLM2 on llama.cpp over a 3-paper copy of the fixture.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import random
import shutil
from pathlib import Path

import pytest

from maslab.agents.manalyzer import Config, Manalyzer
from maslab.agents.manalyzer.analyse import run_analyst
from maslab.agents.manalyzer.contract import ContractError, ask_checked, dict_of, fuzzy_key, list_of
from maslab.agents.manalyzer.extract import convert_paper, extract_kind, text_parts
from maslab.agents.manalyzer.merge import (
    MergeReport,
    map_columns,
    merge_tables,
    normalize_rows,
    parse_template,
)
from maslab.agents.manalyzer.review import (
    IndependentScores,
    PaperScore,
    paper_text,
    review_papers,
    select_papers,
)
from maslab.agents.manalyzer.rundir import STAGE_FILES
from maslab.bench.datasets import load_dataset
from maslab.bench.manalyzer.metrics import GoldPaper, cell_aligned, hit_counts, hit_rates
from maslab.bench.scorers import get_scorer
from maslab.errors import ConfigError
from maslab.messages import ImagePart
from maslab.method import RunContext, RunData, load_method
from maslab.models import ModelPool
from maslab.task import Solution, Task
from maslab.tools.markdown_tables import cell_number, markdown_block
from maslab.tools.meta_analysis import hedges_g, meta_analyze
from maslab.tools.papers import LocalCorpus, ParsedPaper
from maslab.trace import RunRecorder, recording
from maslab.workflow import load_workflow
from tests.systems.scripts import Script

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "workflows" / "data" / "manalyzer_corpus"
RELEVANT = {"nt_loess_wheat", "nt_cornbelt_maize", "nt_mediterranean_durum", "nt_uppsala_barley"}
OFF_TOPIC = {"river_metals_tigris", "pm25_beijing_winter"}
TEMPLATE = """| River | Location | Heavy metals | Content (µg/L) |
|---|---|---|---|
| Tigris River | Turkey | Cu | 40 |
| Tiete River | Brazil | Fe | 915 |"""


def _oracle_module():
    spec = importlib.util.spec_from_file_location("manalyzer_fixture", REPO / "examples" / "manalyzer_fixture.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FIXTURE = _oracle_module()


def ctx_for(script, **params) -> RunContext:
    """A run context on a scripted pool (the stages' unit tests call stage functions directly)."""
    cfg = Config(**{"table_template": TEMPLATE, **params})
    pool = ModelPool.scripted(script)
    return RunContext(cfg, RunData(pool=pool, task=Task(question="topic"), rng=random.Random(0)))


def table_reply(rows: int, note: str = "") -> str:
    lines = ["| River | Location | Heavy metals | Content (µg/L) |", "|---|---|---|---|"]
    lines += [f"| R{i} | X | Cu | {i}.5 |" for i in range(rows)]
    return "```markdown\n" + "\n".join(lines) + f"\n```\nSources: table 1. {note}"


# ---------------------------------------------------------------------------------------------
# 2. the call contract


async def test_a_wrong_length_list_reply_is_retried_then_raises_contract_error():
    script = Script(lambda req: "[0.5]")
    ctx = ctx_for(script)
    agent = ctx.agent("extractor", "score the parts")
    with pytest.raises(ContractError) as err:
        await ask_checked(ctx, agent, "two parts", list_of(float, length=2, lo=0, hi=1), retries=1)
    assert err.value.attempts == 2 and "exactly 2 items" in str(err.value)
    assert len(script.requests) == 2
    retry = script.requests[1]
    assert retry.messages[-2].role == "assistant" and retry.messages[-2].text == "[0.5]"
    assert "exactly 2 items" in retry.prompt  # the problem goes back to the model


async def test_a_retry_that_fixes_the_reply_is_accepted_and_python_or_broken_json_lists_parse():
    replies = iter(["Here: [0.2, 1.7]", "Sure!\n```\n[0.2, 0.9\n```"])
    script = Script(lambda req: next(replies))
    ctx = ctx_for(script)
    result = await ask_checked(ctx, ctx.agent("extractor"), "x", list_of(float, length=2, lo=0, hi=1), retries=1)
    assert result == [0.2, 0.9]  # 1.7 is out of range, retried; the truncated list is repaired (json_repair)


@pytest.mark.parametrize("reply, problem", [
    ("no list here", r"no \[\.\.\.\]"), ("[0.1, 'high']", "not a number"), ("[1.5, 0.2]", "outside"),
    ("[0.1]", "exactly 2 items")])
def test_list_replies_are_checked_for_type_range_and_shape(reply, problem):
    with pytest.raises(ValueError, match=problem):
        list_of(float, length=2, lo=0.0, hi=1.0)(reply)


def test_feasibilty_maps_to_feasibility_but_five_character_keys_never_fuzzy_match():
    scores = dict_of(IndependentScores)("{'Topic Relevance': 8, 'Feasibilty': 6}")
    assert (scores.topic_relevance, scores.feasibility) == (8, 6)
    assert fuzzy_key("Feasibility", ["feasibilty"]) == "feasibilty"  # case-insensitive, distance 1
    assert fuzzy_key("Content (µg/L)", ["River", "Content (ug/L)"]) == "Content (ug/L)"
    assert fuzzy_key("Score", ["Scor", "Scores", "score"]) is None  # 5 characters: exact only
    assert fuzzy_key("Score", ["Score"]) == "Score"
    assert fuzzy_key("Feasibility", ["Feasible"]) is None  # distance 3
    with pytest.raises(ValueError, match="Feasibility"):
        dict_of(IndependentScores)("{'Topic Relevance': 8}")
    with pytest.raises(ValueError, match="less than or equal to 10"):
        dict_of(IndependentScores)("{'Topic Relevance': 11, 'Feasibility': 6}")


# ---------------------------------------------------------------------------------------------
# 1. review and selection


def test_scores_12_6_12_6_10_with_n_1_keep_two_papers():
    assert PaperScore(title="x", topic_relevance=8, feasibility=6, relative=0.9).final == pytest.approx(12.6)
    assert select_papers({"a": 12.6, "b": 12.6, "c": 10.0}, 1) == ["a", "b"]
    assert select_papers({"a": 12.6, "b": 12.6, "c": 10.0}, 3) == ["a", "b", "c"]
    assert select_papers({"a": 1.0, "b": 2.0}, 10) == ["a", "b"]  # fewer than N: all kept


async def test_hybrid_review_multiplies_independent_scores_by_the_comparative_score():
    corpus = LocalCorpus(CORPUS, embedding=False)
    papers = {p.record.id: p for p in corpus.papers[:3]}

    def fn(req):
        if req.agent == "reviewer":
            return "{'Topic Relevance': 7, 'Feasibility': 5}"
        n = req.prompt.count("</paper ")
        return str([round(0.1 * (i + 1), 1) for i in range(n)])

    script = Script(fn)
    scores, failures = await review_papers(ctx_for(script), papers, field="agronomy", topic="tillage",
                                           batch_size=2, retries=0)
    assert failures == []
    assert len(script.by_role("reviewer")) == 3 + 2  # one independent call per paper, ⌈3/2⌉ comparative calls
    finals = [s.final for s in scores.values()]
    assert finals == pytest.approx([12 * 0.1, 12 * 0.2, 12 * 0.1])  # batches [0.1, 0.2] and [0.1]


async def test_a_failed_review_is_recorded_and_scores_zero():
    corpus = LocalCorpus(CORPUS, embedding=False)
    papers = {p.record.id: p for p in corpus.papers[:2]}
    script = Script(lambda req: "I cannot rate this." if req.agent == "reviewer" else "[0.9, 0.8]")
    scores, failures = await review_papers(ctx_for(script), papers, field="f", topic="t", batch_size=20, retries=0)
    assert [f.step for f in failures] == ["independent review", "independent review"]
    assert all(s.final == 0 for s in scores.values()) and [s.relative for s in scores.values()] == [0.9, 0.8]


def test_paper_text_skips_references_and_images_and_applies_the_budgets():
    paper = ParsedPaper.load(CORPUS / "nt_uppsala_barley")
    full = paper_text(paper, abstract_max=10_000, intro_max=10_000, total_max=50_000)
    assert "## Abstract" in full and "## References" not in full and "images/table1.png" not in full
    short = paper_text(paper, abstract_max=50, intro_max=20, total_max=3_000, max_sections=3)
    assert "## 2 Materials" not in short  # first 3 sections only (title, abstract, introduction)
    intro = short.split("## 1 Introduction\n")[1]
    assert len(intro.strip()) == 20


# ---------------------------------------------------------------------------------------------
# 3, 4. extraction and checker


def _extract_script(level1: str, samples: dict[int, str] | None = None, verdicts: list[int] | None = None):
    verdicts = list(verdicts or [])

    def fn(req):
        if req.agent == "extractor_level1":
            return level1
        if req.agent == "checker":
            overall = verdicts.pop(0) if verdicts else 9
            return str({"Data Accuracy": 7, "Semantic Consistency": 7, "Data Completeness": 7,
                        "Overall Score": overall, "Suggestion": f"You should add table 2 (after overall {overall})."})
        if req.agent == "extractor":
            if "<suggestion>" in req.prompt:
                return table_reply(9, "revised")
            return (samples or {}).get(req.sample_index, table_reply(1))
        raise AssertionError(req.agent)

    return Script(fn)


async def _extract(script, parts, **params):
    ctx = ctx_for(script, **params)
    return await extract_kind(ctx, "p1", parts, "table", field="environment", topic="river metals",
                              template=TEMPLATE, cfg=ctx.config)


async def test_level_1_keeps_a_part_scored_0_5_and_drops_one_scored_0_49():
    script = _extract_script("[0.5, 0.49]")
    record, failures = await _extract(script, ["PART-ONE 12 34", "PART-TWO 56 78"])
    assert failures == [] and record.parts_kept == [1]
    level2 = [r for r in script.by_role("extractor") if r.agent == "extractor"][0]
    assert "PART-ONE" in level2.prompt and "PART-TWO" not in level2.prompt
    none_kept, _ = await _extract(_extract_script("[0.2, 0.49]"), ["a 12 34", "b 56 78"])
    assert none_kept is None


async def test_best_of_5_keeps_the_longest_markdown_block():
    samples = {0: table_reply(2), 1: table_reply(4), 2: "no table at all", 3: table_reply(6), 4: table_reply(3)}
    script = _extract_script("[0.9]", samples)
    record, _ = await _extract(script, ["part 12 34"])
    level2 = [r for r in script.requests if r.agent == "extractor"]
    assert sorted(r.sample_index for r in level2) == [0, 1, 2, 3, 4]
    assert {r.params["temperature"] for r in level2} == {0.9}
    assert record.integrated_table == markdown_block(table_reply(6)).table
    assert record.sample_lengths[2] == -1 and max(record.sample_lengths) == record.sample_lengths[3]
    assert record.checks[0]["Decision"] == "accept"


async def test_checker_overall_5_triggers_a_temperature_0_reextraction_holding_the_suggestion():
    script = _extract_script("[0.9]", verdicts=[5, 9])
    record, _ = await _extract(script, ["part 12 34"])
    revise = [r for r in script.requests if r.agent == "extractor" and "<suggestion>" in r.prompt]
    assert len(revise) == 1
    assert revise[0].params["temperature"] == 0.0 and revise[0].sample_index == 0
    assert "You should add table 2 (after overall 5)" in revise[0].prompt
    assert markdown_block(table_reply(1)).table in revise[0].prompt  # the previous table goes along
    assert [c["Decision"] for c in record.checks] == ["reject", "accept"]
    assert record.integrated_table == markdown_block(table_reply(9)).table


async def test_checker_overall_6_is_accepted():
    script = _extract_script("[0.9]", verdicts=[6])
    record, _ = await _extract(script, ["part 12 34"])
    assert [c["Decision"] for c in record.checks] == ["accept"] and record.re_extractions == 0
    assert len(script.by_role("checker")) == 1


async def test_checker_never_checks_more_than_twice_and_the_last_reextraction_is_unchecked():
    script = _extract_script("[0.9]", verdicts=[3, 3, 3, 3])
    record, _ = await _extract(script, ["part 12 34"])
    assert len(script.by_role("checker")) == 2
    assert record.re_extractions == 2 and [c["Decision"] for c in record.checks] == ["reject", "reject"]
    _, none = await _extract(_extract_script("[0.9]", verdicts=[1]), ["part 12 34"], max_check_num=0)
    assert none == []


def test_text_sections_qualify_with_20_characters_and_two_pairs_of_adjacent_digits():
    paper = ParsedPaper.load(CORPUS / "nt_cornbelt_maize")
    parts = text_parts(paper, [])
    assert any("9,870" in p for p in parts)  # the results section
    assert not any(p.startswith("Abstract") for p in parts)  # no two adjacent digits
    assert all(sum(a.isdigit() and b.isdigit() for a, b in zip(p, p[1:], strict=False)) >= 2 for p in parts)


# ---------------------------------------------------------------------------------------------
# 5. table processor


async def test_a_vision_alias_gets_the_crop_as_an_image_part_and_markdown_replies_are_tables():
    paper = ParsedPaper.load(CORPUS / "nt_uppsala_barley")
    script = Script(lambda req: table_reply(2) if "table" in req.prompt.split()[4] else "1. Two curves of soil water.")
    converted, failures = await convert_paper(ctx_for(script), "p", paper, field="agronomy", vision=True)
    assert failures == [] and len(script.requests) == 2
    for req in script.requests:
        parts = req.messages[-1].content
        assert any(isinstance(p, ImagePart) and p.path.endswith(".png") for p in parts)
        assert "Text around it" in req.prompt  # the nearest text blocks go along
    assert [(c.in_type, c.out_type, c.via) for c in converted] == [("table", "markdown", "vision"),
                                                                   ("chart", "text", "vision")]


async def test_without_a_vision_alias_the_fixture_tables_and_captions_are_used_and_traced(tmp_path):
    paper = ParsedPaper.load(CORPUS / "nt_uppsala_barley")
    script = Script(lambda req: pytest.fail("no model call expected"))
    recorder = RunRecorder(tmp_path / "trace.jsonl")
    with recording(recorder):
        converted, _ = await convert_paper(ctx_for(script), "p", paper, field="agronomy", vision=False)
    recorder.flush()
    assert [(c.out_type, c.via) for c in converted] == [("markdown", "fixture"), ("text", "fixture")]
    assert "| 2019 | 5210 | 420 |" in converted[0].content and "soil water" in converted[1].content
    events = [json.loads(line) for line in (tmp_path / "trace.jsonl").read_text().splitlines()]
    fallbacks = [e for e in events if e["event"] == "manalyzer_convert_fallback"]
    assert len(fallbacks) == 2 and {e["reason"] for e in fallbacks} == {"no vision alias"}


# ---------------------------------------------------------------------------------------------
# 6. merger


def test_merger_maps_content_ug_l_to_content_µg_l_and_drops_unknown_columns():
    template = parse_template(TEMPLATE)
    assert template.columns == ["River", "Location", "Heavy metals", "Content (µg/L)"]
    assert template.numeric == ["Content (µg/L)"]
    header = ["River", "Locaton", "Metal", "Content (ug/L)"]
    assert map_columns(header, template.columns) == {0: "River", 1: "Location", 3: "Content (µg/L)"}
    table = "| River | Metal | Content (ug/L) |\n|---|---|---|\n| Tigris | Cu | 1,200 |\n| Tigris | Zn | n.d. |"
    rows, report = merge_tables([("p1", "Paper one", [table])], template)
    assert [r for _, r in rows] == [
        {"River": "Tigris", "Location": "", "Heavy metals": "", "Content (µg/L)": "1,200", "Reference": "Paper one"},
        {"River": "Tigris", "Location": "", "Heavy metals": "", "Content (µg/L)": "n.d.", "Reference": "Paper one"}]
    assert report.unmapped_columns == {"p1": ["Metal"]}


@pytest.mark.parametrize("cell, number", [
    ("1,200", 1200.0), ("45%", 0.45), ("3–5", 4.0), ("3-5", 4.0), ("n.d.", None), ("10%~15%", 0.125),
    ("32%,0.5", 0.41), ("1800-2000 (kg/ha)", 1900.0), ("4210 kg/ha", 4210.0), ("-3.5", -3.5), ("declined", None),
    ("", None), ("12 (3)", None), ("2.3 ± 0.4", 2.3), (7, 7.0)])
def test_number_rules_of_the_merger(cell, number):
    assert cell_number(cell) == number


async def test_the_llm_normaliser_is_held_to_the_contract_and_falls_back_to_the_rules():
    template = parse_template(TEMPLATE)
    rows = [{"River": "Tigris", "Location": "Turkey", "Heavy metals": "Cu", "Content (µg/L)": "1,200",
             "Reference": "P"}, {"River": "Tiete", "Location": "Brazil", "Heavy metals": "Fe",
                                 "Content (µg/L)": "3–5", "Reference": "P"}]
    good = Script(lambda req: json.dumps([{"River": "TIGRIS", "Location": "Turkey", "Heavy metals": "Cu",
                                           "Content (ug/L)": 1200}, {"River": "Tiete", "Location": "Brazil",
                                                                      "Heavy metals": "Fe", "Content (µg/L)": "4"}]))
    report = MergeReport()
    out, failures = await normalize_rows(ctx_for(good), rows, template, mode="llm", batch_size=20, retries=0,
                                         report=report)
    assert failures == [] and [r["Content (µg/L)"] for r in out] == [1200.0, 4.0]
    assert out[0]["River"] == "Tigris" and report.text_cells_restored == 1  # text fields are put back
    bad = Script(lambda req: json.dumps([{"Content (µg/L)": "about 1200"}, {"Content (µg/L)": 4}]))
    report = MergeReport()
    out, failures = await normalize_rows(ctx_for(bad), rows, template, mode="llm", batch_size=20, retries=1,
                                         report=report)
    assert len(bad.requests) == 2 and len(failures) == 1 and failures[0].stage == "merge"
    assert [r["Content (µg/L)"] for r in out] == [1200.0, 4.0] and report.batches_by_rules == 1


async def test_normalisation_goes_in_batches_of_20_rows():
    template = parse_template(TEMPLATE)
    rows = [{"River": f"R{i}", "Location": "X", "Heavy metals": "Cu", "Content (µg/L)": str(i), "Reference": "P"}
            for i in range(45)]

    def fn(req):
        records = json.loads(req.prompt.split("<records>\n")[1].split("\n</records>")[0])
        return json.dumps([{**r, "Content (µg/L)": float(r["Content (µg/L)"])} for r in records])

    script = Script(fn)
    out, _ = await normalize_rows(ctx_for(script), rows, template, mode="llm", batch_size=20, retries=0,
                                  report=MergeReport())
    assert [r.prompt.count('"River"') for r in script.requests] == [20, 20, 5]
    assert [r["Content (µg/L)"] for r in out] == [float(i) for i in range(45)]


# ---------------------------------------------------------------------------------------------
# 6 (benchmark). hit rate


def test_hit_rate_matches_hand_counts_including_the_documented_leniency():
    gold = GoldPaper(field="atmosphere", level_1=["1.5", "7.3"], level_2=["13.1", "15.3", "0.0"], level_3=["99"])
    extracted = "| Site | OC |\n|---|---|\n| A | 11.52 |\n| B | 13.1 |\n| C | 20.0 |"
    counts = hit_counts(extracted, gold)
    # "1.5" hits inside "11.52" (lenient); "7.3" misses; "13.1" hits; "15.3" misses; "0.0" hits inside "20.0"
    assert counts == {"level_1": {"hit": 1, "total": 2}, "level_2": {"hit": 2, "total": 3},
                      "level_3": {"hit": 0, "total": 1}}
    other = hit_counts("7.3", GoldPaper(field="atmosphere", level_1=["7.3"]))
    table = hit_rates([("atmosphere", counts), ("atmosphere", other)])
    assert table["atmosphere"]["level_1"] == {"hit": 2, "total": 3, "hit_rate": pytest.approx(2 / 3)}
    assert table["atmosphere"]["level_3"]["hit_rate"] == 0.0


def test_the_cell_aligned_hit_rate_needs_the_value_in_the_right_row_and_column():
    gold_rows = [{"Location": "Beijing", "Sulfate": 20.74, "Nitrate": 18.55},
                 {"Location": "Chongqing", "Sulfate": 33.67, "Nitrate": 9.6}]
    rows = [{"location": " beijing ", "Sulfate": "20.74", "Nitrate": "9.6"},  # 9.6 is Chongqing's nitrate
            {"Location": "Chongqing", "Sulfate": 33.67000001, "Nitrate": "n.d."}]
    assert cell_aligned(rows, gold_rows, ["Location"]) == {"hit": 2, "total": 4}
    assert hit_counts("20.74 9.6 33.67", GoldPaper(field="a", level_2=["20.74", "18.55", "33.67", "9.6"])
                      )["level_2"]["hit"] == 3  # the lenient rate counts the misplaced 9.6


async def test_the_scorer_reads_a_baseline_reply_cut_from_the_first_to_the_last_pipe():
    tasks = load_dataset("manalyzer", path=CORPUS)
    task = next(t for t in tasks if t.metadata["paper_idx"] == "nt_cornbelt_maize")
    reply = ("Here is the data:\n| Site | Year | Yield no-till (kg/ha) | SD no-till (kg/ha) |\n|---|---|---|---|\n"
             "| Ames | 2018 | 9870 | 610 |\nHope this helps (10240).")
    score = await get_scorer("manalyzer").score(task, Solution(answer=reply))
    levels = score.detail["levels"]
    assert levels["level_1"] == {"hit": 2, "total": 8}  # 10240 is outside the cut
    assert score.detail["read_from"] == "reply" and score.detail["cell_aligned"] == {"hit": 2, "total": 10}
    assert score.value == pytest.approx(2 / 8) and not score.correct


# ---------------------------------------------------------------------------------------------
# the statistics step inside the pipeline


def test_the_statistics_step_pools_complete_rows_lists_the_others_and_reports_k_1_unpooled(tmp_path):
    from maslab.agents.manalyzer.analyse import EffectConfig, run_statistics, statistics_text

    effect = EffectConfig(**FIXTURE.EFFECT)
    full = {"Site": "A", "Year": 2001.0, "Yield no-till (kg/ha)": 3000.0, "SD no-till (kg/ha)": 200.0,
            "Yield conventional (kg/ha)": 3100.0, "SD conventional (kg/ha)": 210.0, "Replicates": 4.0}
    rows = [full, {**full, "Site": "B", "SD no-till (kg/ha)": None}, {**full, "Site": "C", "Replicates": 1.0}]
    result = run_statistics(rows, effect, tmp_path, title="t")
    assert result.status == "unpooled" and result.analysis.k == 1
    assert [r["row"] for r in result.skipped_rows] == [2, 3]
    assert "SD no-till (kg/ha)" in result.skipped_rows[0]["reason"] and "n1, n2 >= 2" in result.skipped_rows[1]["reason"]
    g, _ = hedges_g(3000, 200, 4, 3100, 210, 4)
    text = statistics_text(result)
    assert f"k = 1, not pooled: A · 2001: {g:.4f}" in text
    assert (tmp_path / "forest_plot.png").is_file() and (tmp_path / "funnel_plot.png").is_file()
    (tmp_path / "none").mkdir()
    none = run_statistics(rows, None, tmp_path / "none", title="t")
    assert none.status == "none" and "no effect measure configured" in statistics_text(none)
    assert (tmp_path / "none" / "forest_plot.png").is_file()  # the plot says why it is empty


# ---------------------------------------------------------------------------------------------
# 8. the analyst runs only in the sandbox


async def _analyst(tmp_path, code: str, **kw):
    rows = [{"a": 1.0, "b": 2.0, "Reference": "P"}, {"a": 2.0, "b": 3.5, "Reference": "P"}]
    csv_path = tmp_path / "meta_analysis.csv"
    csv_path.write_text("a,b,Reference\n1,2,P\n2,3.5,P\n")
    script = Script(lambda req: f"```python\n{code}\n```")
    result, failures = await run_analyst(ctx_for(script), rows, ["a", "b", "Reference"], csv_path, tmp_path,
                                         field="f", **{"regenerations": 1, "timeout": 4.0, "memory_mb": 1024, **kw})
    return result, failures, script


async def test_analyst_code_that_loops_forever_times_out_and_is_regenerated_then_recorded(tmp_path):
    result, failures, script = await _analyst(tmp_path, "while True:\n    pass")
    assert len(script.requests) == 2 and result.status == "failed" and len(result.attempts) == 2
    assert all("run" in a.errors and "time" in a.errors["run"].lower() for a in result.attempts)
    assert [f.step for f in failures] == ["analyst attempt 1", "analyst attempt 2"]
    assert "failed:" in script.requests[1].prompt and "while True" in script.requests[1].prompt


async def test_analyst_code_that_deletes_files_outside_its_directory_fails_safely(tmp_path):
    keep = tmp_path / "outside" / "keep.txt"
    keep.parent.mkdir()
    keep.write_text("precious")
    code = (f"import shutil\nshutil.rmtree({str(keep.parent)!r})\n"
            "def clustering(data):\n    return\ndef classification(data):\n    return\ndef regression(data):\n    return")
    (tmp_path / "run").mkdir()
    result, failures, _ = await _analyst(tmp_path / "run", code, regenerations=0)
    assert keep.read_text() == "precious"
    assert result.status == "failed" and "run" in result.attempts[0].errors and failures


async def test_analyst_figures_come_back_from_the_sandbox(tmp_path):
    code = ("def clustering(data):\n    plt.scatter(data['a'], data['b'])\n    return\n"
            "def classification(data):\n    plt.plot([0, 1])\n    return\n"
            "def regression(data):\n    LinearRegression().fit(data[['a']], data['b'])\n    plt.plot([1, 0])\n    return")
    result, failures, _ = await _analyst(tmp_path, code, timeout=120.0)
    assert result.status == "ok" and failures == []
    assert result.plots == ["visualization/clustering.png", "visualization/classification.png",
                            "visualization/regression.png"]
    assert (tmp_path / "visualization" / "regression.png").read_bytes()[:4] == b"\x89PNG"


# ---------------------------------------------------------------------------------------------
# 9 and acceptance: the fixture corpus end to end


def test_relevant_papers_rank_first_in_the_offline_corpus():
    corpus = LocalCorpus(CORPUS)
    ranked = [r.id for r in corpus.search(FIXTURE.TOPIC, 6)]
    assert set(ranked[:4]) == RELEVANT and set(ranked[4:]) <= OFF_TOPIC
    bm25_only = [r.id for r in LocalCorpus(CORPUS, embedding=False).search(FIXTURE.TOPIC, 4)]
    assert set(bm25_only) == RELEVANT
    assert corpus.lookup_doi("10.0000/FIXTURE.0005").id == "river_metals_tigris"


@pytest.fixture(scope="module")
def fixture_run(tmp_path_factory):
    """One run of the whole pipeline on the fixture corpus, every agent answered by the scripted FixtureOracle."""
    out = tmp_path_factory.mktemp("manalyzer")
    oracle = FIXTURE.FixtureOracle()
    method = load_method("manalyzer", **FIXTURE.params(out_dir=str(out), analyst_timeout=120))
    solution = asyncio.run(method.solve(FIXTURE.TOPIC, pool=ModelPool.scripted(oracle, FIXTURE.ALIAS)))
    return solution, oracle, Path(solution.metadata["manalyzer"]["run_dir"])


def test_fixture_run_keeps_the_relevant_papers_and_drops_the_off_topic_ones(fixture_run):
    solution, _, run_dir = fixture_run
    meta = solution.metadata["manalyzer"]
    assert set(meta["selected"]) == RELEVANT
    assert set(meta["found"]) - RELEVANT  # an off-topic paper was retrieved ...
    assert not set(meta["selected"]) & OFF_TOPIC  # ... and screened out
    assert meta["failures"] == [] and meta["failure_counts"] == {}
    scores = json.loads((run_dir / "2_paper_score.json").read_text())
    for s in scores.values():
        assert s["Final Score"] == pytest.approx((s["Topic Relevance"] + s["Feasibility"]) * s["Relative Score"])


def test_fixture_run_extracts_a_table_equal_to_the_gold_values(fixture_run):
    solution, _, run_dir = fixture_run
    gold = json.loads((CORPUS / "answer.json").read_text())
    columns = FIXTURE.COLUMNS
    want = sorted(tuple(row[c] for c in columns) for g in gold.values() for row in g["content"])
    import csv

    with (run_dir / "meta_analysis.csv").open() as fh:
        got = sorted(tuple(int(float(r[c])) if c not in ("Site", "Country", "Crop") else r[c] for c in columns)
                     for r in csv.DictReader(fh))
    assert got == want and len(got) == 10


async def test_fixture_run_recovers_every_level_of_the_gold_values(fixture_run):
    solution, _, _ = fixture_run
    scorer = get_scorer("manalyzer")
    counts = []
    for task in load_dataset("manalyzer", path=CORPUS):
        score = await scorer.score(task, solution)
        assert score.detail["read_from"] == "manalyzer"
        counts.append((task.metadata["field"], score.detail["levels"]))
        assert score.detail["cell_aligned"]["hit"] == score.detail["cell_aligned"]["total"] > 0
    table = hit_rates(counts)["tillage"]
    assert table["level_1"] == {"hit": 12, "total": 12, "hit_rate": 1.0}
    assert table["level_2"]["hit_rate"] == 1.0 and table["level_3"]["hit_rate"] == 1.0


def test_fixture_run_report_quotes_the_computed_pooled_effect(fixture_run):
    solution, oracle, run_dir = fixture_run
    gold = json.loads((CORPUS / "answer.json").read_text())
    effects = [hedges_g(r["Yield no-till (kg/ha)"], r["SD no-till (kg/ha)"], r["Replicates"],
                        r["Yield conventional (kg/ha)"], r["SD conventional (kg/ha)"], r["Replicates"])
               for g in gold.values() for r in g["content"]]
    expected = meta_analyze([e[0] for e in effects], [e[1] for e in effects])
    report = (run_dir / "meta_analysis_report.md").read_text()
    assert solution.answer == report
    assert f"Random effects (DerSimonian–Laird): {expected.random.estimate:.4f}" in report
    assert f"tau² = {expected.tau2:.4f}, I² = {expected.i2:.2f}%" in report
    assert "not by a language model" in report and "![Figure 1: forest plot](forest_plot.png)" in report
    narrative = report.split("## 5. Discussion — written by the reporter LLM, not checked by maslab")[1]
    assert "Fixture oracle text" in narrative  # the LLM prose sits under its label
    reporter = [r for r in oracle.requests if r.agent == "reporter"][0]
    assert f"{expected.random.estimate:.4f}" in reporter.prompt  # the reporter is given the numbers to quote
    assert "fixture-oracle" in report  # the stand-in is named in the report's model list


def test_fixture_run_writes_every_stage_file(fixture_run):
    _, _, run_dir = fixture_run
    for names in STAGE_FILES.values():
        for name in names:
            assert (run_dir / name).is_file(), name
    assert (run_dir / "forest_plot.png").stat().st_size > 10_000
    assert len(list((run_dir / "visualization").glob("*.png"))) == 3
    info = json.loads((run_dir / "5_integrated_table_info.json").read_text())
    assert set(info) == RELEVANT and info["nt_cornbelt_maize"]["table"] is None  # text-only paper
    converted = json.loads((run_dir / "4_converted_paper.json").read_text())
    assert {c["via"] for cs in converted.values() for c in cs} == {"fixture"}


def test_a_run_resumes_from_a_stage_without_calling_the_earlier_agents(fixture_run, tmp_path):
    _, _, first = fixture_run
    run_dir = tmp_path / "resumed"
    shutil.copytree(first, run_dir)
    (run_dir / "meta_analysis.csv").unlink()
    oracle = FIXTURE.FixtureOracle()
    method = load_method("manalyzer", **FIXTURE.params(run_dir=str(run_dir), from_stage="merge"))
    solution = asyncio.run(method.solve(FIXTURE.TOPIC, pool=ModelPool.scripted(oracle, FIXTURE.ALIAS)))
    agents = {r.agent for r in oracle.requests}
    assert agents == {"merger", "analyst", "reporter"}
    assert (run_dir / "meta_analysis.csv").is_file()
    assert set(solution.metadata["manalyzer"]["selected"]) == RELEVANT  # read back from 3_selected_paper.json
    assert "Random effects (DerSimonian–Laird)" in solution.answer
    pool = ModelPool.scripted(oracle, FIXTURE.ALIAS)
    with pytest.raises(ConfigError, match="needs run_dir"):
        asyncio.run(load_method("manalyzer", **FIXTURE.params(from_stage="extract")).solve("t", pool=pool))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match="4_converted_paper.json is missing|0_paper_info.json is missing"):
        asyncio.run(load_method("manalyzer", **FIXTURE.params(run_dir=str(empty), from_stage="extract")).solve(
            "t", pool=pool))


# ---------------------------------------------------------------------------------------------
# inputs, sources, benchmark loader, workflow


class RecordingSource:
    """A PaperSource over the fixture papers that records the searches (what an online source would get)."""

    name = "recording"

    def __init__(self) -> None:
        self.inner = LocalCorpus(CORPUS, embedding=False)
        self.searches: list[tuple[str, int]] = []

    def search(self, query, k):
        self.searches.append((query, k))
        return self.inner.search(query, k)

    def lookup_doi(self, doi):
        return self.inner.lookup_doi(doi)

    def fetch(self, record):
        return self.inner.fetch(record)


async def test_any_paper_source_plugs_in_and_gets_the_keyword_title_and_doi_queries(tmp_path):
    source = RecordingSource()
    script = Script(lambda req: '[["no-till", "wheat"], ["heavy metals"]]' if req.agent == "collector" else "?")
    method = Manalyzer.with_source(source, table_template=TEMPLATE, paper_search_num=1, out_dir=str(tmp_path),
                                   titles=["Spring barley yield after ten years"], dois=["10.0000/fixture.0006"])
    solution = await method.solve("tillage", pool=ModelPool.scripted(script))
    assert source.searches == [("Spring barley yield after ten years", 1), ("no-till, wheat", 1), ("heavy metals", 1)]
    found = json.loads((Path(solution.metadata["manalyzer"]["run_dir"]) / "0_paper_info.json").read_text())
    assert len(found) == 4 and found["pm25_beijing_winter"]["found_by"] == ["doi: 10.0000/fixture.0006"]
    assert found["nt_uppsala_barley"]["found_by"] == ["title: Spring barley yield after ten years"]
    assert found["river_metals_tigris"]["found_by"] == ["keywords: heavy metals"]
    assert sum(by == ["keywords: no-till, wheat"] for by in (f["found_by"] for f in found.values())) == 1


async def test_bad_inputs_get_clear_located_errors(tmp_path):
    pool = ModelPool.scripted(lambda req: "[]")
    with pytest.raises(ConfigError, match="table_template"):
        await load_method("manalyzer", corpus=str(CORPUS)).solve("t", pool=pool)
    with pytest.raises(ConfigError, match="no such directory"):
        await load_method("manalyzer", corpus=str(tmp_path / "nope"), table_template=TEMPLATE).solve("t", pool=pool)
    with pytest.raises(ConfigError, match="needs papers"):
        await load_method("manalyzer", table_template=TEMPLATE).solve("t", pool=pool)
    with pytest.raises(ConfigError, match="no markdown table header"):
        await load_method("manalyzer", corpus=str(CORPUS), table_template="River, Metal").solve("t", pool=pool)
    broken = tmp_path / "corpus" / "p1"
    shutil.copytree(CORPUS / "nt_loess_wheat", broken)
    (broken / "content_list.json").write_text('[{"type": "text", "text": "x"},\n {"type": ')
    with pytest.raises(ConfigError, match=r"content_list.json:2:\d+: invalid JSON"):
        LocalCorpus(tmp_path / "corpus")
    with pytest.raises(ConfigError, match="effect hedges_g needs columns"):
        load_method("manalyzer", effect={"measure": "hedges_g", "columns": {"m1": "x"}})


async def test_the_benchmark_loader_reads_the_published_item_format(tmp_path):
    gold = {"0001": {"field": "environment", "doi": "10.1/x", "content": [
        {"River": "Tigris", "Location": "Turkey", "Heavy metals": "Cu", "Content (µg/L)": 40.0}],
        "level_1": [], "level_2": ["40.0"], "level_3": []}, "0002": {"field": "environment", "content": [],
                                                                    "level_1": [], "level_2": [], "level_3": []}}
    (tmp_path / "answer.json").write_text(json.dumps(gold))
    (tmp_path / "images").mkdir()
    shutil.copy(CORPUS / "river_metals_tigris" / "images" / "table1.png", tmp_path / "images" / "t.png")
    items = [{"paper_idx": "0001", "text_or_caption": "Copper in the Tigris reached 40.0 µg/L near the mine "
              "according to the sampling campaign of 2017 and 2018.", "table_or_image": None},
             {"paper_idx": "0001", "text_or_caption": "Table 1. Metals.", "table_or_image": "images/t.png"}]
    (tmp_path / "environment.jsonl").write_text("\n".join(json.dumps(i) for i in items))
    tasks = load_dataset("manalyzer", path=tmp_path / "answer.json")
    assert [t.id for t in tasks] == ["manalyzer-0001"]  # 0002 has no content: skipped
    task = tasks[0]
    paper = ParsedPaper.model_validate(task.metadata["manalyzer"]["papers"][0])
    assert [b.type for b in paper.blocks] == ["text", "image"]
    assert paper.image_path(paper.blocks[1]) is not None
    assert "Required data: River, Location, Heavy metals, Content (µg/L)" in task.question
    assert task.metadata["keys"] == ["River", "Heavy metals"]
    # a manalyzer run on a benchmark task extracts from the task's own paper (no corpus, no keyword call)
    script = Script(lambda req: {"reviewer": "{'Topic Relevance': 9, 'Feasibility': 9}",
                                 "reviewer_comparative": "[1.0]", "extractor_level1": "[0.9]",
                                 "extractor": table_reply(1), "checker": str({
                                     "Data Accuracy": 9, "Semantic Consistency": 9, "Data Completeness": 9,
                                     "Overall Score": 9, "Suggestion": "none"}),
                                 "merger": json.dumps([{"River": "R0", "Location": "X", "Heavy metals": "Cu",
                                                        "Content (µg/L)": 0.5}]),
                                 "analyst": "no code", "reporter": "prose"}[req.agent])
    method = load_method("manalyzer", out_dir=str(tmp_path / "runs"), analyst_regenerations=0, analyst_timeout=20)
    solution = await method.solve(task, pool=ModelPool.scripted(script))
    assert "collector" not in {r.agent for r in script.requests}
    assert solution.metadata["manalyzer"]["selected"] == ["0001"]
    assert "0.5" in solution.metadata["manalyzer"]["extractions"]["0001"]


def test_the_workflow_file_validates_and_points_at_the_fixture_corpus():
    workflow = load_workflow(REPO / "workflows" / "manalyzer.yaml", aliases=["smol"])
    method = workflow.to_method()
    assert isinstance(method, Manalyzer) and Path(method.config.corpus) == CORPUS
    assert method.config.effect.measure == "hedges_g" and method.config.keep_top == 4
    assert parse_template(method.config.table_template).columns == FIXTURE.COLUMNS


def test_maslab_run_completes_and_counts_failures_when_every_reply_is_unusable(tmp_path, capsys):
    """A scripted models file whose only reply is useless: the CLI run still finishes, with a report that counts
    the failures of every stage that needed a usable reply (collect falls back to the topic query)."""
    from maslab.cli import main

    models = tmp_path / "models.yaml"
    models.write_text("default: smol\nmodels:\n  smol: {scripted: ['I do not know.']}\n")
    code = main(["run", str(REPO / "workflows" / "manalyzer.yaml"), "--question", FIXTURE.TOPIC, "--models",
                 str(models), "--runs-dir", str(tmp_path / "cli"), "--set", f"out_dir={tmp_path / 'runs'}"])
    assert code == 0
    report = capsys.readouterr().out
    assert report.startswith("# Meta-analysis report: " + FIXTURE.TOPIC)
    assert "Failures recorded:" in report and "collect: 1" in report and "review:" in report
    assert "No meta-analytic statistics: no row of the table has numbers" in report
    run_dir = next((tmp_path / "runs").glob("*/*"))
    failures = json.loads((run_dir / "log" / "failures.json").read_text())
    assert {f["stage"] for f in failures} >= {"collect", "review", "extract"}
    assert json.loads((run_dir / "0_paper_info.json").read_text())  # papers found through the topic query


def test_the_benchmark_sweep_scores_the_baseline_and_the_pipeline_per_paper(tmp_path, capsys):
    """`maslab bench` on the shipped manalyzer sweep (paths pointed into tmp) with a scripted models file whose
    one reply is a table holding two of the Uppsala gold values; then `maslab manalyzer hitrate`."""
    from maslab.cli import main

    sweep = (REPO / "workflows" / "sweeps" / "manalyzer.yaml").read_text()
    sweep = sweep.replace("../data/manalyzer_corpus/answer.json", str(CORPUS / "answer.json"))
    sweep = sweep.replace("runs/manalyzer-bench/pipeline", str(tmp_path / "pipeline"))
    (tmp_path / "sweep.yaml").write_text(sweep)
    models = tmp_path / "models.yaml"
    models.write_text("default: smol\nmodels:\n  smol: {scripted: ['| Year | NT |\\n|---|---|\\n| 2019 | 5210 |"
                      "\\n| 2020 | 4880 |']}\n")
    assert main(["bench", str(tmp_path / "sweep.yaml"), "--out", str(tmp_path / "out"), "--models", str(models)]) == 0
    capsys.readouterr()
    assert main(["manalyzer", "hitrate", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "baseline" in out and "manalyzer" in out and "tillage" in out
    assert "10.00% (2/20)" in out  # the baseline's two hits among the 20 level-2 strings of the 4 papers


def test_the_hitrate_command_sums_a_sweeps_counts_per_field_and_level(tmp_path):
    from maslab.bench.manalyzer.cli import command
    from maslab.bench.store import ResultRow, ResultStore

    store = ResultStore(tmp_path / "results.sqlite")
    for i, (hit, total) in enumerate([(1, 2), (3, 4)]):
        store.write(ResultRow(cell_id="manalyzer|x", task_id=f"t{i}", score_detail={
            "field": "tillage", "levels": {"level_1": {"hit": hit, "total": total},
                                           "level_2": {"hit": 0, "total": 0}, "level_3": {"hit": 0, "total": 1}},
            "cell_aligned": {"hit": 1, "total": 2}}))
    store.close()
    import argparse

    from rich.console import Console

    output = command.run(argparse.Namespace(dir=str(tmp_path)))
    console = Console(record=True, width=200)
    console.print(output.items[0])
    text = console.export_text()
    assert "66.67% (4/6)" in text and "n/a" in text and "0.00% (0/2)" in text and "50.00% (2/4)" in text


# ---------------------------------------------------------------------------------------------
# integration: the embedded model


@pytest.mark.integration
async def test_the_pipeline_runs_end_to_end_on_the_embedded_model(embedded_pool, tmp_path):
    """Real SmolLM2-135M on llama.cpp over a 3-paper copy of the fixture (2 relevant, 1 off-topic), 48-token
    replies: every stage file is written and failures are counted, not raised (quality is not asserted)."""
    corpus = tmp_path / "corpus"
    for idx in ("nt_loess_wheat", "nt_cornbelt_maize", "river_metals_tigris"):
        shutil.copytree(CORPUS / idx, corpus / idx)
    params = FIXTURE.params(corpus=str(corpus), out_dir=str(tmp_path / "runs"), model="smol", keep_top=2,
                            max_tokens=48, extract_n=2, contract_retries=0, analyst_regenerations=1,
                            analyst_timeout=30, paper_search_num=2)
    solution = await load_method("manalyzer", **params).solve(FIXTURE.TOPIC, pool=embedded_pool)
    meta = solution.metadata["manalyzer"]
    run_dir = Path(meta["run_dir"])
    for names in STAGE_FILES.values():
        for name in names:
            assert (run_dir / name).is_file(), name
    assert sum(meta["failure_counts"].values()) == len(meta["failures"])
    report = (run_dir / "meta_analysis_report.md").read_text()
    assert f"Failures recorded: {len(meta['failures'])}" in report and "smol" in report
    assert solution.usage.calls > 5 and set(solution.usage.by("alias")) == {"smol"}
