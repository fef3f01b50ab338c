"""Classical computer vision behind the spatial tools (OpenCV < 5, numpy).

* `detect(image, query)`: the offline stand-in for the paper's open-vocabulary detector. A query
  naming colours and/or shapes ("red circle", "green triangles", "blue objects") is answered by an
  HSV threshold and connected components, each component classified as circle / triangle /
  square / rectangle by how much of its minimum-area rectangle it fills; "person" uses OpenCV's HOG people detector,
  "face" the Haar frontal-face cascade. Anything else is a `ToolFailure` naming the vocabulary.
* `sift_matches`: SIFT (at most `num_keypoints` per image) + brute-force L2 k=2 matching + Lowe's
  ratio test — the paper's own backend.
* `mean_flow`: DIS optical flow (medium preset) averaged over the frame without an 8 % border,
  negated so that the result follows the paper's convention (x > 0: the camera moved right, the
  content left; y > 0: the camera moved down).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from maslab.tool import ToolFailure

__all__ = ["COLOURS", "SHAPES", "Detection", "detect", "load_image", "mean_flow", "sift_matches"]

# OpenCV hue runs 0–179. Saturated, reasonably bright pixels only: textures and greys never match.
COLOURS: dict[str, list[tuple[int, int]]] = {
    "red": [(0, 7), (173, 179)], "orange": [(8, 20)], "yellow": [(21, 34)], "green": [(35, 80)],
    "cyan": [(81, 99)], "blue": [(100, 128)], "purple": [(129, 150)], "magenta": [(151, 172)],
}
_COLOUR_SYNONYMS = {"violet": "purple", "pink": "magenta", "teal": "cyan"}
SHAPES = ("circle", "triangle", "square", "rectangle")
_SHAPE_SYNONYMS = {"circle": "circle", "disc": "circle", "disk": "circle", "ball": "circle", "dot": "circle",
                   "triangle": "triangle", "square": "square", "rectangle": "rectangle", "box": "rectangle",
                   "block": "rectangle"}
_GENERIC = {"object", "shape", "thing", "item", "blob", "region"}
_PEOPLE = {"person", "people", "pedestrian", "man", "woman", "human", "child"}
_FACES = {"face", "head"}
MIN_AREA = 25  # pixels: smaller components are noise
_SAT_MIN, _VAL_MIN = 100, 60


@dataclass
class Detection:
    label: str  # the query it answers
    bbox: tuple[int, int, int, int]  # left, top, right, bottom (exclusive), pixels
    mask: Any  # bool array of the image's size
    score: float

    @property
    def area(self) -> int:
        return int(self.mask.sum())

    @property
    def centroid(self) -> tuple[float, float]:
        ys, xs = np.nonzero(self.mask)
        return float(xs.mean()), float(ys.mean())


def load_image(path: str | Path) -> Any:
    """A BGR image; ToolFailure naming the file when it cannot be read."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ToolFailure(f"cannot read image {path}")
    return image


def _singular(word: str) -> str:
    if word.endswith("xes"):
        return word[:-2]
    return word[:-1] if word.endswith("s") and len(word) > 3 else word


def parse_query(query: str) -> tuple[set[str], set[str], str | None]:
    """(colours, shapes, special) named by a query; special is "person" or "face"."""
    words = [_singular(w) for w in re.findall(r"[a-z]+", query.lower())]
    colours = {_COLOUR_SYNONYMS.get(w, w) for w in words if w in COLOURS or w in _COLOUR_SYNONYMS}
    shapes = {_SHAPE_SYNONYMS[w] for w in words if w in _SHAPE_SYNONYMS}
    special = "person" if any(w in _PEOPLE for w in words) else "face" if any(w in _FACES for w in words) else None
    if not colours and not shapes and special is None and not any(w in _GENERIC for w in words):
        raise ToolFailure(
            f"the offline detector (a classical stand-in) cannot find {query!r}: it knows colours "
            f"({', '.join(COLOURS)}), shapes ({', '.join(SHAPES)}), people (HOG) and faces (Haar)")
    return colours, shapes, special


def _colour_mask(hsv: Any, colours: set[str]) -> Any:
    saturated = (hsv[..., 1] >= _SAT_MIN) & (hsv[..., 2] >= _VAL_MIN)
    if not colours:
        return saturated
    hue = hsv[..., 0]
    mask = np.zeros(hue.shape, bool)
    for c in colours:
        for lo, hi in COLOURS[c]:
            mask |= (hue >= lo) & (hue <= hi)
    return mask & saturated


