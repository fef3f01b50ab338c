"""FakeOpenAIServer: every mode and fault, checked over real HTTP with plain httpx."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import httpx
import pytest

from maslab.testing import FakeOpenAIServer

CHAT = {
    "model": "m1",
    "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi there"}],
}


@pytest.fixture
def srv():
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
def client():
    with httpx.Client(timeout=5.0) as c:
        yield c


def test_models_endpoint(srv, client):
    assert srv.api_base.endswith("/v1")
    r = client.get(f"{srv.api_base}/models")
    assert r.status_code == 200
    assert r.json()["data"][0]["id"] == "fake-model"


def test_default_echo_and_openai_shape(srv, client):
    r = client.post(f"{srv.api_base}/chat/completions", json={**CHAT, "temperature": 0.3, "seed": 7})
    assert r.status_code == 200
    data = r.json()
    assert data["object"] == "chat.completion"
    assert data["model"] == "m1"
    assert data["id"] and isinstance(data["created"], int)
    choice = data["choices"][0]
    assert choice["message"] == {"role": "assistant", "content": "echo: hi there"}
    assert choice["finish_reason"] == "stop"
    usage = data["usage"]
    assert usage["prompt_tokens"] == 4 and usage["completion_tokens"] == 3 and usage["total_tokens"] == 7
    assert srv.requests == 1 and srv.faults == 0
    assert srv.last_request["temperature"] == 0.3 and srv.last_request["seed"] == 7
    assert srv.last_request["model"] == "m1"


def test_reply_fixed_and_callable_and_changeable(srv, client):
    srv.reply = "42"
    assert (
        client.post(f"{srv.api_base}/chat/completions", json=CHAT).json()["choices"][0]["message"]["content"]
        == "42"
    )
    srv.configure(reply=lambda req: f"n={len(req['messages'])}")
    assert (
        client.post(f"{srv.api_base}/chat/completions", json=CHAT).json()["choices"][0]["message"]["content"]
        == "n=2"
    )
    call = {"id": "c1", "type": "function", "function": {"name": "add", "arguments": '{"a": 1}'}}
    srv.reply = lambda req: {"content": None, "tool_calls": [call]}
    choice = client.post(f"{srv.api_base}/chat/completions", json=CHAT).json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["tool_calls"] == [call]
    with pytest.raises(ValueError):
        srv.configure(mode="nonsense")


def test_received_is_bounded():
    with FakeOpenAIServer(max_bodies=3) as srv, httpx.Client() as c:
        for i in range(5):
            c.post(f"{srv.api_base}/chat/completions", json={**CHAT, "seed": i})
        assert srv.requests == 5
        assert [b["seed"] for b in srv.received] == [2, 3, 4]


def test_latency(srv, client):
    srv.latency = 0.3
    t = time.perf_counter()
    assert client.post(f"{srv.api_base}/chat/completions", json=CHAT).status_code == 200
    assert time.perf_counter() - t >= 0.3


def test_transient_faults_cycle_and_are_seeded(client):
    def outcomes(seed: int) -> list[str]:
        got = []
        with FakeOpenAIServer(transient_rate=0.5, seed=seed) as srv:
            for _ in range(40):
                try:
                    r = client.post(f"{srv.api_base}/chat/completions", json=CHAT)
                    got.append(str(r.status_code))
                    if r.status_code != 200:
                        assert r.json()["error"]["message"]
                except httpx.TransportError:
                    got.append("drop")
            assert srv.faults == sum(o != "200" for o in got)
            assert srv.requests == 40
        return got

    first = outcomes(1)
    faults = [o for o in first if o != "200"]
    assert 5 <= len(faults) <= 35
    assert faults[:4] == ["500", "503", "429", "drop"]
    assert outcomes(1) == first  # same seed, same sequence


def test_always_fault_rate_one(client):
    with FakeOpenAIServer(transient_rate=1.0) as srv:
        r = client.post(f"{srv.api_base}/chat/completions", json=CHAT)
        assert r.status_code == 500
        assert srv.fault_counts["500"] == 1
        srv.transient_rate = 0.0
        assert client.post(f"{srv.api_base}/chat/completions", json=CHAT).status_code == 200


def test_bad_request(srv, client):
    srv.mode = "bad_request"
    r = client.post(f"{srv.api_base}/chat/completions", json=CHAT)
    assert r.status_code == 400
    assert r.json()["error"]["type"] == "invalid_request_error"


def test_non_json(srv, client):
    srv.mode = "non_json"
    r = client.post(f"{srv.api_base}/chat/completions", json=CHAT)
    assert r.status_code == 200
    assert r.text == "<html>garbage</html>"
    with pytest.raises(ValueError):
        r.json()


def test_context_overflow(srv, client):
    srv.mode = "context_overflow"
    r = client.post(f"{srv.api_base}/chat/completions", json={**CHAT, "max_tokens": 100})
    assert r.status_code == 400
    err = r.json()["error"]
    assert "maximum context length is 2048 tokens" in err["message"]
    assert err["code"] == "context_length_exceeded"


def test_hang_times_out_and_close_is_prompt(client):
    srv = FakeOpenAIServer(mode="hang").start()
    with pytest.raises(httpx.ReadTimeout):
        client.post(f"{srv.api_base}/chat/completions", json=CHAT, timeout=0.3)
    errors: list[BaseException] = []

    def hanging() -> None:
        try:
            httpx.post(f"{srv.api_base}/chat/completions", json=CHAT, timeout=30)
        except BaseException as exc:  # noqa: BLE001 - recorded for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=hanging) for _ in range(3)]
    for th in threads:
        th.start()
    time.sleep(0.3)
    t = time.perf_counter()
    srv.close()
    for th in threads:
        th.join(5)
    assert time.perf_counter() - t < 3.0
    assert len(errors) == 3 and all(isinstance(e, httpx.TransportError) for e in errors)
    srv.close()  # idempotent


def test_stream(srv, client):
    srv.reply = "one two three"
    with client.stream("POST", f"{srv.api_base}/chat/completions", json={**CHAT, "stream": True}) as r:
        lines = [line for line in r.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    text = "".join(json.loads(x[6:])["choices"][0]["delta"].get("content", "") for x in lines[:-1])
    assert text == "one two three"


async def test_concurrent_async_clients(srv):
    srv.latency = 0.2
    async with httpx.AsyncClient(timeout=5) as c:
        t = time.perf_counter()
        rs = await asyncio.gather(*(c.post(f"{srv.api_base}/chat/completions", json=CHAT) for _ in range(20)))
        elapsed = time.perf_counter() - t
    assert all(r.status_code == 200 for r in rs)
    assert elapsed < 1.5  # requests are served concurrently, not one after another
    assert srv.requests == 20


def test_queued_faults_come_first_in_order_with_retry_after(client):
    with FakeOpenAIServer(retry_after="3") as srv:
        srv.queue_faults("429", "503", "truncated", "drop", "500")
        r = client.post(f"{srv.api_base}/chat/completions", json=CHAT)
        assert r.status_code == 429 and r.headers["retry-after"] == "3"
        r = client.post(f"{srv.api_base}/chat/completions", json=CHAT)
        assert r.status_code == 503 and r.headers["retry-after"] == "3"
        with pytest.raises(httpx.RemoteProtocolError, match="without sending complete message body"):
            client.post(f"{srv.api_base}/chat/completions", json=CHAT)
        with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
            client.post(f"{srv.api_base}/chat/completions", json=CHAT)
        r = client.post(f"{srv.api_base}/chat/completions", json=CHAT)
        assert r.status_code == 500 and "retry-after" not in r.headers
        assert client.post(f"{srv.api_base}/chat/completions", json=CHAT).status_code == 200
        assert srv.faults == 5 and srv.fault_counts["truncated"] == 1
        with pytest.raises(ValueError, match="unknown fault"):
            srv.queue_faults("teapot")


def test_truncated_mode_stops_every_body_half_way(srv, client):
    srv.mode = "truncated"
    for _ in range(2):
        with pytest.raises(httpx.RemoteProtocolError, match=r"received \d+ bytes, expected \d+"):
            client.post(f"{srv.api_base}/chat/completions", json=CHAT)


def test_slow_drip_sends_a_valid_body_one_byte_at_a_time(srv, client):
    srv.configure(mode="slow_drip", drip_interval=0.005)
    t = time.perf_counter()
    r = client.post(f"{srv.api_base}/chat/completions", json=CHAT, timeout=0.5)  # no single read waits 0.5 s
    assert time.perf_counter() - t > 0.5
    assert r.json()["choices"][0]["message"]["content"] == "echo: hi there"


def test_a_reply_dict_may_set_the_finish_reason(srv, client):
    srv.reply = lambda req: {"content": None, "finish_reason": "length"}
    choice = client.post(f"{srv.api_base}/chat/completions", json=CHAT).json()["choices"][0]
    assert choice == {"index": 0, "message": {"role": "assistant", "content": None}, "finish_reason": "length",
                      "logprobs": None}


def test_stats_report_the_span_and_reset_clears_it(srv, client):
    root = srv.api_base.removesuffix("/v1")
    assert client.get(f"{root}/maslab/stats").json()["first_request_at"] is None
    before = time.time()
    srv.latency = 0.1
    for _ in range(2):
        client.post(f"{srv.api_base}/chat/completions", json=CHAT)
    stats = client.get(f"{root}/maslab/stats").json()
    assert stats["requests"] == 2 and before <= stats["first_request_at"] < stats["last_response_at"]
    assert stats["last_response_at"] - stats["first_request_at"] >= 0.2
    assert len(srv.arrivals) == 2 and srv.arrivals[1] > srv.arrivals[0]
    assert client.post(f"{root}/maslab/reset").json() == {"requests": 0, "faults": 0, "first_request_at": None,
                                                         "last_response_at": None}


# Each fault kind reaches the model pool as what it is, on both transports (the `transport` fixture).
FAULT_OUTCOMES = {
    "500": (None, 2), "503": (None, 2), "429": (None, 2), "drop": (None, 2),  # retried, then answered
    "truncated": ("truncated body", 1),  # a malformed body: not retried
}


@pytest.mark.parametrize("kind", sorted(FAULT_OUTCOMES))
async def test_the_pool_sees_each_injected_fault_as_what_it_is(kind, transport):
    from maslab.errors import BadResponseError
    from maslab.models import ModelPool

    error, requests = FAULT_OUTCOMES[kind]
    with FakeOpenAIServer() as srv:
        pool = ModelPool.from_dict({"default": "m", "models": {"m": {
            "endpoints": [{"model": "openai/fake-model", "api_base": srv.api_base, "transport": transport}],
            "backoff_initial": 0.01, "backoff_max": 0.05}}})
        srv.queue_faults(kind)
        if error is None:
            assert (await pool.complete("m", "hi there")).text == "echo: hi there"
        else:
            with pytest.raises(BadResponseError, match=error):
                await pool.complete("m", "hi there")
        assert srv.requests == requests
