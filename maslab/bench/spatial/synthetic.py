"""A synthetic spatial benchmark (labelled synthetic): seeded, rendered at load time, exactly checkable.

`load_dataset("spatial_synthetic", n=9, seed=0)` renders its images (PNG), their depth maps and
their fixture metadata (`maslab.tools.spatial.fixtures`) into a cache folder — ``$MASLAB_SPATIAL_DIR``
or ``~/.cache/maslab/spatial-synthetic`` (option ``root=``), never the repository — and returns
tasks whose answers follow from the rendering exactly. Task *i* has type ``TYPES[i % 9]``:

1. ``homography`` (MCQ, 4 options): a random texture and the same texture warped by a known H;
   which matrix maps image-0 to image-1? (distractors: H⁻¹, H with its translation negated, H with
   its rotation reversed).
2. ``camera_motion`` (MCQ, 4 options): two crops of one texture, the second window moved by a
   known (dx, dy) — the camera panned; the primary direction (right / left / down / up).
3. ``metric_depth`` (numeric, metres, MRA): how far is a coloured shape from the camera (its depth
   in the depth map)?
4. ``counting`` (numeric, exact): how many shapes of one colour and kind (with distractors)?
5. ``relative_depth`` (MCQ, 2 options): which of two shapes is closer to the camera?
6. ``judgment_position`` (yes/no): is shape A to the left of shape B?
7. ``distance_3d`` (numeric, metres, MRA): the 3-D distance between two shapes' centres, the pixels
   back-projected with their depths and the intrinsics.
8. ``judgment_size`` (yes/no): does shape A cover more of the image than shape B?
9. ``camera_rotation`` (MCQ, 2 options): a ray-cast textured room corner seen from two poses
   (known yaw 5–12°, a small translation); did the camera turn left or right?

Scenes of types 3–8 are flat renderings: a grey, low-saturation textured background whose depth grows towards
the top (a floor), and saturated shapes each at one depth. They exercise the tools, not realism.
Which tool answers each type is `ORACLE_TOOLS`; only those tools (with the fixture oracles for depth)
recover the answers — the questions carry no hint of them, and the option order is shuffled.
Every image has fixture metadata (intrinsics; depth maps and 3-D boxes where the scene has them).
"""

from __future__ import annotations

import json
import math
import os
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from maslab.bench.datasets import register_dataset
from maslab.task import Task

__all__ = ["COLOURS_BGR", "K_SYNTHETIC", "ORACLE_TOOLS", "TYPES", "homography", "pan_pair",
           "random_homography_params", "render_room", "render_scene", "room_textures", "spatial_synthetic",
           "texture", "warp_pair", "yaw_rotation"]

VERSION = "v1"
W, H = 320, 240
K_SYNTHETIC = [[300.0, 0.0, 160.0], [0.0, 300.0, 120.0], [0.0, 0.0, 1.0]]
TYPES = ("homography", "camera_motion", "metric_depth", "counting", "relative_depth", "judgment_position",
         "distance_3d", "judgment_size", "camera_rotation")
ORACLE_TOOLS: dict[str, tuple[str, ...]] = {
    "homography": ("EstimateHomographyMatrix",), "camera_motion": ("EstimateOpticalFlow",),
    "metric_depth": ("EstimateObjectDepth",), "counting": ("CountObjects",),
    "relative_depth": ("EstimateObjectDepth",), "judgment_position": ("LocalizeObjects",),
    "distance_3d": ("LocalizeObjects", "Get3DDistance"), "judgment_size": ("GetObjectMask",),
    "camera_rotation": ("GetCameraParametersVGGT",),
}
COLOURS_BGR: dict[str, tuple[int, int, int]] = {
    "red": (30, 30, 220), "green": (40, 190, 40), "blue": (220, 60, 30), "yellow": (30, 220, 230),
    "purple": (180, 40, 140), "orange": (20, 130, 245),
}
SHAPES = ("circle", "square", "triangle")


# ---------------------------------------------------------------------------------------------- rendering


