"""The Python sandbox: the hostile-program matrix under every isolation mode this machine gives (as root
and as a non-root user), limits, capture, files in and out, and the refusal to run unisolated unless asked.

The no-bubblewrap path (`namespaces`) runs in every suite run; the bubblewrap tests skip with a reason
where bubblewrap is not installed (CI installs it)."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from maslab import sandbox
from maslab.sandbox import SandboxError, arun_python, bubblewrap_available, run_python
from maslab.tool import get_tool
from tests.sandbox_hostile import CASES

HAVE_BWRAP = bubblewrap_available()
HAVE_NS = sandbox._problem("namespaces") is None
IS_ROOT = os.geteuid() == 0
REPO = Path(__file__).resolve().parents[1]

ISOLATIONS = [
    pytest.param("namespaces", marks=pytest.mark.skipif(
        not HAVE_NS, reason=f"user namespaces unavailable here: {sandbox._problem('namespaces')}")),
    pytest.param("bubblewrap", marks=pytest.mark.skipif(not HAVE_BWRAP, reason="bubblewrap not usable here")),
]
ALL_MODES = [*ISOLATIONS, "none"]  # for what every mode must do (capture, limits, files)

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


# --------------------------------------------------------------------------------------------------
# the hostile-program matrix (tests/sandbox_hostile.py): every program contained in every mode


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("isolation", ISOLATIONS)
async def test_hostile_program_is_contained(isolation, case):
    assert await CASES[case](isolation) is None


def _interpreter_for(uid: int) -> str | None:
    """A Python of our minor version that `uid` can run (ours may live under root's home)."""
    candidates = [getattr(sys, "_base_executable", ""), os.path.realpath(sys.executable),
                  shutil.which(f"python{sys.version_info[0]}.{sys.version_info[1]}") or "",
                  f"/usr/bin/python{sys.version_info[0]}.{sys.version_info[1]}"]
    want = f"{sys.version_info[0]}.{sys.version_info[1]}"
    for exe in dict.fromkeys(c for c in candidates if c):
        # exec'd from a shell running as `uid` (setpriv itself may still reach what `uid` cannot)
        probe = subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "/bin/sh", "-c",
                                'exec "$0" -c "import sys; print(\'%d.%d\' % sys.version_info[:2])"', exe],
                               capture_output=True, text=True, timeout=30, cwd="/")
        if probe.returncode == 0 and probe.stdout.strip() == want:
            return exe
    return None


