"""The model pool against a real local HTTP server that injects faults (maslab.testing.FakeOpenAIServer),
plus the cache modes, the usage ledger and least-in-flight balancing.

Every test that takes the `transport` fixture runs twice: through the lean aiohttp client and through
litellm (both routes must fail, retry and answer alike)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import time

import pytest

from maslab import Task, load_method
from maslab.errors import (
    BadResponseError,
    CacheMissError,
    ConfigError,
    MaslabError,
    ModelCallError,
    ModelTimeoutError,
    UnknownAliasError,
)
from maslab.messages import Message
from maslab.models import ModelPool
from maslab.testing import FakeOpenAIServer
from maslab.trace import RunRecorder, recording
from tests.readonly import read_only


def _pool(srv: FakeOpenAIServer | str, transport: str, *, retries: int = 5, timeout: float = 10.0,
          cache: str | None = None, mode: str = "read_write", concurrency: int = 64, key_env: str | None = None,
          backoff_max: float = 0.1) -> ModelPool:
    api_base = srv if isinstance(srv, str) else srv.api_base
    endpoint = {"model": "openai/fake-model", "api_base": api_base, "timeout": timeout,
                "max_concurrency": concurrency, "transport": transport}
    if key_env:
        endpoint["api_key_env"] = key_env
    return ModelPool.from_dict(
        {"default": "fake", "models": {"fake": {"endpoints": [endpoint], "max_retries": retries,
                                                "backoff_initial": 0.01, "backoff_max": backoff_max}}},
        cache_path=cache, cache_mode=mode,
    )


@pytest.fixture
def server():
    with FakeOpenAIServer(seed=7) as srv:
        yield srv


async def test_transient_faults_are_retried_until_all_200_calls_succeed(server, transport):
    server.configure(transient_rate=0.3)
    pool = _pool(server, transport, retries=12)
    results = await asyncio.gather(*(pool.complete("fake", f"question {i}", agent="a") for i in range(200)))
    assert [r.text for r in results] == [f"echo: question {i}" for i in range(200)]
    assert server.faults > 30  # ~30 % of ~285 requests: the faults really happened
    assert server.requests == 200 + server.faults
    snap = pool.ledger.snapshot()
    assert snap.calls == 200 and snap.retries == server.faults and snap.errors == 0


async def test_bad_request_fails_at_once_naming_alias_and_endpoint(server, transport):
    server.configure(mode="bad_request")
    pool = _pool(server, transport)
    with pytest.raises(ModelCallError) as err:
        await pool.complete("fake", "hi")
    assert server.requests == 1  # no retry, no back-off
    assert "'fake'" in str(err.value) and server.api_base in str(err.value)
    assert not err.value.transient


async def test_context_overflow_is_not_retried(server, transport):
    server.configure(mode="context_overflow")
    pool = _pool(server, transport)
    with pytest.raises(ModelCallError, match="(?i)context"):
        await pool.complete("fake", "hi")
    assert server.requests == 1


async def test_non_json_body_gives_a_clear_error(server, transport):
    server.configure(mode="non_json")
    pool = _pool(server, transport)
    with pytest.raises(BadResponseError) as err:
        await pool.complete("fake", "hi")
    assert "not a JSON chat completion" in str(err.value) and "'fake'" in str(err.value)
    assert server.requests == 1 and not err.value.transient  # garbage fails at once, never retried


async def test_a_server_that_never_answers_hits_the_timeout(server, transport):
    server.configure(mode="hang")
    pool = _pool(server, transport, retries=1, timeout=0.5)
    start = time.perf_counter()
    with pytest.raises(ModelTimeoutError, match="fake"):
        await pool.complete("fake", "hi")
    elapsed = time.perf_counter() - start
    assert elapsed < 8, elapsed
    assert server.requests == 2  # the first try and one retry


async def test_api_key_from_env_is_sent_and_never_in_errors(server, transport, monkeypatch):
    monkeypatch.setenv("MASLAB_TEST_KEY", "sk-secret-123456")
    server.configure(mode="bad_request")
    pool = _pool(server, transport, key_env="MASLAB_TEST_KEY")
    with pytest.raises(ModelCallError) as err:
        await pool.complete("fake", "hi")
    assert "sk-secret-123456" not in str(err.value)
    monkeypatch.delenv("MASLAB_TEST_KEY")
    with pytest.raises(ModelCallError, match="MASLAB_TEST_KEY is not set"):
        await pool.complete("fake", "hi")


async def test_unknown_alias_is_a_maslab_error():
    pool = ModelPool.scripted(["x"])
    with pytest.raises(UnknownAliasError, match="nope"):
        await pool.complete("nope", "hi")
    assert issubclass(UnknownAliasError, MaslabError)


def test_models_config_errors_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="default alias"):
        ModelPool.from_dict({"default": "x", "models": {"y": {"scripted": ["a"]}}})
    with pytest.raises(ConfigError, match="endpoints"):
        ModelPool.from_dict({"default": "y", "models": {"y": {}}})
    with pytest.raises(ConfigError, match=r"models\.y\.endpoints\.0: .*transport: lean. needs an .api_base"):
        ModelPool.from_dict({"default": "y", "models": {"y": {"endpoints": [{"model": "x/m", "transport": "lean"}]}}})
    bad = tmp_path / "models.yaml"
    bad.write_text("default: [unclosed\n")
    with pytest.raises(ConfigError, match="models.yaml"):
        ModelPool.from_yaml(bad)


async def test_self_consistency_second_run_is_served_from_cache_without_http(server, transport, tmp_path):
    counter = iter(range(10_000))
    server.configure(reply=lambda req: f"sample {next(counter)}: the answer is {5 if next(counter) % 3 else 4}")
    cache = tmp_path / "cache.sqlite"
    task = Task(question="What is 2+3?")
    first = await load_method("self_consistency", samples=5).solve(task, pool=_pool(server, transport, cache=str(cache)))
    assert server.requests == 5
    with sqlite3.connect(cache) as db:
        rows = db.execute("SELECT sample_index, completion FROM completions").fetchall()
    assert sorted(r[0] for r in rows) == [0, 1, 2, 3, 4]
    assert len({r[1] for r in rows}) == 5  # five distinct samples stored
    second = await load_method("self_consistency", samples=5).solve(task, pool=_pool(server, transport, cache=str(cache)))
    assert server.requests == 5  # no HTTP request at all
    assert second.answer == first.answer
    assert second.usage.cache_hits == 5


async def test_cache_modes(server, transport, tmp_path):
    cache = str(tmp_path / "c.sqlite")
    await _pool(server, transport, cache=cache).complete("fake", "hello")
    assert server.requests == 1
    replay = _pool(server, transport, cache=cache, mode="replay")
    assert (await replay.complete("fake", "hello")).cache_hit
    with pytest.raises(CacheMissError):
        await replay.complete("fake", "something new")
    assert server.requests == 1
    off = _pool(server, transport, cache=cache, mode="off")
    await off.complete("fake", "hello")
    assert server.requests == 2
    # sampling parameters are part of the key
    rw = _pool(server, transport, cache=cache)
    await rw.complete("fake", "hello", temperature=0.9)
    assert server.requests == 3


async def test_cache_key_separates_agents_samples_and_namespaces(tmp_path):
    calls = []
    pool = ModelPool.scripted(lambda req: calls.append(req) or f"r{len(calls)}", cache_path=tmp_path / "c.sqlite")
    a = await pool.complete(None, "q", agent="debater_1")
    b = await pool.complete(None, "q", agent="debater_2")
    c = await pool.complete(None, "q", agent="debater_1", sample_index=1)
    with recording(RunRecorder(cache_namespace="seed=1")):
        d = await pool.complete(None, "q", agent="debater_1")
    assert len({a.text, b.text, c.text, d.text}) == 4 and len(calls) == 4
    assert (await pool.complete(None, "q", agent="debater_2")).text == b.text and len(calls) == 4


async def test_ledger_counts_per_agent_role_alias():
    pool = ModelPool.scripted(lambda req: "one two three", "a", "b")
    recorder = RunRecorder()
    with recording(recorder):
        await pool.complete("a", "x y", agent="solver_1", role="solver")
        await pool.complete("b", "x y", agent="solver_2", role="solver")
        await pool.complete("b", [Message.system("s"), Message.user("x")], agent="judge", role="judge")
    await pool.complete("a", "outside the run", agent="other")
    run = recorder.ledger.snapshot()
    assert run.calls == 3 and pool.ledger.snapshot().calls == 4
    assert run.by("role")["solver"].calls == 2 and run.by("alias")["b"].calls == 2
    assert run.by("agent")["judge"].prompt_tokens == 2  # "s" + "x"
    assert run.completion_tokens == 9
    assert len(recorder.steps) == 3 and recorder.steps[0].agent == "solver_1"


async def test_least_in_flight_balancing_and_concurrency_limit(transport):
    with FakeOpenAIServer(latency=0.2) as s1, FakeOpenAIServer(latency=0.2) as s2:
        pool = ModelPool.from_dict({"default": "m", "models": {"m": {"endpoints": [
            {"model": "openai/fake-model", "api_base": s1.api_base, "max_concurrency": 2, "transport": transport},
            {"model": "openai/fake-model", "api_base": s2.api_base, "max_concurrency": 2, "transport": transport},
        ]}}})
        start = time.perf_counter()
        await asyncio.gather(*(pool.complete("m", f"q{i}") for i in range(8)))
        elapsed = time.perf_counter() - start
        assert s1.requests == 4 and s2.requests == 4
        # 8 calls, 4 slots in total, 0.2 s each: at least two waves
        assert elapsed >= 0.38, elapsed


async def test_tool_calls_round_trip(server, transport):
    server.configure(reply=lambda req: {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "calculator", "arguments": '{"expression": "2+3"}'}}
    ]})
    pool = _pool(server, transport)
    tools = [{"type": "function", "function": {"name": "calculator", "description": "math",
                                                "parameters": {"type": "object", "properties": {}}}}]
    c = await pool.complete("fake", "2+3?", tools=tools)
    assert c.tool_calls[0].name == "calculator" and c.tool_calls[0].parsed_arguments() == {"expression": "2+3"}
    assert server.last_request["tools"][0]["function"]["name"] == "calculator"


def test_litellm_import_stays_offline():
    from maslab.transport import import_litellm

    import_litellm()
    assert os.environ.get("LITELLM_LOCAL_MODEL_COST_MAP") == "True"


async def test_max_tokens_override_is_a_cap_other_overrides_replace():
    seen = []
    pool = ModelPool.from_dict({"default": "m", "models": {"m": {"scripted": ["x"]}}},
                               scripted={"m": lambda req: seen.append(req.params) or "x"},
                               overrides={"max_tokens": 64, "temperature": 0.0})
    await pool.complete(None, "a", max_tokens=16, temperature=0.9)
    await pool.complete(None, "b", max_tokens=512)
    await pool.complete(None, "c")
    assert [p["max_tokens"] for p in seen] == [16, 64, 64]
    assert all(p["temperature"] == 0.0 for p in seen)


# ------------------------------------------------------------------------ cache identity


def _two_servers_models(a: FakeOpenAIServer, b: FakeOpenAIServer, extra: dict | None = None) -> dict:
    """Aliases a and b on two servers that both call their model `default` (two quantisations,
    say): the same model string, different answers."""
    return {"default": "a", "models": {
        name: {"endpoints": [{"model": "openai/default", "api_base": srv.api_base}], **(extra or {}).get(name, {})}
        for name, srv in (("a", a), ("b", b))}}


async def test_two_aliases_on_one_model_string_never_share_cache_entries(tmp_path):
    cache = tmp_path / "cache.sqlite"
    with FakeOpenAIServer(reply="from a") as a, FakeOpenAIServer(reply="from b") as b:
        pool = ModelPool.from_dict(_two_servers_models(a, b), cache_path=cache)
        assert (await pool.complete("a", "same prompt")).text == "from a"
        second = await pool.complete("b", "same prompt")
        assert second.text == "from b" and not second.cache_hit
        again = ModelPool.from_dict(_two_servers_models(a, b), cache_path=cache)
        assert [(await again.complete(x, "same prompt")).text for x in "ab"] == ["from a", "from b"]
        assert a.requests == 1 and b.requests == 1  # the re-run was served from the cache, each its own


async def test_replicas_may_share_cache_entries_through_a_declared_cache_key(tmp_path):
    cache = tmp_path / "cache.sqlite"
    shared = {"a": {"cache_key": "qwen-7b-awq"}, "b": {"cache_key": "qwen-7b-awq"}}
    with FakeOpenAIServer(reply="from a") as a, FakeOpenAIServer(reply="from b") as b:
        pool = ModelPool.from_dict(_two_servers_models(a, b, shared), cache_path=cache)
        await pool.complete("a", "same prompt")
        hit = await pool.complete("b", "same prompt")
        assert hit.cache_hit and hit.text == "from a" and b.requests == 0


def test_ask_with_two_aliases_on_one_model_string_prints_each_aliases_reply(tmp_path, capsys):
    import yaml

    from maslab.cli import main

    with FakeOpenAIServer(reply="answer of a") as a, FakeOpenAIServer(reply="answer of b") as b:
        models = tmp_path / "models.yaml"
        models.write_text(yaml.safe_dump(_two_servers_models(a, b)))
        common = ["--models", str(models), "--cache", str(tmp_path / "cache.sqlite")]
        assert main(["ask", "Which model are you?", "--model", "a", *common]) == 0
        assert main(["ask", "Which model are you?", "--model", "b", *common]) == 0
    assert capsys.readouterr().out.split("\n")[:2] == ["answer of a", "answer of b"]


# ------------------------------------------------------------------------ bad files


@pytest.mark.parametrize("damage", ["corrupt", "folder", "read-only"])
async def test_a_damaged_or_read_only_cache_is_an_error_naming_the_file(tmp_path, damage):
    from maslab.errors import DatabaseFileError

    cache = tmp_path / "cache.sqlite"
    if damage == "corrupt":
        cache.write_bytes(b"this is not a SQLite file at all" * 100)
        expected = "damaged or not a SQLite database"
    elif damage == "folder":
        cache.mkdir()
        expected = "a folder, not a file"
    else:
        ModelPool.scripted(["x"], cache_path=cache).cache.close()  # a valid cache, made read-only below
        expected = "read-only"
    with read_only(tmp_path, *tmp_path.iterdir()) if damage == "read-only" else contextlib.nullcontext():
        with pytest.raises(DatabaseFileError) as err:
            ModelPool.scripted(["x"], cache_path=cache)
    assert str(err.value).startswith(f"{cache}: completion cache: ") and expected in str(err.value)
    if damage == "read-only":  # replaying a read-only cache still works
        with read_only(tmp_path, *tmp_path.iterdir()):
            ModelPool.scripted(["x"], cache_path=cache, cache_mode="replay")


def test_models_file_errors_name_the_file_line_and_byte(tmp_path):
    from maslab.models import load_models_config

    bad = tmp_path / "models.yaml"
    bad.write_bytes("default: a\nmodels:\n  a: {scripted: ['caf\u00e9']}\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"models\.yaml: <top>: not UTF-8 text \(byte 40: invalid"):
        load_models_config(bad)
    bad.write_text("default: a\nmodels:\n  a:\n    endpoints:\n      - {api_base: 'http://x/v1'}\n")
    with pytest.raises(ConfigError, match=r"models\.yaml:5: models\.a\.endpoints\[0\]\.model: Field required"):
        load_models_config(bad)
# --------------------------------------------------------------------------- server faults (issue 10, item 6)


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_retry_after_in_seconds_is_waited_for(server, transport):
    server.configure(retry_after="1")
    server.queue_faults("429")
    pool = _pool(server, transport, backoff_max=1.0)  # budget 5 × 1 s: a 1 s wait fits
    completion = await pool.complete("fake", "hi")
    assert completion.text == "echo: hi" and completion.retries == 1
    assert server.requests == 2
    assert server.arrivals[1] - server.arrivals[0] >= 0.95  # not the 0.01 s back-off


async def test_retry_after_as_an_http_date_is_waited_for(server, transport):
    import email.utils

    server.configure(retry_after=email.utils.formatdate(time.time() + 2, usegmt=True))
    server.queue_faults("503")
    completion = await _pool(server, transport, backoff_max=1.0).complete("fake", "hi")
    assert completion.retries == 1
    assert server.arrivals[1] - server.arrivals[0] >= 0.9  # HTTP dates have 1 s resolution


async def test_retry_after_beyond_the_retry_budget_fails_at_once_saying_so(server, transport):
    server.configure(retry_after="120")
    server.queue_faults("429")
    start = time.perf_counter()
    with pytest.raises(ModelCallError, match=r"asked to wait 120\.0s \(Retry-After\), beyond the retry budget") as err:
        await _pool(server, transport, backoff_max=1.0).complete("fake", "hi")
    assert time.perf_counter() - start < 3 and server.requests == 1
    assert "status 429" in str(err.value)


async def test_null_content_without_tool_calls_is_a_bad_response(server, transport):
    server.configure(reply=lambda req: {"content": None})
    with pytest.raises(BadResponseError, match=r"no content and no tool calls \(finish_reason 'stop'\)"):
        await _pool(server, transport).complete("fake", "hi")
    assert server.requests == 1  # not retried


async def test_null_content_cut_by_the_token_cap_is_an_empty_answer_that_says_why(server, transport, tmp_path):
    from structlog.testing import capture_logs

    server.configure(reply=lambda req: {"content": None, "finish_reason": "length"})
    recorder = RunRecorder(tmp_path / "trace.jsonl")
    with capture_logs() as logs, recording(recorder):
        completion = await _pool(server, transport).complete("fake", "hi", max_tokens=1)
    recorder.flush()
    assert completion.text == "" and completion.finish_reason == "length"
    warning = next(e for e in logs if e["event"] == "empty_completion")
    assert "token cap was reached before any text (0 completion tokens)" in warning["reason"]
    assert warning["max_tokens"] == 1
    assert '"finish_reason": "length"' in (tmp_path / "trace.jsonl").read_text()


async def test_a_refused_connection_is_reported_as_one_and_retried(transport):
    pool = _pool(f"http://127.0.0.1:{_closed_port()}/v1", transport, retries=2)
    with pytest.raises(ModelCallError, match=r"connection refused .*gave up after 3 attempts") as err:
        await pool.complete("fake", "hi")
    assert err.value.transient and "InternalServerError" not in str(err.value)


async def test_a_truncated_body_is_reported_as_one_and_not_retried(server, transport):
    server.queue_faults("truncated")
    with pytest.raises(BadResponseError, match="truncated body") as err:
        await _pool(server, transport).complete("fake", "hi")
    assert server.requests == 1 and not err.value.transient
    assert "status 500" not in str(err.value)


async def test_a_dropped_connection_is_retried(server, transport):
    server.queue_faults("drop")
    completion = await _pool(server, transport).complete("fake", "hi")
    assert completion.retries == 1 and server.requests == 2


async def test_a_slow_drip_body_times_out_stating_the_real_elapsed_time(server, transport):
    import re

    server.configure(mode="slow_drip", drip_interval=0.2)  # every read is quick; the whole body is not
    start = time.perf_counter()
    with pytest.raises(ModelTimeoutError) as err:
        await _pool(server, transport, retries=0, timeout=1.0).complete("fake", "hi")
    elapsed = time.perf_counter() - start
    stated = float(re.search(r"no complete answer after ([\d.]+)s \(timeout 1s\)", str(err.value)).group(1))
    assert 1.0 <= stated <= elapsed + 0.05 and elapsed < 2.5, (stated, elapsed)


# --------------------------------------------------------------------------- the transport's route


def test_openai_compatible_endpoints_take_the_lean_route_others_litellm():
    from maslab.transport import route

    assert route("openai/smollm2-135m", "http://127.0.0.1:8080/v1") == "lean"
    assert route("hosted_vllm/Qwen/Qwen2.5-7B-Instruct", "http://gpu1:8000/v1") == "lean"
    assert route("openai/gpt-4o-mini", None) == "litellm"  # the OpenAI API itself: litellm
    assert route("anthropic/claude-3-5-haiku", "http://proxy/v1") == "litellm"
    assert route("anthropic/claude-3-5-haiku", "http://proxy/v1", "lean") == "lean"
    assert route("openai/m", "http://x/v1", "litellm") == "litellm"


async def test_the_lean_route_sends_the_bare_model_name_params_and_tools(server):
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}]
    pool = ModelPool.from_dict({"default": "q", "models": {"q": {"endpoints": [
        {"model": "hosted_vllm/Qwen/Qwen2.5-7B-Instruct", "api_base": server.api_base}]}}})
    await pool.complete("q", [Message.system("s"), Message.user("u")], temperature=0.3, max_tokens=7, tools=tools)
    body = server.last_request
    assert body["model"] == "Qwen/Qwen2.5-7B-Instruct"
    assert body["messages"] == [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
    assert body["temperature"] == 0.3 and body["max_tokens"] == 7 and body["tools"] == tools


async def test_messages_are_encoded_once_per_call_for_the_cache_key_and_the_request(server, tmp_path, monkeypatch):
    from maslab.messages import ImagePart, TextPart

    image = tmp_path / "dot.png"
    image.write_bytes(b"\x89PNG fake image bytes")
    encoded = []
    original = ImagePart.image_url
    # only this image counts (the pool's one-off vision probe sends its own tiny PNG)
    monkeypatch.setattr(ImagePart, "image_url",
                        lambda self: (self.path == str(image) and encoded.append(1)) or original(self))
    pool = _pool(server, "lean", cache=str(tmp_path / "c.sqlite"))
    message = Message.user([TextPart(text="what is it?"), ImagePart(path=str(image))])
    await pool.complete("fake", [message])
    assert len(encoded) == 1  # the image was read and base64-encoded once, not once per use
    assert server.last_request["messages"][0]["content"][1]["image_url"]["url"].startswith("data:image/png;base64,")


def test_a_local_only_run_never_imports_litellm(server):
    import subprocess
    import sys

    code = (
        "import asyncio, sys, json\n"
        "from maslab import load_method\n"
        "from maslab.models import ModelPool\n"
        f"pool = ModelPool.from_dict({{'default': 'm', 'models': {{'m': {{'endpoints': [{{'model': "
        f"'openai/fake-model', 'api_base': '{server.api_base}'}}]}}}}}})\n"
        "solution = asyncio.run(load_method('llm_debate', agents=2, rounds=1).solve('2+2?', pool=pool))\n"
        "print(json.dumps([solution.usage.calls, 'litellm' in sys.modules, 'openai' in sys.modules]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    calls, litellm_loaded, openai_loaded = __import__("json").loads(proc.stdout.strip().splitlines()[-1])
    assert calls == 3 and server.requests == 3
    assert not litellm_loaded and not openai_loaded
