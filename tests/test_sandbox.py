"""The Python sandbox: limits, file-system and network isolation, capture, both isolation paths."""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
import socket
import tempfile
import time
from pathlib import Path

import pytest

from maslab.sandbox import SandboxError, arun_python, bubblewrap_available, run_python
from maslab.tool import get_tool

HAVE_BWRAP = bubblewrap_available()
IS_ROOT = os.geteuid() == 0

ISOLATIONS = [
    "rlimits",
    pytest.param("bubblewrap", marks=pytest.mark.skipif(not HAVE_BWRAP, reason="bubblewrap not usable here")),
]

FORK_PROBE = """
import os, signal, time
pids, err = [], None
for _ in range({n}):
    try:
        pid = os.fork()
    except OSError as exc:
        err = exc.errno
        break
    if pid == 0:
        time.sleep(20)
        os._exit(0)
    pids.append(pid)
for pid in pids:
    os.kill(pid, signal.SIGKILL)
for pid in pids:
    os.waitpid(pid, 0)
print(len(pids), err)
"""


@pytest.fixture
def outside_dir():
    """A world-readable directory outside any sandbox work dir, with a file and a subdirectory."""
    path = Path(tempfile.mkdtemp(prefix="maslab-outside-"))
    path.chmod(0o755)
    (path / "keep.txt").write_text("precious")
    (path / "keep.txt").chmod(0o644)
    (path / "sub").mkdir(mode=0o755)
    (path / "sub" / "a.txt").write_text("a")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.parametrize("isolation", ISOLATIONS)
async def test_captures_output_exit_code_and_names_isolation(isolation):
    code = "import sys\nprint('out', 6 * 7)\nprint('err line', file=sys.stderr)\nsys.exit(3)"
    result = await arun_python(code, isolation=isolation)
    assert result.isolation == isolation
    assert result.stdout == "out 42\n"
    assert result.stderr == "err line\n"
    assert result.returncode == 3
    assert not result.ok
    assert result.error == "exit code 3: err line"


@pytest.mark.parametrize("isolation", ISOLATIONS)
async def test_exception_reports_last_traceback_line(isolation):
    result = await arun_python("print('before')\n1/0", isolation=isolation)
    assert result.stdout == "before\n"
    assert result.error == "exit code 1: ZeroDivisionError: division by zero"
    assert "Traceback" in result.stderr


@pytest.mark.parametrize("isolation", ISOLATIONS)
async def test_success_and_maslab_importable(isolation):
    code = "import maslab.tools.calculator as c, os\nprint(c.evaluate('2**10'), os.getcwd() == os.environ['HOME'])"
    result = await arun_python(code, isolation=isolation, memory_mb=1024)
    assert result.ok, result.stderr
    assert result.error is None and result.returncode == 0
    assert result.stdout.split() == ["1024", "True"]


@pytest.mark.parametrize("isolation", ISOLATIONS)
async def test_infinite_loop_stopped_by_timeout(isolation):
    start = time.monotonic()
    result = await arun_python(
        "print('started', flush=True)\nwhile True:\n    pass", timeout=1.0, isolation=isolation
    )
    assert not result.ok
    assert result.error == "timeout after 1.0s"
    assert "started" in result.stdout  # partial output survives the kill
    assert time.monotonic() - start < 8


@pytest.mark.parametrize("isolation", ISOLATIONS)
async def test_big_allocation_stopped_by_memory_limit(isolation):
    result = await arun_python(
        "x = bytearray(4 * 1024**3)\nprint('allocated')", memory_mb=256, isolation=isolation
    )
    assert not result.ok
    assert result.error == "memory limit exceeded (256 MiB)"
    assert "allocated" not in result.stdout


async def test_cpu_limit():
    result = await arun_python("while True:\n    pass", timeout=15.0, cpu_seconds=1, isolation="rlimits")
    assert result.error == "cpu time limit exceeded (1s)"
    assert result.duration_s < 14


