"""The LAD evaluation set: II-Bench.json and CII-Bench.json (+ image/) as `Task`s, without the answer's explanation.

A record (spec §4)::

    {"local_path": "image/II-Bench/dev-1.jpg",
     "questions": [{"id": "dev-1", "question": …, "options": [6 strings], "correct_option": …, "answer": "E"}],
     "meta_data": {"image_type", "difficulty", "domain", "emotion", "rhetoric", "explanation",
                   "metaphorical_meaning" (CII only)}}

`lad_mcq` makes one task per question: id ``ii-dev-1`` / ``cii-dev-1``, the question, the six options,
the gold letter (checked against `correct_option`), the image (its path, which must exist). `lad_osq`
makes one task per record with the fixed open question ("What is the implication in this image?",
"这张图片有什么隐喻？") and no reference answer. The path is the `lad/` folder (both files, English
first) or one of the JSON files.

**What a system can read.** A task holds its question, options, gold letter and image, and in
`metadata` only `scorer`, `lang` and the pointer `lad_source` (the JSON file) + `lad_item` (the question
id). `meta_data` — the explanation, the metaphorical meaning, and also the image type, domain,
emotion and rhetoric labels, which hint at the answer — stays in the file: the scorers re-read the
record by id (`record_for`). Malformed input is a `ConfigError` naming the file and record.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from maslab.bench.datasets import need, register_dataset
from maslab.errors import ConfigError
from maslab.task import Task

__all__ = ["FILES", "OSQ_QUESTION", "load_lad_mcq", "load_lad_osq", "record_for"]

FILES = {"II-Bench.json": ("ii", "en"), "CII-Bench.json": ("cii", "zh")}
OSQ_QUESTION = {"en": "What is the implication in this image?", "zh": "这张图片有什么隐喻？"}
_records: dict[tuple[str, int, int], list[dict[str, Any]]] = {}  # (path, mtime, size) -> records
_lock = threading.Lock()


def _files(path: Path) -> list[Path]:
    path = Path(path).expanduser()
    if path.is_dir():
        found = [path / name for name in FILES if (path / name).is_file()]
        if not found:
            raise ConfigError(f"{path}: no LAD data file ({' or '.join(FILES)})")
        return found
    if not path.is_file():
        raise ConfigError(f"{path}: no such file or folder")
    if path.name not in FILES:
        raise ConfigError(f"{path}: a LAD data file is named {' or '.join(FILES)}")
    return [path]


def _read(file: Path) -> list[dict[str, Any]]:
    try:
        stat = file.stat()
    except OSError as e:
        raise ConfigError(f"{file}: cannot read: {e}") from None
    key = (str(file.resolve()), stat.st_mtime_ns, stat.st_size)
    with _lock:
        if key in _records:
            return _records[key]
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ConfigError(f"{file}: not a readable JSON file: {e}") from None
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise ConfigError(f"{file}: expected a JSON list of LAD records")
    with _lock:
        _records[key] = data
    return data


def _questions(file: Path, n: int, record: dict[str, Any]) -> list[dict[str, Any]]:
    questions = need(record, "questions", file, n, list)
    if not questions or not all(isinstance(q, dict) for q in questions):
        raise ConfigError(f"{file}:{n}: `questions` must be a non-empty list of objects")
    return questions


def _image(file: Path, n: int, record: dict[str, Any]) -> str:
    image = file.parent / need(record, "local_path", file, n)
    if not image.is_file():
        raise ConfigError(f"{file}:{n}: image {record['local_path']!r} not found (read relative to {file.parent})")
    return str(image.resolve())


def record_for(source: str, item: str) -> dict[str, Any]:
    """The full record (with `meta_data`) of question `item` in data file `source` — for scorers only."""
    file = Path(source)
    for record in _read(file):
        if any(isinstance(q, dict) and q.get("id") == item for q in record.get("questions") or []):
            return record
    raise ConfigError(f"{file}: no LAD record with question id {item!r}")


def _mcq_tasks(file: Path) -> list[Task]:
    prefix, lang = FILES[file.name]
    tasks = []
    for n, record in enumerate(_read(file), start=1):
        image = _image(file, n, record)
        for q in _questions(file, n, record):
            qid = need(q, "id", file, n)
            options = need(q, "options", file, n, list)
            if len(options) < 2 or not all(isinstance(o, str) for o in options):
                raise ConfigError(f"{file}:{n}: question {qid!r}: `options` must be a list of strings")
            letter = need(q, "answer", file, n).strip().upper()
            index = ord(letter) - ord("A") if len(letter) == 1 else -1
            if not 0 <= index < len(options):
                raise ConfigError(f"{file}:{n}: question {qid!r}: answer {letter!r} is not an option letter")
            if "correct_option" in q and q["correct_option"].strip() != options[index].strip():
                raise ConfigError(f"{file}:{n}: question {qid!r}: answer {letter} is not the correct_option")
            tasks.append(Task(id=f"{prefix}-{qid}", question=need(q, "question", file, n), choices=list(options),
                              answer=letter, images=[image],
                              metadata={"scorer": "lad_mcq", "lang": lang, "lad_source": str(file.resolve()), "lad_item": qid}))
    return tasks


def _osq_tasks(file: Path) -> list[Task]:
    prefix, lang = FILES[file.name]
    tasks = []
    for n, record in enumerate(_read(file), start=1):
        image = _image(file, n, record)
        qid = need(_questions(file, n, record)[0], "id", file, n)
        tasks.append(Task(id=f"{prefix}-{qid}", question=OSQ_QUESTION[lang], images=[image],
                          metadata={"scorer": "lad_osq", "lang": lang, "lad_source": str(file.resolve()), "lad_item": qid}))
    return tasks


@register_dataset("lad_mcq", files=("lad",))
def load_lad_mcq(path: Path) -> list[Task]:
    """The LAD evaluation set, multiple choice: 100 images (II-Bench EN, CII-Bench ZH), 6 options each."""
    return [t for f in _files(path) for t in _mcq_tasks(f)]


@register_dataset("lad_osq", files=("lad",))
def load_lad_osq(path: Path) -> list[Task]:
    """The LAD evaluation set, open question ("What is the implication in this image?"), judged 1–5."""
    return [t for f in _files(path) for t in _osq_tasks(f)]
