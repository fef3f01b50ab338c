"""LAD's WebSearch: a MindSearch-style search graph over any web (spec §1 step 6, §2, §3).

    search(q):
      g = graph(root=q)
      for turn in 1..max_turns (10):
          step = planner(q, g)                 # graph code: sub-question nodes, edges, or a response node
          for node in step.new_nodes: node.answer = searcher(node)     # siblings run concurrently
          if step.is_response: break
      return planner_final(q, g)               # the final answer from the nodes' question–answer pairs

* **Planner** (role `planner`): writes graph code against `add_root_node`, `add_node(name, sub_question)`,
  `add_edge`, `add_response_node`. The code is **read with `ast`, never run**: only those calls on
  literal strings count (`parse_plan`); unreadable code is answered with an error message and costs
  the turn. A reply without code ends the planning (MindSearch treats it as the planner's answer).
* **Searcher** (role `searcher`), per node, Algorithm 1's steps: rewrite the sub-question into up to 3
  queries (a call) → batch `search(queries, topk=6)` → select pages (a call) → `select(ids)` (crawl) →
  answer from the pages citing `[[id]]` (a call). Three calls per node.
* **Final response** (role `planner`): one call on all question–answer pairs, citing `[[id]]`.
* The client check of the reference: an answer that leaks planner code (a python fence) is searched
  again, up to 3 attempts in all.

Ours: if the planner added no node before responding or running out of turns, the root question is
searched as one node, so that a WebSearch answer always rests on retrieved pages. Calls per search:
turns + 3 × nodes + 1. Temperatures: 0.3 with top_p 0.8 (the reference's LLM settings).
"""

from __future__ import annotations

import ast
import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel, Field

from maslab.agents.lad import prompts as P
from maslab.agents.lad.search import split_list
from maslab.tool import Tool
from maslab.trace import current_recorder, get_logger

log = get_logger(__name__)

__all__ = ["PlanError", "PlanStep", "SearchGraph", "SearchNode", "WebSearcher", "parse_plan"]

MAX_ATTEMPTS = 3  # the reference client retries when the answer leaks planner code
Ask = Callable[[str, str, list[dict[str, Any]] | str, int], Awaitable[str]]  # (role, stage, messages, sample) -> text


class PlanError(ValueError):
    """Graph code that cannot be read."""


class PlanStep(BaseModel):
    """What one planner reply asks for."""

    root: str | None = None
    nodes: list[tuple[str, str]] = Field(default_factory=list)  # (name, sub-question), in order
    edges: list[tuple[str, str]] = Field(default_factory=list)
    response: bool = False
    has_code: bool = True


