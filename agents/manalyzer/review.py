"""Stage 3, PaperReviewer: the hybrid (independent + comparative) review and the top-N cut-off.

1. Each paper's `full.md` is split into h1–h3 sections (`maslab.tools.papers.sections`: short
   paragraphs of ≤ 100 characters dropped unless they are images); sections about references or
   acknowledgements are skipped, image paragraphs are left out of the text.
2. Independent review, one call per paper (all concurrent): Topic Relevance and Feasibility,
   integers 1–10 (`IndependentScores`, keys matched fuzzily). Budget: abstract ≤ 10,000 and
   introduction ≤ 10,000 characters, every other section ≤ 50,000 / (number of sections).
3. Comparative review, 20 papers per call: each cut to its first 3 sections (abstract ≤ 5,000,
   introduction ≤ 1,000, others ≤ 1,000 characters); one relative score in [0, 1] per paper.
4. Score = (Topic Relevance + Feasibility) × relative score.
5. `select_papers`: keep every paper scoring at least the N-th best score, ties included (all
   of them when there are at most N).

A failed review (a `ContractError` or a failed call) is recorded; the paper's missing part counts
0, so its score is 0 (ours: the reference raises and stops the run). The optional per-section value
scoring with a knapsack (off in the reference) is not implemented.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from maslab.agents.manalyzer import prompts
from maslab.agents.manalyzer.contract import Failure, ask_checked, dict_of, list_of
from maslab.errors import MaslabError
from maslab.graph import gather
from maslab.method import RunContext
from maslab.tools.papers import ParsedPaper, sections

__all__ = ["IndependentScores", "PaperScore", "paper_text", "review_papers", "select_papers"]

_IMAGE = re.compile(r"\.(?:jpe?g|png|gif|webp|bmp)$", re.IGNORECASE)
_SKIP = ("reference", "acknowledg")


class IndependentScores(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    topic_relevance: int = Field(alias="Topic Relevance", ge=1, le=10)
    feasibility: int = Field(alias="Feasibility", ge=1, le=10)


class PaperScore(BaseModel):
    """A paper's review: the independent scores, the relative score and the final score."""

    title: str
    topic_relevance: int | None = None
    feasibility: int | None = None
    relative: float | None = None

    @property
    def final(self) -> float:
        return ((self.topic_relevance or 0) + (self.feasibility or 0)) * (self.relative or 0.0)

    def as_json(self) -> dict[str, Any]:
        return {"title": self.title, "Topic Relevance": self.topic_relevance, "Feasibility": self.feasibility,
                "Relative Score": self.relative, "Final Score": self.final}


def paper_text(paper: ParsedPaper, *, abstract_max: int, intro_max: int, total_max: int,
               max_sections: int | None = None) -> str:
    """The paper's sections as text under the reference's budgets (see the module docstring)."""
    parts = sections(paper.markdown)
    n = len(parts) if max_sections is None else max_sections
    per_section = total_max // max(1, n)
    out = []
    for i, (name, paragraphs) in enumerate(parts.items()):
        if i >= n:
            break
        if any(word in name.lower() for word in _SKIP):
            continue
        text = "\n".join(p for p in paragraphs if not _IMAGE.search(p))
        key = name.replace(" ", "").lower()
        limit = abstract_max if "abstract" in key else intro_max if "intro" in key else per_section
        out.append(f"## {name}\n{text[:limit]}\n")
    return "\n".join(out)


async def review_papers(ctx: RunContext[Any], papers: dict[str, ParsedPaper], *, field: str, topic: str,
                        batch_size: int, retries: int) -> tuple[dict[str, PaperScore], list[Failure]]:
    """Steps 2–4 for every paper; returns the scores and the failures."""
    reviewer = ctx.agent("reviewer", prompts.INDEPENDENT_SYSTEM.format(field=field))
    comparer = ctx.agent("reviewer", prompts.COMPARATIVE_SYSTEM.format(field=field), name="reviewer_comparative")
    failures: list[Failure] = []
    scores = {idx: PaperScore(title=p.record.title) for idx, p in papers.items()}

    async def independent(idx: str, paper: ParsedPaper) -> None:
        text = paper_text(paper, abstract_max=10_000, intro_max=10_000, total_max=50_000)
        try:
            result = await ask_checked(ctx, reviewer, prompts.INDEPENDENT_QUERY.format(topic=topic, paper=text),
                                       dict_of(IndependentScores), retries=retries)
        except MaslabError as exc:
            failures.append(Failure.of("review", "independent review", exc, paper=idx))
            return
        scores[idx].topic_relevance, scores[idx].feasibility = result.topic_relevance, result.feasibility

    async def comparative(batch: list[str]) -> None:
        listing = "".join(
            f"<paper {j + 1}>\n"
            f"{paper_text(papers[idx], abstract_max=5_000, intro_max=1_000, total_max=3_000, max_sections=3)}"
            f"</paper {j + 1}>\n\n" for j, idx in enumerate(batch))
        try:
            rel = await ask_checked(ctx, comparer, prompts.COMPARATIVE_QUERY.format(topic=topic, papers=listing,
                                                                                    n=len(batch)),
                                    list_of(float, length=len(batch), lo=0.0, hi=1.0), retries=retries)
        except MaslabError as exc:
            failures.extend(Failure.of("review", "comparative review", exc, paper=idx) for idx in batch)
            return
        for idx, r in zip(batch, rel, strict=True):
            scores[idx].relative = r

    ids = list(papers)
    await gather([*(independent(idx, papers[idx]) for idx in ids),
                  *(comparative(ids[i:i + batch_size]) for i in range(0, len(ids), batch_size))])
    return scores, failures


def select_papers(final_scores: dict[str, float], n: int) -> list[str]:
    """Step 5: the ids scoring at least the n-th best score (ties kept), in their original order."""
    if not final_scores:
        return []
    ranked = sorted(final_scores.values(), reverse=True)
    threshold = ranked[min(n, len(ranked)) - 1]
    return [idx for idx, s in final_scores.items() if s >= threshold]
