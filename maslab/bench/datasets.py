"""Datasets: the registry of benchmarks' task sources and `load_dataset`, which turns a name or a path into `Task`s.

A benchmark plug-in registers its source with `@register_dataset`: a **file** format (a loader
reading one JSON-lines file, the standard file names looked up in `$MASLAB_DATA`, and an optional
`sniff` telling its rows apart) or a **generator** (`n=`, `seed=` and its own options). The
benchmarks that ship with maslab (GSM8K, AQuA, HumanEval, the arithmetic/knapsack/assignment
generators, T1) are plug-ins like any other, found through the `maslab.benchmarks` entry points;
this module names none of them.

Every task gets a stable id and `metadata["scorer"]`, the name of its default scorer.
Multiple-choice options are shuffled per item, seeded by (seed, item id), and the gold letter is
rewritten to follow its option, so gold letters are near-uniform and stable per seed (methods
spec §4, "Options"). A JSON-lines file of no registered format is read by the generic loader
(`fields=` maps Task fields to its keys). Malformed input raises `ConfigError` naming the file
and line.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from maslab import plugins
from maslab.answers import LETTERS as _LETTERS
from maslab.errors import ConfigError
from maslab.jsonl import read_jsonl
from maslab.task import Task
from maslab.trace import get_logger

log = get_logger(__name__)

__all__ = ["DatasetSpec", "dataset_spec", "list_datasets", "load_dataset", "register_dataset",
           "shuffle_choices", "need", "strip_option_letters"]


# ---------------------------------------------------------------------------------------------
# the registry


@dataclass(frozen=True)
class DatasetSpec:
    """One registered task source."""

    name: str
    kind: Literal["file", "generator"]
    loader: Callable[..., list[Task]]
    files: tuple[str, ...] = ()  # file datasets: standard file names looked up in $MASLAB_DATA
    sniff: Callable[[dict[str, Any]], bool] | None = None  # file datasets: does this first row look like mine?
    default_n: int = 20  # generators: tasks when neither n= nor limit= is given
    options: frozenset[str] = field(default_factory=frozenset)  # generators: accepted keyword options
    description: str = ""


_DATASETS: dict[str, DatasetSpec] = {}
F = TypeVar("F", bound=Callable[..., list[Task]])


def register_dataset(name: str, *, kind: Literal["file", "generator"] = "file", files: tuple[str, ...] = (),
                     sniff: Callable[[dict[str, Any]], bool] | None = None, default_n: int = 20,
                     options: tuple[str, ...] = ()) -> Callable[[F], F]:
    """Decorator: register `loader` as dataset `name`.

    File datasets: `loader(path) -> list[Task]`. Generators: `loader(n=, seed=, **options)`; their
    `options` are checked before the call.
    """

    def deco(loader: F) -> F:
        key = name.strip().lower()
        existing = _DATASETS.get(key)
        if existing is not None and existing.loader.__qualname__ != loader.__qualname__:
            raise ConfigError(f"dataset {key!r} registered twice ({existing.loader.__module__}, {loader.__module__})")
        doc = (loader.__doc__ or "").strip().splitlines()
        _DATASETS[key] = DatasetSpec(name=key, kind=kind, loader=loader, files=files, sniff=sniff,
                                     default_n=default_n, options=frozenset(options),
                                     description=doc[0] if doc else "")
        return loader

    return deco


def _registry() -> dict[str, DatasetSpec]:
    plugins.load_group(plugins.BENCHMARKS)
    return _DATASETS


def list_datasets() -> list[str]:
    """The dataset names `load_dataset` accepts (besides paths)."""
    return sorted(_registry())


def dataset_spec(name: str) -> DatasetSpec:
    """The registered dataset `name`; ConfigError with close matches when there is none."""
    key = name.strip().lower()
    datasets = _registry()
    if key not in datasets:
        close = difflib.get_close_matches(key, datasets, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ConfigError(f"unknown dataset {name!r}{hint} (known: {', '.join(sorted(datasets))}, or a "
                          ".jsonl/.jsonl.gz path)" + plugins.failure_hint(plugins.BENCHMARKS))
    return datasets[key]


# ---------------------------------------------------------------------------------------------
# helpers for loaders


def need(obj: Mapping[str, Any], key: str, path: Path, lineno: int | str,
         kind: type | tuple[type, ...] = str) -> Any:
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


def strip_option_letters(options: list[str]) -> list[str]:
    """Drop "A)"/"(B)"/"C." prefixes when the options are lettered A, B, C… in order."""
    matches = [_OPTION_PREFIX.match(o) for o in options]
    if all(m and m.group(1) == _LETTERS[i] for i, m in enumerate(matches)):
        return [o[m.end() :].strip() for o, m in zip(options, matches, strict=True) if m]
    return [o.strip() for o in options]


# ---------------------------------------------------------------------------------------------
# the generic JSON-lines format


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
    for i, (lineno, obj) in enumerate(read_jsonl(path)):
        question = need(obj, mapping["question"], path, lineno, (str, int, float))
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
            choices = strip_option_letters([str(c) for c in choices])
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
    """The registered file format whose `sniff` accepts the file's first row, else "generic"."""
    for _, obj in read_jsonl(path):
        for spec in _registry().values():
            if spec.kind == "file" and spec.sniff is not None and spec.sniff(obj):
                return spec.name
        return "generic"
    return "generic"


