"""A local stand-in for web search: a folder of markdown documents behind a search/select interface.

LAD's WebSearch (arXiv 2505.17019, MindSearch-derived) searches the web with `search(query=[...])`
and reads pages with `select(index=[...])`. Offline, the web is a folder of markdown documents,
each with a YAML front matter::

    ---
    title: Blaze orange
    url: local://lad-corpus/blaze-orange     # optional; default local://<folder>/<id>
    lang: en                                 # optional
    kind: reference                          # optional: reference | distractor (shown to nobody)
    ---
    Blaze orange is the colour hunters wear ...

The interface (`WebSearch`), which a real engine implements the same way:

* `search(queries, topk=6) -> [{"id", "title", "snippet", "url"}]` — each query ranked by BM25 (bm25s)
  fused with an LSA embedding by reciprocal rank (`maslab.tools.retrieval.HybridIndex`, multilingual
  tokens: English words, Chinese as character bigrams); each query's `topk` best are fused again by
  reciprocal rank and the `topk` best documents returned, each with the paragraph that shares most
  tokens with the queries as its snippet;
* `select(ids) -> text` — the pages, each headed by its id, title and url.

`LocalWeb(root).tools()` gives both as maslab tools (`web_search`, `web_select`) bound to that folder;
the `maslab.tools` entry points `web_search` / `web_select` are the same tools over the folder named
by ``$MASLAB_WEB_CORPUS``. A real engine plugs in as two registered tools with these argument names
and result shapes (`maslab.tools` entry points), named in the LAD system's `web_tools` parameter.
"""

from __future__ import annotations

import json
import os
import re
import threading
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import yaml
from pydantic import BaseModel

from maslab.errors import ConfigError
from maslab.tool import Tool, ToolFailure, tool
from maslab.tools.retrieval import HybridIndex, multilingual_tokens, reciprocal_rank_fusion

__all__ = ["Document", "LocalWeb", "SearchHit", "WebSearch", "web_search", "web_select"]

DEFAULT_TOPK = 6  # MindSearch's searcher reads the top 6 results of each search


class SearchHit(BaseModel):
    """One search result, as every web backend returns it."""

    id: str
    title: str
    snippet: str
    url: str


class Document(BaseModel):
    """One page of the local web."""

    id: str
    title: str
    url: str
    text: str
    lang: str = ""
    kind: str = "reference"
    path: str = ""

    @property
    def paragraphs(self) -> list[str]:
        return [p.strip() for p in re.split(r"\n\s*\n", self.text) if p.strip()]


@runtime_checkable
class WebSearch(Protocol):
    """What LAD's searcher needs of a web: batch search and page selection."""

    def search(self, queries: list[str], topk: int = DEFAULT_TOPK) -> list[dict[str, str]]: ...

    def select(self, ids: list[str]) -> str: ...


_FRONT = re.compile(r"\A---\s*\n(.*?)\n---\s*\n?(.*)\Z", re.DOTALL)


def _load_document(path: Path, root: Path) -> Document:
    raw = path.read_text(encoding="utf-8")
    m = _FRONT.match(raw)
    if not m:
        raise ConfigError(f"{path}: a local-web document starts with a YAML front matter (---, title: …, ---)")
    try:
        meta = yaml.safe_load(m.group(1)) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: invalid front matter: {e}") from None
    if not isinstance(meta, dict) or not str(meta.get("title") or "").strip():
        raise ConfigError(f"{path}: the front matter needs a `title`")
    body = m.group(2).strip()
    if not body:
        raise ConfigError(f"{path}: the document has no text")
    doc_id = str(meta.get("id") or path.stem)
    return Document(id=doc_id, title=str(meta["title"]).strip(), url=str(meta.get("url") or f"local://{root.name}/{doc_id}"),
                    text=body, lang=str(meta.get("lang") or ""), kind=str(meta.get("kind") or "reference"),
                    path=str(path))


