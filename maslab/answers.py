"""The comparable form of an answer: what systems vote on and compare across agents.

`answer_key(task, text)` extracts a final answer from free text according to the task's kind:
a choice letter for multiple-choice tasks, a normalised number where the text has one, else the
last non-empty line, case- and space-folded. None means "no answer" (it does not vote).
"""

from __future__ import annotations

from maslab.task import Task


def answer_key(task: Task | None, text: str) -> str | None:
    from maslab.bench.extract import extract_boxed, extract_choice, extract_number

    if not text or not text.strip():
        return None
    if task is not None and task.choices:
        return extract_choice(text, len(task.choices))
    if task is not None and task.domain == "code":
        return " ".join(text.split())
    boxed = extract_boxed(text)
    if boxed:
        return " ".join(boxed.split()).lower()
    number = extract_number(text)
    if number is not None:
        return number
    last = next((line for line in reversed(text.strip().splitlines()) if line.strip()), "")
    return " ".join(last.lower().split()).rstrip(".") or None
