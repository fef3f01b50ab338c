"""The run directory: one file (or a few) per stage, so a run can be inspected and resumed from a stage.

    0_paper_info.json            collect   papers found (by keyword group, title, DOI, or given)
    0_keywords.json              collect   the keyword groups the collector proposed
    1_content_list_info.json     parse     per paper: title and its parsed copy, 1_parsed/<id>.json
    2_paper_score.json           review    Topic Relevance, Feasibility, Relative Score, Final Score
    3_selected_paper.json        select    the papers kept (score ≥ the N-th best)
    4_converted_paper.json       convert   tables/figures as markdown or text, and how (vision, fixture)
    5_integrated_table_info.json extract   per paper and kind: level-1 scores, samples, checks, table
    meta_analysis.csv            merge     the merged, normalised table (template columns + Reference)
    6_merge.json                 merge     column mapping, normalisation, the paper of every row
    statistics.json              statistics  effect sizes and pooled estimates (computed, not LLM)
    forest_plot.png, funnel_plot.png
    7_analysis.json              analyse   the analyst's code attempts and errors; visualization/*.png
    meta_analysis_report.md      report
    log/failures.json                      every recorded failure, by stage

`from_stage: S` (with `run_dir`) reads the files of the stages before S and recomputes S and
everything after it; a missing file is a `ConfigError` naming it.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import TypeAdapter

from maslab.agents.manalyzer.contract import Failure
from maslab.errors import ConfigError

__all__ = ["STAGES", "STAGE_FILES", "RunDir", "Stage"]

Stage = Literal["collect", "parse", "review", "select", "convert", "extract", "merge", "statistics", "analyse",
                "report"]
STAGES: tuple[str, ...] = ("collect", "parse", "review", "select", "convert", "extract", "merge", "statistics",
                           "analyse", "report")
STAGE_FILES: dict[str, tuple[str, ...]] = {
    "collect": ("0_paper_info.json", "0_keywords.json"),
    "parse": ("1_content_list_info.json",),
    "review": ("2_paper_score.json",),
    "select": ("3_selected_paper.json",),
    "convert": ("4_converted_paper.json",),
    "extract": ("5_integrated_table_info.json",),
    "merge": ("meta_analysis.csv", "6_merge.json"),
    "statistics": ("statistics.json", "forest_plot.png", "funnel_plot.png"),
    "analyse": ("7_analysis.json",),
    "report": ("meta_analysis_report.md",),
}
FAILURES = "log/failures.json"
_FAILURE_LIST = TypeAdapter(list[Failure])


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")[:60] or "run"


class RunDir:
    """A run's directory and the stage it resumes from (None: a fresh run)."""

    def __init__(self, path: Path, from_stage: str | None = None) -> None:
        self.path = path
        self.from_stage = from_stage
        path.mkdir(parents=True, exist_ok=True)
        (path / "log").mkdir(exist_ok=True)

    @classmethod
    def open(cls, *, run_dir: str | None, out_dir: str, field: str, from_stage: str | None, task_id: str) -> RunDir:
        """The explicit `run_dir` (which must exist to resume), else `out_dir/<field>/<time>-<task id>`."""
        if from_stage is not None and from_stage != STAGES[0]:
            if run_dir is None:
                raise ConfigError(f"manalyzer: from_stage={from_stage!r} needs run_dir (the run to resume)")
            if not Path(run_dir).is_dir():
                raise ConfigError(f"manalyzer: run_dir {run_dir} does not exist, so it cannot be resumed")
        if run_dir is not None:
            return cls(Path(run_dir).expanduser(), from_stage)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        return cls(Path(out_dir).expanduser() / _slug(field) / f"{stamp}-{_slug(task_id)}", from_stage)

    def reuses(self, stage: str) -> bool:
        """True when `stage` comes before the resume point: its files are read, not recomputed."""
        return self.from_stage is not None and STAGES.index(stage) < STAGES.index(self.from_stage)

    def file(self, name: str) -> Path:
        return self.path / name

    def write_json(self, name: str, data: Any) -> None:
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(target.suffix + ".tmp")
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
        tmp.replace(target)

    def read_json(self, name: str) -> Any:
        target = self.path / name
        if not target.is_file():
            raise ConfigError(f"manalyzer: cannot resume from stage {self.from_stage!r}: {target} is missing "
                              "(run the earlier stages first)")
        try:
            return json.loads(target.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise ConfigError(f"{target}:{e.lineno}:{e.colno}: invalid JSON: {e.msg}") from None

    def earlier_failures(self) -> list[Failure]:
        """The failures recorded by the stages this run reuses."""
        if self.from_stage is None or not (self.path / FAILURES).is_file():
            return []
        return [f for f in _FAILURE_LIST.validate_python(self.read_json(FAILURES)) if self.reuses(f.stage)]

    def save_failures(self, failures: list[Failure]) -> None:
        self.write_json(FAILURES, [f.model_dump() for f in failures])

    def stage_files(self) -> list[str]:
        """The stage files present, in stage order."""
        return [name for names in STAGE_FILES.values() for name in names if (self.path / name).is_file()]
