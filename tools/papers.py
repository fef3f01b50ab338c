"""Parsed papers and where they come from: the paper format, `PaperSource`, and an offline BM25 corpus.

**The parsed-paper format** (Manalyzer spec §1.2, what MinerU writes): one directory per paper with

    full.md               the paper as markdown (h1–h3 headings, paragraphs, ![](images/…) links)
    content_list.json     the paper as a list of blocks, in reading order:
                          {"type": "text" | "image" | "table" | "equation", "text", "text_level",
                           "img_path", "image_caption": [..], "image_footnote": [..],
                           "table_caption": [..], "table_footnote": [..], "table_body", "page_idx"}
                          (MinerU names it `<name>_content_list.json`; any `*content_list.json` is read)
    meta.json             optional: {"title", "doi", "year", "authors", "abstract"}
    images/…              the crops `img_path` points at

`table_body` is MinerU's HTML table, or a markdown table (the maslab fixtures); either is passed
to the models as is. `ParsedPaper.load(dir)` reads and validates one paper with errors naming
the file; `sections(markdown)` splits `full.md` into h1–h3 sections of paragraphs.

**`PaperSource`** is what the Manalyzer collector searches: `search(query, k)` → `PaperRecord`s,
`lookup_doi(doi)`, `fetch(record)` → `ParsedPaper`. `LocalCorpus(root)` is the offline source over
a directory of parsed papers: BM25 (bm25s, English stop words, no stemming) over title + full
text, fused by reciprocal rank (k = 60) with the cosine ranking of a TF-IDF + TruncatedSVD
embedding (scikit-learn; ours, `embedding=False` turns it off): `maslab.tools.retrieval.HybridIndex`.
`PaperSet` serves papers given directly (a benchmark task's papers). An online source — arXiv, Crossref or OpenAlex (`pyalex`)
— plugs in by implementing the protocol (its `fetch` must return a parsed paper, e.g. by running
a PDF parser such as MinerU); maslab ships none, and never fetches from Sci-Hub.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from maslab.errors import ConfigError
from maslab.tools.retrieval import HybridIndex, reciprocal_rank_fusion

__all__ = [
    "Block",
    "LocalCorpus",
    "PaperRecord",
    "PaperSet",
    "PaperSource",
    "ParsedPaper",
    "reciprocal_rank_fusion",
    "require",
    "sections",
]

class Block(BaseModel):
    """One entry of a content list (MinerU's fields; unknown fields are kept)."""

    model_config = ConfigDict(extra="allow")
    type: str
    text: str = ""
    text_level: int | None = None
    img_path: str = ""
    image_caption: list[str] = Field(default_factory=list)
    image_footnote: list[str] = Field(default_factory=list)
    table_caption: list[str] = Field(default_factory=list)
    table_footnote: list[str] = Field(default_factory=list)
    table_body: str = ""
    page_idx: int | None = None

    @property
    def caption(self) -> str:
        return " ".join(self.table_caption if self.type == "table" else self.image_caption).strip()

    @property
    def footnote(self) -> str:
        return " ".join(self.table_footnote if self.type == "table" else self.image_footnote).strip()


class PaperRecord(BaseModel):
    """What a search returns about one paper."""

    id: str
    title: str
    doi: str | None = None
    year: int | None = None
    abstract: str = ""
    source: str = ""
    path: str | None = None  # the parsed paper's directory, when it has one


class ParsedPaper(BaseModel):
    """One parsed paper: its record, `full.md` and content list (`root`: where `img_path`s resolve)."""

    record: PaperRecord
    markdown: str
    blocks: list[Block]
    root: str | None = None

    @classmethod
    def load(cls, directory: str | Path, *, source: str = "local") -> ParsedPaper:
        """Read a parsed-paper directory; `ConfigError` naming the file for anything malformed."""
        root = Path(directory)
        md = root / "full.md"
        if not md.is_file():
            raise ConfigError(f"{root}: not a parsed paper (no full.md)")
        lists = sorted(root.glob("*content_list.json"))
        if not lists:
            raise ConfigError(f"{root}: no content list (*content_list.json) beside full.md")
        blocks = _read_json(lists[0])
        if not isinstance(blocks, list):
            raise ConfigError(f"{lists[0]}: a content list must be a JSON list of blocks")
        parsed: list[Block] = []
        for i, raw in enumerate(blocks):
            try:
                parsed.append(Block.model_validate(raw))
            except ValidationError as e:
                problem = "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors())
                raise ConfigError(f"{lists[0]}: block {i}: {problem}") from None
        markdown = md.read_text(encoding="utf-8")
        meta = _read_json(root / "meta.json") if (root / "meta.json").is_file() else {}
        if not isinstance(meta, dict):
            raise ConfigError(f"{root / 'meta.json'}: must be a JSON object")
        title = str(meta.get("title") or _first_heading(markdown) or root.name)
        year = meta.get("year")
        record = PaperRecord(id=str(meta.get("id") or root.name), title=title, doi=meta.get("doi"),
                             year=int(year) if isinstance(year, int | str) and str(year).isdigit() else None,
                             abstract=str(meta.get("abstract") or ""), source=source, path=str(root))
        return cls(record=record, markdown=markdown, blocks=parsed, root=str(root))

    def image_path(self, block: Block) -> Path | None:
        """The crop of a table/image block, if it names one and the file exists."""
        if not block.img_path or self.root is None:
            return None
        path = Path(self.root) / block.img_path
        return path if path.is_file() else None


def require(module: str) -> Any:
    """Import an optional dependency of the Manalyzer tools, or say which extra installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(f"the Python package {module!r} is missing: pip install 'maslab[manalyzer]'") from None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}:{e.lineno}:{e.colno}: invalid JSON: {e.msg}") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e}") from None


def _first_heading(markdown: str) -> str | None:
    m = re.search(r"^#\s+(.+?)\s*$", markdown, re.MULTILINE)
    return m.group(1) if m else None


def sections(markdown: str, *, min_chars: int = 100) -> dict[str, list[str]]:
    """`full.md` as {h1–h3 heading: paragraphs} in order (text before the first heading: "text").

    As the reference reader does: a paragraph's image links become paragraphs of their own (the
    image path), headings deeper than h3 do not open a section, and — the reference's cleaning —
    paragraphs of at most `min_chars` characters are dropped unless they reference an image.
    Repeated headings get a numeric suffix.
    """
    tokens = require("markdown_it").MarkdownIt("commonmark").parse(markdown)
    out: dict[str, list[str]] = {}
    current = "text"
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.type == "heading_open" and tok.tag in ("h1", "h2", "h3"):
            title = tokens[i + 1].content.strip() if i + 1 < len(tokens) else ""
            name, n = title or "untitled", 2
            while name in out:
                name, n = f"{title} ({n})", n + 1
            out[name] = []
            current = name
            i += 3
            continue
        if tok.type == "inline" and i > 0 and tokens[i - 1].type == "paragraph_open":
            images = [c.attrGet("src") for c in tok.children or [] if c.type == "image"]
            text = "".join(c.content if c.type in ("text", "code_inline") else " "
                           for c in tok.children or [] if c.type in ("text", "code_inline", "softbreak", "hardbreak")
                           ).strip()
            bucket = out.setdefault(current, [])
            bucket.extend(str(src) for src in images if src)
            if len(text) > min_chars:
                bucket.append(text)
        i += 1
    return out


# ---------------------------------------------------------------------------------------------
# sources


@runtime_checkable
class PaperSource(Protocol):
    """Somewhere papers can be searched and fetched as parsed papers (offline corpus, arXiv, OpenAlex …)."""

    name: str

    def search(self, query: str, k: int) -> list[PaperRecord]: ...

    def lookup_doi(self, doi: str) -> PaperRecord | None: ...

    def fetch(self, record: PaperRecord) -> ParsedPaper: ...


class PaperSet:
    """A fixed set of parsed papers (e.g. a benchmark task's): every search returns them all, in order."""

    name = "given"

    def __init__(self, papers: Sequence[ParsedPaper]) -> None:
        self.papers = list(papers)
        self._by_id = {p.record.id: p for p in self.papers}

    def search(self, query: str, k: int) -> list[PaperRecord]:
        return [p.record for p in self.papers]

    def lookup_doi(self, doi: str) -> PaperRecord | None:
        return next((p.record for p in self.papers if p.record.doi and p.record.doi.lower() == doi.lower()), None)

    def fetch(self, record: PaperRecord) -> ParsedPaper:
        return self._by_id[record.id]


class LocalCorpus:
    """An offline corpus: a directory whose sub-directories are parsed papers, searched by BM25 (+ RRF)."""

    name = "local"

    def __init__(self, root: str | Path, *, embedding: bool = True, svd_dims: int = 64) -> None:
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise ConfigError(f"paper corpus {self.root}: no such directory")
        dirs = sorted(d for d in self.root.iterdir() if d.is_dir() and (d / "full.md").is_file())
        if not dirs:
            raise ConfigError(f"paper corpus {self.root}: no parsed papers (sub-directories with full.md)")
        self.papers = [ParsedPaper.load(d, source=f"local:{self.root}") for d in dirs]
        self._by_id = {p.record.id: p for p in self.papers}
        texts = [f"{p.record.title}\n{p.record.abstract}\n{p.markdown}" for p in self.papers]
        self._index = HybridIndex(texts, embedding=embedding, svd_dims=svd_dims)

    def __len__(self) -> int:
        return len(self.papers)

    def rank(self, query: str) -> list[int]:
        """Indices of the papers sharing anything with `query`, best first (BM25, fused with the embedding)."""
        return self._index.rank(query)

    def search(self, query: str, k: int) -> list[PaperRecord]:
        return [self.papers[i].record for i in self.rank(query)[:k]]

    def lookup_doi(self, doi: str) -> PaperRecord | None:
        key = doi.strip().lower()
        return next((p.record for p in self.papers if p.record.doi and p.record.doi.lower() == key), None)

    def fetch(self, record: PaperRecord) -> ParsedPaper:
        try:
            return self._by_id[record.id]
        except KeyError:
            raise ConfigError(f"paper {record.id!r} is not in the corpus {self.root}") from None