@pytest.mark.parametrize("isolation", ISOLATIONS)
async def test_cannot_remove_file_outside_work_dir(isolation, outside_dir):
    if isolation == "rlimits" and not IS_ROOT:
        pytest.skip("without root the rlimits path cannot switch to another user")
    target = outside_dir / "keep.txt"
    code = f"import os\ntry:\n    os.remove({str(target)!r})\n    print('removed')\nexcept OSError as exc:\n    print('refused', type(exc).__name__)"
    result = await arun_python(code, isolation=isolation)
    assert result.ok, result.stderr
    assert result.stdout.startswith("refused")
    assert target.read_text() == "precious"


@pytest.mark.parametrize("isolation", ISOLATIONS)
async def test_cannot_rmtree_outside_work_dir(isolation, outside_dir):
    if isolation == "rlimits" and not IS_ROOT:
        pytest.skip("without root the rlimits path cannot switch to another user")
    result = await arun_python(f"import shutil\nshutil.rmtree({str(outside_dir)!r})", isolation=isolation)
    assert not result.ok
    assert "Error" in result.error
    assert (outside_dir / "keep.txt").read_text() == "precious"
    assert (outside_dir / "sub" / "a.txt").exists()


@pytest.mark.parametrize("isolation", ISOLATIONS)
async def test_files_in_and_out(isolation):
    code = (
        "import os, json\n"
        "data = open('data/in.txt').read()\n"
        "os.makedirs('out', exist_ok=True)\n"
        "open('out/result.json', 'w').write(json.dumps({'upper': data.upper()}))\n"
        "open('raw.bin', 'rb').read() == b'\\x00\\x01' and print('binary ok')\n"
    )
    result = await arun_python(
        code,
        files={"data/in.txt": "hello", "raw.bin": b"\x00\x01"},
        return_files=["out/result.json", "missing.txt"],
        isolation=isolation,
    )
    assert result.ok, result.stderr
    assert result.stdout == "binary ok\n"
    assert result.files == {"out/result.json": '{"upper": "HELLO"}'}


@pytest.mark.parametrize("isolation", ISOLATIONS)
async def test_work_dir_is_deleted_and_private(isolation):
    result = await arun_python("import os\nprint(os.getcwd())", isolation=isolation)
    workdir = result.stdout.strip()
    assert workdir and os.path.basename(workdir).startswith("maslab-sandbox-")
    assert not os.path.exists(workdir)


@pytest.mark.parametrize("isolation", ISOLATIONS)
async def test_return_files_do_not_follow_symlinks(isolation, outside_dir):
    code = f"import os\nos.symlink({str(outside_dir / 'keep.txt')!r}, 'leak.txt')\nos.symlink({str(outside_dir)!r}, 'dir')"
    result = await arun_python(code, return_files=["leak.txt", "dir/keep.txt"], isolation=isolation)
    assert result.ok, result.stderr
    assert result.files == {}


@pytest.mark.parametrize("isolation", ISOLATIONS)
async def test_process_count_limit_holds(isolation):
    result = await arun_python(FORK_PROBE.format(n=200), max_processes=16, timeout=30, isolation=isolation)
    assert result.ok, result.stderr
    spawned, err = result.stdout.split()
    assert 5 <= int(spawned) < 16
    assert err == str(errno.EAGAIN)


async def test_process_budgets_are_per_sandbox():
    probe = "print(open('/proc/self/uid_map').read().split()[2])"
    mapped = await arun_python(probe, isolation="rlimits")
    if mapped.stdout.strip() != "1":
        pytest.skip("no user namespaces here: the process budget is shared per uid")
    runs = await asyncio.gather(
        *(
            arun_python(FORK_PROBE.format(n=10), max_processes=16, timeout=30, isolation="rlimits")
            for _ in range(3)
        )
    )
    assert [r.stdout.split() for r in runs] == [["10", "None"]] * 3


async def test_background_processes_do_not_outlive_the_run():
    code = "import subprocess\np = subprocess.Popen(['sleep', '60'], start_new_session=True)\nprint(p.pid)"
    result = await arun_python(code, isolation="rlimits")
    assert result.ok, result.stderr
    pid = int(result.stdout)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        except FileNotFoundError:
            break
        if state in ("Z", "X"):
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail(f"escaped process {pid} is still running")


