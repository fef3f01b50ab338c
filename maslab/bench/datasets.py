"""Dataset loading: turn a benchmark name or a JSON-lines path into a list of `Task`s.

`load_dataset` knows the GSM8K, AQuA-RAT and HumanEval formats, a generic JSON-lines format
with a field mapping, and the seeded generators of `maslab.bench.generators`. Every task gets a
stable id and `metadata["scorer"]`, the name of its default scorer. Multiple-choice options are
shuffled per item, seeded by (seed, item id), and the gold letter is rewritten to follow its
option, so gold letters are near-uniform and stable per seed (methods spec §4, "Options").
Malformed input raises `ConfigError` naming the file and line.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from maslab.bench.extract import normalize_number
from maslab.bench.generators import GENERATORS
from maslab.errors import ConfigError
from maslab.jsonl import read_jsonl
from maslab.task import Task
from maslab.trace import get_logger

log = get_logger(__name__)

__all__ = ["DATASETS", "list_datasets", "load_dataset", "shuffle_choices"]

_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_FORMATS = ("gsm8k", "aqua", "humaneval", "generic")

# Standard file names looked up in $MASLAB_DATA when a named file dataset gets no path=.
_DEFAULT_FILES = {
    "gsm8k": ("gsm8k_test.jsonl", "gsm8k_test.jsonl.gz"),
    "aqua": ("aqua_test.jsonl", "aqua_test.jsonl.gz"),
    "humaneval": ("humaneval.jsonl.gz", "humaneval.jsonl", "HumanEval.jsonl.gz", "HumanEval.jsonl"),
}

DATASETS = ("gsm8k", "aqua", "humaneval", *GENERATORS, "t1")


def list_datasets() -> list[str]:
    """The dataset names `load_dataset` accepts (besides paths)."""
    return list(DATASETS)


# ---------------------------------------------------------------------------------------------
# reading


def _read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line; ConfigError on bad JSON or a non-object."""
    return read_jsonl(path)


def _need(obj: Mapping[str, Any], key: str, path: Path, lineno: int, kind: type | tuple[type, ...] = str) -> Any:
    if key not in obj or obj[key] is None:
        raise ConfigError(f"{path}:{lineno}: missing field {key!r}")
    value = obj[key]
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ConfigError(f"{path}:{lineno}: field {key!r} should be {names}, got {type(value).__name__}")
    return value


# ---------------------------------------------------------------------------------------------
# choice shuffling


