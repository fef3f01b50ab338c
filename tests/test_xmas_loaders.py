"""X-MAS-Bench's loaders read the published formats of its other sets into Tasks with their domain.

The files under tests/fixtures/xmas/ are synthetic fixtures written in each set's published format
(none of the real sets ships with maslab); GSM8K, AQuA and HumanEval are real (../shared/data).
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pytest
from scipy.stats import chisquare

from maslab.bench.datasets import load_dataset
from maslab.bench.xmas.domains import DATASET_DOMAINS, canonical_domain, check_domain
from maslab.bench.xmas.loaders import GPQA_COLUMNS
from maslab.errors import ConfigError

FIXTURES = Path(__file__).parent / "fixtures" / "xmas"

CASES = [  # dataset, fixture file, items, domain, default scorer, (first task's gold, after no shuffle)
    ("math500", "math500.jsonl", 2, "math", "math", "\\frac{3}{4}"),
    ("aime", "aime_2024.jsonl", 2, "math", "math", "24"),
    ("scibench", "scibench.json", 2, "science", "numeric", "6"),
    ("medqa", "medqa.jsonl", 2, "medicine", "choice", "B"),
    ("medmcqa", "medmcqa.jsonl", 2, "medicine", "choice", "C"),
    ("pubmedqa", "ori_pqal.json", 2, "medicine", "choice", "A"),
    ("finqa", "finqa_test.json", 2, "finance", "numeric", "0.2"),
    ("mmlu", "abstract_algebra_test.csv", 3, "general", "choice", "C"),
    ("mmlu_pro", "mmlu_pro.jsonl", 2, "general", "choice", "C"),
]


@pytest.mark.parametrize(("name", "file", "n", "domain", "scorer", "gold"), CASES, ids=[c[0] for c in CASES])
def test_each_published_format_loads_with_its_domain_and_scorer(name, file, n, domain, scorer, gold):
    """Synthetic fixture in the set's published format: every item becomes a Task with the set's
    domain, default scorer and gold; ids are unique."""
    tasks = load_dataset(name, path=FIXTURES / file, shuffle=False)
    assert len(tasks) == n and len({t.id for t in tasks}) == n
    assert {t.domain for t in tasks} == {domain} == {DATASET_DOMAINS[name]}
    assert {t.metadata["scorer"] for t in tasks} == {scorer}
    assert tasks[0].answer == gold
    assert all("FIXTURE" in t.question for t in tasks)


def test_multiple_choice_sets_keep_their_options_and_point_gold_at_the_right_one():
    """Synthetic fixtures: after the seeded option shuffle the gold letter still names the same option."""
    expectations = {"medqa": "Scurvy", "medmcqa": "60-100", "pubmedqa": "yes", "mmlu": "4", "mmlu_pro": "7"}
    files = {c[0]: c[1] for c in CASES}
    for name, option in expectations.items():
        task = load_dataset(name, path=FIXTURES / files[name], seed=3)[0]
        assert task.choices[ord(task.answer) - ord("A")] == option, name


def test_question_texts_carry_what_the_published_items_hold():
    """Synthetic fixtures: SciBench states the unit, PubMedQA gives the contexts, FinQA the table."""
    sci = load_dataset("scibench", path=FIXTURES / "scibench.json")[0]
    assert sci.question.endswith("The unit of the answer is $\\mathrm{N}$.")
    pub = load_dataset("pubmedqa", path=FIXTURES / "ori_pqal.json", shuffle=False)[0]
    assert "a trial of 200 adults" in pub.question and pub.choices == ["yes", "no", "maybe"]
    fin = load_dataset("finqa", path=FIXTURES / "finqa_test.json")[0]
    assert "revenue | $ 120 | $ 100" in fin.question and fin.question.endswith("from 2018 to 2019?")


def test_a_sweep_reads_them_by_path_and_format(tmp_path):
    """Synthetic fixture: a sweep's dataset entry `{path: …, format: gpqa}` reads the CSV."""
    from maslab.bench.sweep import DatasetEntry

    tasks = DatasetEntry(name="gpqa", path=str(FIXTURES / "gpqa_main.csv"), format="gpqa").load(0, tmp_path)
    assert len(tasks) == 4 and all(t.domain == "science" for t in tasks)


def _gpqa_csv(path: Path, n: int) -> Path:
    """A synthetic GPQA-format CSV of `n` items (the size of GPQA main is 448), correct answer first
    in every row — exactly the order of the published file and of X-MAS's shipped copies."""
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([*GPQA_COLUMNS, "Record ID"])
        for i in range(n):
            w.writerow([f"FIXTURE question {i}?", f"right {i}", f"wrong {i}a", f"wrong {i}b", f"wrong {i}c", f"rec{i:04d}"])
    return path


