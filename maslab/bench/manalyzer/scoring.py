"""The `manalyzer` scorer: a paper's extractions against its gold entry — hit counts per level, cell-aligned hits.

What counts as the paper's extractions:

- a `manalyzer` solution (``solution.metadata["manalyzer"]``): the integrated tables it extracted
  from the task's paper (``extractions[paper_idx]``, table and text runs joined), and for the
  cell-aligned variant its merged rows (``tables[paper_idx]``);
- any other solution (a baseline's one reply): the reply cut from its first to its last ``|``
  (the reference baseline's cut), and the rows of its first pipe table.

The score's value is all hits over all gold strings of the paper (levels 1–3 together); `detail`
holds the per-level counts and the cell-aligned counts, which `maslab manalyzer hitrate RUN_DIR`
sums per field × level over a sweep (the reference's micro-average).
"""

from __future__ import annotations

from typing import Any

from maslab.bench.manalyzer.metrics import LEVELS, GoldPaper, cell_aligned, hit_counts
from maslab.bench.scorers import Score, Scorer, register_scorer
from maslab.task import Solution, Task
from maslab.tools.markdown_tables import parse_table

__all__ = ["ManalyzerScorer", "extracted_of"]


def extracted_of(task: Task, solution: Solution) -> tuple[str, list[dict[str, Any]], str]:
    """(extraction text, extracted rows, which) of `solution` for the task's paper."""
    idx = str(task.metadata["paper_idx"])
    meta = solution.metadata.get("manalyzer")
    if isinstance(meta, dict) and "extractions" in meta:
        return str(meta["extractions"].get(idx, "")), list(meta.get("tables", {}).get(idx, [])), "manalyzer"
    text = solution.answer
    start, end = text.find("|"), text.rfind("|")
    cut = text[start:end + 1].strip() if start != -1 else "None"
    table = parse_table(cut)
    rows = [dict(zip(table.header, r, strict=True)) for r in table.rows]
    return cut, rows, "reply"


@register_scorer("manalyzer")
class ManalyzerScorer(Scorer):
    needs_reference = False

    async def score_solution(self, task: Task, solution: Solution) -> Score:
        gold = GoldPaper.model_validate(task.metadata["gold"])
        text, rows, which = extracted_of(task, solution)
        levels = hit_counts(text, gold)
        hits = sum(levels[lv]["hit"] for lv in LEVELS)
        total = sum(levels[lv]["total"] for lv in LEVELS)
        aligned = cell_aligned(rows, gold.content, task.metadata.get("keys") or [])
        return Score(value=hits / total if total else 0.0, correct=total > 0 and hits == total,
                     extracted=text[:2000], detail={"field": gold.field, "levels": levels, "cell_aligned": aligned,
                                                     "read_from": which})
