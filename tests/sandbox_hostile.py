"""Hostile programs for the sandbox matrix (tests/test_sandbox.py), each with the check that it was contained.

Every case sets up its own bait (a listening socket, a world-writable folder outside the work dir, a
mode-600 secret in a fake $HOME owned by the sandbox's user, …), runs one program in the sandbox and
returns None when the program was contained, else what got out. Run as a script it prints the verdict of
every case as JSON — the test suite runs it that way as a non-root user (`setpriv`), so the matrix covers
both a root and an unprivileged caller:

    python -m tests.sandbox_hostile namespaces
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from maslab.sandbox import NOBODY, arun_python

Verdict = str | None
CASES: dict[str, Callable[[str], Awaitable[Verdict]]] = {}


def case(fn: Callable[[str], Awaitable[Verdict]]) -> Callable[[str], Awaitable[Verdict]]:
    CASES[fn.__name__] = fn
    return fn


def _sandbox_uid() -> int:
    return NOBODY if os.geteuid() == 0 else os.geteuid()


def _bait_dir() -> Path:
    """A folder outside any work dir that the sandbox's user could write to if it could see it."""
    path = Path(tempfile.mkdtemp(prefix="maslab-bait-"))
    path.chmod(0o777)
    return path


def _processes_with(token: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if token.encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
                    found.append(int(entry))
            except OSError:
                continue
    return found


async def _survivors(token: str, wait_s: float = 3.0) -> list[int]:
    """Processes still carrying `token` after up to `wait_s` (the kernel tears a namespace down
    asynchronously); any left are killed so that a failing test leaves nothing behind."""
    deadline = time.monotonic() + wait_s
    while (left := _processes_with(token)) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    for pid in left:
        try:
            os.kill(pid, 9)
        except OSError:
            pass
    return left


# a prologue that re-executes the program with a token in its command line, so that it and every
# process it forks can be found from outside
_TAGGED = "import os, sys\nif len(sys.argv) < 2:\n    os.execv(sys.executable, [sys.executable, 'main.py', {token!r}])\n"


@case
async def network(isolation: str) -> Verdict:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.setblocking(False)
    port = server.getsockname()[1]
    code = (f"import socket\ntry:\n    socket.create_connection(('127.0.0.1', {port}), timeout=3).close()\n"
            "    print('connected')\nexcept OSError as exc:\n    print('blocked', type(exc).__name__)\n")
    try:
        result = await arun_python(code, isolation=isolation)
        try:
            server.accept()[0].close()
            return f"the server accepted a connection ({result.stdout.strip()})"
        except BlockingIOError:
            pass
        return None if result.stdout.startswith("blocked") else f"unexpected: {result.stdout!r} {result.error}"
    finally:
        server.close()


@case
async def write_outside(isolation: str) -> Verdict:
    import maslab

    bait = _bait_dir()
    token = uuid.uuid4().hex
    targets = [str(bait / "written.txt"), f"/tmp/maslab-hostile-{token}", str(Path.home() / f"hostile-{token}"),
               str(Path(maslab.__file__).resolve().parent / f"hostile-{token}.py")]
    code = "import os\n" + "".join(
        f"try:\n    open({t!r}, 'w').write('x')\n    print('wrote', {t!r})\nexcept OSError as exc:\n"
        f"    print('refused', type(exc).__name__)\n" for t in targets)
    try:
        result = await arun_python(code, isolation=isolation)
        written = [t for t in targets if os.path.exists(t)]  # /tmp in the sandbox is its own: fine
        if written:
            return f"wrote {written}"
        return None if result.ok and result.stdout.count("refused") >= 3 else f"unexpected: {result.stdout!r}"
    finally:
        shutil.rmtree(bait, ignore_errors=True)
        for t in targets[1:]:
            if os.path.exists(t):
                os.remove(t)


@case
async def read_home_secret(isolation: str) -> Verdict:
    # a fake $HOME holding a project the sandbox is allowed to read (as a virtual environment in a
    # checkout under $HOME is) next to a mode-600 key owned by the sandbox's own user
    home = _bait_dir()
    secret = f"sk-canary-{uuid.uuid4().hex}"
    key = home / ".ssh" / "id_rsa"
    key.parent.mkdir()
    key.write_text(secret)
    key.chmod(0o600)
    key.parent.chmod(0o700)
    uid = _sandbox_uid()
    os.chown(key, uid, uid)  # only isolation can hide it from its owner
    os.chown(key.parent, uid, uid)
    (home / "project").mkdir(mode=0o755)
    (home / "project" / "visible.txt").write_text("shared")
    code = (f"import os\nprint(open({str(home / 'project' / 'visible.txt')!r}).read())\n"
            f"for p in ({str(key)!r}, {str(home)!r}):\n    try:\n"
            "        print(open(p).read() if os.path.isfile(p) else sorted(os.listdir(p)))\n"
            "    except OSError as exc:\n        print('refused', type(exc).__name__)\n")
    try:
        result = await arun_python(code, isolation=isolation, read_only=[str(home / "project")])
        if secret in result.stdout + result.stderr:
            return "read the secret"
        expected = ["shared", "refused FileNotFoundError", "['project']"]
        return None if result.stdout.split("\n")[:3] == expected else f"unexpected: {result.stdout!r} {result.error}"
    finally:
        shutil.rmtree(home, ignore_errors=True)


@case
async def kill_parent(isolation: str) -> Verdict:
    code = (f"import os, signal\nfor pid in (os.getppid(), {os.getpid()}):\n    try:\n"
            "        os.kill(pid, signal.SIGKILL)\n        print('killed', pid)\n"
            "    except OSError as exc:\n        print('refused', type(exc).__name__)\nprint('still here')\n")
    result = await arun_python(code, isolation=isolation)
    # we are still running (else this line would not execute); the program may at most have been
    # told its own init was killed, which a PID namespace's init ignores
    if f"killed {os.getpid()}" in result.stdout:
        return "signalled our process"
    return None if "still here" in result.stdout else f"unexpected: {result.stdout!r} {result.error}"


@case
async def background_survivor(isolation: str) -> Verdict:
    token = f"maslab-survivor-{uuid.uuid4().hex}"
    code = _TAGGED.format(token=token) + (
        "import subprocess, time\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)', sys.argv[1]], env={},\n"
        "                 start_new_session=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,\n"
        "                 stderr=subprocess.DEVNULL)\n"
        "if os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        time.sleep(60)\n    os._exit(0)\n"
        "time.sleep(0.3)\nprint('spawned')\n")
    result = await arun_python(code, isolation=isolation)
    left = await _survivors(token)
    if left:
        return f"{len(left)} process(es) outlived the run"
    return None if "spawned" in result.stdout else f"unexpected: {result.stdout!r} {result.error} {result.stderr[-300:]}"


@case
async def fork_bomb(isolation: str) -> Verdict:
    token = f"maslab-bomb-{uuid.uuid4().hex}"
    code = _TAGGED.format(token=token) + "while True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    start = time.monotonic()
    result = await arun_python(code, isolation=isolation, timeout=3, max_processes=32)
    elapsed = time.monotonic() - start
    left = await _survivors(token)
    if left:
        return f"{len(left)} process(es) outlived the run"
    if elapsed > 15:
        return f"took {elapsed:.1f}s to stop"
    return None if result.error == "timeout after 3.0s" else f"unexpected: {result.error}"


@case
async def allocate_4gib(isolation: str) -> Verdict:
    result = await arun_python("x = bytearray(4 * 1024**3)\nprint('allocated')", memory_mb=256, isolation=isolation)
    if "allocated" in result.stdout:
        return "allocated 4 GiB"
    return None if result.error == "memory limit exceeded (256 MiB)" else f"unexpected: {result.error}"


@case
async def infinite_loop(isolation: str) -> Verdict:
    start = time.monotonic()
    result = await arun_python("while True:\n    pass", timeout=1.0, isolation=isolation)
    elapsed = time.monotonic() - start
    if elapsed > 8:
        return f"ran {elapsed:.1f}s"
    return None if result.error == "timeout after 1.0s" else f"unexpected: {result.error}"


@case
async def stdout_1gb(isolation: str) -> Verdict:
    code = "import sys\nfor _ in range(1024):\n    sys.stdout.buffer.write(b'x' * 2**20)\nprint('THE END')"
    result = await arun_python(code, timeout=120, isolation=isolation)
    if len(result.stdout) > 70_000:
        return f"kept {len(result.stdout)} characters"
    if not (result.ok and "output truncated" in result.stdout and result.stdout.rstrip().endswith("THE END")):
        return f"unexpected: {result.error} {result.stdout[-200:]!r}"
    return None


async def run_all(isolation: str) -> dict[str, Verdict]:
    return {name: await fn(isolation) for name, fn in CASES.items()}


if __name__ == "__main__":
    verdicts = asyncio.run(run_all(sys.argv[1]))
    print(json.dumps({"uid": os.geteuid(), "verdicts": verdicts}))