@pytest.mark.parametrize("shuffle", [True, False], ids=["load_dataset-shuffle", "shuffle=False"])
def test_gpqa_gold_letters_are_spread_over_a_to_d_and_stable_per_seed(tmp_path, shuffle):
    """Synthetic GPQA-format file of 448 items, correct answer always in the first column: the loader's
    seeded shuffle spreads the gold letter over A–D (χ² goodness of fit against uniform), identically
    for the same seed, and always on the right option — even with load_dataset's own shuffle off."""
    path = _gpqa_csv(tmp_path / "gpqa_main.csv", 448)
    first = load_dataset("gpqa", path=path, seed=5, shuffle=shuffle)
    again = load_dataset("gpqa", path=path, seed=5, shuffle=shuffle)
    assert [(t.choices, t.answer) for t in first] == [(t.choices, t.answer) for t in again]
    counts = Counter(t.answer for t in first)
    assert set(counts) == set("ABCD")
    assert chisquare([counts[c] for c in "ABCD"]).pvalue > 0.01, counts
    assert counts["A"] < 448 / 2
    assert all(t.choices[ord(t.answer) - ord("A")] == f"right {i}" for i, t in enumerate(first))
    other = load_dataset("gpqa", path=path, seed=6, shuffle=shuffle)
    assert ([t.answer for t in other] != [t.answer for t in first]) == shuffle


@pytest.mark.parametrize(("name", "content", "message"), [
    ("medmcqa", {"question": "q", "opa": "a", "opb": "b", "opc": "c", "opd": "d", "cop": 0}, "numbers options 1–4"),
    ("medqa", {"question": "q", "options": {"A": "x", "C": "y"}, "answer_idx": "A"}, "lettered A, B"),
    ("aime", {"ID": "1", "Problem": "p", "Answer": "many"}, "is not a number"),
    ("mmlu_pro", {"question_id": 1, "question": "q", "options": ["a", "b"], "answer": "Z"}, "not one of the option"),
])
def test_malformed_rows_are_located_errors(tmp_path, name, content, message):
    """Synthetic malformed rows: ConfigError naming the file and line."""
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(content) + "\n")
    with pytest.raises(ConfigError, match=message) as err:
        load_dataset(name, path=path)
    assert f"{path}:1" in str(err.value)


def test_json_sets_name_the_item_and_the_file_on_bad_input(tmp_path):
    """Synthetic bad files: a FinQA item without a numeric answer, a PubMedQA verdict outside yes/no/maybe."""
    fin = tmp_path / "finqa.json"
    fin.write_text(json.dumps([{"qa": {"question": "q", "exe_ans": "n/a"}}]))
    with pytest.raises(ConfigError, match="item 0.*not a number"):
        load_dataset("finqa", path=fin)
    pub = tmp_path / "pqal.json"
    pub.write_text(json.dumps({"1": {"QUESTION": "q", "CONTEXTS": [], "final_decision": "perhaps"}}))
    with pytest.raises(ConfigError, match="PMID 1.*perhaps"):
        load_dataset("pubmedqa", path=pub)
    broken = tmp_path / "broken.json"
    broken.write_text("[{")
    with pytest.raises(ConfigError, match="invalid JSON"):
        load_dataset("scibench", path=broken)


def test_real_math_and_code_sets_carry_the_bench_domains(shared_data):
    """Real GSM8K, AQuA and HumanEval (../shared/data) and the arithmetic generator: math and code."""
    assert {t.domain for t in load_dataset("gsm8k", path=shared_data / "gsm8k_test.jsonl", limit=3)} == {"math"}
    assert {t.domain for t in load_dataset("aqua", path=shared_data / "aqua_test.jsonl", limit=3)} == {"math"}
    assert {t.domain for t in load_dataset("humaneval", path=shared_data / "humaneval.jsonl.gz", limit=3)} == {"code"}
    assert {t.domain for t in load_dataset("arithmetic", n=3)} == {"math"}


def test_domain_names_accept_the_papers_spelling():
    """`coding` is `code`, `medical` is `medicine`; an unknown domain is a clear error."""
    assert canonical_domain("Coding") == "code" and canonical_domain("medical") == "medicine"
    assert check_domain("finance") == "finance"
    with pytest.raises(ConfigError, match="unknown X-MAS domain 'law'"):
        check_domain("law")
