"""Run model-written Python in a throw-away, resource-limited subprocess (never in our process).

Two isolation levels, both with the same resource limits:

* ``bubblewrap`` (``bwrap`` on PATH and working): read-only view of the whole file system, a
  private ``/tmp``, only the work directory writable, new PID/IPC/UTS/network namespaces (so no
  network at all), killed with its parent.
* ``rlimits``: a plain subprocess in its own session/process group.

In both, a tiny bootstrap runs first inside the sandbox: when we are root it drops to
``nobody`` (65534), it creates a private user namespace when the kernel allows it, applies the
rlimits (address space, CPU, processes, file size, no core files) and ``no_new_privs``, and only
then ``exec``s the interpreter on the user's code. Why the user namespace: RLIMIT_NPROC counts
the tasks of a *user*, and root ignores it entirely, so the limit is only real for a non-root
uid; in a fresh user namespace that count starts at one and covers just this sandbox, so
concurrent sandboxes don't share one budget. Where user namespaces are unavailable the limit
is "what that uid already runs + max_processes". When dropping to ``nobody`` and parts of the
interpreter live under a directory ``nobody`` cannot enter (e.g. a pyenv under ``/root``),
that directory is covered with an empty tmpfs and just the needed paths are bound back, in a
private mount namespace; the rest (root's home, secrets) stays invisible.

The child's environment is built from scratch (nothing of ours, e.g. API keys, leaks in).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import math
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from maslab.answers import extract_code
from maslab.errors import MaslabError
from maslab.sync import run_sync
from maslab.trace import get_logger

log = get_logger(__name__)

__all__ = [
    "Isolation",
    "SandboxError",
    "SandboxResult",
    "arun_python",
    "bubblewrap_available",
    "build_humaneval_program",
    "program_parses",
    "run_python",
]

Isolation = Literal["auto", "bubblewrap", "rlimits"]

OUTPUT_LIMIT = 64 * 1024  # bytes kept per stream (head and tail halves)
RETURN_FILE_LIMIT = 8 * 1024 * 1024  # bytes read back per returned file
FILE_SIZE_LIMIT = 256 * 1024 * 1024  # RLIMIT_FSIZE
NOBODY = 65534
MAIN_FILE = "main.py"
SETUP_EXIT = 125
SETUP_PREFIX = "maslab-sandbox: "
_ENV_MARKER = "MASLAB_SANDBOX_ID"
_KILL_GRACE_S = 2.0


class SandboxError(MaslabError):
    """The sandbox was misused (bad file names, bad limits) or the requested isolation is unavailable."""


class SandboxResult(BaseModel):
    """What a sandboxed run produced."""

    ok: bool
    stdout: str = ""
    stderr: str = ""
    error: str | None = None
    returncode: int | None = None
    isolation: str
    duration_s: float = 0.0
    files: dict[str, str] = Field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# the bootstrap: runs first *inside* the sandbox (python -I -S -c BOOTSTRAP CONFIG_JSON)

_BOOTSTRAP = r"""
import ctypes, json, os, resource, sys
cfg = json.loads(sys.argv[1])
os.umask(0o022)
def die(msg):
    os.write(2, (cfg["prefix"] + msg + "\n").encode())
    os._exit(cfg["setup_exit"])
libc = ctypes.CDLL(None, use_errno=True)
libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
def check(rc, what):
    if rc != 0:
        die("%s: %s" % (what, os.strerror(ctypes.get_errno())))
if cfg["covers"]:
    # private mount namespace (propagation made private *before* anything is mounted), then an
    # empty tmpfs over each directory `nobody` cannot enter, with the needed paths bound back
    check(libc.unshare(0x00020000), "unshare(mount namespace)")
    check(libc.mount(None, b"/", None, 0x4000 | 0x40000, None), "make mounts private")
    for cover, paths in cfg["covers"]:
        try:
            fds = [os.open(p, os.O_PATH) for p in paths]
        except OSError as exc:
            die("open %s: %s" % (exc.filename, exc.strerror))
        check(libc.mount(b"tmpfs", cover.encode(), b"tmpfs", 2 | 4, b"mode=0755"), "tmpfs on " + cover)
        for p, fd in zip(paths, fds):
            os.makedirs(p, exist_ok=True)
            check(libc.mount(("/proc/self/fd/%d" % fd).encode(), p.encode(), None, 4096 | 0x4000, None), "bind " + p)
            os.close(fd)
