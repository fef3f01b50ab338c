"""GSM8K (Cobbe et al., arXiv 2110.14168): grade-school math word problems, scored by their final number.

The file format is the released test set's JSON lines, ``{"question", "answer"}`` where the answer
ends with ``#### <number>``. Registered as the file dataset `gsm8k` (scorer `numeric`).
"""

from __future__ import annotations

from pathlib import Path

from maslab.answers import normalize_number
from maslab.bench.datasets import need, register_dataset
from maslab.errors import ConfigError
from maslab.jsonl import read_jsonl
from maslab.task import Task


def _is_gsm8k(row: dict) -> bool:
    return {"question", "answer"} <= set(row) and "####" in str(row.get("answer", ""))


@register_dataset("gsm8k", files=("gsm8k_test.jsonl", "gsm8k_test.jsonl.gz"), sniff=_is_gsm8k)
def load_gsm8k(path: Path) -> list[Task]:
    """GSM8K test items (math word problems with a numeric answer)."""
    tasks = []
    for i, (lineno, obj) in enumerate(read_jsonl(path)):
        question = need(obj, "question", path, lineno)
        solution = need(obj, "answer", path, lineno)
        if "####" not in solution:
            raise ConfigError(f"{path}:{lineno}: GSM8K answer has no '#### <number>' line")
        raw = solution.rsplit("####", 1)[1].strip()
        gold = normalize_number(raw)
        if gold is None:
            raise ConfigError(f"{path}:{lineno}: GSM8K reference {raw!r} is not a number")
        tasks.append(
            Task(
                id=f"gsm8k-{i}",
                question=question,
                answer=gold,
                domain="math",
                metadata={"scorer": "numeric", "source": "gsm8k", "line": lineno, "solution": solution},
            )
        )
    return tasks
