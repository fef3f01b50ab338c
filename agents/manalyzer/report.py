"""Stage 8, Reporter: `meta_analysis_report.md`, computed numbers first and LLM prose labelled as such.

The reference's reporter is asked for effect sizes, I², forest and funnel plots, sensitivity
analysis and GRADE, but nothing computes them. Here the report is assembled by maslab:

1. the computed statistics (`statistics_text`, quoted verbatim), a per-study table and the forest and
   funnel plots — computed by `maslab.tools.meta_analysis`, not by a model;
2. the data (the rows of `meta_analysis.csv`);
3. the pipeline record: papers found, reviewed and kept with their scores, the models per role,
   and every recorded failure counted by stage;
4. the analyst's exploratory figures (LLM-written code, run in the sandbox);
5. the `reporter` agent's discussion, under a heading that says it is LLM-written and unchecked;
   it is given the CSV, the computed statistics (and told to quote them), the figure paths and the
   paper titles. If its call fails the section says so (and the failure is counted).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from maslab.agents.manalyzer import prompts
from maslab.agents.manalyzer.analyse import AnalysisResult, StatisticsResult, statistics_text
from maslab.agents.manalyzer.contract import Failure
from maslab.agents.manalyzer.review import PaperScore
from maslab.errors import MaslabError
from maslab.method import RunContext
from maslab.tools.markdown_tables import cell_text

__all__ = ["NARRATIVE_HEADING", "STATISTICS_HEADING", "build_report", "write_narrative"]

STATISTICS_HEADING = "## 1. Computed statistics"
NARRATIVE_HEADING = "## 5. Discussion — written by the reporter LLM, not checked by maslab"


def _md_table(header: list[str], rows: list[list[Any]]) -> str:
    def cell(x: Any) -> str:
        return cell_text(x).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(x) for x in row) + " |" for row in rows]
    return "\n".join(lines)


async def write_narrative(ctx: RunContext[Any], *, field: str, topic: str, csv_text: str, stats: str,
                          figures: list[str], references: list[str]) -> tuple[str | None, list[Failure]]:
    reporter = ctx.agent("reporter", prompts.REPORT_SYSTEM.format(field=field))
    query = prompts.REPORT_QUERY.format(topic=topic, data=csv_text[:20_000] or "(no rows)", statistics=stats,
                                        figures="\n".join(figures) or "(none)",
                                        references="\n".join(references) or "(none)")
    try:
        return await ctx.ask(reporter, query), []
    except MaslabError as exc:
        return None, [Failure.of("report", "reporter narrative", exc)]


def build_report(*, topic: str, field: str, run_dir: str, found: dict[str, str], scores: dict[str, PaperScore],
                 selected: list[str], rows: list[dict[str, Any]], columns: list[str], stats: StatisticsResult,
                 analysis: AnalysisResult, failures: list[Failure], models: dict[str, str],
                 narrative: str | None, keep_top: int) -> str:
    out = [f"# Meta-analysis report: {topic}", "",
           f"Field: {field}. Produced by maslab's `manalyzer` system (after Manalyzer, arXiv 2505.20310). "
           f"Run directory: `{run_dir}`.", "", STATISTICS_HEADING, "",
           f"> {stats.computed_by}.", "", "```text", statistics_text(stats), "```", ""]
    a = stats.analysis
    if a is not None:
        body = []
        for s in a.studies:
            est, lo, hi = a.study_ci(s).display
            body.append([s.label, f"{est:.4f}", f"{lo:.4f} to {hi:.4f}", f"{s.weight_fixed:.1f}%",
                         f"{s.weight_random:.1f}%"])
        out += [_md_table(["Study", "Estimate", "95% CI", "Weight (FE)", "Weight (RE)"], body), ""]
    if stats.skipped_rows:
        out += [f"Rows not pooled: {len(stats.skipped_rows)} ("
                + "; ".join(f"row {r['row']}: {r['reason']}" for r in stats.skipped_rows[:10])
                + ("; …" if len(stats.skipped_rows) > 10 else "") + ")", ""]
    out += [f"![Figure 1: forest plot]({stats.plots.get('forest', 'forest_plot.png')})", "",
            f"![Figure 2: funnel plot]({stats.plots.get('funnel', 'funnel_plot.png')})", "",
            "## 2. Data", "",
            f"{len(rows)} rows from {len({r.get('Reference') for r in rows})} papers (`meta_analysis.csv`).", ""]
    if rows:
        out += [_md_table(columns, [[r.get(c) for c in columns] for r in rows[:100]]), ""]
    counts = Counter(f.stage for f in failures)
    out += ["## 3. Pipeline record", "",
            f"Papers found: {len(found)}; reviewed: {len(scores)}; kept: {len(selected)} (every paper scoring at "
            f"least the N-th best score, ties included; N = {keep_top}).", ""]
    if scores:
        out += [_md_table(["Paper", "Topic Relevance", "Feasibility", "Relative", "Final score", "Kept"],
                          [[s.title, s.topic_relevance, s.feasibility, s.relative, f"{s.final:.2f}",
                            "yes" if idx in selected else "no"] for idx, s in scores.items()]), ""]
    out += ["Models: " + ", ".join(f"{role} → {alias}" for role, alias in models.items()) + ".", "",
            f"Failures recorded: {len(failures)}" + (" (" + ", ".join(f"{k}: {v}" for k, v in counts.items()) + ")"
                                                    if counts else "") + ".", ""]
    if failures:
        out += [_md_table(["Stage", "Paper", "Step", "Error"], [[f.stage, f.paper, f.step, f.error[:200]]
                                                                for f in failures]), ""]
    out += ["## 4. Exploratory figures — code written by the analyst LLM, run in the sandbox", ""]
    if analysis.plots:
        out += [f"![{p.split('/')[-1].removesuffix('.png')}]({p})" for p in analysis.plots] + [""]
    else:
        out += [f"No figure ({analysis.reason or analysis.status}).", ""]
    out += [NARRATIVE_HEADING, "", narrative if narrative is not None else "(The reporter call failed; see failures.)",
            ""]
    return "\n".join(out)
