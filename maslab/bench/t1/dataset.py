"""T1 dialogues as `maslab.task.Task`s (one per dialogue): the `t1` generator dataset."""

from __future__ import annotations

from collections.abc import Sequence

from maslab.bench.datasets import register_dataset
from maslab.task import Task
from maslab.tools.travel.dialogues import Dialogue, generate_dialogues
from maslab.tools.travel.kb import get_kb

__all__ = ["dialogue_from_task", "load_t1", "t1_tasks"]


def t1_tasks(n_dialogues: int, seed: int = 0, split: str = "test", categories: Sequence[str] | None = None,
             *, kb_seed: int = 0, kb_scale: str = "test") -> list[Task]:
    """`n_dialogues` generated dialogues of `split` (categories round-robin) as Tasks.

    Each task's `question` is the rendered conversation, its `answer` the gold code of the last
    user turn, its `domain` the category; ``metadata["dialogue"]`` holds the whole `Dialogue`
    (JSON-ready dict: turns, gold code and gold cache per user turn), ``metadata["benchmark"]`` is
    ``"t1"`` and ``metadata["kb"]`` the KB seed, scale and file path.
    """
    kb = get_kb(kb_seed, kb_scale)
    tasks = []
    for d in generate_dialogues(n_dialogues, seed=seed, split=split, categories=categories, kb=kb):
        last = d.turns[d.user_turn_indices()[-1]]
        question = "\n".join(f"{'User' if t.role == 'user' else 'Assistant'}: {t.text}" for t in d.turns)
        tasks.append(Task(id=d.id, question=question, answer=last.code, domain=d.category, metadata={
            "benchmark": "t1", "dialogue": d.model_dump(mode="json"),
            "kb": {"seed": kb_seed, "scale": kb_scale, "path": str(kb.path)}}))
    return tasks


def dialogue_from_task(task: Task) -> Dialogue:
    """The `Dialogue` stored in a T1 task's metadata."""
    return Dialogue.model_validate(task.metadata["dialogue"])


@register_dataset("t1", kind="generator", default_n=9, options=("split", "categories", "kb_seed", "kb_scale"))
def load_t1(n: int = 9, seed: int = 0, *, split: str = "test", categories: Sequence[str] | str | None = None,
            kb_seed: int = 0, kb_scale: str = "test") -> list[Task]:
    """Generated T1 travel dialogues (arXiv 2505.16986), one task per dialogue, scored by `t1`.

    Options: `split` (train | validation | test, default test), `categories` (a list; default all
    nine, round-robin), `kb_seed`, `kb_scale` (default "test"). The whole dialogue with its gold
    code and caches is in ``metadata["dialogue"]``.
    """
    if isinstance(categories, str):
        categories = [categories]
    tasks = t1_tasks(n, seed=seed, split=split, categories=categories, kb_seed=kb_seed, kb_scale=kb_scale)
    return [t.model_copy(update={"metadata": {**t.metadata, "scorer": "t1"}}) for t in tasks]
