"""Profiles and deviations (maslab.method): one mechanism for `profile: reference` in workflows, sweep entries,
`--profile` on the CLI and `load_method(..., profile=)`; every system declares its deviations from its reference
as data, `maslab methods --deviations` prints them and `maslab report` lists them under the tables.

Runs on scripted deterministic models (`ModelPool.scripted`, scripted models files) where a model is needed.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from maslab.bench.report import deviations_markdown, sweep_methods, write_report
from maslab.bench.store import ResultRow, ResultStore
from maslab.bench.sweep import load_sweep
from maslab.cli import main
from maslab.errors import ConfigError
from maslab.method import (
    CALL_COUNTS,
    COUNT_LIMIT,
    PROFILES,
    Deviation,
    deviations_of,
    list_methods,
    load_method,
    reference_variant,
)
from maslab.task import Task
from maslab.workflow import load_workflow

THIRTEEN = ("vanilla", "cot", "self_consistency", "llm_debate", "mad", "self_refine", "reflexion", "agentverse",
            "dylan", "macnet", "mixture_of_agents", "camel", "mav")
# Systems that truly match their reference, and why (an empty deviation list must be a finding, not an omission).
MATCH_THEIR_REFERENCE = {
    "vanilla": "one call with the raw query at MASLab's temperature 0.5 and max_tokens 2048 (issue 11: exact)",
    "cot": "MASLab's step-by-step suffix, one call at its sampling defaults (issue 11: exact)",
}
# Config fields outside CALL_COUNTS that multiply model calls, marked json_schema_extra={"count": True}.
MARKED_COUNTS = {
    "blueprint": {"contract_retries"}, "ktr_knapsack": {"contract_retries"}, "ktr_assignment": {"contract_retries"},
    "manalyzer": {"paper_search_num", "keep_top", "extract_n", "max_check_num", "analyst_regenerations",
                  "contract_retries"},
    "spatial_agent": {"max_attempts"}, "x_mas_proto": {"direct_solvers", "revised_solvers", "max_revise_rounds"},
    "xmas_bench": {"max_roles"},
}


# --------------------------------------------------------------------------- the mechanism


def test_a_profile_fills_in_parameters_that_explicit_ones_override():
    ref = load_method("self_consistency", profile="reference")
    assert (ref.config.profile, ref.config.aggregate, ref.config.cue, ref.config.temperature) == (
        "reference", "llm", "", 0.5)
    mixed = load_method("self_consistency", profile="reference", temperature=0.9, samples=3)
    assert (mixed.config.aggregate, mixed.config.temperature, mixed.config.samples) == ("llm", 0.9, 3)
    default = load_method("self_consistency")
    assert (default.config.profile, default.config.aggregate, default.config.temperature) == ("default", "vote", 0.7)
    assert load_method("self_consistency", profile="reference").config == load_method(
        "self_consistency", **{"profile": "reference"}).config  # the same field, however it is given


def test_an_unknown_profile_is_a_clear_error():
    with pytest.raises(ConfigError, match="unknown profile 'maslab'; profiles: default, reference"):
        load_method("dylan", profile="maslab")


# Systems whose stages each send their own temperature (the spec's), unless `temperature` overrides them all;
# tests/systems/test_lad.py checks the recorded requests.
PER_STAGE_TEMPERATURES = {"lad"}


def test_sampling_is_explicit_on_every_system():
    for name, cls in list_methods().items():
        config = cls.Config()
        assert config.temperature is not None or name in PER_STAGE_TEMPERATURES, name
        assert config.max_tokens is not None, name
        assert set(PROFILES) <= set(cls.Config.profiles), name
        cls.Config(profile="reference")  # every reference profile is a valid configuration


@pytest.mark.parametrize("name", THIRTEEN)
def test_every_baseline_names_its_reference_and_declares_its_deviations(name: str):
    cls = list_methods()[name]
    assert cls.reference, name
    for d in cls.deviations:
        assert isinstance(d, Deviation) and d.what and d.why
        assert set(d.profiles) <= set(cls.Config.profiles), (name, d.what)
    maslab_ported = name not in ("self_refine", "reflexion", "mixture_of_agents")
    assert ("MASLab 74265c7" in cls.reference) == maslab_ported


@pytest.mark.parametrize("name", sorted(list_methods()))
def test_every_system_names_its_reference_and_declares_its_deviations(name: str):
    """Every registered system says what its reference profile reproduces and lists how it differs; a system
    with no deviation is one whose match with its reference was measured (MATCH_THEIR_REFERENCE, with why)."""
    cls = list_methods()[name]
    assert cls.reference.strip(), f"{name}: Method.reference is empty"
    if name in MATCH_THEIR_REFERENCE:
        assert cls.deviations == (), f"{name} now declares deviations: drop it from MATCH_THEIR_REFERENCE"
    else:
        assert cls.deviations, f"{name} declares no deviation from {cls.reference!r}"
    for d in cls.deviations:
        assert isinstance(d, Deviation) and d.what.strip() and d.why.strip(), (name, d)
        assert set(d.profiles) <= set(cls.Config.profiles), (name, d.what)


def test_systems_without_released_code_say_paper_only():
    for name in ("ktr_knapsack", "ktr_assignment", "blueprint"):
        reference = list_methods()[name].reference
        assert "arXiv 2505.16979" in reference and "paper only" in reference, name
        assert any(d.kind == "missing" and "reconstructed" in d.why for d in deviations_of(name)), name


def _counts(cls: type) -> set[str]:
    return {f for f, info in cls.Config.model_fields.items()
            if f in CALL_COUNTS or (isinstance(info.json_schema_extra, dict) and info.json_schema_extra.get("count"))}


@pytest.mark.parametrize("name", sorted(MARKED_COUNTS))
def test_call_multiplying_fields_are_bounded(name: str):
    """The marked counts are bounded at COUNT_LIMIT, and both profiles stay within it."""
    cls = list_methods()[name]
    counts = _counts(cls)
    assert MARKED_COUNTS[name] <= counts, MARKED_COUNTS[name] - counts
    for profile in PROFILES:
        config = cls.Config(profile=profile)
        assert all(getattr(config, f) is None or getattr(config, f) <= COUNT_LIMIT for f in counts), (name, profile)
    for field in MARKED_COUNTS[name]:
        with pytest.raises(ValueError, match=f"{field}={COUNT_LIMIT + 1} is above the maximum of {COUNT_LIMIT}"):
            cls.Config(**{field: COUNT_LIMIT + 1})


def test_a_blueprint_leafs_self_check_rounds_are_bounded():
    assert load_method("ktr_knapsack", augmentation={"Trimmer": f"self_check({COUNT_LIMIT})"})
    with pytest.raises(ConfigError, match=f"augmentation.Trimmer self_check={COUNT_LIMIT + 1} is above the maximum"):
        load_method("ktr_knapsack", augmentation={"Trimmer": f"self_check({COUNT_LIMIT + 1})"})


def test_t1_agents_reference_profile_is_the_papers_single_shot_loop():
    ref, default = load_method("t1_agent", profile="reference").config, load_method("t1_agent").config
    assert (ref.repair_rounds, ref.max_tokens, ref.temperature) == (0, 4000, 0.1)
    assert (default.repair_rounds, default.max_tokens, default.temperature) == (1, 1024, 0.1)
    default_only = [d.what for d in deviations_of("t1_agent", "default") if "reference" not in d.profiles]
    assert len(default_only) == 2 and any("repair_rounds 1" in w for w in default_only)
    assert any(w.startswith("max_tokens 1024") for w in default_only)


@pytest.mark.parametrize("name", sorted(list_methods()))
def test_every_reference_profile_builds_a_drawable_graph(name: str):
    from maslab.drawing import to_mermaid

    params = {"blueprint": str(Path(__file__).resolve().parents[1] / "examples" / "average_blueprint.py") + ":protocol",
              "leaves": {"adder": {"contract": "ADD"}, "divider": {"contract": "DIVIDE"}}} if name == "blueprint" else {}
    assert "__start__" in to_mermaid(load_method(name, profile="reference", **params))


def test_deviations_of_filters_by_profile():
    everything = deviations_of("dylan")
    reference = deviations_of("dylan", "reference")
    default = deviations_of("dylan", "default")
    assert set(reference) | set(default) == set(everything) and reference and default
    assert all("reference" in d.profiles for d in reference)
    assert any("unigram precision" in d.what for d in default)
    assert not any("unigram precision" in d.what for d in reference)
    with pytest.raises(ConfigError, match="no profile"):
        deviations_of("dylan", "nope")


def test_reference_variant_follows_masslabs_dataset_name_rule():
    variants = ("math", "mmlu")
    assert reference_variant(Task(question="q", metadata={"source": "gsm8k"}, domain="math"), variants,
                             "main") == "main"  # GSM8K is dylan_main in MASLab, though its domain is math
    assert reference_variant(Task(question="q", metadata={"source": "/d/MATH-500.jsonl"}), variants, "main") == "math"
    assert reference_variant(Task(question="q", metadata={"dataset": "MMLU-Pro"}), variants, "main") == "mmlu"
    assert reference_variant(Task(question="q", domain="math"), variants, "main") == "math"  # no dataset name
    assert reference_variant(None, variants, "main") == "main"


# --------------------------------------------------------------------------- workflows, sweeps, the CLI


def test_workflow_profile_key_and_override(tmp_path: Path):
    path = tmp_path / "wf.yaml"
    path.write_text("name: sc\nmethod: self_consistency\nprofile: reference\nparams: {samples: 3}\n")
    method = load_workflow(path).to_method()
    assert (method.config.profile, method.config.aggregate, method.config.samples) == ("reference", "llm", 3)
    plain = load_workflow(path, overrides=["profile=default"]).to_method()
    assert (plain.config.profile, plain.config.aggregate) == ("default", "vote")
    path.write_text("name: sc\nmethod: self_consistency\nprofile: referense\n")
    with pytest.raises(Exception) as err:
        load_workflow(path)
    assert "wf.yaml:3: profile" in str(err.value) and "unknown profile 'referense'" in str(err.value)


def test_sweep_method_entries_take_a_profile(tmp_path: Path):
    path = tmp_path / "sweep.yaml"
    path.write_text(textwrap.dedent("""
        name: s
        models: {default: m, models: {m: {scripted: ['x']}}}
        methods:
          - {method: dylan, label: dylan-ref, profile: reference}
          - {method: dylan}
        datasets: [{name: arith, generator: arithmetic, n: 1}]
    """))
    sweep = load_sweep(path)
    assert sweep.methods[0].params == {"profile": "reference"} and sweep.methods[1].params == {}
    path.write_text(path.read_text().replace("profile: reference", "profile: nope"))
    with pytest.raises(Exception, match="unknown profile 'nope'"):
        load_sweep(path)
    shipped = load_sweep(Path(__file__).resolve().parents[1] / "workflows" / "sweeps" / "reference.yaml")
    assert {(m.method, m.params.get("profile", "default")) for m in shipped.methods} == {
        (name, profile) for name in ("self_consistency", "dylan", "mad") for profile in ("default", "reference")}


def _models(tmp_path: Path) -> Path:
    models = tmp_path / "models.yaml"
    models.write_text("default: s\nmodels:\n  s: {scripted: ['The answer is 42.']}\n")
    return models


def _calls(trace: Path) -> list[dict]:
    return [x for x in map(json.loads, trace.read_text().splitlines()) if x["event"] == "call"]


def test_ask_takes_a_profile(tmp_path: Path, capsys):
    """Scripted models file: self_consistency's default votes over 5 samples; --profile reference adds
    MASLab's aggregator call (6)."""
    models = _models(tmp_path)
    for profile, calls in ((None, 5), ("reference", 6)):
        trace = tmp_path / f"{profile}.jsonl"
        args = ["ask", "q", "--method", "self_consistency", "--models", str(models), "--trace", str(trace)]
        assert main([*args, *(["--profile", profile] if profile else [])]) == 0
        assert len(_calls(trace)) == calls
    assert main(["ask", "q", "--models", str(models), "--profile", "nope"]) == 2
    assert "unknown profile 'nope'" in capsys.readouterr().err