def setlim(name, soft, hard):
    res = getattr(resource, "RLIMIT_" + name)
    _, cur_hard = resource.getrlimit(res)
    if os.geteuid() != 0 and cur_hard != resource.RLIM_INFINITY:
        hard = cur_hard if hard < 0 else min(hard, cur_hard)
    soft = hard if hard >= 0 and (soft < 0 or soft > hard) else soft
    try:
        resource.setrlimit(res, (soft, hard))
    except (ValueError, OSError) as exc:
        die("setrlimit %s: %s" % (name, exc))
for name, soft, hard in cfg["limits"]:
    setlim(name, soft, hard)
if cfg["drop"]:
    uid, gid = cfg["drop"]
    try:
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
    except OSError as exc:
        die("cannot drop privileges to %d: %s" % (uid, exc))
    if os.getuid() != uid or os.geteuid() != uid:
        die("privilege drop did not stick")
    libc.prctl(4, 1, 0, 0, 0)  # PR_SET_DUMPABLE, cleared by the uid change; /proc/self needs it
nproc = cfg["nproc_fallback"]
if libc.unshare(0x10000000) == 0:
    nproc = cfg["nproc"]
    uid, gid = os.getuid(), os.getgid()
    for path, data in (("/proc/self/setgroups", "deny"), ("/proc/self/uid_map", "%d %d 1" % (uid, uid)),
                       ("/proc/self/gid_map", "%d %d 1" % (gid, gid))):
        try:
            with open(path, "w") as fh:
                fh.write(data)
        except OSError:
            pass
setlim("NPROC", nproc, nproc)
check(libc.prctl(38, 1, 0, 0, 0), "prctl(no_new_privs)")
argv = cfg["argv"]
try:
    os.execv(argv[0], argv)
except OSError as exc:
    die("cannot exec %s: %s" % (argv[0], exc))
