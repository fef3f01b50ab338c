"""LAD, "Let Androids Dream of Electric Sheep" (Zhang et al., arXiv 2505.17019): perceive, search, reason.

LAD reads the implication of a metaphorical image (comic, poster, meme, painting) in three stages.

Stage I — Perception (role `perceiver`)
    1. Description (image + prompt, T 0.7): one paragraph on roles, text, colour and layout.
    2. Keywords (text only, T 0.7): seven keywords tied to the metaphor (emotion, domain, rhetoric, puns).
Stage II — Search
    3. Questions (role `questioner`, T 0.7): exactly 5 search questions from keyword combinations, split
       by `search.split_list`; fewer than 5 → the step is retried once (the next sample), then LAD goes
       on with what it has and logs it.
    4. Per question, the 5 concurrently: Self-Judge (role `self_judge`, T 0) → ``[score, decision]`` →
       `search.route`: WebSearch if score ≤ 3 and WebSearch; ModelSearch if score > 3 and ModelSearch;
       else (unparsed, contradictory) ModelSearch — every decision is logged and counted.
    5. ModelSearch (role `model_searcher`, T 0.5): a meme/metaphor expert answers from its own knowledge.
    6. WebSearch (roles `planner`, `searcher`; T 0.3, top_p 0.8): the search graph of `websearch` —
       sub-question nodes over at most `web_turns` (10) planner turns, sibling nodes searched
       concurrently with `search(queries, topk=6)` / `select(ids)`, a final response citing [[id]].
    7. Collect the 5 answers as "Question i / Answer" blocks.
    8. Ranker (role `ranker`, T 0): the top 3 pairs with their reasons, as JSON (ours, spec §2); invalid
       output → all pairs are used.
    9. Summarizer (role `summarizer`, T 0.5): rewrites and merges the top pairs following the reasons.
Stage III — Reasoning, "LAD-CoT" (role `reasoner`, image + context: description, keywords, summary)
    10. Open answer (T 0.7): the image's deep meaning, metaphors only, concisely (`metadata.implication`).
    11. MCQ (T 0.5), for a task with choices: reasoning in <think>, the choice in <answer>; the letter is
        read by `maslab.answers.extract_tagged_choice` (the tag, else the last standalone A–F; neither:
        flagged, and the scorer counts it wrong).

Every call has top_p 0.9 (0.8 in WebSearch). Calls per image (LAD-CoT, full search): 2 + 1 + 5 × (1 judge
+ 1 ModelSearch call or a whole WebSearch run) + 2 + 2, i.e. 17 when every question goes to ModelSearch;
a WebSearch run costs turns + 3 per node + 1 (`websearch`). A task without choices gets the open answer
only (one reasoning call); so do the `plain` and `cot` baselines, which answer the task's own question
(the options for a multiple-choice task) in one call (ours: the paper's baselines answer each question
type directly, and a sweep then compares their cost fairly).

Ablations, as the paper's tables: `reasoning` — `plain` (no CoT: the question and options with the
image), `cot` (a step-by-step cue), `lad_cot` (Stage I + LAD-CoT) — Table 2; `search` — `none` (Table
3's "no search"), `model` (every question to ModelSearch, no Self-Judge: the built-in model-search
arm), `lad` (Self-Judge routing) — Table 3; and `web` (every question to WebSearch, ours). Stage I runs
when `reasoning: lad_cot` or a search runs; without it `plain`/`cot` see the image and the question only.

Images: a `vision` alias gets the image as an image part (the reference sends it base64, high detail).
A text-only alias gets, in its place, the offline perception of `maslab.tools.perception` — OCR text
(rapidocr) and OpenCV facts (size, colours, panel count), labelled as such (ours) — and the trace's
``perception`` event and `metadata.perception` say which was used, per role. A task without an image
gets its text only. Nothing but the task's question, choices and images reaches a model.

Web: the local web of `maslab.tools.local_web` over `corpus` (a folder of markdown pages; default
``$MASLAB_WEB_CORPUS``; `workflows/data/lad_corpus` is a small hand-written one), or a real engine as
two registered tools named in `web_tools` (search, select). Prompts: `prompts` (the reference's wording
for Stages I–III, ours for the WebSearch planner and searcher). Language: `auto` picks the Chinese
prompts for a question in Chinese. `temperature`, when set, replaces every stage's temperature.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
from pathlib import Path
from typing import Any, Literal, TypedDict

from pydantic import Field

from maslab.agents.lad import prompts as P
from maslab.agents.lad.search import Route, route, split_list, top_three
from maslab.agents.lad.websearch import WebSearcher
from maslab.answers import LETTERS, extract_tagged_choice
from maslab.errors import ConfigError
from maslab.graph import END, START, Appended, fan_out, gather, state_graph
from maslab.messages import ImagePart, Message, TextPart
from maslab.method import Deviation, Method, MethodConfig, RunContext, register_method
from maslab.task import Task
from maslab.tool import Tool, default_registry
from maslab.trace import current_recorder, get_logger

log = get_logger(__name__)

__all__ = ["LAD", "TEMPERATURES", "Config"]

N_QUESTIONS = 5
TEMPERATURES = {  # spec §1 (the reference notebook's request parameters)
    "describe": 0.7, "keywords": 0.7, "questions": 0.7, "self_judge": 0.0, "model_search": 0.5,
    "web_planner": 0.3, "web_final": 0.3, "web_queries": 0.3, "web_select": 0.3, "web_answer": 0.3,
    "rank": 0.0, "summarize": 0.5, "open": 0.7, "mcq": 0.5,
}
TOP_P, WEB_TOP_P = 0.9, 0.8
_CJK = re.compile(r"[\u4e00-\u9fff]")


class Config(MethodConfig):
    search: Literal["none", "model", "web", "lad"] = Field(
        default="lad", description="Stage II: none | model (all ModelSearch) | web (all WebSearch, ours) | lad (Self-Judge routing)")
    reasoning: Literal["plain", "cot", "lad_cot"] = Field(
        default="lad_cot", description="Stage III: plain (no CoT) | cot (step-by-step cue) | lad_cot (Stage I + LAD-CoT)")
    language: Literal["auto", "en", "zh"] = Field(default="auto", description="prompt language; auto: zh for Chinese questions")
    corpus: str | None = Field(default=None, json_schema_extra={"path": True},
                               description="the local web: a folder of markdown pages (default $MASLAB_WEB_CORPUS)")
    web_tools: list[str] = Field(default_factory=list, description="a real web: registered [search tool, select tool]")
    web_turns: int = Field(default=10, ge=1, description="WebSearch planner turns (the reference: 10)")
    topk: int = Field(default=6, ge=1, le=20, description="search results per WebSearch search (the reference: 6)")
    temperature: float | None = Field(
        default=None, description="one temperature for every stage; None: each stage's own (spec §1, `TEMPERATURES`)")


class Found(TypedDict):
    index: int
    question: str
    route: dict[str, Any]
    answer: str
    web: list[dict[str, Any]]


class State(TypedDict, total=False):
    task: Task
    lang: P.Lang
    perception: dict[str, Any]
    description: str
    keywords: str
    questions: list[str]
    found: Appended  # one Found per question branch
    ranking: dict[str, Any]
    summary: str
    answer: str
    metadata: dict[str, Any]


_webs: dict[str, Any] = {}
_webs_lock = threading.Lock()


def _local_web(root: str) -> Any:
    from maslab.tools.local_web import LocalWeb

    key = str(Path(root).expanduser().resolve())
    with _webs_lock:
        if key not in _webs:
            _webs[key] = LocalWeb(key)
        return _webs[key]


DEVIATIONS = (
    Deviation(what="The ranker returns a JSON list of the top 3 question indices, validated; invalid output uses all "
                   "five pairs", why="the reference's regex needs the ranker to echo a question in quotes (spec §2)",
              kind="spec"),
    Deviation(what="An MCQ reply without <answer> falls back to the last standalone letter A–F; with neither, the "
                   "item is scored wrong and flagged", why="spec §2: the reference reads only the tag", kind="spec"),
    Deviation(what="Web search is an in-process tool over a local, hand-written markdown corpus (BM25 fused with an "
                   "LSA embedding) with the reference's search/select interface, not MindSearch over the live web",
              why="offline: no internet at run time (spec §3); a real engine plugs in through `web_tools`",
              kind="choice"),
    Deviation(what="The WebSearch planner and searcher prompts are ours; the planner's graph code is read with "
                   "`ast` (only the graph calls on literal strings), never run", why="MindSearch's prompts are not "
                   "reproduced; model-written code never runs in the main process", kind="wording"),
    Deviation(what="A WebSearch run whose planner added no node searches the root question as one node",
              why="a WebSearch answer always rests on retrieved pages", calls="+3 when it happens", kind="choice"),
    Deviation(what="A text-only alias gets offline perception (RapidOCR text and OpenCV facts, labelled) instead of "
                   "the image", why="lets the pipeline run on text models; the reference needs an MLLM",
              kind="choice"),
    Deviation(what="The five question branches and the search graph's sibling nodes run concurrently",
              why="wall time (spec §2); each branch sees only its own question", kind="spec"),
    Deviation(what="The `plain` and `cot` baselines answer the MCQ in one call instead of an open answer then the "
                   "MCQ", why="a sweep compares their cost fairly with LAD's", calls="-1 per image", kind="choice"),
    Deviation(what="`search: web` (every question to WebSearch) is an extra ablation", why="tests and corpus "
                   "studies; off by default", profiles=(), kind="choice"),
)


@register_method
class LAD(Method[Config]):
    name = "lad"
    citation = "arXiv 2505.17019"
    reference = ("LAD, arXiv 2505.17019, and its notebook in MING-ZCH/Let-Androids-Dream-of-Electric-Sheep (no commit "
                 "named by the spec): gpt-4o-mini, top_p 0.9, per-stage temperatures")
    deviations = DEVIATIONS
    summary = "LAD: perceive an image (description, keywords), search (5 questions routed to model or web), reason (LAD-CoT)."
    roles = ("perceiver", "questioner", "self_judge", "model_searcher", "planner", "searcher", "ranker", "summarizer",
             "reasoner")
    Config = Config

    def __init__(self, config: Config | None = None) -> None:
        super().__init__(config)
        if len(self.config.web_tools) not in (0, 2):
            raise ConfigError("lad: web_tools names two registered tools, [search, select]")

    def web_tools(self) -> tuple[Tool, Tool]:
        """The (search, select) tools WebSearch uses: `web_tools`, else the local web over `corpus`."""
        cfg = self.config
        if cfg.web_tools:
            return default_registry.get(cfg.web_tools[0]), default_registry.get(cfg.web_tools[1])
        root = cfg.corpus or os.environ.get("MASLAB_WEB_CORPUS")
        if not root:
            raise ConfigError(f"lad: search {cfg.search!r} needs a web: set `corpus` (a folder of markdown pages, e.g. "
                              "workflows/data/lad_corpus), $MASLAB_WEB_CORPUS, or `web_tools`")
        return _local_web(root).tools()

    def build(self, ctx: RunContext[Config]) -> Any:
        cfg = self.config
        agents = {role: ctx.agent(role) for role in self.roles}
        perceive_first = cfg.reasoning == "lad_cot" or cfg.search != "none"

        async def call(role: str, stage: str, messages: Any, sample: int = 0) -> str:
            web = stage.startswith("web_")
            params = {"temperature": TEMPERATURES[stage] if cfg.temperature is None else cfg.temperature,
                      "top_p": WEB_TOP_P if web else TOP_P}
            return await ctx.ask(agents[role], messages, sample_index=sample, **params)

        async def view(state: State, role: str, text: str, stage: str) -> Message:
            """`text` with the task's images: image parts for a vision alias, else the offline perception."""
            task, lang = state["task"], state["lang"]
            if not task.images:
                note = f"\n\n{P.NO_IMAGE[lang].format(text=task.question)}" if stage == "describe" else ""
                _record_perception(state, role, "none", [])
                return Message.user(text + note)
            if await ctx.pool.supports_images(agents[role].model):
                _record_perception(state, role, "vision", [])
                return Message.user([TextPart(text=text), *(ImagePart(path=p) for p in task.images)])
            from maslab.tools.perception import perceive

            reports = await gather(asyncio.to_thread(perceive, p) for p in task.images)
            _record_perception(state, role, reports[0].source, reports)
            offline = "\n\n".join(r.text() for r in reports)
            note = f"\n\n{P.OFFLINE_NOTE[lang]}" if stage == "describe" else ""
            return Message.user(f"{text}{note}\n\n{offline}")

        # ------------------------------------------------------------------------------ Stage I

        async def start(state: State) -> State:
            task = state["task"]
            lang: P.Lang = (cfg.language if cfg.language != "auto" else
                            "zh" if _CJK.search(task.question + "".join(task.choices or [])) else "en")
            if cfg.search in ("web", "lad"):
                self.web_tools()  # a missing web is a configuration error, raised before any call
            return {"lang": lang, "perception": {}, "description": "", "keywords": "", "summary": ""}

        async def perceive_image(state: State) -> State:
            lang = state["lang"]
            description = await call("perceiver", "describe", [await view(state, "perceiver", P.DESCRIBE[lang], "describe")])
            keywords = await call("perceiver", "keywords", P.KEYWORDS[lang].format(description=description))
            return {"description": description, "keywords": keywords, "perception": state["perception"]}

        # ------------------------------------------------------------------------------ Stage II

        async def ask_questions(state: State) -> State:
            prompt = P.QUESTIONS[state["lang"]].format(keywords=state["keywords"])
            questions = split_list(await call("questioner", "questions", prompt), N_QUESTIONS)
            retried = len(questions) < N_QUESTIONS
            if retried:
                again = split_list(await call("questioner", "questions", prompt, sample=1), N_QUESTIONS)
                questions = again if len(again) >= len(questions) else questions
                if len(questions) < N_QUESTIONS:
                    log.warning("lad.questions.short", got=len(questions), wanted=N_QUESTIONS)
            return {"questions": questions, "metadata": {"questions_retried": retried}}

        def branches(state: State) -> Any:
            if not state.get("questions"):
                return "rank"
            return fan_out("search_question", [{"index": i + 1, "question": q, "lang": state["lang"]}
                                               for i, q in enumerate(state["questions"])])

        async def search_question(branch: dict[str, Any]) -> State:  # one question's branch (a LangGraph Send)
            lang, question = branch["lang"], branch["question"]
            if cfg.search == "model":
                decision = Route(decision="ModelSearch", reason="forced")
            elif cfg.search == "web":
                decision = Route(decision="WebSearch", reason="forced")
            else:
                decision = route(await call("self_judge", "self_judge", P.SELF_JUDGE[lang].format(question=question)))
            _event("routing", index=branch["index"], question=question, **decision.model_dump())
            web: list[dict[str, Any]] = []
            if decision.decision == "ModelSearch":
                answer = await call("model_searcher", "model_search", P.MODEL_SEARCH[lang].format(question=question))
            else:
                search_tool, select_tool = self.web_tools()
                searcher = WebSearcher(call, search_tool, select_tool, lang=lang, max_turns=cfg.web_turns, topk=cfg.topk)
                answer, web = await searcher.search(question, branch["index"])
            return {"found": [Found(index=branch["index"], question=question, route=decision.model_dump(),
                                    answer=answer, web=web)]}

        async def rank(state: State) -> State:
            lang = state["lang"]
            found = sorted(state.get("found") or [], key=lambda f: f["index"])
            blocks = [P.QA_BLOCK[lang].format(i=i + 1, question=f["question"], answer=f["answer"]) for i, f in enumerate(found)]
            if not blocks:
                return {"ranking": {"reply": "", "top3": None, "used": []}}
            reply = await call("ranker", "rank", P.RANK[lang].format(description=state["description"], pairs="".join(blocks)))
            top = top_three(reply, len(blocks))
            used = top if top is not None else list(range(1, len(blocks) + 1))
            if top is None:
                log.info("lad.ranker.fallback", pairs=len(blocks))
            return {"ranking": {"reply": reply, "top3": top, "used": used,
                                "pairs": "".join(blocks[i - 1] for i in used)}}

        async def summarize(state: State) -> State:
            ranking = state["ranking"]
            if not ranking.get("used"):
                return {"summary": ""}
            prompt = P.SUMMARIZE[state["lang"]].format(ranking=ranking["reply"], pairs=ranking["pairs"])
            return {"summary": await call("summarizer", "summarize", prompt)}

        # ------------------------------------------------------------------------------ Stage III

        async def reason(state: State) -> State:
            task, lang = state["task"], state["lang"]
            context = ""
            if perceive_first:
                none = "（无）" if lang == "zh" else "(none)"
                context = P.CONTEXT[lang].format(description=state["description"] or none,
                                                 keywords=state["keywords"] or none, summary=state["summary"] or none)
            question = task.question.strip()
            if cfg.reasoning == "lad_cot":
                extra = "" if not question or question == P.OSQ_QUESTION[lang] or task.choices else f"\n{question}"
                open_prompt = f"{context}{P.OPEN_LAD[lang]}{extra}"
            else:
                cue = f" {P.COT_CUE[lang]}" if cfg.reasoning == "cot" else ""
                open_prompt = f"{context}{question or P.OSQ_QUESTION[lang]}{cue}"
            # LAD-CoT writes the open implication for every image (spec §1 steps 10–11: "+ 2 + 2"); the plain
            # and CoT baselines answer the task's own question only: one call (ours, so that their cost is fair)
            coros = []
            if cfg.reasoning == "lad_cot" or not task.choices:
                coros.append(call("reasoner", "open", [await view(state, "reasoner", open_prompt, "open")]))
            if task.choices:
                letters = LETTERS[:len(task.choices)]
                mcq = P.MCQ_BODY[lang].format(question=question, options="".join(
                    f"{letter}. {choice}\n" for letter, choice in zip(letters, task.choices, strict=False)))
                template = {"lad_cot": P.MCQ_LAD, "cot": P.COT_MCQ, "plain": P.PLAIN_MCQ}[cfg.reasoning][lang]
                mcq_prompt = context + template.format(mcq=mcq, letters=", ".join(letters))
                coros.append(call("reasoner", "mcq", [await view(state, "reasoner", mcq_prompt, "mcq")]))
            replies = await gather(coros)
            implication = replies[0] if len(replies) == 2 or not task.choices else None
            metadata: dict[str, Any] = {**(state.get("metadata") or {}), **_summary(cfg, state), "implication": implication}
            if not task.choices:
                return {"answer": replies[0], "metadata": metadata}
            letter, source = extract_tagged_choice(replies[-1], LETTERS[:len(task.choices)])
            metadata["mcq"] = {"letter": letter, "parse": source, "flagged": source == "none"}
            if source == "none":
                log.warning("lad.mcq.unparsed", task=task.id)
            return {"answer": replies[-1], "metadata": metadata}

        graph = state_graph(State)
        graph.add_node("start", start)
        graph.add_node("perceive", perceive_image)
        graph.add_node("ask_questions", ask_questions)
        graph.add_node("search_question", search_question)
        graph.add_node("rank", rank)
        graph.add_node("summarize", summarize)
        graph.add_node("reason", reason)
        graph.add_edge(START, "start")
        graph.add_conditional_edges("start", lambda s: "perceive" if perceive_first else "reason", ["perceive", "reason"])
        graph.add_conditional_edges("perceive", lambda s: "reason" if cfg.search == "none" else "ask_questions",
                                    ["reason", "ask_questions"])
        graph.add_conditional_edges("ask_questions", branches, ["search_question", "rank"])
        graph.add_edge("search_question", "rank")
        graph.add_edge("rank", "summarize")
        graph.add_edge("summarize", "reason")
        graph.add_edge("reason", END)
        return graph


