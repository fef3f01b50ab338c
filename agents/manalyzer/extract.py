"""Stages 4 and 5: TableProcessor (table and figure crops → markdown or text) and DataExtractorWithChecker.

**TableProcessor** (`convert_paper`). For every table or image block of a selected paper's content
list: its caption, footnote and context — the nearest text block of more than 10 characters on
each side — go with the crop to the `table_processor` agent, when that role is assigned a (vision)
alias, as an image content part; a reply containing "markdown" is a table, any other reply joins
the paper's text. Without a vision alias (or without the crop file) the fixture's own content is
used instead and the trace says so (event ``manalyzer_convert_fallback``): a table block with a
`table_body` becomes that markdown table (caption, body, footnote); anything else contributes
its caption and footnote as text.

**DataExtractorWithChecker** (`extract_paper`), once over the paper's converted tables and once
over its text sections (a section qualifies with ≥ 20 characters and ≥ 2 pairs of adjacent digits;
the paper's non-table conversions form one more section, "images"):

1. Level 1 — the parts, numbered between start/end markers, are scored in [0, 1] by the
   extractor, told to score above 0.5 when a part holds any relevant data; parts scoring ≥
   `first_level_threshold` (0.5) are kept. No part kept → no extraction (not a failure).
2. Level 2 + self-proving — one markdown table in the template's columns holding every relevant
   number, followed by the source of each number; `extract_n` (5) samples at
   `extract_temperature` (0.9), each its own request (`sample_index`); the longest markdown block
   is kept. Samples without a table are discarded; none with one is a failure.
3. Checker — Data Accuracy, Semantic Consistency, Data Completeness and Overall Score (1–10) plus a
   suggestion. Overall < `check_threshold` (6) → re-extract with the previous table and the
   suggestion, at temperature 0, one sample. At most `max_check_num` (2) checks; the last
   re-extraction is not checked. A failed check is recorded and the loop moves on (as the
   reference does); a failed re-extraction keeps the previous table.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from maslab.agents.manalyzer import prompts
from maslab.agents.manalyzer.contract import Failure, ReplyError, ask_checked, dict_of, list_of
from maslab.errors import MaslabError
from maslab.graph import gather
from maslab.messages import ImagePart, Message, TextPart
from maslab.method import RunContext
from maslab.tools.markdown_tables import markdown_block
from maslab.tools.papers import Block, ParsedPaper, sections
from maslab.trace import current_recorder

__all__ = ["CheckScores", "Converted", "Extraction", "convert_paper", "extract_paper", "text_parts"]

Kind = Literal["table", "section"]


# ---------------------------------------------------------------------------------------------
# stage 4: TableProcessor


class Converted(BaseModel):
    """One table or image block of a paper after conversion."""

    block: int  # index in the content list
    in_type: str  # "table" | "chart"
    out_type: Literal["markdown", "text"]
    content: str
    via: Literal["vision", "fixture"]


def _context(blocks: list[Block], i: int) -> str:
    before = next((b.text for b in reversed(blocks[:i]) if b.type == "text" and len(b.text) > 10), "")
    after = next((b.text for b in blocks[i + 1:] if b.type == "text" and len(b.text) > 10), "")
    return "\n".join(t for t in (before, after) if t)


def _fixture_conversion(i: int, block: Block) -> Converted | None:
    in_type = "table" if block.type == "table" else "chart"
    if block.type == "table" and block.table_body.strip():
        body = "\n".join(t for t in (block.caption, block.table_body.strip(), block.footnote) if t)
        return Converted(block=i, in_type=in_type, out_type="markdown", content=f"```markdown\n{body}\n```",
                         via="fixture")
    text = " ".join(t for t in (block.caption, block.footnote) if t)
    return Converted(block=i, in_type=in_type, out_type="text", content=text, via="fixture") if text else None


async def convert_paper(ctx: RunContext[Any], idx: str, paper: ParsedPaper, *, field: str, vision: bool
                        ) -> tuple[list[Converted], list[Failure]]:
    """Stage 4 for one paper: its table/image blocks converted (see the module docstring)."""
    failures: list[Failure] = []
    recorder = current_recorder()
    todo = [(i, b) for i, b in enumerate(paper.blocks) if b.type in ("table", "image")]

    async def convert(i: int, block: Block) -> Converted | None:
        crop = paper.image_path(block)
        if vision and crop is not None:
            kind = "table" if block.type == "table" else "chart"
            system = (prompts.CONVERT_TABLE_SYSTEM if kind == "table" else prompts.CONVERT_CHART_SYSTEM).format(
                field=field)
            agent = ctx.agent("table_processor", system)
            context = _context(paper.blocks, i)
            query = prompts.CONVERT_QUERY.format(
                kind=kind, caption=f"\nCaption: {block.caption}" if block.caption else "",
                footnote=f"\nFootnote: {block.footnote}" if block.footnote else "",
                context=f"\nText around it:\n{context}" if context else "")
            try:
                reply = await ctx.ask(agent, [Message.user([TextPart(text=query), ImagePart(path=str(crop))])])
            except MaslabError as exc:
                failures.append(Failure.of("convert", f"{kind} {i} conversion", exc, paper=idx))
                return None
            return Converted(block=i, in_type=kind, out_type="markdown" if "markdown" in reply else "text",
                             content=reply, via="vision")
        if recorder is not None:
            recorder.event("manalyzer_convert_fallback", paper=idx, block=i,
                           reason="no vision alias" if not vision else "no crop file",
                           used="table_body" if block.type == "table" and block.table_body.strip() else "caption")
        return _fixture_conversion(i, block)

    results = await gather(convert(i, b) for i, b in todo)
    return [r for r in results if r is not None], failures


# ---------------------------------------------------------------------------------------------
# stage 5: parts


def _digit_pairs(text: str) -> int:
    return sum(1 for a, b in zip(text, text[1:], strict=False) if a.isdigit() and b.isdigit())


_IMAGE = re.compile(r"\.(?:jpe?g|png|gif|webp|bmp)$", re.IGNORECASE)


def text_parts(paper: ParsedPaper, converted: list[Converted]) -> list[str]:
    """The paper's text sections (plus the non-table conversions as section "images") that qualify."""
    parts = {name: [p for p in paras if not _IMAGE.search(p)] for name, paras in sections(paper.markdown).items()}
    parts["images"] = [c.content for c in converted if c.out_type == "text"]
    texts = [f"{name}:\n" + "\n".join(paras) for name, paras in parts.items()]
    return [t for t in texts if len(t) >= 20 and _digit_pairs(t) >= 2]