def texture(rng: np.random.Generator, h: int, w: int) -> Any:
    """A feature-rich, low-saturation BGR texture: multi-scale smoothed noise, grey dots and blocks, strokes."""
    import cv2

    gray = np.zeros((h, w), np.float32)
    for sigma, weight in ((1.0, 0.3), (2.5, 0.4), (8.0, 0.3)):
        noise = cv2.GaussianBlur(rng.random((h, w), dtype=np.float32), (0, 0), sigma)
        noise = (noise - noise.min()) / max(float(noise.max() - noise.min()), 1e-6)
        gray += weight * noise
    img = (40 + 180 * gray).astype(np.uint8)
    for _ in range(h * w // 1500):  # distinctive blobs: many SIFT keypoints, accurate homographies
        c = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        if rng.random() < 0.5:
            cv2.circle(img, c, int(rng.integers(2, 7)), int(rng.integers(0, 255)), -1, cv2.LINE_AA)
        else:
            corner = (c[0] + int(rng.integers(3, 10)), c[1] + int(rng.integers(3, 10)))
            cv2.rectangle(img, c, corner, int(rng.integers(0, 255)), -1)
    for _ in range(12):
        p1 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        p2 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        cv2.line(img, p1, p2, int(rng.integers(20, 235)), int(rng.integers(1, 3)))
    tint = np.array([1.0, 0.97, 0.93], np.float32)  # warm grey: saturation stays far below the detector's
    return np.clip(img[..., None] * tint, 0, 255).astype(np.uint8)


def warp_pair(rng: np.random.Generator, h: int = H, w: int = W, H_: Any = None) -> tuple[Any, Any, Any]:
    """(image-0, image-1, H): a texture and its warp by a homography H (image-0 → image-1; random by default)."""
    import cv2

    base = texture(rng, h, w)
    H_ = homography(w, h, **random_homography_params(rng)) if H_ is None else np.asarray(H_, float)
    warped = cv2.warpPerspective(base, H_, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                                 borderValue=(128, 128, 128))
    return base, warped, H_


def random_homography_params(rng: np.random.Generator) -> dict[str, float]:
    """A moderate random viewpoint change: rotation 3–9°, translation 8–18 px, scale ±8 %, mild perspective."""
    sign = lambda: float(rng.choice([-1, 1]))  # noqa: E731
    return {"theta": math.radians(float(rng.uniform(3, 9)) * sign()), "tx": float(rng.uniform(8, 18)) * sign(),
            "ty": float(rng.uniform(8, 18)) * sign(), "s": float(rng.uniform(0.92, 1.08)),
            "px": float(rng.uniform(-2e-4, 2e-4)), "py": float(rng.uniform(-2e-4, 2e-4))}


def homography(w: int, h: int, *, theta: float, tx: float, ty: float, s: float, px: float, py: float) -> Any:
    """Rotate by `theta` and scale by `s` about the image centre, add perspective (px, py), translate (tx, ty)."""
    centre = np.array([[1, 0, -w / 2], [0, 1, -h / 2], [0, 0, 1]])
    rot = np.array([[s * math.cos(theta), -s * math.sin(theta), 0], [s * math.sin(theta), s * math.cos(theta), 0],
                    [0, 0, 1]])
    persp = np.array([[1, 0, 0], [0, 1, 0], [px, py, 1]])
    back = np.array([[1, 0, w / 2 + tx], [0, 1, h / 2 + ty], [0, 0, 1]])
    H_ = back @ persp @ rot @ centre
    return H_ / H_[2, 2]


def pan_pair(rng: np.random.Generator, dx: int, dy: int, h: int = H, w: int = W) -> tuple[Any, Any]:
    """Two frames of a camera that moved by (dx, dy) pixels: crops of one texture, the window shifted.

    The content shifts by (−dx, −dy), so the paper's `mean_flow_x` is +dx (camera right) and
    `mean_flow_y` is +dy (camera down)."""
    margin = 24
    big = texture(rng, h + 2 * margin, w + 2 * margin)
    x0, y0 = margin, margin
    return big[y0:y0 + h, x0:x0 + w].copy(), big[y0 + dy:y0 + dy + h, x0 + dx:x0 + dx + w].copy()


def _draw(img: Any, shape: str, colour: str, cx: int, cy: int, r: int) -> Any:
    """Draw one filled shape (aliasing off, so its colour is exact); returns its mask."""
    import cv2

    mask = np.zeros(img.shape[:2], np.uint8)
    if shape == "circle":
        cv2.circle(mask, (cx, cy), r, 255, -1, lineType=cv2.LINE_8)
    elif shape == "square":
        cv2.rectangle(mask, (cx - r, cy - r), (cx + r, cy + r), 255, -1)
    else:
        pts = np.array([[cx, cy - r], [cx - r, cy + r], [cx + r, cy + r]], np.int32)
        cv2.fillPoly(mask, [pts], 255, lineType=cv2.LINE_8)
    img[mask > 0] = COLOURS_BGR[colour]
    return mask > 0


def render_scene(rng: np.random.Generator, objects: list[dict[str, Any]]) -> tuple[Any, Any, list[dict[str, Any]]]:
    """(image, depth map in metres, objects with their pixel centre, radius, bbox and mask).

    `objects`: dicts with shape, colour, depth and optionally r (half-size, pixels) and cx/cy; the
    others are placed at random without overlap. The background is a floor: depth 12 m at the top
    row falling to 2 m at the bottom."""
    img = texture(rng, H, W)
    rows = np.linspace(12.0, 2.0, H, dtype=np.float32)[:, None]
    depth = np.repeat(rows, W, axis=1)
    placed: list[dict[str, Any]] = []
    for spec in objects:
        r = int(spec.get("r") or rng.integers(10, 20))
        for _ in range(500):
            cx = int(spec.get("cx") or rng.integers(r + 4, W - r - 4))
            cy = int(spec.get("cy") or rng.integers(r + 4, H - r - 4))
            if all(math.hypot(cx - o["cx"], cy - o["cy"]) > r + o["r"] + 8 for o in placed):
                break
        else:
            raise ValueError("could not place the shapes without overlap")
        mask = _draw(img, spec["shape"], spec["colour"], cx, cy, r)
        depth[mask] = spec["depth"]
        ys, xs = np.nonzero(mask)
        placed.append({**spec, "cx": cx, "cy": cy, "r": r, "mask": mask,
                       "bbox": [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]})
    return img, depth, placed


ROOM = {"floor": 1.0, "back": 5.0, "left": -2.5, "right": 2.5}  # camera-0 frame: x right, y down, z forward
PX_PER_M = 48.0  # texture resolution on the room's surfaces
ROOM_OFFSET, ROOM_SPAN = 3.0, 8.5  # surface coordinates -3 … 5.5 m map onto one texture without repeating


def room_textures(rng: np.random.Generator) -> dict[str, Any]:
    """One texture per surface of the room (floor, back, left and right walls)."""
    size = int(ROOM_SPAN * PX_PER_M)
    return {name: texture(rng, size, size) for name in ROOM}


def render_room(textures: dict[str, Any], R: Any, t: Any, K: Any = None, h: int = H, w: int = W) -> tuple[Any, Any]:
    """Ray-cast a textured room corner (floor, back wall, side walls) seen by a camera with extrinsic [R|t]
    (world = camera 0's frame: x_cam = R x_world + t). Returns (BGR image, z-depth map in metres)."""
    import cv2

    K = np.asarray(K if K is not None else K_SYNTHETIC, float)
    R, t = np.asarray(R, float), np.asarray(t, float).reshape(3)
    centre = -R.T @ t
    u, v = np.meshgrid(np.arange(w, dtype=float), np.arange(h, dtype=float))
    rays = np.stack([u, v, np.ones_like(u)], -1) @ np.linalg.inv(K).T @ R  # world directions (R^T d, row form)
    best = np.full((h, w), np.inf)
    surface = np.full((h, w), -1)
    planes = [("floor", 1, ROOM["floor"]), ("back", 2, ROOM["back"]), ("left", 0, ROOM["left"]),
              ("right", 0, ROOM["right"])]
    for k, (_, axis, value) in enumerate(planes):
        with np.errstate(divide="ignore", invalid="ignore"):
            s = (value - centre[axis]) / rays[..., axis]
        hit = (s > 1e-6) & (s < best)
        best[hit], surface[hit] = s[hit], k
    points = centre + rays * best[..., None]
    image = np.zeros((h, w, 3), np.uint8)
    size = int(ROOM_SPAN * PX_PER_M)
    for k, (name, _, _) in enumerate(planes):
        a, b = [(0, 2), (0, 1), (2, 1), (2, 1)][k]
        map_x = ((points[..., a] + ROOM_OFFSET) * PX_PER_M % size).astype(np.float32)
        map_y = ((points[..., b] + ROOM_OFFSET) * PX_PER_M % size).astype(np.float32)
        drawn = cv2.remap(textures[name], map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
        image[surface == k] = drawn[surface == k]
    depth = ((points - centre) @ R.T)[..., 2]  # camera-frame z
    return image, depth.astype(np.float32)


def yaw_rotation(degrees: float) -> Any:
    """Rotation of the camera about its vertical (y) axis; positive turns it to the right."""
    a = math.radians(degrees)
    return np.array([[math.cos(a), 0, -math.sin(a)], [0, 1, 0], [math.sin(a), 0, math.cos(a)]])


# ---------------------------------------------------------------------------------------------- files


def default_root() -> Path:
    return Path(os.environ.get("MASLAB_SPATIAL_DIR") or Path.home() / ".cache" / "maslab" / "spatial-synthetic")


def _write_atomic(path: Path, write: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=path.suffix)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _save(folder: Path, index: int, image: Any, depth: Any | None = None,
          objects: list[dict[str, Any]] | None = None) -> str:
    """Write image-<index>.png (+ its depth map and sidecar metadata); returns the image path."""
    import cv2

    name = f"image-{index}"
    png = folder / f"{name}.png"
    def write_png(p: str) -> None:
        if not cv2.imwrite(p, image, [cv2.IMWRITE_PNG_COMPRESSION, 1]):
            raise OSError(f"cannot write {p}")

    _write_atomic(png, write_png)
    meta: dict[str, Any] = {"synthetic": True, "scene": "indoor", "intrinsics": K_SYNTHETIC, "objects": []}
    if depth is not None:
        _write_atomic(folder / f"{name}.depth.npy", lambda p: np.save(p, depth.astype(np.float32)))
        meta["depth"] = f"{name}.depth.npy"
    for o in objects or []:
        z = float(o["depth"])
        x = (o["cx"] - K_SYNTHETIC[0][2]) * z / K_SYNTHETIC[0][0]
        y = (o["cy"] - K_SYNTHETIC[1][2]) * z / K_SYNTHETIC[1][1]
        size = 2 * o["r"] * z / K_SYNTHETIC[0][0]
        meta["objects"].append({"label": f"{o['colour']} {o['shape']}", "bbox": o["bbox"],
                                "bbox_3d": {"x": round(x, 4), "y": round(y, 4), "z": z, "width": round(size, 4),
                                            "height": round(size, 4), "length": round(size, 4), "yaw": 0.0}})
    text = json.dumps(meta, indent=1)
    _write_atomic(folder / f"{name}.spatial.json", lambda p: Path(p).write_text(text))
    return str(png)


# ---------------------------------------------------------------------------------------------- task types


def _distinct_objects(rng: random.Random, n: int) -> list[tuple[str, str]]:
    pairs = [(c, s) for c in COLOURS_BGR for s in SHAPES]
    return rng.sample(pairs, n)


def _mcq(rng: random.Random, correct: str, wrong: list[str]) -> tuple[list[str], str]:
    options = [correct, *wrong]
    rng.shuffle(options)
    return options, "ABCDEFGH"[options.index(correct)]


def _fmt_h(m: Any) -> str:
    return "[" + ", ".join("[" + ", ".join(f"{v:.4g}" if abs(v) < 0.01 else f"{v:.4f}".rstrip("0").rstrip(".")
                                           for v in row) + "]" for row in m) + "]"


def _homography(rng: random.Random, nrng: np.random.Generator, folder: Path) -> dict[str, Any]:
    params = random_homography_params(nrng)
    base, warped, H_ = warp_pair(nrng, H_=homography(W, H, **params))
    images = [_save(folder, 0, base), _save(folder, 1, warped)]
    inverse = np.linalg.inv(H_)
    distractors = [inverse / inverse[2, 2],  # the mapping the other way
                   homography(W, H, **{**params, "tx": -params["tx"], "ty": -params["ty"]}),  # translation negated
                   homography(W, H, **{**params, "theta": -params["theta"]})]  # rotation reversed
    options, answer = _mcq(rng, f"The homography matrix is {_fmt_h(H_)}",
                           [f"The homography matrix is {_fmt_h(d)}" for d in distractors])
    return {"question": "image-0 and image-1 show the same planar surface from two viewpoints. Which homography "
                        "matrix maps pixel coordinates of image-0 to image-1?",
            "choices": options, "answer": answer, "images": images, "question_type": "multi-choice",
            "truth": {"homography": H_.tolist()}}


_MOTIONS = {"right": "The camera moved to the right", "left": "The camera moved to the left",
            "down": "The camera moved downward", "up": "The camera moved upward"}


def _camera_motion(rng: random.Random, nrng: np.random.Generator, folder: Path) -> dict[str, Any]:
    direction = rng.choice(list(_MOTIONS))
    major, minor = rng.randint(5, 12), rng.randint(-2, 2)
    dx, dy = {"right": (major, minor), "left": (-major, minor), "down": (minor, major), "up": (minor, -major)}[direction]
    first, second = pan_pair(nrng, dx, dy)
    images = [_save(folder, 0, first), _save(folder, 1, second)]
    options, answer = _mcq(rng, _MOTIONS[direction], [t for k, t in _MOTIONS.items() if k != direction])
    return {"question": "Between image-0 and image-1, what is the primary direction of the camera's movement?",
            "choices": options, "answer": answer, "images": images, "question_type": "multi-choice",
            "truth": {"dx": dx, "dy": dy}}


def _scene_task(rng: random.Random, nrng: np.random.Generator, folder: Path, objects: list[dict[str, Any]]) -> tuple[
        list[str], list[dict[str, Any]]]:
    img, depth, placed = render_scene(nrng, objects)
    return [_save(folder, 0, img, depth, placed)], placed


def _name(o: dict[str, Any]) -> str:
    return f"{o['colour']} {o['shape']}"


def _metric_depth(rng: random.Random, nrng: np.random.Generator, folder: Path) -> dict[str, Any]:
    kinds = _distinct_objects(rng, 3)
    objects = [{"colour": c, "shape": s, "depth": round(rng.uniform(1.5, 9.0), 1)} for c, s in kinds]
    images, placed = _scene_task(rng, nrng, folder, objects)
    target = placed[0]
    return {"question": f"In image-0, how far is the {_name(target)} from the camera, in meters?",
            "answer": f"{target['depth']:g} meters", "images": images, "question_type": "open-ended",
            "numeric_metric": "mra"}


def _counting(rng: random.Random, nrng: np.random.Generator, folder: Path) -> dict[str, Any]:
    colour, shape = _distinct_objects(rng, 1)[0]
    count = rng.randint(2, 6)
    others_colour = [c for c in COLOURS_BGR if c != colour]
    others_shape = [s for s in SHAPES if s != shape]
    objects = [{"colour": colour, "shape": shape, "depth": 5.0, "r": rng.randint(9, 13)} for _ in range(count)]
    objects += [{"colour": rng.choice(others_colour), "shape": shape, "depth": 5.0, "r": rng.randint(9, 13)}
                for _ in range(rng.randint(1, 2))]
    objects += [{"colour": colour, "shape": rng.choice(others_shape), "depth": 5.0, "r": rng.randint(9, 13)}
                for _ in range(rng.randint(1, 2))]
    rng.shuffle(objects)
    images, _ = _scene_task(rng, nrng, folder, objects)
    return {"question": f"How many {colour} {shape}s are there in image-0?", "answer": str(count), "images": images,
            "question_type": "open-ended", "numeric_metric": "exact"}


def _relative_depth(rng: random.Random, nrng: np.random.Generator, folder: Path) -> dict[str, Any]:
    (c1, s1), (c2, s2) = _distinct_objects(rng, 2)
    d1 = round(rng.uniform(1.5, 8.0), 1)
    d2 = round(d1 + rng.choice([-1, 1]) * rng.uniform(1.0, 3.0), 1)
    d2 = d2 if d2 > 1.0 else round(d1 + rng.uniform(1.0, 3.0), 1)
    objects = [{"colour": c1, "shape": s1, "depth": d1}, {"colour": c2, "shape": s2, "depth": d2}]
    images, placed = _scene_task(rng, nrng, folder, objects)
    closer, farther = sorted(placed, key=lambda o: o["depth"])
    options, answer = _mcq(rng, f"The {_name(closer)}", [f"The {_name(farther)}"])
    return {"question": f"Which object is closer to the camera in image-0, the {_name(placed[0])} or the "
                        f"{_name(placed[1])}?",
            "choices": options, "answer": answer, "images": images, "question_type": "multi-choice"}


def _judgment_position(rng: random.Random, nrng: np.random.Generator, folder: Path) -> dict[str, Any]:
    (c1, s1), (c2, s2) = _distinct_objects(rng, 2)
    yes = rng.random() < 0.5
    x1, x2 = rng.randint(40, 130), rng.randint(190, 280)
    if not yes:
        x1, x2 = x2, x1
    objects = [{"colour": c1, "shape": s1, "depth": 4.0, "cx": x1}, {"colour": c2, "shape": s2, "depth": 4.0, "cx": x2}]
    images, placed = _scene_task(rng, nrng, folder, objects)
    return {"question": f"In image-0, is the {_name(placed[0])} to the left of the {_name(placed[1])}?",
            "answer": "Yes" if yes else "No", "images": images, "question_type": "judgment"}


def _distance_3d(rng: random.Random, nrng: np.random.Generator, folder: Path) -> dict[str, Any]:
    c1, c2 = rng.sample(list(COLOURS_BGR), 2)
    s1, s2 = rng.choice(["circle", "square"]), rng.choice(["circle", "square"])  # symmetric: the box centre is exact
    objects = [{"colour": c1, "shape": s1, "depth": round(rng.uniform(2.0, 8.0), 1)},
               {"colour": c2, "shape": s2, "depth": round(rng.uniform(2.0, 8.0), 1)}]
    images, placed = _scene_task(rng, nrng, folder, objects)
    fx, cx, cy = K_SYNTHETIC[0][0], K_SYNTHETIC[0][2], K_SYNTHETIC[1][2]
    p = [np.array([(o["cx"] - cx) * o["depth"] / fx, (o["cy"] - cy) * o["depth"] / fx, o["depth"]]) for o in placed]
    distance = float(np.linalg.norm(p[0] - p[1]))
    return {"question": f"In image-0, what is the 3D distance between the centers of the {_name(placed[0])} and the "
                        f"{_name(placed[1])}, in meters?",
            "answer": f"{distance:.2f} meters", "images": images, "question_type": "open-ended",
            "numeric_metric": "mra"}


def _judgment_size(rng: random.Random, nrng: np.random.Generator, folder: Path) -> dict[str, Any]:
    (c1, s1), (c2, s2) = _distinct_objects(rng, 2)
    small, large = rng.randint(9, 12), rng.randint(17, 22)
    yes = rng.random() < 0.5
    objects = [{"colour": c1, "shape": s1, "depth": 4.0, "r": large if yes else small},
               {"colour": c2, "shape": s2, "depth": 4.0, "r": small if yes else large}]
    images, placed = _scene_task(rng, nrng, folder, objects)
    truth = placed[0]["mask"].sum() > placed[1]["mask"].sum()
    return {"question": f"In image-0, does the {_name(placed[0])} cover a larger area of the image than the "
                        f"{_name(placed[1])}?",
            "answer": "Yes" if truth else "No", "images": images, "question_type": "judgment"}


_TURNS = {"left": "The camera turned to the left", "right": "The camera turned to the right"}


def _camera_rotation(rng: random.Random, nrng: np.random.Generator, folder: Path) -> dict[str, Any]:
    turn = rng.choice(list(_TURNS))
    yaw = rng.uniform(5.0, 12.0) * (1 if turn == "right" else -1)
    centre = np.array([rng.uniform(-0.3, 0.3), rng.uniform(-0.05, 0.05), rng.uniform(0.0, 0.4)])
    textures = room_textures(nrng)
    R1 = yaw_rotation(yaw)
    views = [render_room(textures, np.eye(3), np.zeros(3)), render_room(textures, R1, -R1 @ centre)]
    images = [_save(folder, i, image, depth) for i, (image, depth) in enumerate(views)]
    options, answer = _mcq(rng, _TURNS[turn], [t for k, t in _TURNS.items() if k != turn])
    return {"question": "Between image-0 and image-1, did the camera turn to the left or to the right?",
            "choices": options, "answer": answer, "images": images, "question_type": "multi-choice",
            "truth": {"yaw_degrees": round(yaw, 3), "camera_centre": centre.round(4).tolist()}}


_MAKERS = {"homography": _homography, "camera_motion": _camera_motion, "metric_depth": _metric_depth,
           "counting": _counting, "relative_depth": _relative_depth, "judgment_position": _judgment_position,
           "distance_3d": _distance_3d, "judgment_size": _judgment_size, "camera_rotation": _camera_rotation}


@register_dataset("spatial_synthetic", kind="generator", default_n=18, options=("root", "types"))
def spatial_synthetic(n: int = 18, seed: int = 0, root: str | None = None,
                      types: list[str] | None = None) -> list[Task]:
    """Synthetic spatial questions (homography, camera motion, depth, counting, judgments, 3-D distance)."""
    try:
        import cv2  # noqa: F401
    except ModuleNotFoundError:
        from maslab.errors import ConfigError

        raise ConfigError("spatial_synthetic renders its images with OpenCV: pip install 'maslab[spatial]'") from None
    kinds = tuple(types) if types else TYPES
    unknown = sorted(set(kinds) - set(TYPES))
    if unknown:
        raise ValueError(f"unknown task type(s) {unknown}; known: {list(TYPES)}")
    folder = (Path(root) if root else default_root()) / VERSION / f"seed-{seed}"
    tasks = []
    for i in range(n):
        kind = kinds[i % len(kinds)]
        task_id = f"spatial-synth-{seed}-{i}-{kind}"
        rng = random.Random(f"maslab-spatial-{seed}-{i}")
        nrng = np.random.default_rng(rng.getrandbits(64))
        made = _MAKERS[kind](rng, nrng, folder / task_id)
        tasks.append(Task(
            id=task_id, question=made["question"], choices=made.get("choices"), answer=made["answer"],
            images=made["images"], domain="spatial",
            metadata={"scorer": "spatial", "question_type": made["question_type"], "task_type": kind,
                      "numeric_metric": made.get("numeric_metric"), "synthetic": True,
                      "source": "maslab spatial_synthetic (seeded rendering; depth, intrinsics and 3-D boxes "
                                "in fixture metadata)", "oracle_tools": list(ORACLE_TOOLS[kind]),
                      **({"truth": made["truth"]} if "truth" in made else {})}))
    return tasks
