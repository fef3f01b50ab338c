"""Run model-written Python in a throw-away, isolated, resource-limited subprocess (never in our process).

Isolation modes (``isolation=``, or ``MASLAB_SANDBOX`` when it is ``"auto"``):

* ``bubblewrap`` (``bwrap`` on PATH and working): bubblewrap builds the sandbox.
* ``namespaces`` (no bubblewrap needed): the bootstrap below builds the same sandbox itself with
  Linux namespaces — an unprivileged user namespace (so no root and no host capabilities are
  needed) plus new mount, PID, network, IPC and UTS namespaces.
* ``none``: no isolation at all — resource limits and a process group only. Only on request
  (``isolation="none"`` or ``MASLAB_SANDBOX=none``), with a warning on every run.

``auto`` takes bubblewrap when it works here, else namespaces; when neither works it refuses to run
model code (`SandboxError`) rather than fall back silently. Both isolating modes give the same
sandbox (the README states the guarantees):

1. a new root file system on a tmpfs holding only what Python needs, each bound read-only: /usr,
   /bin, /sbin, /lib*, a few files of /etc, the interpreter's prefixes, the entries of the
   child's ``sys.path`` and the maslab package directories — never $HOME (only the interpreter's
   own directories inside it, e.g. a pyenv version) and never a project checkout as a whole (only
   its package directories and virtual environment); the root itself is read-only;
2. a private /tmp and /dev/shm (size-limited tmpfs), a minimal /dev, a /proc of the sandbox's own
   PID namespace, and the work directory — the only writable host directory;
3. no network (a new, empty network namespace: not even loopback is up);
4. a new PID namespace: the program cannot see or signal any process outside, and when it exits
   or is killed every process it started dies with it (the kernel kills the whole namespace
   with its init), whatever ``setsid``, double forks or an empty environment it used;
5. an unprivileged user: root drops to ``nobody`` (65534) first; the program never holds a
   capability on the host, and ``no_new_privs`` forbids regaining privileges;
6. resource limits: address space, CPU time, file size, processes, no core files; a wall-clock
   timeout kills the sandbox's whole process group.

The child's environment is built from scratch (nothing of ours, e.g. API keys, leaks in).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import getpass
import json
import math
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from typing import Any, Literal

from pydantic import BaseModel, Field

from maslab.answers import extract_code
from maslab.errors import MaslabError
from maslab.sync import run_sync
from maslab.trace import get_logger

log = get_logger(__name__)

__all__ = [
    "ISOLATING_MODES",
    "Isolation",
    "IsolationReport",
    "SandboxError",
    "SandboxResult",
    "arun_python",
    "bubblewrap_available",
    "build_humaneval_program",
    "isolation_report",
    "program_parses",
    "run_python",
]

Isolation = Literal["auto", "bubblewrap", "namespaces", "none"]
ISOLATING_MODES = ("bubblewrap", "namespaces")
ENV_VAR = "MASLAB_SANDBOX"

OUTPUT_LIMIT = 64 * 1024  # bytes kept per stream (head and tail halves)
RETURN_FILE_LIMIT = 8 * 1024 * 1024  # bytes read back per returned file
FILE_SIZE_LIMIT = 256 * 1024 * 1024  # RLIMIT_FSIZE
TMP_LIMIT_MB = 256  # the private /tmp (tmpfs: memory the address-space limit does not cover)
SHM_LIMIT_MB = 64
NOBODY = 65534
MAIN_FILE = "main.py"
SETUP_EXIT = 125
SETUP_PREFIX = "maslab-sandbox: "
_KILL_GRACE_S = 2.0

# what the interpreter needs of the system, besides its own prefixes and sys.path
_SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_ETC_PATHS = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/timezone",
              "/etc/passwd", "/etc/group", "/etc/nsswitch.conf", "/etc/alternatives", "/etc/ssl",
              "/etc/ca-certificates", "/etc/mime.types", "/etc/os-release", "/etc/fonts")


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
#
# mode "namespaces": open the bind sources (still privileged, if we were root), drop to `nobody`
#   when root, unshare user+mount+PID+net+IPC+UTS namespaces, fork the sandbox's init (PID 1), which
#   builds the new root, pivots into it and forks the program; init reaps orphans and exits with the
#   program's status, which takes every other process of the namespace down with it.
# mode "bubblewrap": bwrap already built the sandbox; drop to `nobody` when root, then the program.
# mode "none": just the limits, then the program.
# Exit status: the program's, or 128 + N when a signal N killed it.

_BOOTSTRAP = r"""
import ctypes, json, os, platform, resource, signal, sys
cfg = json.loads(sys.argv[1])
os.umask(0o022)
libc = ctypes.CDLL(None, use_errno=True)
libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
NEWNS, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET = 0x20000, 0x4000000, 0x8000000, 0x10000000, 0x20000000, 0x40000000
RDONLY, NOSUID, NODEV, NOEXEC, REMOUNT, BIND, REC, PRIVATE = 1, 2, 4, 8, 32, 4096, 0x4000, 0x40000
PIVOT_ROOT = {"x86_64": 155, "i686": 217, "aarch64": 41, "riscv64": 41, "loongarch64": 41, "ppc64le": 203,
              "s390x": 217, "armv7l": 218}
