"""LAD's Stage II (arXiv 2505.17019, spec §1–3): the question splitter, the Self-Judge routing table, the
ranker's top 3, the local web (BM25 + LSA over the hand-written corpus, search/select, the registered
tools) and the WebSearch graph (ast-read planner code, the 10-turn cap, concurrent sibling nodes, the
code-leak retry).

The graph tests run on scripted models (`ModelPool.scripted`): the script reads each request and answers
deterministically, so turns, nodes and concurrency are checked exactly (orchestration, not model quality).
The web is the real local web over `workflows/data/lad_corpus` (hand-written, with distractors).
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path

import pytest

from maslab.agents.lad.search import route, split_list, top_three
from maslab.agents.lad.websearch import PlanError, WebSearcher, parse_plan
from maslab.errors import ConfigError
from maslab.models import ModelPool, ScriptedRequest
from maslab.tools.local_web import LocalWeb, WebSearch
from maslab.tools.retrieval import multilingual_tokens

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "workflows" / "data" / "lad_corpus"


@pytest.fixture(scope="module")
def web() -> LocalWeb:
    return LocalWeb(CORPUS)


@pytest.fixture(scope="module")
def bm25_only() -> LocalWeb:
    return LocalWeb(CORPUS, embedding=False)


# --------------------------------------------------------------------------- 1. the splitter


QUESTIONS = [f"What does question {i} ask about the meme?" for i in range(1, 6)]


@pytest.mark.parametrize("reply", [
    "\n\n".join(f'{i}. "{q} "' for i, q in enumerate(QUESTIONS, 1)),  # the reference's example format
    "Here are five questions:\n" + "\n".join(f"- {q}" for q in QUESTIONS),
    "\n".join(f"* **{q}**" for q in QUESTIONS),
    "\n".join(QUESTIONS),
    '"""\n' + "\n".join(f"{i}) “{q}”" for i, q in enumerate(QUESTIONS, 1)) + '\n"""',
    "Output:\n" + "\n".join(f"Q{i}: {q}" for i, q in enumerate(QUESTIONS, 1)) + "\n6. an extra sixth question?",
])
def test_the_splitter_yields_exactly_five_questions_from_numbered_bulleted_and_plain_replies(reply):
    assert split_list(reply, 5) == QUESTIONS


def test_the_splitter_reads_chinese_numbering_and_quotes():
    reply = "\n".join(f"{i}、「问题{i}是什么梗？」" for i in range(1, 6))
    assert split_list(reply, 5) == [f"问题{i}是什么梗？" for i in range(1, 6)]


# --------------------------------------------------------------------------- 2. routing


@pytest.mark.parametrize(("reply", "decision", "reason"), [
    ("[2, WebSearch]", "WebSearch", "agreed"),
    ("[3, WebSearch]", "WebSearch", "agreed"),
    ("[4, ModelSearch]", "ModelSearch", "agreed"),
    ("Reasoning first... [5, ModelSearch]", "ModelSearch", "agreed"),
    ("[2, ModelSearch]", "ModelSearch", "contradictory"),
    ("[5, WebSearch]", "ModelSearch", "contradictory"),
    ("I think we should search the web.", "ModelSearch", "unparsed"),
    ("[Confidence score (1-5 points), Decision (ModelSearch/WebSearch)]", "ModelSearch", "unparsed"),
    ("【2，WebSearch】", "WebSearch", "agreed"),
])
def test_the_routing_table(reply, decision, reason):
    r = route(reply)
    assert (r.decision, r.reason) == (decision, reason)


# --------------------------------------------------------------------------- 5. the ranker


def test_valid_ranker_indices_pick_those_three_pairs():
    reply = 'Sorted: {"top3": [{"question": 4, "reason": "the pun"}, {"question": 1, "reason": "x"}, {"question": "2", "reason": "y"}]}'
    assert top_three(reply, 5) == [4, 1, 2]
    assert top_three('{"top3": [3, 5, 1]}', 5) == [3, 5, 1]


@pytest.mark.parametrize("reply", [
    "1. Question: The importance of life choices\n  - Sorting Reason: xxx",  # the reference's format
    '{"top3": [{"question": 1}, {"question": 1}, {"question": 2}]}',  # repeated
    '{"top3": [{"question": 6}, {"question": 1}, {"question": 2}]}',  # out of range
    '{"top3": [1, 2]}',  # not three
    "",
])
def test_invalid_ranker_output_is_rejected_so_that_all_pairs_are_used(reply):
    assert top_three(reply, 5) is None


# --------------------------------------------------------------------------- 3. the local web


KEY_DOCUMENTS = {  # web-routed questions of the kind LAD writes → the page that answers them
    "What does a deer wearing a hunter orange vest and cap symbolize in a costume party cartoon?": "blaze-orange",
    "Why do turkeys look at each other suspiciously after learning about the wishbone tradition?": "wishbone",
    "What is the story behind the phrase 'The British are coming' in revolutionary America?": "british-are-coming",
    "What is the meme about Starbucks baristas misspelling customer names on cups?": "starbucks-name-misspelling",
    "What is the joke when a waiter confuses dessert with desert?": "dessert-desert",
    "Why did fans criticise Jon Snow saying goodbye to his direwolf Ghost?": "jon-snow-ghost",
    "What does the glowing Eye of Sauron symbolize about authority and surveillance?": "eye-of-sauron",
    "How does a Velcro hook-and-loop fastener work, and why is its name used in puns?": "velcro",
    "Why is the McDonald's ice cream machine always broken meme popular?": "mcdonalds-ice-cream-machine",
    "网络梗“受死day”与星期四打工人的痛苦有什么关系？": "shousi-day",
    "“鸽上加鸽”这个梗讽刺的是什么行为？": "fang-gezi",
    "“这是个醚”的谐音梗是什么意思？": "zhe-shi-ge-mi",
    "“禁止色禽”表情包利用了什么谐音？": "se-qin",
    "网络用语“鸟我一下”是什么意思？": "niao-wo",
    "“越描越好看”反用了哪个成语，讽刺什么现象？": "yue-miao-yue-hei",
    "牡丹和水仙在中国画中一起出现寓意什么？": "peony-narcissus",
}


@pytest.mark.parametrize(("question", "key"), KEY_DOCUMENTS.items(), ids=list(KEY_DOCUMENTS.values()))
def test_bm25_returns_the_key_document_first_and_select_returns_its_text(web, bm25_only, question, key):
    assert bm25_only.search([question], topk=6)[0]["id"] == key  # BM25 alone
    hits = web.search([question], topk=6)  # BM25 fused with the LSA embedding (the default)
    assert hits[0]["id"] == key and len(hits) == 6
    assert set(hits[0]) == {"id", "title", "snippet", "url"} and hits[0]["url"].startswith("local://")
    page = web.select([key])
    doc = next(d for d in web.documents if d.id == key)
    assert page.startswith(f"## [[{key}]] {doc.title}") and doc.text in page


def test_distractors_share_words_but_rank_below_the_reference(web):
    kinds = {d.id: d.kind for d in web.documents}
    assert sum(k == "distractor" for k in kinds.values()) >= 10
    ranked = [h["id"] for h in web.search(["Thanksgiving turkey wishbone"], topk=6)]
    assert ranked[0] == "wishbone" and "turkiye" in ranked[1:]


def test_several_queries_are_fused_and_unknown_ids_are_named(web):
    hits = web.search(["blaze orange hunters", "鸽上加鸽 放鸽子"], topk=2)
    assert {h["id"] for h in hits} == {"blaze-orange", "fang-gezi"}
    assert "no page with id 'nope'" in web.select(["blaze-orange", "nope"])
    assert web.search(["zzzz qqqq"], topk=6) == []


def test_chinese_is_tokenized_as_character_bigrams():
    assert multilingual_tokens("The British 受死day!") == ["british", "受死", "day"]


def test_the_local_web_is_a_websearch_and_bad_pages_are_located_errors(tmp_path):
    assert isinstance(LocalWeb(CORPUS, embedding=False), WebSearch)
    (tmp_path / "a.md").write_text("no front matter\n")
    with pytest.raises(ConfigError, match=r"a\.md: a local-web document starts with a YAML front matter"):
        LocalWeb(tmp_path)
    (tmp_path / "a.md").write_text("---\nlang: en\n---\ntext\n")
    with pytest.raises(ConfigError, match=r"a\.md: the front matter needs a `title`"):
        LocalWeb(tmp_path)


async def test_the_registered_tools_search_the_folder_named_by_the_environment(monkeypatch):
    from maslab.tool import get_tool

    search, select = get_tool("web_search"), get_tool("web_select")
    monkeypatch.delenv("MASLAB_WEB_CORPUS", raising=False)
    failed = await search.call({"queries": ["wishbone"]})
    assert not failed.ok and "MASLAB_WEB_CORPUS" in failed.error
    monkeypatch.setenv("MASLAB_WEB_CORPUS", str(CORPUS))
    hits = json.loads((await search.call({"queries": ["Thanksgiving wishbone"], "topk": 2})).content)
    assert hits[0]["id"] == "wishbone" and len(hits) == 2
    assert "Thanksgiving" in (await select.call({"ids": ["wishbone"]})).content


# --------------------------------------------------------------------------- 4. the search graph


def test_planner_code_is_read_with_ast_never_run():
    reply = '''<|action_start|><|interpreter|>```python
graph = WebSearchGraph()
graph.add_root_node(node_content="What is the Velcrows pun?", node_name="root")
graph.add_node(node_name="velcro", node_content="What is Velcro?")
graph.add_node("crows", "Why do crows sit on wires?")
graph.add_edge(start_node="root", end_node="velcro")
__import__("os").system("echo never")
graph.node("velcro"), graph.node("crows")
```<|action_end|>'''
    step = parse_plan(reply)
    assert step.root == "What is the Velcrows pun?" and not step.response
    assert step.nodes == [("velcro", "What is Velcro?"), ("crows", "Why do crows sit on wires?")]
    assert step.edges == [("root", "velcro")]
    assert parse_plan("```python\ngraph.add_response_node(node_name='response')\n```").response
    assert not parse_plan("No code, just an answer.").has_code
    with pytest.raises(PlanError, match="literal strings"):
        parse_plan("```python\ngraph.add_node(name, question)\n```")
    with pytest.raises(PlanError, match="syntax error"):
        parse_plan("```python\ngraph.add_node('a', 'b'\n```")


class Planner:
    """A scripted planner, searcher and final writer; records every request and the searchers' concurrency."""

    def __init__(self, plan):
        self.plan = plan  # turn -> planner reply
        self.requests: list[ScriptedRequest] = []
        self.in_flight = self.peak = 0

    async def __call__(self, req: ScriptedRequest) -> str:
        self.requests.append(req)
        stage = req.agent
        if req.role == "planner" and "Question-answer pairs" not in req.prompt:
            turn = sum(m.role == "assistant" for m in req.messages) + 1
            return self.plan(turn)
        if req.role == "planner":
            return "Final answer citing [[blaze-orange]]."
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        await asyncio.sleep(0.02)
        self.in_flight -= 1
        if "search queries" in req.prompt:
            return "hunter orange vest\ndeer hunting season"
        if "Which pages" in req.prompt:
            return '["blaze-orange"]'
        return f"{stage}: the answer [[blaze-orange]]"