def _shape_of(component: Any) -> str:
    """circle / triangle / square / rectangle by how much of its minimum-area rectangle the outline fills
    (square 1, circle π/4 ≈ 0.785, triangle 0.5), robust for small and rotated shapes."""
    contours, _ = cv2.findContours(component.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    contour = max(contours, key=cv2.contourArea)
    (_, _), (rw, rh), _ = cv2.minAreaRect(contour)
    if rw < 2 or rh < 2:
        return "unknown"
    fill = cv2.contourArea(contour) / (rw * rh)
    if fill >= 0.88:
        return "square" if 0.85 <= rw / rh <= 1.18 else "rectangle"
    if fill >= 0.68:
        return "circle"
    return "triangle" if fill >= 0.4 else "unknown"


def _shape_ok(shape: str, wanted: set[str]) -> bool:
    return not wanted or shape in wanted or (shape == "square" and "rectangle" in wanted)


def _components(image: Any, query: str, colours: set[str], shapes: set[str]) -> list[Detection]:
    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)
    mask = _colour_mask(hsv, colours).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    out: list[Detection] = []
    for i in range(1, n):
        x, y, w, h, area = (int(v) for v in stats[i])
        if area < MIN_AREA:
            continue
        component = labels == i
        shape = _shape_of(component)
        if not _shape_ok(shape, shapes):
            continue
        score = round(area / float(w * h) if shape != "triangle" else min(1.0, 2 * area / float(w * h)), 3)
        out.append(Detection(query, (x, y, x + w, y + h), component, score))
    return sorted(out, key=lambda d: (d.bbox[1], d.bbox[0]))


@functools.lru_cache(maxsize=1)
def _hog() -> Any:
    hog = cv2.HOGDescriptor()
    hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
    return hog


@functools.lru_cache(maxsize=1)
def _faces() -> Any:
    return cv2.CascadeClassifier(str(Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"))


def _boxes_to_detections(image: Any, query: str, boxes: Any, scores: Any) -> list[Detection]:
    out = []
    for (x, y, w, h), s in zip(boxes, scores, strict=False):
        mask = np.zeros(image.shape[:2], bool)
        mask[y:y + h, x:x + w] = True
        out.append(Detection(query, (int(x), int(y), int(x + w), int(y + h)), mask, round(float(s), 3)))
    return out


def detect(image: Any, query: str) -> list[Detection]:
    """Every instance of `query` in a BGR image (see the module docstring for what can be found)."""
    colours, shapes, special = parse_query(query)
    if special == "person":
        boxes, weights = _hog().detectMultiScale(image, winStride=(8, 8), padding=(8, 8), scale=1.05)
        return _boxes_to_detections(image, query, boxes, np.ravel(weights) if len(boxes) else [])
    if special == "face":
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        boxes = _faces().detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5)
        return _boxes_to_detections(image, query, boxes, [1.0] * len(boxes))
    return _components(image, query, colours, shapes)


def draw(image: Any, detections: list[Detection]) -> Any:
    """A copy of the image with each detection's box and label drawn (the visualisation tools return)."""
    out = image.copy()
    for d in detections:
        left, top, right, bottom = d.bbox
        cv2.rectangle(out, (left, top), (right - 1, bottom - 1), (0, 255, 255), 2)
        cv2.putText(out, d.label, (left, max(top - 4, 10)), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 255, 255), 1)
    return out


def sift_matches(image1: Any, image2: Any, num_keypoints: int = 1200, ratio_th: float = 0.75) -> tuple[Any, Any]:
    """Matched keypoint coordinates (two N×2 float arrays) by SIFT + BFMatcher(L2, k=2) + ratio test."""
    sift = cv2.SIFT_create(nfeatures=num_keypoints)
    g1, g2 = (cv2.cvtColor(im, cv2.COLOR_BGR2GRAY) for im in (image1, image2))
    k1, d1 = sift.detectAndCompute(g1, None)
    k2, d2 = sift.detectAndCompute(g2, None)
    if d1 is None or d2 is None or len(k1) < 2 or len(k2) < 2:
        return np.zeros((0, 2)), np.zeros((0, 2))
    pairs = cv2.BFMatcher(cv2.NORM_L2).knnMatch(d1, d2, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < ratio_th * p[1].distance]
    p1 = np.array([k1[m.queryIdx].pt for m in good], dtype=float).reshape(-1, 2)
    p2 = np.array([k2[m.trainIdx].pt for m in good], dtype=float).reshape(-1, 2)
    return p1, p2


FLOW_BORDER = 0.08  # fraction of each side left out of the mean (content entering or leaving the frame)


def mean_flow(earlier: Any, later: Any) -> tuple[float, float]:
    """(mean_flow_x, mean_flow_y) in the paper's convention: minus the mean pixel displacement earlier → later."""
    g1 = cv2.cvtColor(earlier, cv2.COLOR_BGR2GRAY)
    g2 = cv2.cvtColor(later, cv2.COLOR_BGR2GRAY)
    if g2.shape != g1.shape:
        g2 = cv2.resize(g2, (g1.shape[1], g1.shape[0]), interpolation=cv2.INTER_AREA)
    flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM).calc(g1, g2, None)
    h, w = g1.shape
    by, bx = int(h * FLOW_BORDER), int(w * FLOW_BORDER)
    inner = flow[by:h - by, bx:w - bx]
    return -float(inner[..., 0].mean()), -float(inner[..., 1].mean())