def die(msg):
    os.write(2, (cfg["prefix"] + msg + "\n").encode())
    os._exit(cfg["setup_exit"])
def check(rc, what):
    if rc != 0:
        die("%s: %s" % (what, os.strerror(ctypes.get_errno())))
def mount(src, dst, fstype, flags, data, what):
    enc = lambda s: None if s is None else s.encode()
    check(libc.mount(enc(src), enc(dst), enc(fstype), flags, enc(data)), what)
def status_code(status):
    return os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
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
def drop(uid, gid):
    try:
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
    except OSError as exc:
        die("cannot drop privileges to %d: %s" % (uid, exc))
    if os.getuid() != uid or os.geteuid() != uid:
        die("privilege drop did not stick")
    libc.prctl(4, 1, 0, 0, 0)  # PR_SET_DUMPABLE, cleared by the uid change; /proc/self needs it
def map_self():
    uid, gid = os.getuid(), os.getgid()
    for path, data in (("/proc/self/setgroups", "deny"), ("/proc/self/uid_map", "%d %d 1" % (uid, uid)),
                       ("/proc/self/gid_map", "%d %d 1" % (gid, gid))):
        with open(path, "w") as fh:
            fh.write(data)
def program(nproc):
    for name, soft, hard in cfg["limits"]:
        setlim(name, soft, hard)
    setlim("NPROC", nproc, nproc)
    check(libc.prctl(38, 1, 0, 0, 0), "prctl(no_new_privs)")
    argv = cfg["argv"]
    try:
        os.execv(argv[0], argv)
    except OSError as exc:
        die("cannot exec %s: %s" % (argv[0], exc))
def build_root(fds):
    root = "/tmp"  # the new root: a tmpfs mounted over /tmp (every bind source is open already)
    mount(None, "/", None, REC | PRIVATE, None, "make mounts private")
    mount("tmpfs", root, "tmpfs", NOSUID | NODEV, "mode=0755,size=4m", "tmpfs for the new root")
    for d in ("/dev", "/proc", "/tmp"):
        os.mkdir(root + d, 0o755)
    mount("tmpfs", root + "/dev", "tmpfs", NOSUID | NOEXEC, "mode=0755,size=64k", "tmpfs on /dev")
    for name in ("null", "zero", "full", "random", "urandom"):
        open(root + "/dev/" + name, "w").close()
        mount("/dev/" + name, root + "/dev/" + name, None, BIND, None, "bind /dev/" + name)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                         ("stderr", "/proc/self/fd/2")):
        os.symlink(target, root + "/dev/" + name)
    os.mkdir(root + "/dev/shm")
    mount("tmpfs", root + "/dev/shm", "tmpfs", NOSUID | NODEV, "mode=1777,size=%dm" % cfg["shm_mb"], "/dev/shm")
    mount(None, root + "/dev", None, REMOUNT | BIND | RDONLY | NOSUID | NOEXEC, None, "read-only /dev")
    # a /proc of our own PID namespace; where the kernel refuses (a container that masks parts of
    # the host's /proc), the sandbox has none
    libc.mount(b"proc", (root + "/proc").encode(), b"proc", NOSUID | NODEV | NOEXEC, None)
    mount("tmpfs", root + "/tmp", "tmpfs", NOSUID | NODEV, "mode=1777,size=%dm" % cfg["tmp_mb"], "private /tmp")
    for d in cfg["dirs"]:
        os.makedirs(root + d, 0o755, exist_ok=True)
    for target, link in cfg["symlinks"]:
        os.symlink(target, root + link)
    for fd, dst, writable, is_dir in fds:
        where = root + dst
        try:
            if is_dir:
                os.makedirs(where, 0o755, exist_ok=True)
            else:
                os.makedirs(os.path.dirname(where), 0o755, exist_ok=True)
                if not os.path.exists(where):
                    open(where, "w").close()
        except OSError as exc:
            die("mount point %s: %s" % (dst, exc.strerror))
        mount("/proc/self/fd/%d" % fd, where, None, BIND | REC, None, "bind " + dst)
        if not writable:  # keep the flags the kernel locks (nosuid, nodev, noexec) when remounting
            kept = os.statvfs(where).f_flag & (NOSUID | NODEV | NOEXEC)
            mount(None, where, None, REMOUNT | BIND | RDONLY | kept, None, "read-only " + dst)
        os.close(fd)
    number = PIVOT_ROOT.get(platform.machine())
    if number is None:
        die("pivot_root: unsupported machine %s" % platform.machine())
    os.chdir(root)
    check(libc.syscall(number, b".", b"."), "pivot_root")
    check(libc.umount2(b".", 2), "detach the old root")  # MNT_DETACH
    os.chdir("/")
    mount(None, "/", None, REMOUNT | BIND | RDONLY | NOSUID | NODEV, None, "read-only root")
    os.chdir(cfg["workdir"])