def _event(kind: str, **fields: Any) -> None:
    recorder = current_recorder()
    if recorder is not None:
        recorder.event(kind, **fields)


def _record_perception(state: State, role: str, mode: str, reports: list[Any]) -> None:
    """Note (in the state and the trace) which perception a role's call got: vision, ocr+opencv or none."""
    entry: dict[str, Any] = {"mode": mode}
    if reports:
        entry["report"] = "\n\n".join(r.text() for r in reports)
        entry["images"] = [{"path": r.path, "sha256": r.sha256, "ocr_lines": len(r.lines), "panels": r.facts.panels}
                           for r in reports]
    if state["perception"].get(role) != entry:
        state["perception"][role] = entry
        _event("perception", role=role, mode=mode, images=entry.get("images", []))


def _summary(cfg: Config, state: State) -> dict[str, Any]:
    found = sorted(state.get("found") or [], key=lambda f: f["index"])
    routes = [f["route"] for f in found]
    return {
        "language": state["lang"], "search": cfg.search, "reasoning": cfg.reasoning,
        "perception": {**state.get("perception", {}), "description": state.get("description", ""),
                       "keywords": state.get("keywords", "")},
        "questions": state.get("questions", []),
        "routing": routes,
        "routing_counts": {d: sum(r["decision"] == d for r in routes) for d in ("ModelSearch", "WebSearch")}
                          | {"fallback": sum(r["reason"] in ("unparsed", "contradictory") for r in routes)},
        "search_answers": [{k: f[k] for k in ("index", "question", "answer", "web")} for f in found],
        "ranking": {k: v for k, v in (state.get("ranking") or {}).items() if k != "pairs"},
        "summary": state.get("summary", ""),
    }
