"""Dataset loaders: real-file counts, GSM8K references, AQuA option shuffling, generic JSONL, errors."""

from __future__ import annotations

import collections
import gzip
import json
import re
from pathlib import Path

import pytest

from maslab.bench.datasets import list_datasets, load_dataset, shuffle_choices
from maslab.errors import ConfigError
from maslab.task import Task

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
GSM8K = DATA / "gsm8k_test.jsonl"
AQUA = DATA / "aqua_test.jsonl"
HUMANEVAL = DATA / "humaneval.jsonl.gz"


def _need(path: Path) -> Path:
    if not path.is_file():
        pytest.skip(f"real benchmark file {path} is absent (expected under <repo>/../shared/data)")
    return path


def _raw_rows(path: Path) -> list[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


# ---------------------------------------------------------------------------------- real files


def test_real_file_counts_and_default_scorers():
    gsm = load_dataset("gsm8k", path=_need(GSM8K))
    aqua = load_dataset("aqua", path=_need(AQUA))
    he = load_dataset("humaneval", path=_need(HUMANEVAL))
    assert (len(gsm), len(aqua), len(he)) == (1319, 254, 164)
    assert {t.metadata["scorer"] for t in gsm} == {"numeric"}
    assert {t.metadata["scorer"] for t in aqua} == {"choice"}
    assert {t.metadata["scorer"] for t in he} == {"code"}
    assert [t.id for t in gsm[:2]] == ["gsm8k-0", "gsm8k-1"]
    assert aqua[0].id == "aqua-0"
    assert he[0].id == "HumanEval/0" and he[163].id == "HumanEval/163"
    for tasks in (gsm, aqua, he):
        assert len({t.id for t in tasks}) == len(tasks)


def test_limit_format_and_sniffing_agree():
    path = _need(GSM8K)
    named = load_dataset("gsm8k", path=path, limit=7)
    by_format = load_dataset(str(path), format="gsm8k", limit=7)
    sniffed = load_dataset(str(path), limit=7)
    assert len(named) == 7
    assert [t.model_dump() for t in named] == [t.model_dump() for t in by_format] == [t.model_dump() for t in sniffed]
    he = load_dataset(str(_need(HUMANEVAL)), limit=3)
    assert he[0].metadata["scorer"] == "code"


def test_gsm8k_reference_is_the_number_after_hashes():
    path = _need(GSM8K)
    tasks = load_dataset("gsm8k", path=path)
    rows = _raw_rows(path)
    assert tasks[0].answer == "18"  # Janet's ducks
    for task, row in zip(tasks, rows, strict=True):
        raw = row["answer"].rsplit("####", 1)[1].strip().replace(",", "")
        assert float(task.answer) == float(raw)
        assert "," not in task.answer
        assert task.question == row["question"]
        assert task.metadata["solution"] == row["answer"]


def test_humaneval_metadata_kept():
    path = _need(HUMANEVAL)
    tasks = load_dataset("humaneval", path=path)
    rows = _raw_rows(path)
    for task, row in zip(tasks, rows, strict=True):
        assert task.domain == "code"
        assert task.question == row["prompt"]
        for key in ("test", "entry_point", "canonical_solution", "prompt"):
            assert task.metadata[key] == row[key]


# ---------------------------------------------------------------------------------- AQuA shuffling


def _option_text(option: str) -> str:
    return re.sub(r"^[A-E]\)", "", option).strip()


def test_aqua_shuffle_rewrites_gold_letter():
    path = _need(AQUA)
    rows = _raw_rows(path)
    tasks = load_dataset("aqua", path=path, seed=3)
    moved = 0
    for task, row in zip(tasks, rows, strict=True):
        original = [_option_text(o) for o in row["options"]]
        gold_text = original["ABCDE".index(row["correct"])]
        assert sorted(task.choices) == sorted(original)
        assert task.choices["ABCDE".index(task.answer)] == gold_text
        assert task.metadata["original_answer"] == row["correct"]
        moved += task.answer != row["correct"]
    assert moved > 100  # shuffling really moves most gold letters


def test_aqua_shuffle_deterministic_per_seed_and_differs_across_seeds():
    path = _need(AQUA)
    a1 = load_dataset("aqua", path=path, seed=11)
    a2 = load_dataset("aqua", path=path, seed=11)
    b = load_dataset("aqua", path=path, seed=12)
    assert [(t.choices, t.answer) for t in a1] == [(t.choices, t.answer) for t in a2]
    assert [t.choices for t in a1] != [t.choices for t in b]


def test_aqua_gold_letters_near_uniform():
    tasks = load_dataset("aqua", path=_need(AQUA), seed=0)
    counts = collections.Counter(t.answer for t in tasks)
    assert set(counts) == set("ABCDE")
    expected = len(tasks) / 5
    chi2 = sum((counts[k] - expected) ** 2 / expected for k in "ABCDE")
    assert chi2 < 13.28  # 1% critical value, 4 degrees of freedom
    # the source itself is skewed (E is rare); shuffling must not keep that skew
    unshuffled = collections.Counter(t.answer for t in load_dataset("aqua", path=AQUA, shuffle=False))
    assert unshuffled == collections.Counter(r["correct"] for r in _raw_rows(AQUA))


def test_shuffle_false_keeps_source_order():
    path = _need(AQUA)
    rows = _raw_rows(path)
    tasks = load_dataset("aqua", path=path, shuffle=False, limit=20)
    assert len(tasks) == 20
    for task, row in zip(tasks, rows[:20], strict=True):
        assert task.choices == [_option_text(o) for o in row["options"]]
        assert task.answer == row["correct"]


def test_shuffle_choices_depends_on_item_id():
    base = Task(id="x", question="q", choices=["a", "b", "c", "d", "e", "f"], answer="C")
    orders = {tuple(shuffle_choices(base.model_copy(update={"id": f"item-{i}"}), 0).choices) for i in range(30)}
    assert len(orders) > 10
    again = shuffle_choices(base, 5)
    assert again.choices == shuffle_choices(base, 5).choices
    assert again.choices[ord(again.answer) - 65] == "c"


# ---------------------------------------------------------------------------------- generic loader


def _write_jsonl(path: Path, rows: list[dict | str]) -> Path:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return path


def test_generic_loader_with_field_mapping(tmp_path):
    path = _write_jsonl(tmp_path / "mine.jsonl", [
        {"uid": "p1", "problem": "What is 2+2?", "solution": "4", "level": 1},
        {"uid": "p2", "problem": "Pick the vowel.", "solution": "e", "options": ["x", "e", "z"]},
    ])
    fields = {"question": "problem", "answer": "solution", "id": "uid", "choices": "options"}
    tasks = load_dataset(str(path), fields=fields, seed=1)
    assert [t.id for t in tasks] == ["p1", "p2"]
    assert tasks[0].answer == "4" and tasks[0].metadata["scorer"] == "exact"
    assert tasks[0].metadata["level"] == 1
    mc = tasks[1]
    assert mc.metadata["scorer"] == "choice"
    assert mc.choices["ABC".index(mc.answer)] == "e"  # gold given as option text → letter, then shuffled


def test_generic_gzip_and_scorer_override(tmp_path):
    path = tmp_path / "g.jsonl.gz"
    with gzip.open(path, "wt") as fh:
        fh.write(json.dumps({"question": "1+1?", "answer": "2"}) + "\n")
    tasks = load_dataset(str(path), format="generic", scorer="numeric")
    assert tasks[0].id == "g-0" and tasks[0].metadata["scorer"] == "numeric"


def test_malformed_line_names_file_and_line(tmp_path):
    path = _write_jsonl(tmp_path / "bad.jsonl", [{"question": "a", "answer": "#### 1"}, "{not json"])
    with pytest.raises(ConfigError, match=r"bad\.jsonl:2: invalid JSON"):
        load_dataset("gsm8k", path=path)


def test_missing_field_names_file_and_line(tmp_path):
    path = _write_jsonl(tmp_path / "aq.jsonl", [
        {"question": "q", "options": ["A)1", "B)2"], "correct": "A"},
        "",
        {"question": "q", "options": ["A)1", "B)2"]},
    ])
    with pytest.raises(ConfigError, match=r"aq\.jsonl:3: missing field 'correct'"):
        load_dataset("aqua", path=path)
    gen = _write_jsonl(tmp_path / "gen.jsonl", [{"prompt": "x"}])
    with pytest.raises(ConfigError, match=r"gen\.jsonl:1: missing field 'problem'"):
        load_dataset(str(gen), fields={"question": "problem"})


def test_gsm8k_without_hashes_and_bad_gold_letter(tmp_path):
    path = _write_jsonl(tmp_path / "g.jsonl", [{"question": "q", "answer": "just 5"}])
    with pytest.raises(ConfigError, match=r"g\.jsonl:1: .*####"):
        load_dataset("gsm8k", path=path)
    aq = _write_jsonl(tmp_path / "a.jsonl", [{"question": "q", "options": ["A)1", "B)2"], "correct": "E"}])
    with pytest.raises(ConfigError, match=r"a\.jsonl:1: 'correct'"):
        load_dataset("aqua", path=aq)


def test_duplicate_ids_rejected(tmp_path):
    path = _write_jsonl(tmp_path / "d.jsonl", [{"id": "a", "question": "1"}, {"id": "a", "question": "2"}])
    with pytest.raises(ConfigError, match=r"d\.jsonl:2: duplicate id 'a'"):
        load_dataset(str(path))


def test_unknown_names_paths_and_options(tmp_path):
    with pytest.raises(ConfigError, match="unknown dataset"):
        load_dataset("gsm9k")
    with pytest.raises(ConfigError, match="not found"):
        load_dataset(str(tmp_path / "nope.jsonl"))
    with pytest.raises(ConfigError, match="unknown option"):
        load_dataset("gsm8k", path=tmp_path / "x.jsonl", colour="red")
    with pytest.raises(ConfigError, match="generator 'knapsack'"):
        load_dataset("knapsack", n=2, bogus=1)
    with pytest.raises(ConfigError, match="unknown Task field"):
        load_dataset(str(_write_jsonl(tmp_path / "f.jsonl", [{"q": "x"}])), fields={"prompt": "q"})


def test_gsm8k_without_path_needs_one(monkeypatch):
    monkeypatch.delenv("MASLAB_DATA", raising=False)
    with pytest.raises(ConfigError, match="needs path="):
        load_dataset("gsm8k")
    monkeypatch.setenv("MASLAB_DATA", str(_need(GSM8K).parent))
    assert len(load_dataset("gsm8k", limit=5)) == 5


# ---------------------------------------------------------------------------------- generators


def test_generators_through_load_dataset():
    assert {"gsm8k", "aqua", "humaneval", "arithmetic", "knapsack", "assignment"} <= set(list_datasets())
    for name, scorer in (("arithmetic", "numeric"), ("knapsack", "knapsack"), ("assignment", "assignment")):
        tasks = load_dataset(name, n=5, seed=7)
        assert len(tasks) == 5
        assert all(t.metadata["scorer"] == scorer for t in tasks)
        assert [t.model_dump() for t in tasks] == [t.model_dump() for t in load_dataset(name, n=5, seed=7)]
        assert [t.question for t in tasks] != [t.question for t in load_dataset(name, n=5, seed=8)]
    assert len(load_dataset("arithmetic", limit=3)) == 3