def test_run_takes_a_profile(tmp_path: Path, capsys):
    models = _models(tmp_path)
    wf = tmp_path / "sc.yaml"
    wf.write_text("name: sc\nmethod: self_consistency\nparams: {samples: 2}\n")
    assert main(["run", str(wf), "-q", "q", "--models", str(models), "--profile", "reference",
                 "--runs-dir", str(tmp_path / "runs")]) == 0
    [run] = list((tmp_path / "runs").iterdir())
    assert len(_calls(run / "trace.jsonl")) == 3  # 2 samples + the reference's aggregator
    assert main(["run", str(wf), "--dataset", "arithmetic", "--limit", "1", "--models", str(models),
                 "--profile", "reference", "--runs-dir", str(tmp_path / "runs2")]) == 0
    [run] = list((tmp_path / "runs2").iterdir())
    store = ResultStore.open(run / "results.sqlite")
    assert [c["method_params"] for c in store.cells()] == [{"profile": "reference"}]  # the report reads it
    store.close()


def test_methods_deviations_lists_dylans(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")
    assert main(["methods", "--deviations", "dylan"]) == 0
    out = capsys.readouterr().out
    assert "dylan" in out and "MASLab 74265c7" in out and "unigram" in out and "indexing slip" in out
    assert "macnet" not in out
    assert main(["methods", "--deviations"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in list_methods())
    assert main(["methods", "--deviations", "dylann"]) == 2
    assert "did you mean dylan" in capsys.readouterr().err


# --------------------------------------------------------------------------- the report


def _store(tmp_path: Path) -> Path:
    store = ResultStore(tmp_path / "results.sqlite")
    for label, params in (("dylan-ref", {"profile": "reference"}), ("dylan", {})):
        cell = f"{label}|default|arith|seed=0"
        store.add_cell({"cell_id": cell, "sweep": "s", "method": "dylan", "method_label": label,
                        "method_params": params, "assignment": "default", "roles": {}, "dataset": "arith",
                        "seed": 0, "n_tasks": 1})
        store.write(ResultRow(cell_id=cell, task_id="t0", sweep="s", method="dylan", method_label=label,
                              method_params=params, assignment="default", dataset="arith", seed=0, status="ok",
                              correct=True, score=1.0, calls=3))
    store.set_meta("sweep", {"name": "s"})
    store.close()
    return tmp_path


def test_report_lists_the_deviations_of_every_method_under_the_tables(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")
    out_dir = _store(tmp_path)
    report = write_report(out_dir)
    assert report.methods == [("dylan", "reference"), ("dylan", "default")]
    md = (out_dir / "report.md").read_text()
    section = md[md.index("## Deviations from the reference implementations"):]
    assert md.index("## arith") < md.index("## Deviations")  # under the tables
    ref_part = section[section.index("### dylan (profile reference)"):section.index("### dylan (profile default)")]
    assert "indexing slip" in ref_part and "unigram precision" not in ref_part
    assert "unigram precision" in section[section.index("### dylan (profile default)"):]
    assert 'id="deviations"' in (out_dir / "report.html").read_text()
    assert main(["report", str(out_dir)]) == 0
    assert "dylan (profile reference)" in capsys.readouterr().out


def test_deviations_section_names_systems_that_cannot_be_loaded():
    text = deviations_markdown(sweep_methods([{"method": "not_a_system", "method_params": {}}]))
    assert "not_a_system (profile default)" in text and "cannot load the system" in text


def test_the_deviations_document_is_current(capsys):
    """docs/deviations.md (linked from the README) is exactly what the registry prints."""
    assert main(["methods", "--deviations", "--markdown"]) == 0
    doc = Path(__file__).resolve().parents[1] / "docs" / "deviations.md"
    assert capsys.readouterr().out == doc.read_text(), "regenerate: maslab methods --deviations --markdown > docs/deviations.md"


# --------------------------------------------------------------------------- end to end on the embedded model

# Reference profiles at small sizes, on the embedded model. Three that exercise the profile machinery
# differently (a preset of parameters, a changed stopping rule, a per-dataset variant) keep this near 11
# calls; every system's default profile already runs end to end through its workflow
# (tests/test_integration.py), and the reference profiles' orchestration is pinned on scripted models.
SMALL = {"self_consistency": {"samples": 2}, "mad": {"max_round": 1}, "mav": {"n_solutions": 1, "n_max_verifiers": 1}}


@pytest.mark.integration
@pytest.mark.parametrize("name", sorted(SMALL))
async def test_reference_profile_runs_end_to_end_on_the_embedded_model(name: str, embedded_pool):
    """The embedded SmolLM2 on a real llama.cpp server (max_tokens capped at 16): reference profiles run to a
    string answer without a failed call."""
    method = load_method(name, profile="reference", **SMALL[name])
    solution = await method.solve(Task(id="e2e", question="What is 6 times 7?", domain="math"), pool=embedded_pool)
    assert isinstance(solution.answer, str)
    assert solution.usage.calls >= 1 and solution.usage.errors == 0 and solution.usage.calls == len(solution.messages)