class LocalWeb:
    """The local web over a folder of markdown documents (see the module docstring)."""

    def __init__(self, root: str | Path, *, embedding: bool = True) -> None:
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise ConfigError(f"local web {self.root}: no such folder")
        files = sorted(p for p in self.root.glob("*.md") if p.name.lower() != "readme.md")
        if not files:
            raise ConfigError(f"local web {self.root}: no markdown documents (*.md besides README.md)")
        self.documents = [_load_document(p, self.root) for p in files]
        seen: dict[str, str] = {}
        for d in self.documents:
            if d.id in seen:
                raise ConfigError(f"local web {self.root}: id {d.id!r} used by {seen[d.id]} and {d.path}")
            seen[d.id] = d.path
        self._by_id = {d.id: d for d in self.documents}
        self._index = HybridIndex([f"{d.title}\n{d.text}" for d in self.documents], tokenizer=multilingual_tokens,
                                  embedding=embedding, extra="lad")

    def __len__(self) -> int:
        return len(self.documents)

    def rank(self, query: str) -> list[str]:
        """Ids of the documents related to one query, best first."""
        return [self.documents[i].id for i in self._index.rank(query)]

    def search(self, queries: list[str] | str, topk: int = DEFAULT_TOPK) -> list[dict[str, str]]:
        """The `topk` documents best matching the queries (their rankings fused), as search hits."""
        queries = [queries] if isinstance(queries, str) else [q for q in queries if q and q.strip()]
        rankings = [self._index.rank(q)[:max(0, topk)] for q in queries]  # each query's own top results
        order = reciprocal_rank_fusion(rankings) if len(rankings) > 1 else (rankings[0] if rankings else [])
        tokens = {t for q in queries for t in multilingual_tokens(q)}
        return [SearchHit(id=d.id, title=d.title, url=d.url, snippet=_snippet(d, tokens)).model_dump()
                for d in (self.documents[i] for i in order[:max(0, topk)])]

    def select(self, ids: list[str] | str) -> str:
        """The pages with these ids, each headed by id, title and url; unknown ids are named."""
        ids = [ids] if isinstance(ids, str) else [str(i) for i in ids]
        pages, unknown = [], []
        for doc_id in dict.fromkeys(ids):
            doc = self._by_id.get(doc_id)
            if doc is None:
                unknown.append(doc_id)
            else:
                pages.append(f"## [[{doc.id}]] {doc.title}\n{doc.url}\n\n{doc.text}")
        if unknown:
            pages.append(f"(no page with id {', '.join(repr(u) for u in unknown)})")
        return "\n\n".join(pages)

    def tools(self) -> tuple[Tool, Tool]:
        """`web_search` and `web_select` as maslab tools bound to this folder."""
        return _search_tool(lambda: self), _select_tool(lambda: self)


def _snippet(doc: Document, tokens: set[str], limit: int = 240) -> str:
    paragraphs = doc.paragraphs or [doc.text]
    best = max(paragraphs, key=lambda p: (len(tokens & set(multilingual_tokens(p))), -paragraphs.index(p)))
    text = " ".join(best.split())
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def _search_tool(web: Any) -> Tool:
    @tool(name="web_search")
    def search(queries: list[str], topk: int = DEFAULT_TOPK) -> str:
        """Search the web; the results list each page's id, title, snippet and url.

        Args:
            queries: One or more search queries, searched together.
            topk: How many results to return (at most 20).
        """
        return json.dumps(web().search(queries, max(1, min(int(topk), 20))), ensure_ascii=False)

    return search


def _select_tool(web: Any) -> Tool:
    @tool(name="web_select")
    def select(ids: list[str]) -> str:
        """Read the pages with these ids (from the search results).

        Args:
            ids: The ids of the pages to read.
        """
        return web().select(ids)

    return select


_env_web: dict[str, LocalWeb] = {}
_env_lock = threading.Lock()


def _web_from_env() -> LocalWeb:
    root = os.environ.get("MASLAB_WEB_CORPUS")
    if not root:
        raise ToolFailure("no web is configured: set MASLAB_WEB_CORPUS to a folder of markdown documents")
    with _env_lock:
        if root not in _env_web:
            _env_web[root] = LocalWeb(root)
        return _env_web[root]


# the `maslab.tools` entry points: the local web named by $MASLAB_WEB_CORPUS
web_search = _search_tool(_web_from_env)
web_select = _select_tool(_web_from_env)
