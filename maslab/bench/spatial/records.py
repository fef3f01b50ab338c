"""The SpatialScore record format (spec §4), for users who have the data.

Reads v0's JSON list (``SpatialScore-Hard.json``) or v3's JSON lines (``SpatialScore_benchmark.ndjson``)
into `Task`s: one per record, its options inline in the question as published, its `img_paths`
resolved against the data file's folder (a missing image is an error naming the file and record),
and the metadata the `spatial` scorer reads — `question_type`, and `numeric_metric` by the v0 rules
(VSI-Bench numbers: MRA; a reference with a length unit: the ratio rule; other numbers: exact).
The record's `category`, `subcategory`, `source`, `input_modality`, `index_origin` and
`category_origin` are kept (per-source and per-category accuracy); a video's frames are its images.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from maslab.answers import extract_measure
from maslab.bench.datasets import need, register_dataset
from maslab.errors import ConfigError
from maslab.jsonl import read_jsonl
from maslab.task import Task

__all__ = ["QUESTION_TYPES", "load_spatialscore", "record_to_task"]

QUESTION_TYPES = ("multi-choice", "judgment", "open-ended")
_KEPT = ("category", "subcategory", "source", "input_modality", "index_origin", "category_origin")


def _rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    if path.suffix == ".json":
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise ConfigError(f"{path}: not a readable JSON file: {e}") from e
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise ConfigError(f"{path}: expected a JSON list of SpatialScore records")
        return [(i + 1, r) for i, r in enumerate(data)]  # "line" = record number in a JSON list
    return list(read_jsonl(path))


def _numeric_metric(record: dict[str, Any], answer: str) -> str:
    if "vsi" in str(record.get("source", "")).lower():
        return "mra"
    measure = extract_measure(answer)
    return "ratio" if measure is not None and measure.unit else "exact"


def record_to_task(record: dict[str, Any], path: Path, lineno: int) -> Task:
    """One SpatialScore record as a Task (see the module docstring)."""
    question = need(record, "question", path, lineno)
    answer = str(need(record, "answer", path, lineno, (str, int, float)))
    qtype = need(record, "question_type", path, lineno)
    if qtype not in QUESTION_TYPES:
        raise ConfigError(f"{path}:{lineno}: question_type {qtype!r} is not one of {', '.join(QUESTION_TYPES)}")
    raw_images = record.get("img_paths") or []
    if isinstance(raw_images, str):
        raw_images = [raw_images]
    images = []
    for p in raw_images:
        image = Path(p) if Path(p).is_absolute() else path.parent / p
        if not image.is_file():
            raise ConfigError(f"{path}:{lineno}: image {p!r} not found (img_paths are read relative to {path.parent})")
        images.append(str(image))
    index = record.get("index", lineno)
    metadata: dict[str, Any] = {"scorer": "spatial", "question_type": qtype, "line": lineno,
                                **{k: record[k] for k in _KEPT if k in record}}
    if qtype == "open-ended":
        metadata["numeric_metric"] = _numeric_metric(record, answer)
    return Task(id=f"spatialscore-{index}", question=question, answer=answer, images=images,
                domain=str(record.get("category") or "spatial"), metadata=metadata)


def _sniff(row: dict[str, Any]) -> bool:
    return "question_type" in row and "img_paths" in row


@register_dataset("spatialscore", files=("SpatialScore_benchmark.ndjson", "SpatialScore-Hard.json"), sniff=_sniff)
def load_spatialscore(path: Path) -> list[Task]:
    """SpatialScore records (v0 JSON list or v3 JSON lines) with their images."""
    tasks, seen = [], {}
    for lineno, record in _rows(Path(path)):
        task = record_to_task(record, Path(path), lineno)
        if task.id in seen:
            raise ConfigError(f"{path}:{lineno}: duplicate index {task.id!r} (first at {seen[task.id]})")
        seen[task.id] = lineno
        tasks.append(task)
    return tasks
