"""Accuracy and time of the offline spatial tools on synthetic geometry (labelled synthetic).

For `--trials` seeds it renders, with the synthetic benchmark's renderers,

* a 640×480 random texture warped by a random homography → `EstimateHomographyMatrix`: error of the
  image centre's mapping (px);
* a camera pan of a random (dx, dy) → `EstimateOpticalFlow`: |mean_flow − (dx, dy)| (px, the paper's sign);
* a textured room corner from two poses (yaw 4–10°, baseline ≤ 0.6 m) → `GetCameraParametersVGGT`:
  rotation error (degrees) and translation-direction error (degrees; scale is unknown);

and prints the median and worst error and the median seconds per call of each tool.

    python benchmarks/spatial_tools.py [--trials 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from maslab.bench.spatial.synthetic import (
    _save,
    homography,
    pan_pair,
    random_homography_params,
    render_room,
    room_textures,
    warp_pair,
    yaw_rotation,
)
from maslab.tool import get_tool


async def timed(name: str, **arguments) -> tuple[dict, float]:
    start = time.perf_counter()
    result = await get_tool(name).call(arguments)
    assert result.ok, result.error
    return json.loads(result.content), time.perf_counter() - start


def write(folder: Path, name: str, image) -> str:
    path = folder / f"{name}.png"
    cv2.imwrite(str(path), image)
    return str(path)


async def main(trials: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="spatial-bench-"))
    errors: dict[str, list[float]] = {"homography centre (px)": [], "flow (px)": [], "pose rotation (deg)": [],
                                      "pose translation direction (deg)": []}
    seconds: dict[str, list[float]] = {"EstimateHomographyMatrix": [], "EstimateOpticalFlow": [],
                                       "GetCameraParametersVGGT": []}
    for seed in range(trials):
        rng = np.random.default_rng(seed)
        a, b, H = warp_pair(rng, 480, 640, H_=homography(640, 480, **random_homography_params(rng)))
        out, dt = await timed("EstimateHomographyMatrix", image=[write(folder, "a", a), write(folder, "b", b)])
        centre = np.array([320.0, 240.0, 1.0])
        mapped = [(M @ centre)[:2] / (M @ centre)[2] for M in (np.array(out["homography_matrix"]), H)]
        errors["homography centre (px)"].append(float(np.linalg.norm(mapped[0] - mapped[1])))
        seconds["EstimateHomographyMatrix"].append(dt)

        dx, dy = int(rng.integers(-12, 13)), int(rng.integers(-12, 13))
        first, second = pan_pair(rng, dx, dy)
        out, dt = await timed("EstimateOpticalFlow", image=[write(folder, "c", first), write(folder, "d", second)])
        errors["flow (px)"].append(math.hypot(out["output"]["mean_flow_x"] - dx, out["output"]["mean_flow_y"] - dy))
        seconds["EstimateOpticalFlow"].append(dt)

        textures = room_textures(rng)
        yaw = float(rng.uniform(4, 10)) * float(rng.choice([-1, 1]))
        centre3 = np.array([rng.uniform(-0.6, 0.6), rng.uniform(-0.1, 0.1), rng.uniform(0.0, 0.6)])
        R1 = yaw_rotation(yaw)
        views = [render_room(textures, np.eye(3), np.zeros(3)), render_room(textures, R1, -R1 @ centre3)]
        paths = [_save(folder / f"room{seed}", i, image, depth) for i, (image, depth) in enumerate(views)]
        out, dt = await timed("GetCameraParametersVGGT", image=paths)
        E = np.array(out["output"][1]["extrinsic"])
        errors["pose rotation (deg)"].append(math.degrees(math.acos(np.clip((np.trace(E[:, :3].T @ R1) - 1) / 2, -1, 1))))
        t = -R1 @ centre3
        errors["pose translation direction (deg)"].append(
            math.degrees(math.acos(np.clip(E[:, 3] @ t / np.linalg.norm(t), -1, 1))))
        seconds["GetCameraParametersVGGT"].append(dt)
    print(f"{trials} synthetic trials (seeds 0–{trials - 1})")
    for name, values in errors.items():
        print(f"{name:36s} median {statistics.median(values):8.3f}   worst {max(values):8.3f}")
    for name, values in seconds.items():
        print(f"{name:36s} median {statistics.median(values):8.3f} s per call")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10)
    asyncio.run(main(parser.parse_args().trials))