async def run_search(planner: Planner, web: LocalWeb, max_turns: int = 10):
    pool = ModelPool.scripted(planner)
    search_tool, select_tool = web.tools()

    async def ask(role, stage, messages, sample):
        return (await pool.complete(None, messages, agent=stage, role=role, sample_index=sample)).text

    searcher = WebSearcher(ask, search_tool, select_tool, lang="en", max_turns=max_turns)
    return await searcher.search("Why is the deer's orange costume upsetting?"), planner


def _node(i: int) -> str:
    return f'```python\ngraph.add_node("n{i}", "Sub-question number {i} about hunters?")\n```'


async def test_the_graph_stops_at_the_response_node(web):
    plan = {1: "```python\ngraph.add_root_node('q')\ngraph.add_node('a', 'What is blaze orange?')\n"
               "graph.add_node('b', 'When is deer season?')\ngraph.add_edge('root', 'a')\n```",
            2: "```python\ngraph.add_response_node()\n```"}
    (answer, attempts), planner = await run_search(Planner(lambda t: plan[t]), web)
    graph = attempts[0]
    assert answer == "Final answer citing [[blaze-orange]]." and len(attempts) == 1
    assert graph["stopped"] == "response" and graph["turns"] == 2 and set(graph["nodes"]) == {"a", "b"}
    assert graph["nodes"]["a"]["selected"] == ["blaze-orange"] and "[[blaze-orange]]" in graph["nodes"]["a"]["answer"]
    roles = Counter(r.role for r in planner.requests)
    assert roles == {"planner": 2 + 1, "searcher": 3 * 2}  # turns + final; 3 calls per node
    assert planner.peak == 2  # the two sibling nodes were searched at the same time


