"""`maslab route calibrate | explain` (Avengers router, arXiv 2505.19797), in-process through `maslab.cli.main`.

Routers are fitted for real with the offline all-MiniLM-L6-v2 embedder on the synthetic topic records
of `tests/systems/avengers_topics.py` (each topic has one model that is always right); the sweep store is made by
a real sweep on scripted deterministic models (the scripted function answers right only on its topic).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from maslab.cli import main
from maslab.errors import ConfigError
from maslab.models import ModelPool
from tests.systems.avengers_topics import (
    CALIBRATION,
    HELD_OUT,
    MODELS,
    ORACLE,
    TOPICS,
    calibration_records,
    topic_expert,
)

ARTEFACTS = ("centres.npy", "rankings.json", "models.json", "normalizer.joblib", "config.json", "heatmap.png",
             "records.jsonl")


@pytest.fixture(scope="module")
def records_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("records") / "synthetic.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in calibration_records()))
    return path


@pytest.fixture(scope="module")
def router_dir(records_file, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("router") / "r"
    assert main(["route", "calibrate", "--records", str(records_file), "--k", "3", "--out", str(out)]) == 0
    return out


def explain_json(router: Path, question: str, *extra: str, capsys) -> dict:
    capsys.readouterr()
    assert main(["route", "explain", str(router), question, "--json", *extra]) == 0
    out = capsys.readouterr().out
    assert len(out.strip().splitlines()) == 1  # one JSON object, nothing else on stdout
    return json.loads(out)


def test_calibrate_from_records_writes_the_artefacts_and_a_summary(records_file, tmp_path, capsys):
    out = tmp_path / "router"
    assert main(["route", "calibrate", "--records", str(records_file), "--k", "3", "--seed", "7", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    for name in ARTEFACTS:
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert np.load(out / "centres.npy").shape == (3, 384)
    config = json.loads((out / "config.json").read_text())
    assert config["k"] == 3 and config["seed"] == 7 and config["embedder_spec"]["kind"] == "sentence-transformers"
    assert set(config["selected_models"]) == set(MODELS)
    rankings = json.loads((out / "rankings.json").read_text())
    assert sorted(r["ranking"][0] for r in rankings.values()) == sorted(ORACLE.values())  # one oracle per cluster
    assert len((out / "records.jsonl").read_text().splitlines()) == 3 * len(CALIBRATION)
    assert (out / "heatmap.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "clusters" in printed and "selected (inverse_rank_sum)" in printed
    for m in MODELS:
        assert m in printed


def test_calibrate_clamps_k_and_is_deterministic(records_file, tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        assert main(["route", "calibrate", "--records", str(records_file), "--k", "500", "--out", str(out)]) == 0
    assert "clamped" in capsys.readouterr().out
    assert json.loads((a / "config.json").read_text())["k"] == 3 * len(CALIBRATION)
    for name in ("centres.npy", "rankings.json", "models.json", "config.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_explain_json_ranks_the_topic_oracle_first(router_dir, capsys):
    for topic, make in TOPICS.items():
        for i in HELD_OUT:
            question, _ = make(i)
            got = explain_json(router_dir, question, capsys=capsys)
            assert got["models"] == [ORACLE[topic]], question
            assert got["question"] == question and len(got["clusters"]) == 1
            assert got["tables"][0]["ranking"][0] == ORACLE[topic]
    two = explain_json(router_dir, TOPICS["history"](13)[0], "--top-n", "2", "--top-k", "2", capsys=capsys)
    assert len(two["models"]) == 2 and two["models"][0] == "beta" and len(two["clusters"]) == 2


def test_explain_prints_clusters_distances_and_scores(router_dir, capsys):
    capsys.readouterr()
    assert main(["route", "explain", str(router_dir), TOPICS["geometry"](14)[0]]) == 0
    out = capsys.readouterr().out
    for needle in ("nearest clusters", "distance", "routing scores", "routed to:", "gamma", "accuracy"):
        assert needle in out, needle


def test_explain_restricts_candidates_to_the_models_file(router_dir, tmp_path, capsys):
    models = tmp_path / "models.yaml"
    models.write_text("default: beta\nmodels:\n  beta: {scripted: ['x']}\n  gamma: {scripted: ['x']}\n")
    got = explain_json(router_dir, TOPICS["chemistry"](12)[0], "--models", str(models), capsys=capsys)
    assert got["models"][0] in ("beta", "gamma") and "alpha" not in got["scores"]
    none = tmp_path / "none.yaml"
    none.write_text("default: x\nmodels:\n  x: {scripted: ['x']}\n")
    assert main(["route", "explain", str(router_dir), "q", "--models", str(none)]) == 2
    assert "none of the router's models" in " ".join(capsys.readouterr().err.split())


async def test_calibrate_from_a_sweep_store_made_with_scripted_models(tmp_path, capsys):
    from maslab.bench.sweep import Sweep, run_sweep

    data = tmp_path / "topics.jsonl"
    lines = [{"id": f"{topic}-{i}", "question": make(i)[0], "answer": str(make(i)[1])}
             for topic, make in TOPICS.items() for i in CALIBRATION]
    data.write_text("".join(json.dumps(x) + "\n" for x in lines))
    sweep = Sweep.model_validate({
        "name": "calib", "methods": [{"method": "self_consistency", "params": {"samples": 3}}],
        "assignments": [{"name": m, "model": m} for m in MODELS],
        "datasets": [{"name": "topics", "path": str(data), "scorer": "numeric"}]})
    summary = await run_sweep(sweep, out=tmp_path / "sweep", pool=ModelPool.scripted(topic_expert, *MODELS),
                              progress=False)
    assert summary.ran == 3 * len(lines) and summary.failed == 0
    with sqlite3.connect(tmp_path / "sweep" / "results.sqlite") as con:
        assert con.execute("SELECT SUM(correct) FROM results").fetchone()[0] == len(lines)  # only oracles right

    out = tmp_path / "router"
    assert main(["route", "calibrate", "--store", str(tmp_path / "sweep"), "--k", "3", "--out", str(out)]) == 0
    records = [json.loads(x) for x in (out / "records.jsonl").read_text().splitlines()]
    assert len(records) == len(lines) and set(records[0]["records"]) == set(MODELS)
    assert all(sum(r["records"].values()) == 1 for r in records)
    for topic, make in TOPICS.items():
        assert explain_json(out, make(15)[0], capsys=capsys)["models"] == [ORACLE[topic]]
    # the results.sqlite file itself works too
    assert main(["route", "calibrate", "--store", str(tmp_path / "sweep" / "results.sqlite"), "--k", "3",
                 "--out", str(tmp_path / "router2")]) == 0


@pytest.mark.parametrize("argv, message", [
    (["calibrate", "--records", "missing.jsonl", "--out", "OUT"], "missing.jsonl: file not found"),
    (["calibrate", "--store", "nowhere", "--out", "OUT"], "no results.sqlite"),
    (["calibrate", "--records", "RECORDS", "--k", "0", "--out", "OUT"], "--k must be >= 1"),
    (["calibrate", "--records", "RECORDS", "--n-models", "0", "--out", "OUT"], "--n-models must be >= 1"),
    (["calibrate", "--records", "BAD", "--out", "OUT"], "bad.jsonl:2: invalid JSON"),
    (["explain", "nowhere", "q"], "no such router directory"),
    (["explain", "EMPTY", "q"], "missing router artefact"),
    (["explain", "ROUTER", "q", "--top-n", "0"], "--top-k and --top-n must be >= 1"),
])
def test_errors_exit_2_with_a_clear_message(argv, message, records_file, router_dir, tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(calibration_records()[0]) + "\n{not json\n")
    (tmp_path / "empty").mkdir()
    subs = {"OUT": str(tmp_path / "out"), "RECORDS": str(records_file), "BAD": str(bad),
            "EMPTY": str(tmp_path / "empty"), "ROUTER": str(router_dir)}
    capsys.readouterr()
    assert main(["route", *[subs.get(a, a) for a in argv]]) == 2
    err = " ".join(capsys.readouterr().err.split())  # rich wraps long lines
    assert message in err and "Traceback" not in err


def test_route_command_errors_are_config_errors():
    from argparse import Namespace

    from maslab.routers.cli import RouteCommandError, route_command

    assert issubclass(RouteCommandError, ConfigError)
    with pytest.raises(RouteCommandError, match="unknown route action"):
        route_command(Namespace(route_command="plot"))