def _item_rng(seed: int, item_id: str) -> random.Random:
    digest = hashlib.sha256(f"{seed}\x00{item_id}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def shuffle_choices(task: Task, seed: int) -> Task:
    """A copy of `task` with its choices permuted by (seed, task.id) and its gold letter rewritten.

    `metadata["choice_order"]` lists, for each new position, the original index of its option;
    `metadata["original_answer"]` keeps the source letter.
    """
    if not task.choices or len(task.choices) < 2:
        return task
    order = list(range(len(task.choices)))
    _item_rng(seed, task.id).shuffle(order)
    choices = [task.choices[i] for i in order]
    answer = task.answer
    meta = dict(task.metadata, choice_order=order, choice_seed=seed)
    if answer is not None and len(answer) == 1 and answer in _LETTERS[: len(order)]:
        meta["original_answer"] = answer
        answer = _LETTERS[order.index(_LETTERS.index(answer))]
    return task.model_copy(update={"choices": choices, "answer": answer, "metadata": meta})


_OPTION_PREFIX = re.compile(r"^\s*\(?([A-Z])\s*[).:]\s*")


def _strip_option_letters(options: list[str]) -> list[str]:
    """Drop "A)"/"(B)"/"C." prefixes when the options are lettered A, B, C… in order."""
    matches = [_OPTION_PREFIX.match(o) for o in options]
    if all(m and m.group(1) == _LETTERS[i] for i, m in enumerate(matches)):
        return [o[m.end() :].strip() for o, m in zip(options, matches, strict=True) if m]
    return [o.strip() for o in options]


# ---------------------------------------------------------------------------------------------
# formats


def _gsm8k(path: Path) -> list[Task]:
    tasks = []
    for i, (lineno, obj) in enumerate(_read_jsonl(path)):
        question = _need(obj, "question", path, lineno)
        solution = _need(obj, "answer", path, lineno)
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


def _aqua(path: Path) -> list[Task]:
    tasks = []
    for i, (lineno, obj) in enumerate(_read_jsonl(path)):
        question = _need(obj, "question", path, lineno)
        options = _need(obj, "options", path, lineno, list)
        correct = _need(obj, "correct", path, lineno).strip().upper()
        if len(options) < 2 or not all(isinstance(o, str) for o in options):
            raise ConfigError(f"{path}:{lineno}: 'options' should be a list of at least two strings")
        if correct not in _LETTERS[: len(options)]:
            raise ConfigError(f"{path}:{lineno}: 'correct' is {correct!r}, not one of the option letters")
        tasks.append(
            Task(
                id=f"aqua-{i}",
                question=question,
                choices=_strip_option_letters(options),
                answer=correct,
                domain="math",
                metadata={"scorer": "choice", "source": "aqua", "line": lineno,
                          "rationale": obj.get("rationale")},
            )
        )
    return tasks


def _humaneval(path: Path) -> list[Task]:
    tasks = []
    for lineno, obj in _read_jsonl(path):
        task_id = _need(obj, "task_id", path, lineno)
        prompt = _need(obj, "prompt", path, lineno)
        test = _need(obj, "test", path, lineno)
        entry_point = _need(obj, "entry_point", path, lineno)
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


_TASK_FIELDS = ("id", "question", "answer", "choices", "domain")


def _generic(path: Path, fields: Mapping[str, str] | None) -> list[Task]:
    mapping = {f: f for f in _TASK_FIELDS}
    if fields:
        unknown = set(fields) - set(_TASK_FIELDS)
        if unknown:
            raise ConfigError(f"fields= maps unknown Task field(s) {sorted(unknown)}; known: {list(_TASK_FIELDS)}")
        mapping.update(fields)
    stem = path.name.split(".")[0]
    tasks, seen = [], {}
    for i, (lineno, obj) in enumerate(_read_jsonl(path)):
        question = _need(obj, mapping["question"], path, lineno, (str, int, float))
        raw_id = obj.get(mapping["id"])
        task_id = str(raw_id) if raw_id not in (None, "") else f"{stem}-{i}"
        if task_id in seen:
            raise ConfigError(f"{path}:{lineno}: duplicate id {task_id!r} (first on line {seen[task_id]})")
        seen[task_id] = lineno
        choices = obj.get(mapping["choices"])
        if isinstance(choices, Mapping):
            choices = [str(v) for _, v in sorted(choices.items())]
        if choices is not None:
            if not isinstance(choices, list) or not choices:
                raise ConfigError(f"{path}:{lineno}: field {mapping['choices']!r} should be a non-empty list")
            choices = _strip_option_letters([str(c) for c in choices])
        answer = obj.get(mapping["answer"])
        if answer is not None:
            answer = _choice_letter(answer, choices, path, lineno) if choices else str(answer)
        used = {mapping[f] for f in _TASK_FIELDS}
        domain = obj.get(mapping["domain"])
        tasks.append(
            Task(
                id=task_id,
                question=str(question),
                choices=choices,
                answer=answer,
                domain=str(domain) if domain is not None else None,
                metadata={
                    "scorer": "choice" if choices else "exact",
                    "source": str(path),
                    "line": lineno,
                    **{k: v for k, v in obj.items() if k not in used},
                },
            )
        )
    return tasks


def _choice_letter(answer: Any, choices: list[str], path: Path, lineno: int) -> str:
    """The gold of a multiple-choice row as a letter: a letter, "(B)", or the option's own text."""
    text = str(answer).strip()
    m = re.fullmatch(r"\(?([A-Za-z])\)?[.)]?", text)
    if m and m.group(1).upper() in _LETTERS[: len(choices)]:
        return m.group(1).upper()
    stripped = [c.strip() for c in choices]
    if text in stripped:
        return _LETTERS[stripped.index(text)]
    raise ConfigError(f"{path}:{lineno}: answer {text[:60]!r} is neither an option letter nor an option's text")


def _sniff(path: Path) -> str:
    """Guess the format of a JSON-lines file from the keys of its first row."""
    for _, obj in _read_jsonl(path):
        keys = set(obj)
        if {"task_id", "prompt", "test", "entry_point"} <= keys:
            return "humaneval"
        if {"question", "options", "correct"} <= keys:
            return "aqua"
        if {"question", "answer"} <= keys and "####" in str(obj.get("answer", "")):
            return "gsm8k"
        return "generic"
    return "generic"


# ---------------------------------------------------------------------------------------------
# T1 travel-planning dialogues (arXiv 2505.16986) — begin


def _t1(n: int, seed: int, options: dict[str, Any]) -> list[Task]:
    """`n` generated T1 dialogues (`maslab.tools.travel.dataset.t1_tasks`), scored by `t1`.

    Options: `split` (train | validation | test, default test), `categories` (a list; default all
    nine, round-robin), `kb_seed`, `kb_scale` (default 0, "test"). One task per dialogue; the
    whole dialogue with its gold code and caches is in ``metadata["dialogue"]``.
    """
    from maslab.tools.travel.dataset import t1_tasks

    allowed = {"split", "categories", "kb_seed", "kb_scale"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ConfigError(f"load_dataset('t1'): unknown option(s) {unknown}; known: {sorted(allowed)}")
    categories = options.get("categories")
    if isinstance(categories, str):
        categories = [categories]
    try:
        tasks = t1_tasks(n, seed=seed, split=options.get("split", "test"), categories=categories,
                         kb_seed=options.get("kb_seed", 0), kb_scale=options.get("kb_scale", "test"))
    except (ValueError, KeyError) as exc:
        raise ConfigError(f"load_dataset('t1'): {exc}") from None
    return [t.model_copy(update={"metadata": {**t.metadata, "scorer": "t1"}}) for t in tasks]


# T1 — end

# ---------------------------------------------------------------------------------------------
# entry point


def _is_path(name: str) -> bool:
    return name.endswith((".jsonl", ".jsonl.gz", ".json.gz", ".ndjson")) or os.sep in name or "/" in name


def _default_path(name: str) -> Path:
    root = os.environ.get("MASLAB_DATA")
    if root:
        for fname in _DEFAULT_FILES[name]:
            candidate = Path(root) / fname
            if candidate.is_file():
                return candidate
    raise ConfigError(
        f"dataset {name!r} needs path= (its JSON-lines file), or MASLAB_DATA set to a folder holding "
        f"one of {list(_DEFAULT_FILES[name])}"
    )


def load_dataset(
    name_or_path: str,
    *,
    path: str | os.PathLike[str] | None = None,
    format: str | None = None,  # noqa: A002 - the user-facing option name
    fields: Mapping[str, str] | None = None,
    limit: int | None = None,
    seed: int = 0,
    shuffle: bool = True,
    n: int | None = None,
    scorer: str | None = None,
    **options: Any,
) -> list[Task]:
    """Load a benchmark as `Task`s.

    name_or_path: `gsm8k`, `aqua`, `humaneval` (each with `path=`), a generator name
    (`arithmetic`, `knapsack`, `assignment`, with `n=` and `seed=`, extra options passed on), `t1`
    (generated travel dialogues: `n=` (default 9), `seed=`, `split=`, `categories=`), or a
    `.jsonl` / `.jsonl.gz` path read as `format=` (`gsm8k`, `aqua`, `humaneval`, `generic`), as the
    generic format when `fields=` maps Task fields to source keys, else as the format its first row
    suggests. `limit` keeps the first items; `seed` seeds the per-item option shuffle (and the
    generators); `shuffle=False` keeps options in source order; `scorer` overrides
    `metadata["scorer"]`.
    """
    if limit is not None and limit < 0:
        raise ConfigError(f"limit must be >= 0, got {limit}")
    key = name_or_path.strip().lower()

    if key == "t1":
        tasks = _t1(n if n is not None else (limit if limit is not None else 9), seed, options)
    elif key in GENERATORS:
        count = n if n is not None else (limit if limit is not None else 20)
        try:
            tasks = GENERATORS[key](n=count, seed=seed, **options)
        except TypeError as exc:
            raise ConfigError(f"generator {key!r}: {exc}") from None
    else:
        if options:
            raise ConfigError(f"load_dataset({name_or_path!r}): unknown option(s) {sorted(options)}")
        if key in _DEFAULT_FILES:
            if format is not None and format != key:
                raise ConfigError(f"dataset {key!r} conflicts with format={format!r}")
            fmt = key
            file = Path(path) if path is not None else _default_path(key)
        elif _is_path(name_or_path):
            file = Path(name_or_path).expanduser()
            if path is not None:
                raise ConfigError("give the file either as the first argument or as path=, not both")
            fmt = format or ("generic" if fields else _sniff(file))
        else:
            raise ConfigError(
                f"unknown dataset {name_or_path!r}; known: {list(DATASETS)}, or a .jsonl/.jsonl.gz path"
            )
        if fmt not in _FORMATS:
            raise ConfigError(f"unknown format {fmt!r}; known: {list(_FORMATS)}")
        if fields and fmt != "generic":
            raise ConfigError(f"fields= applies to the generic format only, not {fmt!r}")
        file = file.expanduser()
        if fmt == "gsm8k":
            tasks = _gsm8k(file)
        elif fmt == "aqua":
            tasks = _aqua(file)
        elif fmt == "humaneval":
            tasks = _humaneval(file)
        else:
            tasks = _generic(file, fields)
        log.debug("dataset.loaded", file=str(file), format=fmt, items=len(tasks))

    if limit is not None:
        tasks = tasks[:limit]
    if shuffle:
        tasks = [shuffle_choices(t, seed) if t.choices else t for t in tasks]
    if scorer is not None:
        tasks = [t.model_copy(update={"metadata": {**t.metadata, "scorer": scorer}}) for t in tasks]
    return tasks