def per_sandbox_count(nproc):  # after a drop to `nobody`: a fresh user namespace, so that
    # RLIMIT_NPROC counts this sandbox's processes only
    if libc.unshare(NEWUSER) != 0:
        return cfg["nproc_fallback"]
    try:
        map_self()
    except OSError:
        pass
    return nproc
mode = cfg["mode"]
if mode == "namespaces":
    as_root = os.geteuid() == 0  # root needs no user namespace to build the sandbox; others do
    flags = NEWNS | NEWPID | NEWNET | NEWIPC | NEWUTS
    check(libc.unshare(flags if as_root else NEWUSER | flags), "unshare(namespaces)")
    if not as_root:
        try:
            map_self()
        except OSError as exc:
            die("user namespace map: %s" % exc)
    libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG: die with maslab
    init = os.fork()
    if init:
        os._exit(status_code(os.waitpid(init, 0)[1]))
    libc.prctl(1, signal.SIGKILL, 0, 0, 0)
    fds = []
    for src, dst, writable in cfg["binds"]:
        try:
            fds.append((os.open(src, os.O_PATH | os.O_CLOEXEC), dst, writable, os.path.isdir(src)))
        except OSError as exc:
            die("open %s: %s" % (src, exc.strerror))
    build_root(fds)
    child = os.fork()
    if child == 0:
        if cfg["drop"]:
            drop(*cfg["drop"])
            program(per_sandbox_count(cfg["nproc"]))
        program(cfg["nproc"] + 2)  # this user namespace holds the bootstrap, init, then the program
    while True:  # init: reap orphans until the program exits; the kernel then kills the rest
        pid, status = os.wait()
        if pid == child:
            os._exit(status_code(status))
if mode == "bubblewrap":
    if cfg["drop"]:
        drop(*cfg["drop"])
    program(per_sandbox_count(cfg["nproc"]))