# ---------------------------------------------------------------------------------------------
# entry point


def _is_path(name: str) -> bool:
    return name.endswith((".jsonl", ".jsonl.gz", ".json.gz", ".ndjson")) or os.sep in name or "/" in name


def _default_path(spec: DatasetSpec) -> Path:
    root = os.environ.get("MASLAB_DATA")
    if root:
        for fname in spec.files:
            candidate = Path(root) / fname
            if candidate.exists():  # a file, or the folder of a folder dataset (e.g. lad/)
                return candidate
    raise ConfigError(
        f"dataset {spec.name!r} needs path= (its JSON-lines file), or MASLAB_DATA set to a folder holding "
        f"one of {list(spec.files)}"
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

    name_or_path: a registered file dataset (`gsm8k`, `aqua`, `humaneval`, … with `path=`, or found
    in `$MASLAB_DATA`), a registered generator (`arithmetic`, `knapsack`, `assignment`, `t1`, …
    with `n=`, `seed=` and its own options), or a `.jsonl` / `.jsonl.gz` path read as `format=`
    (a registered file format or `generic`), as the generic format when `fields=` maps Task fields
    to source keys, else as the format its first row suggests. `limit` keeps the first items;
    `seed` seeds the per-item option shuffle (and the generators); `shuffle=False` keeps options in
    source order; `scorer` overrides `metadata["scorer"]`.
    """
    if limit is not None and limit < 0:
        raise ConfigError(f"limit must be >= 0, got {limit}")
    key = name_or_path.strip().lower()
    datasets = _registry()
    spec = datasets.get(key)
    if spec is not None and spec.kind == "generator":
        unknown = sorted(set(options) - spec.options)
        if unknown:
            raise ConfigError(f"generator {key!r}: unknown option(s) {unknown}; known: {sorted(spec.options)}")
        count = n if n is not None else (limit if limit is not None else spec.default_n)
        try:
            tasks = spec.loader(n=count, seed=seed, **options)
        except (TypeError, ValueError, KeyError) as exc:
            raise ConfigError(f"generator {key!r}: {exc}") from None
    else:
        if options:
            raise ConfigError(f"load_dataset({name_or_path!r}): unknown option(s) {sorted(options)}")
        if spec is not None:
            if format is not None and format != key:
                raise ConfigError(f"dataset {key!r} conflicts with format={format!r}")
            fmt = key
            file = Path(path) if path is not None else _default_path(spec)
        elif _is_path(name_or_path):
            file = Path(name_or_path).expanduser()
            if path is not None:
                raise ConfigError("give the file either as the first argument or as path=, not both")
            fmt = format or ("generic" if fields else _sniff(file))
        else:
            dataset_spec(name_or_path)  # raises, with close matches
            raise AssertionError("unreachable")
        formats = ["generic", *(n for n, s in datasets.items() if s.kind == "file")]
        if fmt not in formats:
            raise ConfigError(f"unknown format {fmt!r}; known: {formats}")
        if fields and fmt != "generic":
            raise ConfigError(f"fields= applies to the generic format only, not {fmt!r}")
        file = file.expanduser()
        tasks = _generic(file, fields) if fmt == "generic" else datasets[fmt].loader(file)
        log.debug("dataset.loaded", file=str(file), format=fmt, items=len(tasks))

    if limit is not None:
        tasks = tasks[:limit]
    if shuffle:
        tasks = [shuffle_choices(t, seed) if t.choices else t for t in tasks]
    if scorer is not None:
        tasks = [t.model_copy(update={"metadata": {**t.metadata, "scorer": scorer}}) for t in tasks]
    return tasks
