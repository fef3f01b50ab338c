"""What a sandboxed run costs: wall time of `print('ok')` in each isolation mode that works here.

    python benchmarks/sandbox_startup.py [--runs 10]

Prints one line per mode (`none` is the unisolated baseline: interpreter start-up and work dir only)
and ends with `isolation overhead: X.XX s` (the slower isolating mode minus `none`).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from maslab.sandbox import ISOLATING_MODES, _problem, arun_python


async def timed(mode: str, runs: int) -> list[float]:
    await arun_python("print('ok')", isolation=mode)  # probes and caches out of the measurement
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        result = await arun_python("print('ok')", isolation=mode)
        out.append(time.perf_counter() - start)
        assert result.ok, result
    return out


async def main(runs: int) -> None:
    from structlog.testing import capture_logs

    modes = ["none", *(m for m in ISOLATING_MODES if _problem(m) is None)]
    means = {}
    for mode in modes:
        with capture_logs():  # not the warning that every `none` run logs
            times = await timed(mode, runs)
        means[mode] = statistics.mean(times)
        print(f"{mode:11s} mean {means[mode]:.3f} s  median {statistics.median(times):.3f} s  ({runs} runs)")
    isolating = [means[m] for m in modes if m != "none"]
    if isolating:
        print(f"isolation overhead: {max(isolating) - means['none']:.2f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    asyncio.run(main(parser.parse_args().runs))