@pytest.mark.skipif(not HAVE_BWRAP, reason="bubblewrap not usable here")
async def test_no_network_under_bubblewrap():
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.setblocking(False)
    port = server.getsockname()[1]
    code = (
        "import socket\n"
        "try:\n"
        f"    socket.create_connection(('127.0.0.1', {port}), timeout=3).close()\n"
        "    print('connected')\n"
        "except OSError as exc:\n"
        "    print('blocked', type(exc).__name__)\n"
    )
    try:
        # control: the port really is reachable from an unisolated sandbox
        control = await arun_python(code, isolation="rlimits")
        assert control.stdout.strip() == "connected"
        server.accept()[0].close()
        result = await arun_python(code, isolation="bubblewrap")
        assert result.stdout.startswith("blocked"), result.stdout
        with pytest.raises(BlockingIOError):
            server.accept()
    finally:
        server.close()


@pytest.mark.parametrize("isolation", ISOLATIONS)
async def test_environment_is_minimal_and_stdin_is_fed(isolation, monkeypatch):
    monkeypatch.setenv("MASLAB_TEST_SECRET_KEY", "sk-do-not-leak")
    code = "import os, sys\nprint(os.environ.get('MASLAB_TEST_SECRET_KEY'), os.environ['EXTRA'], sys.stdin.read().upper())"
    result = await arun_python(code, env={"EXTRA": "given"}, stdin="abc", isolation=isolation)
    assert result.ok, result.stderr
    assert result.stdout.split() == ["None", "given", "ABC"]


async def test_output_is_truncated_head_and_tail():
    result = await arun_python("print('A' * 300_000)\nprint('THE END')", isolation="rlimits")
    assert result.ok
    assert "output truncated" in result.stdout
    assert len(result.stdout) < 70_000
    assert result.stdout.startswith("AAAA") and result.stdout.rstrip().endswith("THE END")


def test_sync_run_python_and_auto_isolation():
    result = run_python("print(sum(range(10)))")
    assert result.ok and result.stdout == "45\n"
    assert result.isolation == ("bubblewrap" if HAVE_BWRAP else "rlimits")


async def test_sync_run_python_inside_a_running_loop():
    result = run_python("print('nested')", isolation="rlimits")
    assert result.stdout == "nested\n"


async def test_bad_arguments_raise():
    with pytest.raises(SandboxError):
        await arun_python("print(1)", files={"../escape.txt": "x"})
    with pytest.raises(SandboxError):
        await arun_python("print(1)", files={"main.py": "x"})
    with pytest.raises(SandboxError):
        await arun_python("print(1)", timeout=0)
    if not HAVE_BWRAP:
        with pytest.raises(SandboxError):
            await arun_python("print(1)", isolation="bubblewrap")


async def test_python_tool():
    python = get_tool("python")
    ok = await python.call({"code": "print(6 * 7)"})
    assert ok.ok and ok.content == "42\n"
    failed = await python.call('{"code": "import math\\nmath.sqrt(-1)"}')
    assert not failed.ok
    assert failed.error.startswith("python: exit code 1: ValueError: math domain error")
    assert "Traceback" in failed.error
    silent = await python.call({"code": "x = 1"})
    assert silent.ok and "no output" in silent.content
    bad = await python.call({"source": "print(1)"})
    assert not bad.ok and "missing required argument 'code'" in bad.error


async def test_auto_falls_back_to_rlimits_without_bwrap(monkeypatch):
    from maslab import sandbox

    real_which = sandbox.shutil.which
    monkeypatch.setattr(
        sandbox.shutil, "which", lambda name, *a, **k: None if name == "bwrap" else real_which(name)
    )
    monkeypatch.setattr(sandbox, "_probe_result", {})
    assert not sandbox.bubblewrap_available()
    result = await arun_python("print('fallback')")
    assert result.isolation == "rlimits" and result.stdout == "fallback\n"
    with pytest.raises(SandboxError, match="bwrap is not on PATH"):
        await arun_python("print(1)", isolation="bubblewrap")