"""


# --------------------------------------------------------------------------------------------
# paths the interpreter needs, and which of them `nobody` cannot reach


def _can_enter(path: str, uid: int, gid: int) -> bool:
    try:
        st = os.stat(path)
    except OSError:
        return False
    if st.st_uid == uid:
        return bool(st.st_mode & stat.S_IXUSR)
    if st.st_gid == gid:
        return bool(st.st_mode & stat.S_IXGRP)
    return bool(st.st_mode & stat.S_IXOTH)


def _first_blocked(path: str, uid: int, gid: int) -> str | None:
    """The outermost directory on the way to `path` that uid/gid cannot enter, if any."""
    parts = Path(path).parts
    for i in range(2, len(parts) + 1):
        prefix = os.path.join(*parts[:i])
        if os.path.isdir(prefix) and not _can_enter(prefix, uid, gid):
            return prefix
    return None


def _is_within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _minimal(paths: set[str]) -> list[str]:
    """Drop paths that lie inside another path of the set."""
    out: list[str] = []
    for p in sorted(paths):
        if not any(_is_within(p, q) for q in out):
            out.append(p)
    return out


@functools.lru_cache(maxsize=1)
def _interpreter_paths() -> tuple[str, ...]:
    """Directories the sandboxed interpreter (and the installed maslab) must be able to read."""
    found: set[str] = set()
    candidates = [sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix]
    exe = sys.executable
    candidates.append(os.path.dirname(exe))
    hops = 0
    while os.path.islink(exe) and hops < 16:  # every hop of a venv's symlink chain
        target = os.readlink(exe)
        exe = target if os.path.isabs(target) else os.path.join(os.path.dirname(exe), target)
        candidates.append(os.path.dirname(os.path.abspath(exe)))
        hops += 1
    candidates.append(os.path.dirname(os.path.realpath(sys.executable)))
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        with contextlib.suppress(KeyError):
            candidates.append(sysconfig.get_paths()[key])
    import maslab

    candidates.append(str(Path(maslab.__file__).resolve().parent.parent))
    candidates.append(str(Path(__file__).resolve().parent.parent))
    candidates.extend(p for p in sys.path if p and os.path.isabs(p))
    for c in candidates:
        with contextlib.suppress(OSError):
            real = os.path.realpath(c)
            if os.path.isdir(real) and real != "/":
                found.add(os.path.abspath(c))
                found.add(real)
    return tuple(_minimal(found))


def _rebinds(tmpfs_dirs: list[str], needed: list[str]) -> list[str]:
    """Needed paths hidden by one of the tmpfs mounts, which must be bound back."""
    return [
        p
        for p in needed
        if any(_is_within(p, t) and p != t for t in tmpfs_dirs)
        and not any(_is_within(t, p) for t in tmpfs_dirs)
    ]


def _covers_for(uid: int, gid: int, needed: list[str]) -> list[str]:
    blocked = {b for p in needed if (b := _first_blocked(p, uid, gid)) is not None}
    return _minimal(blocked)


# --------------------------------------------------------------------------------------------
# process counting (fallback NPROC budget) and clean-up of escaped processes


def _count_tasks(uid: int) -> int:
    """Tasks (threads) whose real uid is `uid`, as RLIMIT_NPROC counts them."""
    total = 0
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/status", "rb") as fh:
                    text = fh.read().decode("ascii", "replace")
            except OSError:
                continue
            real_uid = threads = None
            for line in text.splitlines():
                if line.startswith("Uid:"):
                    real_uid = int(line.split()[1])
                elif line.startswith("Threads:"):
                    threads = int(line.split()[1])
            if real_uid == uid:
                total += threads or 1
    return total


def _sweep(marker: bytes, uid: int) -> int:
    """SIGKILL every process (of `uid`) whose environment carries our run marker; returns the count."""
    killed = 0
    for _ in range(3):
        found = 0
        with contextlib.suppress(OSError):
            for entry in os.scandir("/proc"):
                if not entry.name.isdigit():
                    continue
                pid = int(entry.name)
                try:
                    if os.stat(f"/proc/{pid}").st_uid != uid:
                        continue
                    with open(f"/proc/{pid}/environ", "rb") as fh:
                        environ = fh.read()
                except OSError:
                    continue
                if marker in environ.split(b"\0"):
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGKILL)
                        found += 1
        killed += found
        if not found:
            break
        time.sleep(0.05)
    return killed


# --------------------------------------------------------------------------------------------
# bubblewrap


def _bwrap_args(workdir: str, needed: list[str], covers: list[str], as_root: bool) -> list[str]:
    bwrap = shutil.which("bwrap") or "bwrap"
    args = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
    for cover in covers:
        args += ["--tmpfs", cover]
    tmpfs_dirs = ["/tmp", *covers]
    made: set[str] = set(tmpfs_dirs)
    for path in _rebinds(tmpfs_dirs, needed):
        # bwrap would create the missing parents 0700, which `nobody` could not traverse
        parent = os.path.dirname(path)
        chain: list[str] = []
        while parent not in made and parent != "/":
            chain.append(parent)
            parent = os.path.dirname(parent)
        for d in reversed(chain):
            args += ["--perms", "0755", "--dir", d]
            made.add(d)
        args += ["--ro-bind", path, path]
    args += ["--bind", workdir, workdir, "--chdir", workdir]
    if as_root:
        # Root stays in the initial user namespace so the bootstrap can drop to a real non-root
        # uid (for which RLIMIT_NPROC is enforced); the other namespaces are all new.
        args += ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
    else:
        args += ["--unshare-all"]
    args += ["--die-with-parent", "--new-session", "--"]
    return args


_probe_lock = threading.Lock()
_probe_result: dict[bool, str | None] = {}


def _bwrap_problem() -> str | None:
    """None when bubblewrap works here with our options, else why not (probed once, cached).

    The probe runs the exact pipeline of a real run (bootstrap, privilege drop, limits).
    """
    as_root = os.geteuid() == 0
    with _probe_lock:
        if as_root in _probe_result:
            return _probe_result[as_root]
        problem: str | None = None
        if shutil.which("bwrap") is None:
            problem = "bwrap is not on PATH (Debian/Ubuntu: apt-get install bubblewrap)"
        else:
            workdir = _make_workdir("print('ok')", None)
            try:
                argv, env, _, _ = _command(
                    "bubblewrap", workdir, memory_mb=512, cpu=30, max_processes=16, env=None
                )
                proc = subprocess.run(
                    argv, capture_output=True, timeout=30, stdin=subprocess.DEVNULL, cwd=workdir, env=env
                )
                if proc.returncode != 0 or proc.stdout.strip() != b"ok":
                    err = proc.stderr.decode("utf-8", "replace").strip()
                    problem = f"bwrap does not work here (exit {proc.returncode}): {err[-300:]}"
            except (OSError, subprocess.SubprocessError) as exc:
                problem = f"bwrap does not work here: {exc}"
            finally:
                _remove_tree(workdir)
        if problem:
            log.info("bubblewrap unavailable; sandbox falls back to rlimits", reason=problem)
        _probe_result[as_root] = problem
        return problem


def bubblewrap_available() -> bool:
    """Whether runs with ``isolation="auto"`` get bubblewrap on this machine."""
    return _bwrap_problem() is None


# --------------------------------------------------------------------------------------------
# output capture


class _Capture:
    """Keeps the first and last `limit/2` bytes of a stream and counts the rest."""

    def __init__(self, limit: int = OUTPUT_LIMIT) -> None:
        self.half = limit // 2
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        if len(self.head) < self.half:
            take = self.half - len(self.head)
            self.head += chunk[:take]
            chunk = chunk[take:]
        if chunk:
            self.tail += chunk
            if len(self.tail) > self.half:
                del self.tail[: len(self.tail) - self.half]

    def text(self) -> str:
        dropped = self.total - len(self.head) - len(self.tail)
        if dropped <= 0:
            return (bytes(self.head) + bytes(self.tail)).decode("utf-8", "replace")
        return (
            self.head.decode("utf-8", "replace")
            + f"\n... [output truncated: {dropped} bytes omitted] ...\n"
            + self.tail.decode("utf-8", "replace")
        )


async def _pump(stream: asyncio.StreamReader | None, capture: _Capture) -> None:
    if stream is None:
        return
    while True:
        chunk = await stream.read(65536)
        if not chunk:
            return
        capture.feed(chunk)


async def _feed_stdin(proc: asyncio.subprocess.Process, data: bytes | None) -> None:
    if proc.stdin is None:
        return
    try:
        if data:
            proc.stdin.write(data)
            await proc.stdin.drain()
    except (BrokenPipeError, ConnectionResetError):
        pass
    finally:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, RuntimeError):
            proc.stdin.close()


# --------------------------------------------------------------------------------------------
# preparation and reading back


class _Plan(BaseModel):
    isolation: str
    workdir: str
    argv: list[str]
    env: dict[str, str]
    marker: str
    sweep_uid: int | None


def _safe_relpath(name: str) -> str:
    rel = os.path.normpath(name)
    if not name or os.path.isabs(name) or rel.startswith("..") or rel in (".", "") or "\0" in name:
        raise SandboxError(f"invalid sandbox file name {name!r}: use a relative path inside the work dir")
    return rel


def _chown_tree(root: str, uid: int, gid: int) -> None:
    os.chown(root, uid, gid)
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            os.chown(os.path.join(dirpath, n), uid, gid, follow_symlinks=False)


def _make_workdir(code: str, files: dict[str, str | bytes] | None) -> str:
    """A fresh work dir holding `files` and the code as main.py, owned by the sandbox user."""
    workdir = os.path.realpath(tempfile.mkdtemp(prefix="maslab-sandbox-"))
    try:
        for name, content in (files or {}).items():
            rel = _safe_relpath(name)
            if rel == MAIN_FILE:
                raise SandboxError(f"{MAIN_FILE!r} is reserved for the code being run")
            target = os.path.join(workdir, rel)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as fh:
                fh.write(content.encode() if isinstance(content, str) else bytes(content))
        with open(os.path.join(workdir, MAIN_FILE), "w", encoding="utf-8") as fh:
            fh.write(code)
        if os.geteuid() == 0:
            _chown_tree(workdir, NOBODY, NOBODY)
    except BaseException:
        _remove_tree(workdir)
        raise
    return workdir


def _command(
    isolation: str, workdir: str, *, memory_mb: int, cpu: int, max_processes: int, env: dict[str, str] | None
) -> tuple[list[str], dict[str, str], str, int]:
    """The argv and environment that run main.py in `workdir`; plus the run marker and sandbox uid."""
    as_root = os.geteuid() == 0
    needed = list(_interpreter_paths())
    covers = _covers_for(NOBODY, NOBODY, needed) if as_root else []
    target_uid = NOBODY if as_root else os.getuid()
    memory = memory_mb * 1024 * 1024
    config: dict[str, Any] = {
        "prefix": SETUP_PREFIX,
        "setup_exit": SETUP_EXIT,
        "limits": [
            ["AS", memory, memory],
            ["CPU", cpu, cpu + 1],  # SIGXCPU at the soft limit, SIGKILL a second later
            ["FSIZE", FILE_SIZE_LIMIT, FILE_SIZE_LIMIT],
            ["CORE", 0, 0],
        ],
        "drop": [NOBODY, NOBODY] if as_root else None,
        "covers": [],
        # in a fresh user namespace the count starts at 1 (this process)
        "nproc": max_processes,
        "nproc_fallback": _count_tasks(target_uid) + max_processes,
        "argv": [sys.executable, "-E", "-s", "-B", "-u", MAIN_FILE],
    }
    boot = [sys.executable, "-I", "-S", "-c", _BOOTSTRAP]
    if isolation == "bubblewrap":
        argv = _bwrap_args(workdir, needed, covers, as_root) + boot
    else:
        config["covers"] = [[c, _rebinds([c], [*needed, workdir])] for c in covers]
        argv = boot
    argv.append(json.dumps(config))

    marker = uuid.uuid4().hex
    child_env = {
        "PATH": os.pathsep.join([os.path.dirname(sys.executable), "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": workdir,
        "TMPDIR": workdir,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "NUMEXPR_NUM_THREADS": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "MPLBACKEND": "Agg",
    }
    child_env.update(env or {})
    child_env[_ENV_MARKER] = marker
    return argv, child_env, marker, target_uid


def _prepare(
    code: str,
    *,
    isolation: str,
    memory_mb: int,
    cpu: int,
    max_processes: int,
    files: dict[str, str | bytes] | None,
    env: dict[str, str] | None,
) -> _Plan:
    if isolation == "auto":
        isolation = "bubblewrap" if _bwrap_problem() is None else "rlimits"
    elif isolation == "bubblewrap":
        problem = _bwrap_problem()
        if problem is not None:
            raise SandboxError(f"isolation='bubblewrap' requested but {problem}")
    elif isolation != "rlimits":
        raise SandboxError(f"unknown isolation {isolation!r}: use 'auto', 'bubblewrap' or 'rlimits'")
    workdir = _make_workdir(code, files)
    try:
        argv, child_env, marker, target_uid = _command(
            isolation, workdir, memory_mb=memory_mb, cpu=cpu, max_processes=max_processes, env=env
        )
    except BaseException:
        _remove_tree(workdir)
        raise
    return _Plan(
        isolation=isolation,
        workdir=workdir,
        argv=argv,
        env=child_env,
        marker=marker,
        sweep_uid=None if isolation == "bubblewrap" else target_uid,
    )


def _read_back(workdir: str, names: list[str]) -> dict[str, str]:
    """Read `names` from the work dir, refusing anything that leads outside it (symlinks, hard links)."""
    out: dict[str, str] = {}
    root = os.path.realpath(workdir)
    for name in names:
        try:
            rel = _safe_relpath(name)
        except SandboxError:
            log.warning("sandbox return file name rejected", name=name)
            continue
        path = os.path.join(root, rel)
        if not _is_within(os.path.realpath(path), root):
            log.warning("sandbox return file escapes the work dir", name=name)
            continue
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
                log.warning("sandbox return file is not a plain file", name=name)
                continue
            with os.fdopen(fd, "rb", closefd=False) as fh:
                data = fh.read(RETURN_FILE_LIMIT + 1)
        finally:
            os.close(fd)
        text = data[:RETURN_FILE_LIMIT].decode("utf-8", "replace")
        if len(data) > RETURN_FILE_LIMIT:
            text += f"\n... [file truncated at {RETURN_FILE_LIMIT} bytes]"
        out[name] = text
    return out


def _remove_tree(path: str) -> None:
    """Delete a work dir even if the code inside made parts of it unwritable."""

    def force(func: Any, p: str, _exc: Any) -> None:
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(p), 0o700)
            os.chmod(p, 0o700)
            func(p)

    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=force)
    else:
        shutil.rmtree(path, onerror=force)
    if os.path.exists(path):
        shutil.rmtree(path, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# classification


def _last_line(text: str) -> str:
    for line in reversed(text.splitlines()):
        if line.strip() and not line.startswith("... [output truncated"):
            return line.strip()[:300]
    return ""


def _signal_of(returncode: int, isolation: str) -> int | None:
    if returncode < 0:
        return -returncode
    if isolation == "bubblewrap" and returncode > 128:  # bwrap reports "killed by N" as 128 + N
        sig = returncode - 128
        if sig in (
            signal.SIGKILL,
            signal.SIGXCPU,
            signal.SIGXFSZ,
            signal.SIGSEGV,
            signal.SIGABRT,
            signal.SIGBUS,
        ):
            return sig
    return None


def _classify(returncode: int, stderr: str, *, isolation: str, memory_mb: int, cpu: float) -> str | None:
    if returncode == 0:
        return None
    last = _last_line(stderr)
    if returncode == SETUP_EXIT and last.startswith(SETUP_PREFIX.strip()):
        return "sandbox setup failed: " + last[len(SETUP_PREFIX) :]
    memory_error = f"memory limit exceeded ({memory_mb} MiB)"
    if "MemoryError" in last or "Cannot allocate memory" in last or "[Errno 12]" in last:
        return memory_error
    sig = _signal_of(returncode, isolation)
    if sig == signal.SIGKILL:
        return memory_error
    if sig == signal.SIGXCPU:
        return f"cpu time limit exceeded ({cpu:g}s)"
    if sig == signal.SIGXFSZ:
        return f"file size limit exceeded ({FILE_SIZE_LIMIT // (1024 * 1024)} MiB)"
    if sig is not None:
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        return f"killed by {name}" + (f": {last}" if last else "")
    return f"exit code {returncode}" + (f": {last}" if last else "")


# --------------------------------------------------------------------------------------------
# public API


async def _wait_exit(proc: asyncio.subprocess.Process, timeout: float) -> bool:
    """Wait for the process itself to exit (not for its pipes, which descendants may hold open)."""
    deadline = time.monotonic() + timeout
    delay = 0.002
    while proc.returncode is None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        await asyncio.sleep(min(delay, remaining))
        delay = min(delay * 2, 0.05)
    return True


def _kill_group(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


async def arun_python(
    code: str,
    *,
    timeout: float = 10.0,
    memory_mb: int = 1024,
    cpu_seconds: int | None = None,
    max_processes: int = 64,
    files: dict[str, str | bytes] | None = None,
    return_files: list[str] | None = None,
    stdin: str | None = None,
    isolation: Isolation = "auto",
    env: dict[str, str] | None = None,
) -> SandboxResult:
    """Run `code` as ``main.py`` in a fresh sandbox (see the module docstring); never blocks the loop.

    Args:
        code: Python source to run.
        timeout: Wall-clock limit in seconds; the whole process group is killed after it.
        memory_mb: Address-space limit (RLIMIT_AS) in MiB.
        cpu_seconds: CPU-time limit; default: the timeout rounded up, plus one second.
        max_processes: Processes/threads the sandbox may have (RLIMIT_NPROC, see module docs).
        files: Files to create in the work dir first (relative path -> text or bytes).
        return_files: Work-dir files to read back into `SandboxResult.files` after the run.
        stdin: Text fed to the program's standard input (default: none, EOF).
        isolation: "auto" (bubblewrap when it works here), "bubblewrap" or "rlimits".
        env: Extra environment variables for the child (its environment is otherwise minimal).
    """
    if not isinstance(code, str):
        raise SandboxError("code must be a string")
    if timeout <= 0 or memory_mb < 32 or max_processes < 1 or (cpu_seconds is not None and cpu_seconds < 1):
        raise SandboxError(
            f"bad sandbox limits: timeout={timeout}, memory_mb={memory_mb}, "
            f"cpu_seconds={cpu_seconds}, max_processes={max_processes}"
        )
    if not sys.executable:
        raise SandboxError("no Python interpreter (sys.executable is empty)")
    start = time.perf_counter()
    cpu = cpu_seconds if cpu_seconds is not None else math.ceil(timeout) + 1
    plan = await asyncio.to_thread(
        _prepare,
        code,
        isolation=isolation,
        memory_mb=memory_mb,
        cpu=cpu,
        max_processes=max_processes,
        files=files,
        env=env,
    )
    out, err = _Capture(), _Capture()
    timed_out = False
    returncode: int | None = None
    sweep_marker = f"{_ENV_MARKER}={plan.marker}".encode()
    try:
        try:
            proc = await asyncio.create_subprocess_exec(
                *plan.argv,
                stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=plan.workdir,
                env=plan.env,
                start_new_session=True,
            )
        except OSError as exc:
            raise SandboxError(f"cannot start the sandbox ({plan.isolation}): {exc}") from exc
        pumps = [
            asyncio.create_task(_pump(proc.stdout, out)),
            asyncio.create_task(_pump(proc.stderr, err)),
            asyncio.create_task(_feed_stdin(proc, stdin.encode() if stdin is not None else None)),
        ]
        try:
            timed_out = not await _wait_exit(proc, timeout)
            # The run ends when its main process does: whatever it left behind goes too.
            _kill_group(proc)
            if plan.sweep_uid is not None:
                await asyncio.to_thread(_sweep, sweep_marker, plan.sweep_uid)
            if timed_out:
                await _wait_exit(proc, _KILL_GRACE_S)
            returncode = proc.returncode
            _, pending = await asyncio.wait(pumps, timeout=_KILL_GRACE_S)
            for task in pending:
                task.cancel()
        finally:
            if proc.returncode is None:  # cancelled or failed half-way: leave nothing running
                _kill_group(proc)
                if plan.sweep_uid is not None:
                    _sweep(sweep_marker, plan.sweep_uid)
            for task in pumps:
                if not task.done():
                    task.cancel()
        collected = await asyncio.to_thread(_read_back, plan.workdir, list(return_files or []))
    finally:
        await asyncio.to_thread(_remove_tree, plan.workdir)

    stdout_text, stderr_text = out.text(), err.text()
    if timed_out:
        error: str | None = f"timeout after {float(timeout)}s"
    else:
        error = _classify(
            returncode if returncode is not None else -1,
            stderr_text,
            isolation=plan.isolation,
            memory_mb=memory_mb,
            cpu=cpu,
        )
    result = SandboxResult(
        ok=error is None,
        stdout=stdout_text,
        stderr=stderr_text,
        error=error,
        returncode=returncode,
        isolation=plan.isolation,
        duration_s=time.perf_counter() - start,
        files=collected,
    )
    log.debug(
        "sandbox run",
        isolation=result.isolation,
        ok=result.ok,
        error=result.error,
        returncode=result.returncode,
        duration_s=round(result.duration_s, 3),
    )
    return result


def run_python(code: str, **options: Any) -> SandboxResult:
    """Blocking version of `arun_python`, with the same options (safe to call from inside a running
    event loop's thread)."""
    return run_sync(arun_python(code, **options))


# --------------------------------------------------------------------------------------------
# programs: the HumanEval-style program one code answer becomes (the code scorer, Reflexion)


def _defines(code: str, name: str) -> bool:
    return re.search(rf"^\s*(?:async\s+)?def\s+{re.escape(name)}\s*\(", code, re.MULTILINE) is not None


def program_parses(source: str) -> bool:
    """Whether `source` compiles (byte-compiling only: nothing is executed). Unlike `ast.parse`,
    this also rejects `return` outside a function, which tells a mis-indented body apart."""
    try:
        compile(source, "<answer>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return False
    return True


def build_humaneval_program(prompt: str, completion: str, test: str, entry_point: str) -> tuple[str, str]:
    """The program the sandbox runs for one HumanEval answer, and how the answer was read.

    A completion that defines `entry_point` itself is appended after the prompt (so the prompt's
    imports and helpers stay available and the new definition wins); otherwise it is the body of
    the prompt's function, re-indented when a model dropped the indentation.
    """
    code = extract_code(completion)
    prompt = prompt if prompt.endswith("\n") else prompt + "\n"
    if _defines(code, entry_point):
        mode, solution = "function", prompt + "\n" + code
    else:
        mode = "body"
        lines = code.strip("\n").splitlines()
        candidates = [code]
        if lines and not lines[0][:1].isspace():  # the model dropped (some of) the indentation
            rest = "\n".join(lines[1:])
            first = "    " + lines[0].lstrip()
            all_shifted = textwrap.indent(textwrap.dedent(code.strip("\n")), "    ") + "\n"
            first_shifted = first + ("\n" + rest if rest else "") + "\n"
            rest_indented = bool(rest.strip()) and not any(
                ln.strip() and not ln[:1].isspace() for ln in lines[1:]
            )
            # rest still indented: only the first line lost its indentation (a .strip() victim);
            # otherwise the whole body sits at column 0
            candidates = [first_shifted, all_shifted, code] if rest_indented else [all_shifted, first_shifted, code]
        solution = next((prompt + c for c in candidates if program_parses(prompt + c)), prompt + code)
    tail = f"\n\n{test}\n\ncheck({entry_point})\n"
    return solution.rstrip("\n") + "\n" + tail, mode
