"""AQuA-RAT (Ling et al., arXiv 1705.04146): algebra word problems with five lettered options.

File format: the released JSON lines ``{"question", "options", "correct", "rationale"}``; option
prefixes such as ``A)`` are dropped and the options are shuffled per (seed, item) by
`load_dataset`. Registered as the file dataset `aqua` (scorer `choice`).
"""

from __future__ import annotations

from pathlib import Path

from maslab.answers import LETTERS
from maslab.bench.datasets import need, register_dataset, strip_option_letters
from maslab.errors import ConfigError
from maslab.jsonl import read_jsonl
from maslab.task import Task


def _is_aqua(row: dict) -> bool:
    return {"question", "options", "correct"} <= set(row)


@register_dataset("aqua", files=("aqua_test.jsonl", "aqua_test.jsonl.gz"), sniff=_is_aqua)
def load_aqua(path: Path) -> list[Task]:
    """AQuA-RAT test items (multiple choice, five options)."""
    tasks = []
    for i, (lineno, obj) in enumerate(read_jsonl(path)):
        question = need(obj, "question", path, lineno)
        options = need(obj, "options", path, lineno, list)
        correct = need(obj, "correct", path, lineno).strip().upper()
        if len(options) < 2 or not all(isinstance(o, str) for o in options):
            raise ConfigError(f"{path}:{lineno}: 'options' should be a list of at least two strings")
        if correct not in LETTERS[: len(options)]:
            raise ConfigError(f"{path}:{lineno}: 'correct' is {correct!r}, not one of the option letters")
        tasks.append(
            Task(
                id=f"aqua-{i}",
                question=question,
                choices=strip_option_letters(options),
                answer=correct,
                domain="math",
                metadata={"scorer": "choice", "source": "aqua", "line": lineno,
                          "rationale": obj.get("rationale")},
            )
        )
    return tasks