@pytest.fixture(scope="module")
def unprivileged_python(tmp_path_factory):
    """A virtual environment `nobody` can run, seeing our site-packages and this checkout's maslab."""
    if not IS_ROOT or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run as another user (a non-root run covers this already)")
    base = _interpreter_for(sandbox.NOBODY)
    if base is None:
        pytest.skip("no Python interpreter of this version is executable by nobody here")
    venv = Path(tempfile.mkdtemp(prefix="maslab-nobody-venv-"))
    venv.chmod(0o755)
    subprocess.run([base, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    site = next((venv / "lib").glob("python3*/site-packages"))
    paths = [p for p in sys.path if p.endswith(("site-packages", "dist-packages")) and os.path.isdir(p)]
    (site / "zz_maslab_test.pth").write_text("\n".join([*paths, str(REPO)]) + "\n")
    yield venv / "bin" / "python"
    shutil.rmtree(venv, ignore_errors=True)


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_hostile_matrix_as_a_non_root_user(isolation, unprivileged_python, tmp_path):
    """The whole matrix again, driven by a maslab process running as `nobody` (no capability at all:
    the namespaces path builds its sandbox inside an unprivileged user namespace)."""
    tmp_path.chmod(0o777)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "LANG": "C.UTF-8",
           "MASLAB_LOG": "error"}
    proc = subprocess.run(["setpriv", f"--reuid={sandbox.NOBODY}", f"--regid={sandbox.NOBODY}", "--clear-groups",
                           str(unprivileged_python), "-m", "tests.sandbox_hostile", isolation],
                          capture_output=True, text=True, timeout=400, cwd=REPO, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["uid"] == sandbox.NOBODY
    assert report["verdicts"] == dict.fromkeys(CASES), report["verdicts"]


async def test_without_bubblewrap_auto_takes_namespaces_and_still_isolates(monkeypatch):
    """The machine of a user who ran `pip install` only: bwrap hidden from PATH, the whole matrix again."""
    if not HAVE_NS:
        pytest.skip("user namespaces unavailable here")
    monkeypatch.setenv("PATH", ":".join(p for p in os.environ["PATH"].split(":")
                                         if not os.path.exists(os.path.join(p, "bwrap"))))
    monkeypatch.setattr(sandbox, "_probe_result", {})
    monkeypatch.delenv(sandbox.ENV_VAR, raising=False)
    assert not sandbox.bubblewrap_available()
    result = await arun_python("print('isolated')")
    assert result.isolation == "namespaces" and result.stdout == "isolated\n"
    assert {name: await case("auto") for name, case in CASES.items()} == dict.fromkeys(CASES)


# --------------------------------------------------------------------------------------------------
# no isolation only on request


async def test_auto_refuses_when_no_isolation_works(monkeypatch):
    monkeypatch.setattr(sandbox, "_probe_result", {(m, os.geteuid()): f"{m} broken" for m in sandbox.ISOLATING_MODES})
    monkeypatch.delenv(sandbox.ENV_VAR, raising=False)
    with pytest.raises(SandboxError, match=r"no sandbox isolation works.*bubblewrap broken.*namespaces broken"
                       r".*MASLAB_SANDBOX=none"):
        await arun_python("print('should not run')")
    with pytest.raises(SandboxError, match="namespaces broken"):
        await arun_python("print(1)", isolation="namespaces")


async def test_none_runs_only_when_asked_and_warns_every_time(monkeypatch):
    from structlog.testing import capture_logs

    monkeypatch.setattr(sandbox, "_probe_result", {(m, os.geteuid()): f"{m} broken" for m in sandbox.ISOLATING_MODES})
    monkeypatch.setenv(sandbox.ENV_VAR, "none")
    with capture_logs() as logs:
        for _ in range(2):
            result = await arun_python("print('unisolated')")
            assert result.isolation == "none" and result.stdout == "unisolated\n"
    warnings = [e for e in logs if e["log_level"] == "warning" and "isolation is OFF" in e["event"]]
    assert len(warnings) == 2
    monkeypatch.setenv(sandbox.ENV_VAR, "sometimes")
    with pytest.raises(SandboxError, match="MASLAB_SANDBOX='sometimes'"):
        await arun_python("print(1)")


def test_doctor_reports_the_isolation_of_this_machine(capsys):
    from maslab.cli import main

    code = main(["doctor"])
    out = capsys.readouterr().out
    assert "namespaces" in out and "bubblewrap" in out
    expected = "bubblewrap" if HAVE_BWRAP else ("namespaces" if HAVE_NS else None)
    assert code == (0 if expected else 1)
    assert (f"model-written code runs under: {expected}" if expected else "refuses") in out


# --------------------------------------------------------------------------------------------------
# what every mode does: capture, limits, files


@pytest.mark.parametrize("isolation", ALL_MODES)
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
async def test_only_the_package_directories_of_the_checkout_are_visible(isolation):
    """The checkout maslab runs from is not bound as a whole: its .git, runs/ or models files stay out."""
    import maslab

    checkout = Path(maslab.__file__).resolve().parents[1]
    code = f"import os\nprint(sorted(os.listdir({str(checkout)!r})))"
    result = await arun_python(code, isolation=isolation)
    assert result.ok, result.stderr
    seen = set(eval(result.stdout))  # noqa: S307 - our own program's printed list
    assert "maslab" in seen and not seen & {".git", "pyproject.toml", "README.md", "tests", "runs"}


@pytest.mark.parametrize("isolation", ALL_MODES)
async def test_infinite_loop_stopped_by_timeout(isolation):
    start = time.monotonic()
    result = await arun_python(
        "print('started', flush=True)\nwhile True:\n    pass", timeout=3.0, isolation=isolation
    )
    assert not result.ok
    assert result.error == "timeout after 3.0s"
    assert "started" in result.stdout  # partial output survives the kill
    assert time.monotonic() - start < 10


@pytest.mark.parametrize("isolation", ALL_MODES)
async def test_big_allocation_stopped_by_memory_limit(isolation):
    result = await arun_python(
        "x = bytearray(4 * 1024**3)\nprint('allocated')", memory_mb=256, isolation=isolation
    )
    assert not result.ok
    assert result.error == "memory limit exceeded (256 MiB)"
    assert "allocated" not in result.stdout


@pytest.mark.parametrize("isolation", ALL_MODES)
async def test_cpu_limit(isolation):
    result = await arun_python("while True:\n    pass", timeout=15.0, cpu_seconds=1, isolation=isolation)
    assert result.error == "cpu time limit exceeded (1s)"
    assert result.duration_s < 14


@pytest.mark.parametrize("isolation", ISOLATIONS)
async def test_cannot_remove_file_outside_work_dir(isolation, outside_dir):
    target = outside_dir / "keep.txt"
    code = f"import os\ntry:\n    os.remove({str(target)!r})\n    print('removed')\nexcept OSError as exc:\n    print('refused', type(exc).__name__)"
    result = await arun_python(code, isolation=isolation)
    assert result.ok, result.stderr
    assert result.stdout.startswith("refused")
    assert target.read_text() == "precious"


@pytest.mark.parametrize("isolation", ISOLATIONS)
async def test_cannot_rmtree_outside_work_dir(isolation, outside_dir):
    result = await arun_python(f"import shutil\nshutil.rmtree({str(outside_dir)!r})", isolation=isolation)
    assert not result.ok
    assert "Error" in result.error
    assert (outside_dir / "keep.txt").read_text() == "precious"
    assert (outside_dir / "sub" / "a.txt").exists()


@pytest.mark.parametrize("isolation", ISOLATIONS)
async def test_read_only_paths_are_visible_but_not_writable(isolation, outside_dir):
    code = (f"print(open({str(outside_dir / 'keep.txt')!r}).read())\ntry:\n"
            f"    open({str(outside_dir / 'new.txt')!r}, 'w')\nexcept OSError as exc:\n    print(type(exc).__name__)")
    result = await arun_python(code, isolation=isolation, read_only=[str(outside_dir)])
    assert result.stdout.split() == ["precious", "OSError"], result.stderr
    assert not (outside_dir / "new.txt").exists()


@pytest.mark.parametrize("isolation", ALL_MODES)
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


@pytest.mark.parametrize("isolation", ALL_MODES)
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


@pytest.mark.parametrize("isolation", ISOLATIONS)
async def test_process_budgets_are_per_sandbox(isolation):
    runs = await asyncio.gather(
        *(arun_python(FORK_PROBE.format(n=10), max_processes=16, timeout=30, isolation=isolation) for _ in range(3))
    )
    assert [r.stdout.split() for r in runs] == [["10", "None"]] * 3


@pytest.mark.parametrize("isolation", ALL_MODES)
async def test_environment_is_minimal_and_stdin_is_fed(isolation, monkeypatch):
    monkeypatch.setenv("MASLAB_TEST_SECRET_KEY", "sk-do-not-leak")
    code = "import os, sys\nprint(os.environ.get('MASLAB_TEST_SECRET_KEY'), os.environ['EXTRA'], sys.stdin.read().upper())"
    result = await arun_python(code, env={"EXTRA": "given"}, stdin="abc", isolation=isolation)
    assert result.ok, result.stderr
    assert result.stdout.split() == ["None", "given", "ABC"]


async def test_output_is_truncated_head_and_tail():
    result = await arun_python("print('A' * 300_000)\nprint('THE END')", isolation="none")
    assert result.ok
    assert "output truncated" in result.stdout
    assert len(result.stdout) < 70_000
    assert result.stdout.startswith("AAAA") and result.stdout.rstrip().endswith("THE END")


def test_sync_run_python_and_auto_isolation(monkeypatch):
    monkeypatch.delenv(sandbox.ENV_VAR, raising=False)
    if not (HAVE_BWRAP or HAVE_NS):
        pytest.skip("no isolation here (the refusal is tested above)")
    result = run_python("print(sum(range(10)))")
    assert result.ok and result.stdout == "45\n"
    assert result.isolation == ("bubblewrap" if HAVE_BWRAP else "namespaces")


async def test_sync_run_python_inside_a_running_loop():
    result = run_python("print('nested')", isolation="none")
    assert result.stdout == "nested\n"


async def test_bad_arguments_raise():
    with pytest.raises(SandboxError):
        await arun_python("print(1)", files={"../escape.txt": "x"}, isolation="none")
    with pytest.raises(SandboxError):
        await arun_python("print(1)", files={"main.py": "x"}, isolation="none")
    with pytest.raises(SandboxError):
        await arun_python("print(1)", timeout=0)
    with pytest.raises(SandboxError, match="unknown isolation 'rlimits'"):
        await arun_python("print(1)", isolation="rlimits")  # type: ignore[arg-type]
    with pytest.raises(SandboxError, match="do not exist"):
        await arun_python("print(1)", read_only=["/no/such/path"])
    if not HAVE_BWRAP:
        with pytest.raises(SandboxError):
            await arun_python("print(1)", isolation="bubblewrap")


async def test_python_tool(monkeypatch):
    if not (HAVE_BWRAP or HAVE_NS):
        monkeypatch.setenv(sandbox.ENV_VAR, "none")
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


async def test_python_tool_tells_the_model_when_the_sandbox_refuses(monkeypatch):
    monkeypatch.setattr(sandbox, "_probe_result", {(m, os.geteuid()): f"{m} broken" for m in sandbox.ISOLATING_MODES})
    monkeypatch.delenv(sandbox.ENV_VAR, raising=False)
    result = await get_tool("python").call({"code": "print(1)"})
    assert not result.ok and "no sandbox isolation works" in result.error
