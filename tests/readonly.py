"""Make files read-only for this process, root included (for tests of read-only databases)."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def read_only(*paths: Path) -> Iterator[None]:
    """`paths` read-only while the block runs: mode bits for a normal user; as root, whom mode bits do
    not stop, the immutable attribute (`chattr +i`) — skipped where the file system has none."""
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in paths}
        for p in paths:
            p.chmod(0o555 if p.is_dir() else 0o444)
        try:
            yield
        finally:
            for p, mode in modes.items():
                p.chmod(mode)
        return
    names = [str(p) for p in paths]
    if subprocess.run(["chattr", "+i", *names], capture_output=True).returncode != 0:
        pytest.skip("running as root on a file system without immutable files: cannot make a file read-only")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", *names], capture_output=True)