async def test_the_graph_stops_after_ten_turns_without_a_response(web):
    (answer, attempts), planner = await run_search(Planner(_node), web)
    graph = attempts[0]
    assert graph["stopped"] == "turn_cap" and graph["turns"] == 10 and len(graph["nodes"]) == 10
    assert sum(r.role == "planner" for r in planner.requests) == 10 + 1
    assert "Sub-question number 10" in planner.requests[-1].prompt  # the final response saw every pair


async def test_unreadable_code_costs_a_turn_and_no_node_means_the_root_is_searched(web):
    plan = {1: "```python\ngraph.add_node(x)\n```", 2: "I simply know the answer."}
    (answer, attempts), planner = await run_search(Planner(lambda t: plan[t]), web)
    graph = attempts[0]
    assert graph["stopped"] == "no_code" and list(graph["nodes"]) == ["root"]
    second = [r for r in planner.requests if r.role == "planner"][1]
    assert "could not be read" in second.prompt
    assert graph["nodes"]["root"]["selected"] == ["blaze-orange"]


async def test_an_answer_that_leaks_planner_code_is_searched_again_up_to_three_times(web):
    class Leaky(Planner):
        async def __call__(self, req):
            if req.role == "planner" and "Question-answer pairs" in req.prompt:
                self.requests.append(req)
                return "```python\ngraph.add_node('x', 'y')\n```"
            return await super().__call__(req)

    (answer, attempts), planner = await run_search(Leaky(lambda t: "```python\ngraph.add_response_node()\n```"), web)
    assert len(attempts) == 3 and "```python" in answer
    assert len({r.sample_index for r in planner.requests}) == 3  # each attempt is a fresh sample