def table_parts(converted: list[Converted]) -> list[str]:
    return [c.content for c in converted if c.out_type == "markdown"]


def number_parts(parts: list[str], kind: Kind) -> str:
    return "".join(f"[Start of {kind} {i + 1}]\n{p}\n[End of {kind} {i + 1}]\n\n" for i, p in enumerate(parts))


# ---------------------------------------------------------------------------------------------
# stage 5: extraction with checker


class CheckScores(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    accuracy: int = Field(alias="Data Accuracy", ge=1, le=10)
    consistency: int = Field(alias="Semantic Consistency", ge=1, le=10)
    completeness: int = Field(alias="Data Completeness", ge=1, le=10)
    overall: int = Field(alias="Overall Score", ge=1, le=10)
    suggestion: str = Field(alias="Suggestion")


class Extraction(BaseModel):
    """One extraction run (over a paper's tables or its sections) and how it went."""

    kind: Kind
    parts_total: int
    level1_scores: list[float] = Field(default_factory=list)
    parts_kept: list[int] = Field(default_factory=list)  # 1-based numbers of the kept parts
    sample_lengths: list[int] = Field(default_factory=list)  # -1: a sample without a table
    integrated_table: str = ""
    explanation: str = ""
    checks: list[dict[str, Any]] = Field(default_factory=list)
    re_extractions: int = 0


def _table_of(reply: str) -> tuple[str, str]:
    block = markdown_block(reply)
    if block is None:
        raise ReplyError("the reply holds no markdown table")
    return block.table, block.explanation


async def extract_kind(ctx: RunContext[Any], idx: str, parts: list[str], kind: Kind, *, field: str, topic: str,
                       template: str, cfg: Any) -> tuple[Extraction | None, list[Failure]]:
    """Steps 1–3 over one paper's `parts` of one kind; None when nothing was extracted."""
    failures: list[Failure] = []
    record = Extraction(kind=kind, parts_total=len(parts))
    if not parts:
        return None, failures
    extractor_l1 = ctx.agent("extractor", prompts.LEVEL1_SYSTEM.format(field=field, kind=kind),
                             name="extractor_level1")
    extractor = ctx.agent("extractor", prompts.LEVEL2_SYSTEM.format(field=field, kind=kind))
    checker = ctx.agent("checker", prompts.CHECK_SYSTEM.format(field=field))

    # 1. level 1
    try:
        scores = await ask_checked(ctx, extractor_l1, prompts.LEVEL1_QUERY.format(
            topic=topic, parts=number_parts(parts, kind), n=len(parts), kind=kind),
            list_of(float, length=len(parts), lo=0.0, hi=1.0), retries=cfg.contract_retries)
    except MaslabError as exc:
        failures.append(Failure.of("extract", f"level 1 ({kind}s)", exc, paper=idx))
        return None, failures
    record.level1_scores = scores
    kept = [i for i, s in enumerate(scores) if s >= cfg.first_level_threshold]
    record.parts_kept = [i + 1 for i in kept]
    if not kept:
        return None, failures
    query = prompts.LEVEL2_QUERY.format(topic=topic, template=template.strip("\n"),
                                        parts=number_parts([parts[i] for i in kept], kind), kind=kind)

    # 2. level 2, best of n
    async def sample(j: int) -> tuple[str, str] | None:
        try:
            reply = await ctx.ask(extractor, query, sample_index=j, temperature=cfg.extract_temperature)
        except MaslabError as exc:
            failures.append(Failure.of("extract", f"level 2 sample {j + 1} ({kind}s)", exc, paper=idx))
            return None
        try:
            return _table_of(reply)
        except ReplyError:
            return None

    samples = await gather(sample(j) for j in range(cfg.extract_n))
    record.sample_lengths = [len(s[0]) if s else -1 for s in samples]
    valid = [s for s in samples if s is not None]
    if not valid:
        failures.append(Failure(stage="extract", paper=idx, step=f"level 2 ({kind}s)",
                                error=f"ContractError: none of the {cfg.extract_n} samples holds a markdown table"))
        return None, failures
    table, explanation = max(valid, key=lambda s: len(s[0]))  # the first of the longest

    # 3. checker loop
    for check in range(cfg.max_check_num):
        try:
            verdict = await ask_checked(ctx, checker, prompts.CHECK_QUERY.format(
                task=query, table=table, explanation=explanation), dict_of(CheckScores), retries=cfg.contract_retries)
        except MaslabError as exc:
            failures.append(Failure.of("extract", f"check {check + 1} ({kind}s)", exc, paper=idx))
            continue
        accepted = verdict.overall >= cfg.check_threshold
        record.checks.append({**verdict.model_dump(by_alias=True), "Decision": "accept" if accepted else "reject"})
        if accepted:
            break
        revise = query + prompts.REVISE_QUERY.format(previous=table, suggestion=verdict.suggestion)
        try:
            table, explanation = await ask_checked(ctx, extractor, revise, _table_of, retries=cfg.contract_retries,
                                                   temperature=0.0)
            record.re_extractions += 1
        except MaslabError as exc:
            failures.append(Failure.of("extract", f"re-extraction {check + 1} ({kind}s)", exc, paper=idx))
    record.integrated_table, record.explanation = table, explanation
    return record, failures


async def extract_paper(ctx: RunContext[Any], idx: str, paper: ParsedPaper, converted: list[Converted], *,
                        field: str, topic: str, template: str, cfg: Any
                        ) -> tuple[dict[str, Extraction | None], list[Failure]]:
    """Stage 5 for one paper: the extraction over its tables and over its text sections."""
    (tables, f1), (text, f2) = await gather([
        extract_kind(ctx, idx, table_parts(converted), "table", field=field, topic=topic, template=template, cfg=cfg),
        extract_kind(ctx, idx, text_parts(paper, converted), "section", field=field, topic=topic, template=template,
                     cfg=cfg)])
    return {"table": tables, "text": text}, f1 + f2
