"""HumanEval (Chen et al., arXiv 2107.03374): Python functions from docstrings, scored by their unit tests.

File format: the released JSON lines ``{"task_id", "prompt", "canonical_solution", "test",
"entry_point"}`` (plain or gzipped). Registered as the file dataset `humaneval` (scorer `code`:
the program runs in the sandbox, never in this process).
"""

from __future__ import annotations

from pathlib import Path

from maslab.bench.datasets import need, register_dataset
from maslab.jsonl import read_jsonl
from maslab.task import Task


def _is_humaneval(row: dict) -> bool:
    return {"task_id", "prompt", "test", "entry_point"} <= set(row)


@register_dataset("humaneval", files=("humaneval.jsonl.gz", "humaneval.jsonl", "HumanEval.jsonl.gz", "HumanEval.jsonl"),
                  sniff=_is_humaneval)
def load_humaneval(path: Path) -> list[Task]:
    """HumanEval problems (code, scored by execution in the sandbox)."""
    tasks = []
    for lineno, obj in read_jsonl(path):
        task_id = need(obj, "task_id", path, lineno)
        prompt = need(obj, "prompt", path, lineno)
        test = need(obj, "test", path, lineno)
        entry_point = need(obj, "entry_point", path, lineno)
        canonical = obj.get("canonical_solution")
        tasks.append(
            Task(
                id=task_id,
                question=prompt,
                answer=canonical,
                domain="code",
                metadata={
                    "scorer": "code",
                    "source": "humaneval",
                    "line": lineno,
                    "prompt": prompt,
                    "test": test,
                    "entry_point": entry_point,
                    "canonical_solution": canonical,
                },
            )
        )
    return tasks
