"""Loaders for the published formats of X-MAS-Bench's other sets (arXiv 2505.16997 §1).

Math (GSM8K, AQuA, the arithmetic generator) and code (HumanEval) have real copies in
`../shared/data` and their own loaders (`maslab.bench.gsm8k`, …). The sets below are read from
the files their authors publish; this repository ships none of them (tests use small fixtures
written in each format, `tests/fixtures/xmas/`). Each is a registered file dataset:

| dataset    | published file                         | domain   | default scorer |
|------------|----------------------------------------|----------|----------------|
| `math500`  | MATH-500 `test.jsonl` (problem, answer) | math     | math           |
| `aime`     | AIME 2024 JSONL (ID, Problem, Answer)   | math     | math           |
| `gpqa`     | GPQA `gpqa_main.csv` / `gpqa_diamond.csv` | science | choice         |
| `scibench` | SciBench JSON array (problem_text, answer_number, unit) | science | numeric |
| `medqa`    | MedQA (US, 4 options) JSONL (question, options, answer_idx) | medicine | choice |
| `medmcqa`  | MedMCQA release JSONL (opa…opd, cop 1–4) | medicine | choice        |
| `pubmedqa` | PubMedQA `ori_pqal.json` (PMID → QUESTION, CONTEXTS, final_decision) | medicine | choice |
| `finqa`    | FinQA `test.json` (pre_text, table, post_text, qa) | finance | numeric |
| `mmlu`     | MMLU `<subject>_test.csv` (no header: question, A–D, answer) | general | choice |
| `mmlu_pro` | MMLU-Pro JSONL (question, options, answer) | general | choice |

Choices: `load_dataset` shuffles every multiple-choice item's options per (seed, item) and
rewrites the gold letter. **GPQA** is also shuffled by its loader (seed 0, per item) before
anything else sees it: the published CSV lists the correct answer first, and X-MAS's shipped
GPQA files keep that order (gold A in 448 of 448 items — spec §1, "Data defect"), so even
`shuffle=False` must not leave it there. PubMedQA is read as three options (yes / no / maybe).
SciBench's official metric allows a 5 % relative error: set `scorer_options: {rel_tol: 0.05}`.
Malformed input raises `ConfigError` naming the file and the line or item.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from maslab.answers import LETTERS, normalize_number
from maslab.bench.datasets import need, register_dataset, shuffle_choices, strip_option_letters
from maslab.errors import ConfigError
from maslab.jsonl import read_jsonl
from maslab.task import Task

GPQA_SHUFFLE_SEED = 0


def _open_text(path: Path) -> io.TextIOBase:
    if not path.is_file():
        raise ConfigError(f"{path}: file not found")
    try:
        return gzip.open(path, "rt", encoding="utf-8-sig") if path.name.endswith(".gz") else path.open(
            encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc})") from None


def read_json(path: Path) -> Any:
    """A whole JSON document (plain or .gz), with the file and position on a parse error."""
    with _open_text(path) as fh:
        try:
            return json.load(fh)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg} at column {exc.colno})") from None
        except (OSError, EOFError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read ({exc})") from None


def read_csv(path: Path, *, header: bool) -> Iterator[tuple[int, Any]]:
    """(line number, row) of a CSV file: dicts when it has a header, lists otherwise."""
    with _open_text(path) as fh:
        try:
            reader = csv.DictReader(fh) if header else csv.reader(fh)
            for row in reader:
                if row:
                    yield reader.line_num, row
        except (csv.Error, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not a readable CSV file ({exc})") from None


def _task(dataset: str, task_id: str, question: str, answer: str, domain: str, scorer: str, path: Path,
          where: int | str, *, choices: list[str] | None = None, **metadata: Any) -> Task:
    return Task(id=task_id, question=question, choices=choices, answer=answer, domain=domain,
                metadata={"scorer": scorer, "source": dataset, "file": str(path), "line": where, **metadata})


def _letter(value: Any, n: int, path: Path, where: str) -> str:
    text = str(value).strip().strip("()").upper()
    if len(text) != 1 or text not in LETTERS[:n]:
        raise ConfigError(f"{path}:{where}: answer {value!r} is not one of the option letters {LETTERS[:n]}")
    return text


# --------------------------------------------------------------------------------------------- math


def _is_math500(row: dict) -> bool:
    return {"problem", "answer", "unique_id"} <= set(row)


@register_dataset("math500", files=("math500_test.jsonl", "MATH-500.jsonl"), sniff=_is_math500)
def load_math500(path: Path) -> list[Task]:
    """MATH-500 (HuggingFaceH4/MATH-500): competition math with a final answer, graded by equivalence."""
    tasks = []
    for i, (lineno, obj) in enumerate(read_jsonl(path)):
        problem = need(obj, "problem", path, lineno)
        answer = need(obj, "answer", path, lineno, (str, int, float))
        tasks.append(_task("math500", str(obj.get("unique_id") or f"math500-{i}"), problem, str(answer), "math",
                           "math", path, lineno, subject=obj.get("subject"), level=obj.get("level"),
                           solution=obj.get("solution")))
    return tasks


def _is_aime(row: dict) -> bool:
    return {"ID", "Problem", "Answer"} <= set(row)


@register_dataset("aime", files=("aime_2024.jsonl", "AIME_2024.jsonl"), sniff=_is_aime)
def load_aime(path: Path) -> list[Task]:
    """AIME 2024 (Maxwell-Jia/AIME_2024 format): integer answers 0–999."""
    tasks = []
    for lineno, obj in read_jsonl(path):
        task_id = str(need(obj, "ID", path, lineno, (str, int)))
        problem = need(obj, "Problem", path, lineno)
        answer = normalize_number(str(need(obj, "Answer", path, lineno, (str, int))))
        if answer is None:
            raise ConfigError(f"{path}:{lineno}: AIME answer {obj['Answer']!r} is not a number")
        tasks.append(_task("aime", f"aime-{task_id}", problem, answer, "math", "math", path, lineno,
                           solution=obj.get("Solution")))
    return tasks


# ------------------------------------------------------------------------------------------ science


GPQA_COLUMNS = ("Question", "Correct Answer", "Incorrect Answer 1", "Incorrect Answer 2", "Incorrect Answer 3")


@register_dataset("gpqa", files=("gpqa_main.csv", "gpqa_diamond.csv"))
def load_gpqa(path: Path) -> list[Task]:
    """GPQA (main or diamond CSV): graduate-level science questions with four options.

    The CSV lists the correct answer first; the loader shuffles every item's options (seed
    `GPQA_SHUFFLE_SEED`, per item) at once, so the gold letter is spread over A–D.
    """
    tasks = []
    for i, (lineno, row) in enumerate(read_csv(path, header=True)):
        missing = [c for c in GPQA_COLUMNS if not (row.get(c) or "").strip()]
        if missing:
            raise ConfigError(f"{path}:{lineno}: GPQA row lacks {', '.join(missing)}")
        options = [row[c].strip() for c in GPQA_COLUMNS[1:]]
        record = (row.get("Record ID") or "").strip() or f"gpqa-{i}"
        task = _task("gpqa", record, row["Question"].strip(), "A", "science", "choice", path, lineno,
                     choices=options, subdomain=row.get("Subdomain"), high_level_domain=row.get("High-level domain"))
        shuffled = shuffle_choices(task, GPQA_SHUFFLE_SEED)
        meta = {k: v for k, v in shuffled.metadata.items() if k not in ("choice_order", "choice_seed", "original_answer")}
        meta["gpqa_order"] = shuffled.metadata["choice_order"]  # position -> published column (0 = correct)
        tasks.append(shuffled.model_copy(update={"metadata": meta}))
    return tasks


@register_dataset("scibench", files=("scibench.json",))
def load_scibench(path: Path) -> list[Task]:
    """SciBench (a published JSON array per textbook): numeric answers, with the unit in the question."""
    data = read_json(path)
    if not isinstance(data, list):
        raise ConfigError(f"{path}: expected a JSON array of SciBench problems, got {type(data).__name__}")
    tasks = []
    for i, obj in enumerate(data):
        where = f"item {i}"
        if not isinstance(obj, dict):
            raise ConfigError(f"{path}: {where}: expected an object")
        problem = need(obj, "problem_text", path, where)
        number = normalize_number(str(need(obj, "answer_number", path, where, (str, int, float))))
        if number is None:
            raise ConfigError(f"{path}: {where}: answer_number {obj['answer_number']!r} is not a number")
        unit = str(obj.get("unit") or "").strip()
        question = problem.strip() + (f" The unit of the answer is {unit}." if unit else "")
        source = str(obj.get("source") or path.stem)
        task_id = f"scibench-{source}-{obj.get('problemid', i)}".replace(" ", "")
        tasks.append(_task("scibench", task_id, question, number, "science", "numeric", path, where, unit=unit,
                           answer_latex=obj.get("answer_latex")))
    return tasks


# ----------------------------------------------------------------------------------------- medicine


def _is_medqa(row: dict) -> bool:
    return {"question", "options", "answer_idx"} <= set(row)


@register_dataset("medqa", files=("medqa_test.jsonl", "US_test.jsonl", "phrases_no_exclude_test.jsonl"),
                  sniff=_is_medqa)
def load_medqa(path: Path) -> list[Task]:
    """MedQA (USMLE, four options): {question, options: {A: …}, answer, answer_idx, meta_info}."""
    tasks = []
    for i, (lineno, obj) in enumerate(read_jsonl(path)):
        question = need(obj, "question", path, lineno)
        options = need(obj, "options", path, lineno, dict)
        letters = sorted(options)
        if letters != list(LETTERS[: len(letters)]) or len(letters) < 2:
            raise ConfigError(f"{path}:{lineno}: MedQA options should be lettered A, B, C…, got {letters}")
        answer = _letter(need(obj, "answer_idx", path, lineno), len(letters), path, str(lineno))
        tasks.append(_task("medqa", f"medqa-{i}", question, answer, "medicine", "choice", path, lineno,
                           choices=[str(options[k]) for k in letters], meta_info=obj.get("meta_info")))
    return tasks


def _is_medmcqa(row: dict) -> bool:
    return {"opa", "opb", "opc", "opd", "cop"} <= set(row)


@register_dataset("medmcqa", files=("medmcqa_dev.jsonl",), sniff=_is_medmcqa)
def load_medmcqa(path: Path) -> list[Task]:
    """MedMCQA (the authors' release, JSON lines): options opa–opd, `cop` the correct one, 1–4."""
    tasks = []
    for i, (lineno, obj) in enumerate(read_jsonl(path)):
        question = need(obj, "question", path, lineno)
        options = [str(need(obj, k, path, lineno, (str, int, float))) for k in ("opa", "opb", "opc", "opd")]
        cop = need(obj, "cop", path, lineno, int)
        if not 1 <= cop <= 4:
            raise ConfigError(f"{path}:{lineno}: MedMCQA 'cop' is {cop}; the release numbers options 1–4")
        tasks.append(_task("medmcqa", str(obj.get("id") or f"medmcqa-{i}"), question, LETTERS[cop - 1], "medicine",
                           "choice", path, lineno, choices=options, subject=obj.get("subject_name"),
                           topic=obj.get("topic_name"), explanation=obj.get("exp")))
    return tasks


PUBMEDQA_OPTIONS = ("yes", "no", "maybe")


@register_dataset("pubmedqa", files=("ori_pqal.json", "pubmedqa.json"))
def load_pubmedqa(path: Path) -> list[Task]:
    """PubMedQA-L (`ori_pqal.json`: PMID → QUESTION, CONTEXTS, final_decision): yes / no / maybe,
    asked with the abstract's context paragraphs."""
    data = read_json(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object keyed by PMID, got {type(data).__name__}")
    tasks = []
    for pmid, obj in data.items():
        where = f"PMID {pmid}"
        if not isinstance(obj, dict):
            raise ConfigError(f"{path}: {where}: expected an object")
        question = need(obj, "QUESTION", path, where)
        contexts = need(obj, "CONTEXTS", path, where, list)
        decision = str(need(obj, "final_decision", path, where)).strip().lower()
        if decision not in PUBMEDQA_OPTIONS:
            raise ConfigError(f"{path}: {where}: final_decision {decision!r} is not yes, no or maybe")
        context = "\n".join(str(c) for c in contexts)
        tasks.append(_task("pubmedqa", f"pubmedqa-{pmid}", f"Context:\n{context}\n\nQuestion: {question}",
                           LETTERS[PUBMEDQA_OPTIONS.index(decision)], "medicine", "choice", path, where,
                           choices=list(PUBMEDQA_OPTIONS), long_answer=obj.get("LONG_ANSWER")))
    return tasks


# ------------------------------------------------------------------------------------------ finance


def _table_text(table: list[Any]) -> str:
    return "\n".join(" | ".join(str(c) for c in row) if isinstance(row, list) else str(row) for row in table)


@register_dataset("finqa", files=("finqa_test.json",))
def load_finqa(path: Path) -> list[Task]:
    """FinQA (`test.json`, a JSON array): a report's text and table, a question, and its executed answer."""
    data = read_json(path)
    if not isinstance(data, list):
        raise ConfigError(f"{path}: expected a JSON array of FinQA items, got {type(data).__name__}")
    tasks = []
    for i, obj in enumerate(data):
        where = f"item {i}"
        if not isinstance(obj, dict):
            raise ConfigError(f"{path}: {where}: expected an object")
        qa = need(obj, "qa", path, where, dict)
        question = need(qa, "question", path, where)
        raw = qa.get("exe_ans", qa.get("answer"))
        gold = normalize_number(str(raw)) if raw is not None else None
        if gold is None:
            raise ConfigError(f"{path}: {where}: FinQA answer {raw!r} (qa.exe_ans / qa.answer) is not a number")
        pre = " ".join(str(x) for x in obj.get("pre_text") or [])
        post = " ".join(str(x) for x in obj.get("post_text") or [])
        table = _table_text(obj.get("table") or [])
        prompt = f"{pre}\n\n{table}\n\n{post}\n\nQuestion: {question}".strip()
        tasks.append(_task("finqa", str(obj.get("id") or f"finqa-{i}"), prompt, gold, "finance", "numeric", path,
                           where, program=qa.get("program"), answer_text=qa.get("answer")))
    return tasks


# ------------------------------------------------------------------------------------------ general


@register_dataset("mmlu", files=("mmlu_test.csv",))
def load_mmlu(path: Path) -> list[Task]:
    """MMLU (one `<subject>_test.csv`, no header: question, A, B, C, D, answer letter)."""
    subject = path.name.split(".")[0].removesuffix("_test")
    tasks = []
    for i, (lineno, row) in enumerate(read_csv(path, header=False)):
        if len(row) != 6:
            raise ConfigError(f"{path}:{lineno}: an MMLU row has 6 columns (question, A, B, C, D, answer), "
                              f"this one {len(row)}")
        answer = _letter(row[5], 4, path, str(lineno))
        tasks.append(_task("mmlu", f"mmlu-{subject}-{i}", row[0].strip(), answer, "general", "choice", path, lineno,
                           choices=[c.strip() for c in row[1:5]], subject=subject))
    return tasks


def _is_mmlu_pro(row: dict) -> bool:
    return {"question_id", "question", "options", "answer"} <= set(row)


@register_dataset("mmlu_pro", files=("mmlu_pro_test.jsonl",), sniff=_is_mmlu_pro)
def load_mmlu_pro(path: Path) -> list[Task]:
    """MMLU-Pro (TIGER-Lab, JSON lines): up to ten options, `answer` the gold letter."""
    tasks = []
    for lineno, obj in read_jsonl(path):
        question = need(obj, "question", path, lineno)
        options = need(obj, "options", path, lineno, list)
        if len(options) < 2:
            raise ConfigError(f"{path}:{lineno}: MMLU-Pro 'options' should list at least two options")
        answer = _letter(need(obj, "answer", path, lineno), len(options), path, str(lineno))
        tasks.append(_task("mmlu_pro", f"mmlu_pro-{obj['question_id']}", question, answer, "general", "choice", path,
                           lineno, choices=strip_option_letters([str(o) for o in options]),
                           category=obj.get("category")))
    return tasks