program(cfg["nproc_fallback"])
"""


# --------------------------------------------------------------------------------------------
# what the sandbox's file system holds


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
def _child_sys_path() -> tuple[str, ...]:
    """The sys.path the sandboxed interpreter will have (same flags, no working-directory entry)."""
    try:
        proc = subprocess.run([sys.executable, "-E", "-s", "-c", "import json, sys; print(json.dumps(sys.path))"],
                              capture_output=True, timeout=60, cwd="/", env={"LANG": "C.UTF-8"},
                              stdin=subprocess.DEVNULL)
        return tuple(json.loads(proc.stdout))
    except (OSError, ValueError, subprocess.SubprocessError):
        return tuple(sys.path)


@functools.lru_cache(maxsize=1)
def _python_paths() -> tuple[str, ...]:
    """Host directories the sandboxed interpreter reads: its prefixes, the symlink chain of its
    executable, its sys.path and the maslab package — never $HOME itself (or a folder holding it)
    and never the checkout a source tree of maslab sits in, only its package directories."""
    import maslab

    package = os.path.realpath(os.path.dirname(maslab.__file__))
    packages = {package}  # maslab/agents, maslab/tools, … are symlinks in a source checkout
    with contextlib.suppress(OSError):
        packages |= {os.path.realpath(e.path) for e in os.scandir(package) if e.is_symlink() and e.is_dir()}
    checkout = os.path.dirname(package)
    home = os.path.realpath(os.path.expanduser("~"))
    candidates = [sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix, *_child_sys_path()]
    exe, hops = sys.executable, 0
    candidates.append(os.path.dirname(exe))
    while os.path.islink(exe) and hops < 16:  # every hop of a venv's symlink chain
        target = os.readlink(exe)
        exe = target if os.path.isabs(target) else os.path.join(os.path.dirname(exe), target)
        candidates.append(os.path.dirname(os.path.abspath(exe)))
        hops += 1
    candidates.append(os.path.dirname(os.path.realpath(sys.executable)))
    found: set[str] = set()
    for c in candidates:
        if not c or not os.path.isabs(c):
            continue
        for p in {os.path.abspath(c), os.path.realpath(c)}:
            if not os.path.exists(p) or p == "/" or _is_within(home, p):
                continue
            if p == checkout and os.path.basename(p) not in ("site-packages", "dist-packages"):
                continue  # a source checkout on sys.path: only its package directories (below)
            found.add(p)
    return tuple(_minimal(found | packages))


class _Layout(BaseModel):
    """The sandbox's file system: host paths bound at the same place (read-only unless writable),
    symlinks recreated as such, and the directories that hold them."""

    binds: list[tuple[str, str, bool]]  # (host source, path in the sandbox, writable)
    symlinks: list[tuple[str, str]]  # (target, link)
    dirs: list[str]


def _layout(workdir: str, read_only: list[str]) -> _Layout:
    links: dict[str, str] = {}
    wanted: set[str] = set()
    for p in (*_SYSTEM_PATHS, *_ETC_PATHS):
        if os.path.islink(p):
            links[p] = os.readlink(p)
        elif os.path.exists(p):
            wanted.add(p)
    for p in (*_python_paths(), *read_only):
        if not any(_is_within(p, link) for link in links):  # reached through a recreated symlink
            wanted.add(p)
    binds = [(os.path.realpath(p), p, False) for p in _minimal(wanted)]
    binds.append((workdir, workdir, True))
    dirs: set[str] = set()
    for path in [b[1] for b in binds] + list(links):
        parent = os.path.dirname(path)
        while parent not in ("/", ""):
            dirs.add(parent)
            parent = os.path.dirname(parent)
    dirs -= {"/tmp", "/dev", "/proc"}
    return _Layout(binds=binds, symlinks=[(t, link) for link, t in sorted(links.items())],
                   dirs=sorted(dirs, key=lambda d: (d.count("/"), d)))


# --------------------------------------------------------------------------------------------
# process counting (RLIMIT_NPROC budget where no fresh user namespace counts from one)


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


# --------------------------------------------------------------------------------------------
# bubblewrap


@functools.lru_cache(maxsize=1)
def _bwrap_sizes_tmpfs() -> bool:
    """bubblewrap >= 0.5 takes --size/--perms for a tmpfs (older ones: an unbounded /tmp)."""
    try:
        out = subprocess.run([shutil.which("bwrap") or "bwrap", "--help"], capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return b"--size" in out.stdout + out.stderr


def _bwrap_args(layout: _Layout, as_root: bool) -> list[str]:
    args = [shutil.which("bwrap") or "bwrap", "--dev", "/dev", "--proc", "/proc"]
    if _bwrap_sizes_tmpfs():
        args += ["--size", str(TMP_LIMIT_MB * 1024 * 1024), "--perms", "1777"]
    args += ["--tmpfs", "/tmp"]
    for d in layout.dirs:  # made 0755, so that `nobody` can traverse them
        args += ["--perms", "0755", "--dir", d]
    for target, link in layout.symlinks:
        args += ["--symlink", target, link]
    for src, dst, writable in layout.binds:
        args += ["--bind" if writable else "--ro-bind", src, dst]
    workdir = layout.binds[-1][1]
    args += ["--remount-ro", "/", "--chdir", workdir]
    if as_root:
        # Root stays in the initial user namespace so the bootstrap can drop to a real non-root
        # uid (for which RLIMIT_NPROC is enforced); the other namespaces are all new.
        args += ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
    else:
        args += ["--unshare-all"]
    args += ["--die-with-parent", "--new-session", "--"]
    return args


# --------------------------------------------------------------------------------------------
# which isolation this machine gives


_probe_lock = threading.Lock()
_probe_result: dict[tuple[str, int], str | None] = {}


def _problem(mode: str) -> str | None:
    """None when `mode` ("bubblewrap" or "namespaces") works here, else why not (probed once per
    uid, by running the exact pipeline of a real run on `print('ok')`)."""
    key = (mode, os.geteuid())
    with _probe_lock:
        if key in _probe_result:
            return _probe_result[key]
        problem: str | None = None
        if mode == "bubblewrap" and shutil.which("bwrap") is None:
            problem = "bwrap is not on PATH (Debian/Ubuntu: apt-get install bubblewrap)"
        else:
            workdir = _make_workdir("print('ok')", None)
            try:
                argv, env = _command(mode, workdir, memory_mb=512, cpu=30, max_processes=16, env=None,
                                     read_only=[])
                proc = subprocess.run(argv, capture_output=True, timeout=30, stdin=subprocess.DEVNULL,
                                      cwd=workdir, env=env, start_new_session=True)
                if proc.returncode != 0 or proc.stdout.strip() != b"ok":
                    err = proc.stderr.decode("utf-8", "replace").strip()
                    problem = f"{mode} does not work here (exit {proc.returncode}): {err[-300:]}"
            except (OSError, subprocess.SubprocessError) as exc:
                problem = f"{mode} does not work here: {exc}"
            finally:
                _remove_tree(workdir)
        if problem:
            log.info("sandbox isolation unavailable", mode=mode, reason=problem)
        _probe_result[key] = problem
        return problem


def bubblewrap_available() -> bool:
    """Whether bubblewrap isolation works on this machine."""
    return _problem("bubblewrap") is None


class IsolationReport(BaseModel):
    """What `maslab doctor` shows: each isolating mode (None: works, else why not), what ``auto``
    gives, and the ``MASLAB_SANDBOX`` setting."""

    user: str
    modes: dict[str, str | None]
    auto: str | None
    env: str | None
    problem: str | None = None


def isolation_report() -> IsolationReport:
    modes = {m: _problem(m) for m in ISOLATING_MODES}
    env = os.environ.get(ENV_VAR) or None
    try:
        auto, problem = _choose("auto"), None
    except SandboxError as exc:
        auto, problem = None, str(exc)
    try:
        user = f"{getpass.getuser()} (uid {os.geteuid()})"
    except (KeyError, OSError):
        user = f"uid {os.geteuid()}"
    return IsolationReport(user=user, modes=modes, auto=auto, env=env, problem=problem)


def _choose(isolation: str) -> str:
    """The mode a run gets: "auto" reads MASLAB_SANDBOX, then takes the first isolating mode that
    works; it never falls back to "none" on its own."""
    if isolation == "auto":
        isolation = (os.environ.get(ENV_VAR) or "auto").strip().lower()
        if isolation not in ("auto", *ISOLATING_MODES, "none"):
            raise SandboxError(f"{ENV_VAR}={isolation!r}: use auto, bubblewrap, namespaces or none")
    if isolation == "auto":
        problems = {m: _problem(m) for m in ISOLATING_MODES}
        for mode, problem in problems.items():
            if problem is None:
                return mode
        why = "; ".join(f"{m}: {p}" for m, p in problems.items())
        raise SandboxError(
            f"no sandbox isolation works on this machine, so model-written code is not run ({why}). "
            "Install bubblewrap or allow unprivileged user namespaces (kernel.unprivileged_userns_clone=1; "
            "Ubuntu: kernel.apparmor_restrict_unprivileged_userns=0), or accept running it unisolated, "
            f"as yourself, with {ENV_VAR}=none (or isolation='none'); `maslab doctor` shows what works")
    if isolation in ISOLATING_MODES:
        problem = _problem(isolation)
        if problem is not None:
            raise SandboxError(f"isolation={isolation!r} requested but {problem}")
        return isolation
    if isolation == "none":
        return isolation
    raise SandboxError(f"unknown isolation {isolation!r}: use 'auto', 'bubblewrap', 'namespaces' or 'none'")


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
    isolation: str, workdir: str, *, memory_mb: int, cpu: int, max_processes: int, env: dict[str, str] | None,
    read_only: list[str],
) -> tuple[list[str], dict[str, str]]:
    """The argv and environment that run main.py in `workdir` under `isolation`."""
    as_root = os.geteuid() == 0
    memory = memory_mb * 1024 * 1024
    config: dict[str, Any] = {
        "mode": isolation,
        "prefix": SETUP_PREFIX,
        "setup_exit": SETUP_EXIT,
        "limits": [
            ["AS", memory, memory],
            ["CPU", cpu, cpu + 1],  # SIGXCPU at the soft limit, SIGKILL a second later
            ["FSIZE", FILE_SIZE_LIMIT, FILE_SIZE_LIMIT],
            ["CORE", 0, 0],
        ],
        "drop": [NOBODY, NOBODY] if as_root and isolation != "none" else None,
        "nproc": max_processes,  # in a fresh user namespace the count starts at 1 (this process)
        # where no fresh user namespace counts from one: what that uid already runs + the budget
        "nproc_fallback": _count_tasks(NOBODY if as_root else os.getuid()) + max_processes,
        "workdir": workdir,
        "tmp_mb": min(TMP_LIMIT_MB, memory_mb),
        "shm_mb": min(SHM_LIMIT_MB, memory_mb),
        "argv": [sys.executable, "-E", "-s", "-B", "-u", MAIN_FILE],
    }
    boot = [sys.executable, "-I", "-S", "-c", _BOOTSTRAP]
    if isolation == "namespaces":
        layout = _layout(workdir, read_only)
        config.update(binds=layout.binds, symlinks=layout.symlinks, dirs=layout.dirs)
        argv = boot
    elif isolation == "bubblewrap":
        argv = _bwrap_args(_layout(workdir, read_only), as_root) + boot
    else:
        argv = boot
    argv.append(json.dumps(config))
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
    return argv, child_env


def _prepare(
    code: str,
    *,
    isolation: str,
    memory_mb: int,
    cpu: int,
    max_processes: int,
    files: dict[str, str | bytes] | None,
    env: dict[str, str] | None,
    read_only: list[str],
) -> _Plan:
    isolation = _choose(isolation)
    if isolation == "none":
        log.warning("sandbox isolation is OFF: model-written code runs as this user, with its files, network "
                    "and processes in reach (isolation='none' / MASLAB_SANDBOX=none)", uid=os.geteuid())
    workdir = _make_workdir(code, files)
    try:
        argv, child_env = _command(isolation, workdir, memory_mb=memory_mb, cpu=cpu, max_processes=max_processes,
                                   env=env, read_only=read_only)
    except BaseException:
        _remove_tree(workdir)
        raise
    return _Plan(isolation=isolation, workdir=workdir, argv=argv, env=child_env)


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
    if isolation in ISOLATING_MODES and returncode > 128:  # bwrap and our init report "killed by N" as 128 + N
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
    read_only: list[str] | None = None,
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
        isolation: "auto" (``MASLAB_SANDBOX``, else bubblewrap or namespaces, whichever works here;
            refuses when neither does), "bubblewrap", "namespaces" or "none" (no isolation: only on request).
        env: Extra environment variables for the child (its environment is otherwise minimal).
        read_only: Host files or directories (absolute paths) the program may read, at the same path.
    """
    if not isinstance(code, str):
        raise SandboxError("code must be a string")
    if timeout <= 0 or memory_mb < 32 or max_processes < 1 or (cpu_seconds is not None and cpu_seconds < 1):
        raise SandboxError(
            f"bad sandbox limits: timeout={timeout}, memory_mb={memory_mb}, "
            f"cpu_seconds={cpu_seconds}, max_processes={max_processes}"
        )
    extra = [os.path.abspath(p) for p in read_only or []]
    missing = [p for p in extra if not os.path.exists(p)]
    if missing:
        raise SandboxError(f"read_only paths do not exist: {', '.join(missing)}")
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
        read_only=extra,
    )
    out, err = _Capture(), _Capture()
    timed_out = False
    returncode: int | None = None
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
            # The run ends when its main process does: whatever it left behind goes too (the
            # process group here; the isolating modes' PID namespace has died with its init).
            _kill_group(proc)
            if timed_out:
                await _wait_exit(proc, _KILL_GRACE_S)
            returncode = proc.returncode
            _, pending = await asyncio.wait(pumps, timeout=_KILL_GRACE_S)
            for task in pending:
                task.cancel()
        finally:
            if proc.returncode is None:  # cancelled or failed half-way: leave nothing running
                _kill_group(proc)
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