_FENCE = re.compile(r"```(?:python|py)?[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL)
_API = {"add_root_node": ("node_content", "node_name"), "add_node": ("node_name", "node_content"),
        "add_edge": ("start_node", "end_node"), "add_response_node": ("node_name",)}


def parse_plan(reply: str) -> PlanStep:
    """The graph calls in a planner reply's python block (or bare `graph.…` lines), read with `ast`."""
    blocks = _FENCE.findall(reply or "")
    code = blocks[0] if blocks else "\n".join(ln for ln in (reply or "").splitlines() if "graph." in ln)
    if not code.strip():
        return PlanStep(has_code=False)
    try:
        tree = ast.parse(code)
    except SyntaxError as e:
        raise PlanError(f"syntax error on line {e.lineno}: {e.msg}") from None
    calls = sorted((n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                    and n.func.attr in _API), key=lambda n: (n.lineno, n.col_offset))
    step = PlanStep()
    for call in calls:
        name = call.func.attr  # type: ignore[attr-defined]
        args = _literal_args(call, _API[name])
        if name == "add_root_node":
            step.root = str(args.get("node_content", ""))
        elif name == "add_node":
            if not args.get("node_name") or not args.get("node_content"):
                raise PlanError(f"line {call.lineno}: add_node needs node_name and node_content")
            step.nodes.append((str(args["node_name"]), str(args["node_content"])))
        elif name == "add_edge":
            if "start_node" in args and "end_node" in args:
                step.edges.append((str(args["start_node"]), str(args["end_node"])))
        else:
            step.response = True
    return step


def _literal_args(call: ast.Call, names: tuple[str, ...]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    try:
        for name, arg in zip(names, call.args, strict=False):
            values[name] = ast.literal_eval(arg)
        for kw in call.keywords:
            if kw.arg in names:
                values[kw.arg] = ast.literal_eval(kw.value)
    except ValueError:
        raise PlanError(f"line {call.lineno}: {call.func.attr} takes literal strings only") from None  # type: ignore[attr-defined]
    return values


class SearchNode(BaseModel):
    name: str
    question: str
    parents: list[str] = Field(default_factory=list)
    queries: list[str] = Field(default_factory=list)
    selected: list[str] = Field(default_factory=list)
    answer: str = ""
    error: str | None = None


class SearchGraph(BaseModel):
    """The search graph of one WebSearch run."""

    root: str
    nodes: dict[str, SearchNode] = Field(default_factory=dict)
    edges: list[tuple[str, str]] = Field(default_factory=list)
    turns: int = 0
    stopped: str = ""

    def add(self, step: PlanStep) -> list[SearchNode]:
        """The step's new nodes (names already used, or questions already asked, are skipped) and edges."""
        asked = {n.question.strip().lower() for n in self.nodes.values()}
        new = []
        for name, question in step.nodes:
            if name in self.nodes or name in ("root", "response") or question.strip().lower() in asked:
                continue
            node = SearchNode(name=name, question=question)
            self.nodes[name] = node
            asked.add(question.strip().lower())
            new.append(node)
        for a, b in step.edges:
            self.edges.append((a, b))
            if b in self.nodes and a in self.nodes and a not in self.nodes[b].parents:
                self.nodes[b].parents.append(a)
        return new

    def pairs(self) -> str:
        return "\n".join(f"Question: {n.question}\nAnswer: {n.answer}\n" for n in self.nodes.values())


class WebSearcher:
    """One WebSearch backend run (see the module docstring): a planner, searchers and a web's two tools."""

    def __init__(self, ask: Ask, search_tool: Tool, select_tool: Tool, *, lang: P.Lang, max_turns: int = 10,
                 topk: int = 6) -> None:
        self.ask, self.search_tool, self.select_tool = ask, search_tool, select_tool
        self.lang, self.max_turns, self.topk = lang, max_turns, topk

    async def search(self, question: str, index: int = 0) -> tuple[str, list[dict[str, Any]]]:
        """The answer to `question` and one record per attempt (graph, stop reason)."""
        attempts: list[dict[str, Any]] = []
        answer = ""
        for attempt in range(MAX_ATTEMPTS):
            answer, graph = await self._once(question, index * MAX_ATTEMPTS + attempt)
            attempts.append(graph.model_dump())
            if "```python" not in answer:
                break
            log.info("lad.websearch.code_leak", attempt=attempt + 1, question=question[:80])
        return answer, attempts

    async def _once(self, question: str, sample: int) -> tuple[str, SearchGraph]:
        lang = self.lang
        graph = SearchGraph(root=question)
        messages: list[dict[str, Any]] = [{"role": "system", "content": P.PLANNER[lang]},
                                          {"role": "user", "content": question}]
        for turn in range(1, self.max_turns + 1):
            graph.turns = turn
            reply = await self.ask("planner", "web_planner", list(messages), sample)
            messages.append({"role": "assistant", "content": reply})
            try:
                step = parse_plan(reply)
            except PlanError as e:
                messages.append({"role": "user", "content": P.PLANNER_ERROR[lang].format(error=e)})
                continue
            if not step.has_code:
                graph.stopped = "no_code"
                break
            new = graph.add(step)
            if new:
                await asyncio.gather(*(self._search_node(graph, node, sample) for node in new))
            if step.response:
                graph.stopped = "response"
                break
            results = "\n".join(f"## {n.name}\n{n.question}\n{n.answer or n.error or ''}" for n in new) or "(no new node)"
            messages.append({"role": "user", "content": P.PLANNER_RESULTS[lang].format(results=results)})
        else:
            graph.stopped = "turn_cap"
        if not graph.nodes:  # ours: a WebSearch answer always rests on retrieved pages
            node = SearchNode(name="root", question=question)
            graph.nodes["root"] = node
            await self._search_node(graph, node, sample)
        final = await self.ask("planner", "web_final",
                               [{"role": "user", "content": P.FINAL_RESPONSE[lang].format(question=question,
                                                                                          pairs=graph.pairs())}], sample)
        return final, graph

    async def _search_node(self, graph: SearchGraph, node: SearchNode, sample: int) -> None:
        lang = self.lang
        history = "".join(P.SEARCHER_HISTORY[lang].format(question=graph.nodes[p].question, answer=graph.nodes[p].answer)
                          for p in node.parents if p in graph.nodes)
        head = P.SEARCHER_HEAD[lang].format(topic=graph.root, question=node.question, history=history)
        reply = await self.ask("searcher", "web_queries", f"{head}\n{P.SEARCHER_QUERIES[lang]}", sample)
        node.queries = split_list(reply, 3) or [node.question]
        hits = await self._call(self.search_tool, {"queries": node.queries, "topk": self.topk}, node)
        listing = _hits_listing(hits) if isinstance(hits, list) else str(hits)
        reply = await self.ask("searcher", "web_select", f"{head}\n{P.SEARCHER_SELECT[lang].format(hits=listing)}", sample)
        ids = [str(h.get("id")) for h in hits] if isinstance(hits, list) else []
        node.selected = _picked_ids(reply, ids) or ids[:3]
        pages = await self._call(self.select_tool, {"ids": node.selected}, node) if node.selected else ""
        reply = await self.ask("searcher", "web_answer", f"{head}\n{P.SEARCHER_ANSWER[lang].format(pages=pages)}", sample)
        node.answer = reply

    async def _call(self, tool: Tool, arguments: dict[str, Any], node: SearchNode) -> Any:
        result = await tool.call(arguments)
        recorder = current_recorder()
        if recorder is not None:
            recorder.event("tool", agent="searcher", role="searcher", tool=tool.name, arguments=arguments,
                           result=result.as_text()[:4000], node_name=node.name)
        if not result.ok:
            node.error = f"{tool.name} failed: {result.error}"
            return result.as_text()
        if tool is self.search_tool:
            try:
                hits = json.loads(result.content)
            except ValueError:
                return result.content
            return [h for h in hits if isinstance(h, dict) and "id" in h] if isinstance(hits, list) else result.content
        return result.content


def _hits_listing(hits: list[dict[str, Any]]) -> str:
    return "\n".join(f"[{h.get('id')}] {h.get('title', '')}: {h.get('snippet', '')} ({h.get('url', '')})"
                     for h in hits) or "(no results)"


def _picked_ids(reply: str, ids: list[str]) -> list[str]:
    """The known ids a select reply names: its JSON list, else every known id it mentions, in order."""
    found = re.search(r"\[[^\[\]]*\]", reply or "")
    if found:
        try:
            listed = json.loads(found.group(0))
            picked = [str(x) for x in listed if str(x) in ids] if isinstance(listed, list) else []
            if picked:
                return list(dict.fromkeys(picked))[:3]
        except ValueError:
            pass
    mentioned = sorted((reply.find(i), i) for i in ids if i and i in (reply or ""))
    return [i for _, i in mentioned][:3]
