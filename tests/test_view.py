"""`maslab view`: the grid, filtered task lists, transcripts by agent with the graph, exports, live refresh.

The data is a real sweep (tests/view_sweep.py) run on scripted deterministic models — the viewer reads
what `maslab bench` writes, and which rows are right, wrong or failed is known by construction. The
page itself is driven in headless Chromium (the system's /usr/bin/chromium through Playwright's
Python API; no browser is downloaded), with every request the browser makes logged.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

import pytest

from maslab.bench.stats import summarize
from maslab.bench.store import ResultRow, ResultStore
from maslab.cli import main
from maslab.errors import ConfigError
from maslab.view import ViewServer, open_source
from maslab.view.source import RunSource, SweepSource
from maslab.view.transcript import Turn, build_transcript
from tests.view_sweep import SUMS, SmallSweep, run_small_sweep

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[1]
DEBATE_NODES = ["answer_independently"] * 3 + ["debate"] * 3 + ["aggregate"]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> SmallSweep:
    return asyncio.run(run_small_sweep(tmp_path_factory.mktemp("view") / "small"))


@pytest.fixture
def source(sweep) -> SweepSource:
    s = open_source(sweep.out)
    assert isinstance(s, SweepSource)
    yield s
    s.close()


def _get(url: str, host: str | None = None) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


# ------------------------------------------------------------------------------------------- the data


def test_the_grid_lists_every_cell_with_the_report_statistics(sweep, source):
    grid = source.grid()
    assert grid["kind"] == "sweep" and grid["title"] == "view-small" and grid["rows"] == 48
    assert sorted(c["cell_id"] for c in grid["cells"]) == sorted(sweep.cells)
    store = ResultStore.open(sweep.out, readonly=True)
    expected = {s.cell_id: s for s in summarize(store)}
    for c in grid["cells"]:
        s = expected[c["cell_id"]]
        assert (c["accuracy"], c["ci_low"], c["ci_high"], c["errors"], c["tokens_per_task"], c["calls_per_task"]) == (
            s.accuracy, s.ci_low, s.ci_high, s.errors, s.tokens_per_task, s.calls_per_task)
        assert c["total_tokens"] == round(s.tokens_per_task * s.n)
    debate = next(c for c in grid["cells"] if c["cell_id"] == sweep.cell("llm_debate", "mixed"))
    assert debate["calls_per_task"] == 7 and debate["accuracy"] == 1.0
    assert {p["method_label"] for p in grid["pooled"]} == {"llm_debate", "vanilla"}  # two seeds pooled
    assert all(p["n"] == 12 for p in grid["pooled"])


@pytest.mark.parametrize(("method", "assignment"), [("llm_debate", "weak"), ("vanilla", "mixed"), ("llm_debate", "mixed")])
def test_verdict_filters_list_exactly_the_wrong_right_and_failed_rows(sweep, source, method, assignment):
    cell = sweep.cell(method, assignment)
    ids = lambda status: {r.task_id for r in source.query(cell, status=status)[0]}  # noqa: E731
    wrong, errors = sweep.wrong(method, assignment), sweep.errors(method, assignment)
    assert ids("wrong") == wrong
    assert ids("error") == errors
    assert ids("not_right") == wrong | errors
    assert ids("right") == set(SUMS) - wrong - errors
    assert ids("all") == set(SUMS)


def test_pairing_two_cells_finds_the_tasks_a_got_right_and_b_wrong(sweep, source):
    a, b = sweep.cell("llm_debate", "mixed"), sweep.cell("vanilla", "mixed")
    rows, others = source.query(a, b=b, pair="a_right_b_wrong")
    assert {r.task_id for r in rows} == {"q4", "q6"}  # vanilla wrong on q4, failed on q6 (counts as wrong)
    assert all(others[r.task_id].cell_id == b for r in rows)
    assert {r.task_id for r in source.query(b, b=a, pair="a_wrong_b_right")[0]} == {"q4", "q6"}
    assert {r.task_id for r in source.query(a, b=b, pair="both_right")[0]} == {"q1", "q2", "q3", "q5"}
    assert source.query(a, b=b, pair="both_wrong")[0] == []


def test_search_matches_question_answer_and_id_case_insensitively(sweep, source):
    cell = sweep.cell("vanilla", "weak")
    assert [r.task_id for r in source.query(cell, q="what is 12 + 30")[0]] == ["q5"]
    assert [r.task_id for r in source.query(cell, q="Q3")[0]] == ["q3"]
    assert {r.task_id for r in source.query(cell, q="THE SUM IS 9")[0]} == {"q2", "q6"}  # in the answers
    assert [r.task_id for r in source.query(cell, q="the sum is 9", status="wrong")[0]] == ["q2"]


def test_pages_are_cut_on_the_server_and_sorted(sweep, source):
    cell = sweep.cell("llm_debate", "weak")
    first = source.page(cell, offset=0, limit=4)
    second = source.page(cell, offset=4, limit=4)
    assert first["total"] == second["total"] == 6
    assert [r["task_id"] for r in first["rows"]] == ["q1", "q2", "q3", "q4"]
    assert [r["task_id"] for r in second["rows"]] == ["q5", "q6"]
    by_status = source.page(cell, sort="status", limit=6)["rows"]
    assert [r["verdict"] for r in by_status] == ["right"] * 3 + ["wrong"] * 3


def test_bad_filters_and_unknown_cells_are_clear_errors(sweep, source):
    with pytest.raises(ConfigError, match="no cell 'nope'"):
        source.query("nope")
    with pytest.raises(ConfigError, match="status must be one of"):
        source.query(sweep.cells[0], status="maybe")
    with pytest.raises(ConfigError, match="pair needs b"):
        source.query(sweep.cells[0], pair="both_right")


def test_csv_export_holds_every_filtered_row_with_b_beside_it(sweep, source):
    a, b = sweep.cell("llm_debate", "mixed"), sweep.cell("vanilla", "mixed")
    table = list(csv.DictReader(io.StringIO(source.csv(a, b=b, pair="a_right_b_wrong"))))
    assert [(r["task_id"], r["verdict"], r["b_verdict"]) for r in table] == [("q4", "right", "wrong"),
                                                                             ("q6", "right", "error")]
    assert table[0]["b_cell_id"] == b and table[0]["reference"] == "15"
    wrong = list(csv.DictReader(io.StringIO(source.csv(sweep.cell("vanilla", "weak"), status="wrong"))))
    assert [r["task_id"] for r in wrong] == ["q2", "q3", "q5"] and all(r["correct"] == "0" for r in wrong)


def test_a_debate_task_shows_seven_turns_by_node_with_their_aliases(sweep, source):
    task = source.task(sweep.cell("llm_debate", "mixed"), "q3")
    t = task["transcript"]
    assert [g["node"] for g in t["groups"]] == ["answer_independently", "debate", "aggregate"]
    turns = [i for g in t["groups"] for i in g["items"] if i["kind"] == "call"]
    assert len(turns) == 7 and [x["node"] for x in turns] == DEBATE_NODES
    assert sorted((x["agent"], x["alias"]) for x in turns) == sorted(
        [("debater_1", "d1"), ("debater_2", "d2"), ("debater_3", "d3")] * 2 + [("aggregator", "agg")])
    aggregator = turns[-1]
    assert aggregator["role"] == "aggregator"
    assert "debater_1 thinks it over. The sum is 17." in aggregator["messages"][0]["content"]
    assert aggregator["reply"]["content"] == "aggregator thinks it over. The sum is 17."
    assert task["row"]["verdict"] == "right" and task["row"]["reference"] == "17"
    assert task["graph"]["source"] == "method"
    assert all(f'data-node="{n}"' in task["graph"]["svg"] for n in ("answer_independently", "debate", "aggregate"))
    assert {o["cell_id"] for o in task["others"]} == set(sweep.cells) - {sweep.cell("llm_debate", "mixed")}


def test_a_failed_task_says_what_failed_and_where(sweep, source):
    task = source.task(sweep.cell("vanilla", "mixed"), "q6")
    assert task["row"]["verdict"] == "error" and "status 400" in task["row"]["error"]
    (where,) = task["where"]
    assert where["node"] == "solve" and where["agent"] == "solver" and where["alias"] == "solo"
    assert where["where"] == "node solve, step 1, agent solver, alias solo"


def test_markdown_export_holds_the_task_and_every_turn(sweep, source):
    md = source.markdown(sweep.cell("llm_debate", "weak"), "q2")
    assert md.startswith("# Task q2")
    assert "**Reference:** 8" in md and "**wrong**" in md and "extracted `9`" in md
    assert len(re.findall(r"^#### \d+\. ", md, flags=re.M)) == 7
    assert [h for h in re.findall(r"^### (.+)$", md, flags=re.M)] == [
        "step 1 · answer_independently", "step 2 · debate", "step 3 · aggregate"]
    assert "#### 7. aggregator (aggregator) — alias `weak`" in md
    assert "> aggregator thinks it over. The sum is 9." in md


def test_a_trace_from_before_messages_were_recorded_still_reads(tmp_path):
    lines = [{"event": "start", "run_id": "old", "method": "vanilla", "task_id": "old"},
             {"event": "call", "run_id": "old", "agent": "solver", "role": "solver", "alias": "x", "prompt_tokens": 3,
              "completion_tokens": 2, "latency_s": 0.1, "cache_hit": True, "retries": 1},
             {"event": "end", "run_id": "old", "method": "vanilla", "task_id": "old"}]
    t = build_transcript("old", lines)
    (turn,) = t.turns
    assert isinstance(turn, Turn) and turn.messages is None and turn.cache_hit and turn.retries == 1
    assert not t.recorded_messages and t.finished and t.groups[0].node is None


def test_a_resumed_task_shows_its_last_attempt(tmp_path):
    start = {"event": "start", "run_id": "r", "method": "m"}
    call = lambda who: {"event": "call", "run_id": "r", "agent": who, "alias": "a", "node": "n", "step": 1}  # noqa: E731
    t = build_transcript("r", [start, call("first"), {"event": "error", "run_id": "r", "error": "boom"},
                               start, call("second"), {"event": "end", "run_id": "r"}])
    assert [x.agent for x in t.turns] == ["second"] and t.attempts == 2 and t.failures == []


def test_a_single_maslab_run_folder_is_one_unscored_task(tmp_path):
    models = tmp_path / "models.yaml"
    models.write_text("default: s\nmodels:\n  s: {scripted: ['It is 5.']}\n")
    wf = tmp_path / "wf.yaml"
    wf.write_text("name: debate-one\nmethod: llm_debate\nparams: {agents: 2, rounds: 1}\n")
    assert main(["run", str(wf), "--question", "What is 2+3?", "--models", str(models),
                 "--runs-dir", str(tmp_path / "runs")]) == 0
    (run_dir,) = (tmp_path / "runs").iterdir()
    source = open_source(run_dir)
    assert isinstance(source, RunSource)
    grid = source.grid()
    assert grid["kind"] == "run" and len(grid["cells"]) == 1 and grid["cells"][0]["unscored"]
    (row,) = source.page("run")["rows"]
    task = source.task("run", row["task_id"])
    assert task["row"]["verdict"] == "unscored" and task["row"]["answer"] == "It is 5."
    assert len(task["transcript"]["groups"]) == 2 and task["graph"]["source"] == "method"
    assert sum(len(g["items"]) for g in task["transcript"]["groups"]) == 3  # 2 debaters + aggregator


def test_a_declared_graph_run_shows_tool_runs_and_the_path_it_took(tmp_path):
    """A YAML graph (not a registered system) run with `maslab run --question` on a scripted models file whose
    replies cycle: the planner plans, the solver calls the calculator and answers, the checker approves."""
    models = tmp_path / "models.yaml"
    models.write_text("default: s\nmodels:\n  s: {scripted: ['1. add the numbers', "
                      "'{\"tool\": \"calculator\", \"arguments\": {\"expression\": \"2+3\"}}', "
                      "'Answer: 5', 'APPROVED']}\n")
    wf = tmp_path / "psc.yaml"
    wf.write_text((REPO / "workflows" / "plan_solve_check.yaml").read_text().replace("model: smol", "model: s"))
    assert main(["run", str(wf), "--question", "What is 2+3?", "--models", str(models),
                 "--runs-dir", str(tmp_path / "runs")]) == 0
    (run_dir,) = (tmp_path / "runs").iterdir()
    source = open_source(run_dir)
    (row,) = source.page("run")["rows"]
    task = source.task("run", row["task_id"])
    groups = task["transcript"]["groups"]
    assert [g["node"] for g in groups] == ["planner", "solver", "checker"]
    solver = [i["kind"] for i in groups[1]["items"]]
    assert solver == ["call", "tool", "call"]
    tool = groups[1]["items"][1]
    assert tool["tool"] == "calculator" and tool["agent"] == "solver" and "5" in tool["result"]
    graph = task["graph"]
    assert graph["source"] == "observed" and "Drawn from the nodes this run passed through" in graph["note"]
    assert all(f'data-node="{n}"' in graph["svg"] for n in ("planner", "solver", "checker"))
    md = source.markdown("run", row["task_id"])
    assert "- tool `calculator` run by solver" in md


def test_a_folder_that_is_not_a_run_is_refused_with_a_clear_message(tmp_path, capsys):
    with pytest.raises(ConfigError, match="not a maslab run folder"):
        open_source(tmp_path)
    assert main(["view", str(tmp_path / "missing"), "--port", "0"]) == 2
    assert "no such folder" in capsys.readouterr().err


def test_the_server_answers_only_on_loopback_with_a_strict_policy(sweep):
    with ViewServer(open_source(sweep.out), port=0) as server:
        assert urlsplit(server.url).hostname == "127.0.0.1"
        status, headers, body = _get(server.url)
        assert status == 200 and b"/static/app.js" in body
        assert "default-src 'self'" in headers["Content-Security-Policy"]
        assert _get(server.url, host="evil.example:80")[0] == 403  # DNS rebinding is refused
        status, _, body = _get(server.url + "api/rows?" + urlencode({"cell": "nope"}))
        assert status == 404 and "no cell 'nope'" in json.loads(body)["error"]
        status, headers, body = _get(server.url + "api/task.md?" + urlencode(
            {"cell": sweep.cell("llm_debate", "mixed"), "task": "q1"}))
        assert status == 200 and headers["Content-Type"].startswith("text/markdown") and body.startswith(b"# Task q1")
        assert _get(server.url + "static/../source.py")[0] == 404


def test_report_points_to_maslab_view_for_drill_down(sweep, capsys):
    assert main(["report", str(sweep.out), "--format", "csv"]) == 0
    captured = capsys.readouterr()
    assert f"maslab view {sweep.out}" in captured.err and "maslab view" not in captured.out


def test_rows_landing_in_a_running_sweep_reach_the_grid(tmp_path):
    store = ResultStore(tmp_path / "results.sqlite")
    store.add_cell({"cell_id": "m|a|d|seed=0", "sweep": "live", "method": "vanilla", "method_label": "m",
                    "method_params": {}, "assignment": "a", "roles": {}, "dataset": "d", "seed": 0, "n_tasks": 3})
    source = open_source(tmp_path)
    first = source.grid()
    assert first["in_progress"] and first["cells"][0]["pending"] and first["rows"] == 0
    for i in range(2):
        store.write(ResultRow(cell_id="m|a|d|seed=0", task_id=f"t{i}", method="vanilla", method_label="m",
                              assignment="a", dataset="d", correct=i == 0))
    deadline = time.time() + 10
    while source.grid()["rows"] != 2 and time.time() < deadline:
        time.sleep(0.05)
    grid = source.grid()
    assert grid["rows"] == 2 and grid["cells"][0]["n"] == 2 and grid["cells"][0]["accuracy"] == 0.5
    source.close()


@pytest.mark.integration
def test_a_debate_on_the_embedded_model_reads_back_as_seven_turns(embedded_models_file, tmp_path):
    """End to end on SmolLM2 (llama.cpp): `maslab run` an LLM-Debate, then read its folder as the viewer does."""
    wf = tmp_path / "debate.yaml"
    wf.write_text("name: debate-smol\nmethod: llm_debate\nmodel: smol\n")
    assert main(["run", str(wf), "--question", "Is 91 prime?", "--models", str(embedded_models_file),
                 "--max-tokens", "16", "--runs-dir", str(tmp_path / "runs")]) == 0
    (run_dir,) = (tmp_path / "runs").iterdir()
    source = open_source(run_dir)
    (row,) = source.page("run")["rows"]
    task = source.task("run", row["task_id"])
    turns = [i for g in task["transcript"]["groups"] for i in g["items"] if i["kind"] == "call"]
    assert [t["node"] for t in turns] == DEBATE_NODES and {t["alias"] for t in turns} == {"smol"}
    assert all(t["reply"]["content"] and t["completion_tokens"] > 0 and t["messages"] for t in turns)
    assert "Is 91 prime?" in turns[0]["messages"][-1]["content"]
    assert task["row"]["answer"] == turns[-1]["reply"]["content"].strip()


# -------------------------------------------------------------------------------------------- the page


def _start_view(directory: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "maslab.cli", "view", str(directory), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    match = re.search(r"http://127\.0\.0\.1:\d+/", line)
    if not match:
        proc.kill()
        raise AssertionError(f"maslab view printed no URL: {line!r} {proc.stderr.read()}")
    return proc, match.group(0)


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium (Debian package `chromium`)")
def test_the_page_in_headless_chromium(sweep, tmp_path):
    """Grid → wrong-answer filter → A-right-B-wrong → a debate's seven turns → a failure → live refresh,
    every request on loopback, screenshots written."""
    from playwright.sync_api import sync_playwright

    folder = tmp_path / "sweep"  # a copy: this test adds a cell and rows to it
    shutil.copytree(sweep.out, folder)
    live = ResultStore(folder / "results.sqlite")
    live.add_cell({"cell_id": "vanilla|late|sums|seed=0", "sweep": "view-small", "method": "vanilla",
                   "method_label": "vanilla", "method_params": {}, "assignment": "late", "roles": {},
                   "dataset": "sums", "seed": 0, "n_tasks": 6})
    proc, url = _start_view(folder)
    requests: list[str] = []
    errors: list[str] = []
    try:
        with sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(
                str(tmp_path / "profile"), executable_path=str(CHROMIUM), headless=True,
                args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
                viewport={"width": 1400, "height": 1000})
            context.on("request", lambda r: requests.append(r.url))
            page = context.new_page()
            page.on("pageerror", lambda e: errors.append(str(e)))

            # the grid: every cell, the one without rows yet as pending
            page.goto(url)
            page.wait_for_selector("#grid tbody tr")
            shown = page.eval_on_selector_all("#grid tbody tr", "rows => rows.map(r => r.dataset.cellId)")
            assert sorted(shown) == sorted([*sweep.cells, "vanilla|late|sums|seed=0"])
            page.click("#grid th[data-key=accuracy]")  # sortable: ascending accuracy puts the pending cell first
            assert page.eval_on_selector("#grid tbody tr", "r => r.dataset.cellId") == "vanilla|late|sums|seed=0"
            page.screenshot(path=str(tmp_path / "grid.png"), full_page=True)

            # a cell, filtered to wrong answers: exactly the wrong rows
            weak = sweep.cell("llm_debate", "weak")
            page.click(f'#grid tbody tr[data-cell-id="{weak}"] a')
            page.wait_for_selector("#rows tbody tr[data-task-id]")
            assert page.locator("#rows").get_attribute("data-total") == "6"
            page.select_option("#status", "wrong")
            page.wait_for_function("() => document.querySelector('#rows').dataset.total === '3'")
            listed = page.eval_on_selector_all("#rows tbody tr", "rows => rows.map(r => r.dataset.taskId)")
            assert listed == sorted(sweep.wrong("llm_debate", "weak"))
            csv_href = page.get_attribute("#export-csv", "href")
            exported = list(csv.DictReader(io.StringIO(page.evaluate(
                "h => fetch(h).then(r => r.text())", csv_href))))
            assert [r["task_id"] for r in exported] == listed

            # A right and B wrong, against the mixed-assignment debate
            page.select_option("#status", "all")
            page.select_option("#compare", sweep.cell("llm_debate", "mixed"))
            page.select_option("#pair", "a_wrong_b_right")
            page.wait_for_function("() => document.querySelector('#rows').dataset.total === '3'")
            page.fill("#search", "12 + 30")
            page.wait_for_function("() => document.querySelector('#rows').dataset.total === '1'")
            assert page.eval_on_selector_all("#rows tbody tr", "rows => rows.map(r => r.dataset.taskId)") == ["q5"]

            # a debate task: 3 debaters x 2 rounds + aggregator = 7 turns, with their aliases
            page.goto(url + "#/task?" + urlencode({"cell": sweep.cell("llm_debate", "mixed"), "task": "q2"},
                                                  quote_via=quote))
            page.wait_for_selector(".turn")
            turns = page.eval_on_selector_all(".turn", "ts => ts.map(t => [t.dataset.node, t.dataset.agent, "
                                                       "t.querySelector('.alias').textContent])")
            assert len(turns) == 7 and [t[0] for t in turns] == DEBATE_NODES
            assert sorted((t[1], t[2]) for t in turns) == sorted(
                [("debater_1", "d1"), ("debater_2", "d2"), ("debater_3", "d3")] * 2 + [("aggregator", "agg")])
            assert page.locator(".group").count() == 3
            page.click(".turn[data-agent=aggregator]")
            assert page.eval_on_selector_all(".graph .node.active", "ns => ns.map(n => n.dataset.node)") == ["aggregate"]
            page.click(".turn[data-agent=debater_2] details.saw summary")
            assert "What is 4 + 4?" in page.inner_text(".turn[data-agent=debater_2] details.saw")
            page.evaluate("() => window.scrollTo(0, 0)")
            page.screenshot(path=str(tmp_path / "task.png"), full_page=True)
            markdown = page.evaluate("h => fetch(h).then(r => r.text())", page.get_attribute("#export-md", "href"))
            assert len(re.findall(r"^#### \d+\. ", markdown, flags=re.M)) == 7

            # a failure: its message and where it happened
            page.goto(url + "#/task?" + urlencode({"cell": sweep.cell("vanilla", "mixed"), "task": "q6"},
                                                  quote_via=quote))
            page.wait_for_selector("#row-error")
            assert "status 400" in page.inner_text("#row-error")
            assert "where: node solve, step 1, agent solver, alias solo" in page.inner_text("#row-error")
            assert page.eval_on_selector_all(".graph .node.failed", "ns => ns.map(n => n.dataset.node)") == ["solve"]

            # rows landing while the grid is open appear without a reload
            page.goto(url + "#/")
            page.wait_for_selector('#grid tbody tr[data-cell-id="vanilla|late|sums|seed=0"]')
            for t in ("q1", "q2"):
                live.write(ResultRow(cell_id="vanilla|late|sums|seed=0", task_id=t, sweep="view-small",
                                     method="vanilla", method_label="vanilla", assignment="late", dataset="sums",
                                     correct=True, score=1.0))
            page.wait_for_function(
                "() => [...document.querySelectorAll('#grid tbody tr')].some(r => r.dataset.cellId === "
                "'vanilla|late|sums|seed=0' && r.children[4].textContent === '2/6')", timeout=15000)
            assert "50 of 54 rows" in page.inner_text("#live")
            page.screenshot(path=str(tmp_path / "live.png"))
            context.close()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = None
        live.close()
    assert code == 0  # Ctrl-C stops it cleanly
    assert errors == []
    hosts = {urlsplit(u).netloc for u in requests}
    assert hosts == {urlsplit(url).netloc}, hosts  # nothing but the loopback server
    for shot in ("grid.png", "task.png", "live.png"):
        assert (tmp_path / shot).stat().st_size > 10_000
