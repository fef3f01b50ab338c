"""Fixture metadata beside an image: what the oracle tools read where no classical method exists.

An image ``scene.png`` may have a sidecar ``scene.spatial.json`` (`SceneMeta`): camera intrinsics,
a metric depth map (a ``.npy`` file of metres, one value per pixel) and, per object, its 3-D box
and orientation. The synthetic benchmark writes one for every image it renders; a user can write
them for their own images. Tools that need it fail with a message naming the missing file.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from maslab.tool import ToolFailure

__all__ = ["Box3D", "ObjectMeta", "Orientation", "SceneMeta", "depth_map", "intrinsics", "matches_label",
           "scene_meta", "sidecar"]


class Box3D(BaseModel):
    model_config = ConfigDict(extra="forbid")
    x: float
    y: float
    z: float
    width: float
    height: float
    length: float
    yaw: float


class Orientation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    azimuth: float = Field(ge=0, le=360)
    polar: float = Field(ge=0, le=180)
    rotation: float = Field(ge=-180, le=180)
    confidence: float = 1.0


class ObjectMeta(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str
    bbox: list[float] | None = None  # [left, top, right, bottom] in pixels
    bbox_3d: Box3D | None = None
    orientation: Orientation | None = None


class SceneMeta(BaseModel):
    """The sidecar of one image."""

    model_config = ConfigDict(extra="forbid")
    synthetic: bool = False
    scene: Literal["indoor", "outdoor"] | None = None
    intrinsics: list[list[float]] | None = None  # 3×3
    depth: str | None = None  # .npy file of metres, relative to the sidecar's folder
    objects: list[ObjectMeta] = Field(default_factory=list)


def sidecar(image: str | Path) -> Path:
    """``scene.png`` → ``scene.spatial.json``."""
    p = Path(image)
    return p.with_name(p.stem + ".spatial.json")


@functools.lru_cache(maxsize=256)
def _load(path: str, mtime: float) -> SceneMeta:
    try:
        return SceneMeta.model_validate_json(Path(path).read_text())
    except (OSError, ValidationError) as e:
        raise ToolFailure(f"invalid fixture metadata {path}: {e}") from e


def scene_meta(image: str | Path, *, need: str) -> SceneMeta:
    """The image's sidecar metadata; ToolFailure saying what needed it when there is none."""
    path = sidecar(image)
    if not path.is_file():
        raise ToolFailure(f"{need} is an oracle read from fixture metadata, and image {Path(image).name} has none "
                          f"(expected {path.name} beside it); no offline method can estimate it")
    return _load(str(path), path.stat().st_mtime)


@functools.lru_cache(maxsize=64)
def _depth(path: str, mtime: float) -> Any:
    import numpy as np

    return np.load(path)


def depth_map(image: str | Path, shape: tuple[int, int]) -> Any:
    """The metric depth map (metres) of the image, checked against its size."""
    meta = scene_meta(image, need="metric depth")
    if meta.depth is None:
        raise ToolFailure(f"metric depth is an oracle read from fixture metadata, and {sidecar(image).name} names no "
                          "depth map; no offline method can estimate it")
    path = sidecar(image).parent / meta.depth
    if not path.is_file():
        raise ToolFailure(f"depth map {path} named by {sidecar(image).name} does not exist")
    depth = _depth(str(path), path.stat().st_mtime)
    if tuple(depth.shape[:2]) != tuple(shape):
        raise ToolFailure(f"depth map {path.name} is {depth.shape[1]}×{depth.shape[0]}, image is {shape[1]}×{shape[0]}")
    return depth


def intrinsics(image: str | Path, size: tuple[int, int]) -> tuple[Any, bool]:
    """(K, from_fixture): the fixture's 3×3 intrinsics, else an assumed pinhole K (focal 1.2 × the longer
    side, principal point at the centre) — flagged so results can say so."""
    import numpy as np

    path = sidecar(image)
    if path.is_file():
        meta = _load(str(path), path.stat().st_mtime)
        if meta.intrinsics is not None:
            return np.asarray(meta.intrinsics, dtype=float), True
    w, h = size
    f = 1.2 * max(w, h)
    return np.array([[f, 0, w / 2], [0, f, h / 2], [0, 0, 1]], dtype=float), False


_ARTICLES = {"a", "an", "the", "of"}


def _words(text: str) -> list[str]:
    return [w.rstrip("s") if len(w) > 3 else w for w in re.findall(r"[a-z0-9]+", text.lower())
            if w not in _ARTICLES]


def matches_label(query: str, label: str) -> bool:
    """Whether a query names a labelled object: every query word (articles dropped, plurals folded) is one of its words."""
    q, lab = _words(query), set(_words(label))
    return bool(q) and all(w in lab for w in q)
