"""Offline image perception for text-only models: OCR (rapidocr) plus image-level facts (OpenCV).

What a model that cannot see an image gets instead of it — a `PerceptionReport`:

* **text in the image**: `read_text(path)`, RapidOCR (``rapidocr-onnxruntime``: PP-OCRv4 detection and
  recognition on onnxruntime; its wheel ships the models, reads English and Chinese), lines with
  confidence ≥ `MIN_CONFIDENCE`, in reading order (top to bottom, then left to right within a line).
  Two passes: the image as it is; then, only where that read no text line (a line with two or more
  letters, digits or CJK characters — `OcrLine.is_text`; punctuation or one glyph alone is not), the
  image **enlarged** (bicubic) to the longest side the engine takes (its ``max_side_len``, 2,000 px):
  small print — signatures, watermarks, a caption in a corner — is then at a size the recogniser reads.
  From the enlarged pass only text lines are kept, and only where no first-pass line lies (single
  glyphs read on enlarged textures were mostly hatching and stars, measured on the LAD set); those
  lines are marked ``enlarged`` and the report says they are small text, possibly misread. On the LAD
  evaluation set the second pass runs for 27 of the 100 images and reads text in 6 (watermarks,
  signatures, a scroll's inscription), taking OCR text from 72 to 78 images (76 of them real text,
  judged by eye; `benchmarks/lad_perception.py`). Display lettering (logos), cursive signatures and
  single glyphs stay beyond this engine;
* **image-level facts**: `image_facts(path)` — size and orientation; colour or black-and-white (mean
  HSV saturation); the dominant colours (k-means, k = 5, on a thumbnail; named by hue, saturation
  and value); and the **panel count** of a comic, by a recursive XY-cut along blank gutters (a
  heuristic: borderless or overlapping panels read as one).

Everything is computed locally, deterministically, from the image bytes; results are cached in
memory by the bytes' SHA-256. The report is labelled as what it is (``source: ocr+opencv``): it
is no description by a vision model. Install: ``pip install 'maslab[lad]'``.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from maslab.errors import ConfigError

__all__ = ["MIN_CONFIDENCE", "ImageFacts", "OcrLine", "PerceptionReport", "image_facts", "perceive", "read_text"]

MIN_CONFIDENCE = 0.5
SOURCE = "ocr+opencv"


class OcrLine(BaseModel):
    """One line of text the OCR read: its text, confidence, box (left, top, right, bottom, pixels of the
    image as given) and whether it was read on the enlarged image (the second pass; small print)."""

    text: str
    confidence: float
    box: tuple[int, int, int, int]
    enlarged: bool = False

    @property
    def is_text(self) -> bool:
        """Two or more letters, digits or CJK characters: a word read, not a stray glyph or punctuation."""
        return sum(ch.isalnum() for ch in self.text) >= 2


class ImageFacts(BaseModel):
    """What OpenCV computes about an image (see the module docstring)."""

    width: int
    height: int
    colour: bool  # False: black-and-white or greyscale
    dominant_colours: list[tuple[str, float]] = Field(default_factory=list)  # (name, share of pixels)
    panels: int = 1

    @property
    def orientation(self) -> str:
        ratio = self.width / max(self.height, 1)
        return "landscape" if ratio > 1.15 else "portrait" if ratio < 0.87 else "square"


class PerceptionReport(BaseModel):
    """The offline perception of one image: OCR lines and facts, with their provenance."""

    path: str
    sha256: str
    lines: list[OcrLine]
    facts: ImageFacts
    source: str = SOURCE

    @property
    def ocr_text(self) -> str:
        return "\n".join(line.text for line in self.lines)

    def text(self) -> str:
        """The report as a model reads it, labelled as local OCR and OpenCV output."""
        f = self.facts
        colours = ", ".join(f"{name} {share:.0%}" for name, share in f.dominant_colours)
        layout = "one panel" if f.panels <= 1 else f"{f.panels} panels (separated by blank gutters)"
        ocr = "\n".join(f'  "{line.text}"' + ("  (small text, read on the enlarged image; may be misread)"
                                                if line.enlarged else "")
                        for line in self.lines) if self.lines else "  (no text found)"
        return (f"[Offline perception of the image: local OCR and OpenCV measurements, not a description by "
                f"a model that saw it]\n"
                f"- Size: {f.width} x {f.height} pixels ({f.orientation})\n"
                f"- Colour: {'colour' if f.colour else 'black-and-white or greyscale'}; dominant colours: {colours}\n"
                f"- Layout: {layout}\n"
                f"- Text read in the image (OCR, reading order):\n{ocr}")


# ---------------------------------------------------------------------------------------------- OCR

_engine: Any = None
_engine_lock = threading.Lock()
_cache: dict[tuple[str, str], Any] = {}
_cache_lock = threading.Lock()


def _cv2() -> Any:
    try:
        import cv2
    except ImportError:
        raise ConfigError("OpenCV is missing: pip install 'maslab[lad]' (opencv-python<5)") from None
    return cv2


def _ocr_engine() -> Any:
    global _engine
    with _engine_lock:
        if _engine is None:
            try:
                from rapidocr_onnxruntime import RapidOCR
            except ImportError:
                raise ConfigError("rapidocr-onnxruntime is missing: pip install 'maslab[lad]'") from None
            _engine = RapidOCR()
        return _engine


def _digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as e:
        raise ConfigError(f"cannot read image {path}: {e}") from None


def _cached(kind: str, digest: str, compute: Any) -> Any:
    with _cache_lock:
        if (kind, digest) in _cache:
            return _cache[(kind, digest)]
    value = compute()
    with _cache_lock:
        _cache[(kind, digest)] = value
    return value


def _image(path: Path) -> Any:
    image = _cv2().imread(str(path), 1)
    if image is None:
        raise ConfigError(f"cannot decode image {path}")
    return image


def read_text(path: str | Path) -> list[OcrLine]:
    """The text lines RapidOCR reads in the image, confidence ≥ MIN_CONFIDENCE, in reading order."""
    path = Path(path)
    return _cached("ocr", _digest(path), lambda: _read_text(path))


def _read_text(path: Path) -> list[OcrLine]:
    image = _image(path)
    lines = _ocr(image, scale=1.0)
    if any(line.is_text for line in lines):
        return _reading_order(lines)
    longest = _ocr_engine().max_side_len
    scale = longest / max(image.shape[:2])
    if scale < 1.25:  # already about as large as the engine takes it: a second pass would read the same
        return _reading_order(lines)
    cv2 = _cv2()
    enlarged = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    small_print = [line.model_copy(update={"enlarged": True}) for line in _ocr(enlarged, scale=scale)
                   if line.is_text and not any(_overlaps(line.box, seen.box) for seen in lines)]
    return _reading_order(lines + small_print)


def _ocr(image: Any, scale: float) -> list[OcrLine]:
    """One RapidOCR pass; boxes divided by `scale` (back to the coordinates of the image as given)."""
    engine = _ocr_engine()
    with _engine_lock:  # one onnxruntime session: calls run one at a time
        result, _ = engine(image)
    lines = []
    for box, text, confidence in result or []:
        xs, ys = [float(p[0]) / scale for p in box], [float(p[1]) / scale for p in box]
        if float(confidence) >= MIN_CONFIDENCE and text.strip():
            lines.append(OcrLine(text=text.strip(), confidence=round(float(confidence), 3),
                                 box=(int(min(xs)), int(min(ys)), int(max(xs)), int(max(ys)))))
    return lines


def _overlaps(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    """Whether two boxes share any area."""
    return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])


def _reading_order(lines: list[OcrLine]) -> list[OcrLine]:
    """Top to bottom; boxes whose vertical centres lie within half a line height form one row, left to right."""
    rows: list[list[OcrLine]] = []
    for line in sorted(lines, key=lambda ln: (ln.box[1] + ln.box[3]) / 2):
        centre = (line.box[1] + line.box[3]) / 2
        height = max(line.box[3] - line.box[1], 1)
        if rows:
            last = rows[-1][-1]
            if abs(centre - (last.box[1] + last.box[3]) / 2) <= height / 2:
                rows[-1].append(line)
                continue
        rows.append([line])
    return [line for row in rows for line in sorted(row, key=lambda ln: ln.box[0])]


# ---------------------------------------------------------------------------------------------- facts


def _colour_name(h: float, s: float, v: float) -> str:
    """A basic colour name for an OpenCV HSV triple (hue 0–179, saturation and value 0–255)."""
    if v < 50:
        return "black"
    if s < 40:
        return "white" if v > 200 else "grey"
    if h < 10 or h >= 170:
        return "red" if v >= 120 else "dark red"
    if h < 22:
        return "orange" if v >= 150 else "brown"
    if h < 35:
        return "yellow"
    if h < 85:
        return "green"
    if h < 100:
        return "cyan"
    if h < 130:
        return "blue"
    if h < 150:
        return "purple"
    return "pink"


def _dominant_colours(image: Any, k: int = 5) -> list[tuple[str, float]]:
    cv2 = _cv2()
    import numpy as np

    small = cv2.resize(image, (64, 64), interpolation=cv2.INTER_AREA)
    pixels = small.reshape(-1, 3).astype(np.float32)
    cv2.setRNGSeed(0)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 1.0)
    _, labels, centres = cv2.kmeans(pixels, k, None, criteria, 3, cv2.KMEANS_PP_CENTERS)
    hsv = cv2.cvtColor(centres.reshape(-1, 1, 3).astype(np.uint8), cv2.COLOR_BGR2HSV).reshape(-1, 3)
    counts = np.bincount(labels.ravel(), minlength=k) / len(labels)
    shares: dict[str, float] = {}
    for (h, s, v), share in zip(hsv.tolist(), counts.tolist(), strict=True):
        name = _colour_name(h, s, v)
        shares[name] = shares.get(name, 0.0) + share
    return [(name, round(share, 3)) for name, share in sorted(shares.items(), key=lambda x: -x[1]) if share >= 0.03]


def _runs(empty: Any) -> list[tuple[int, int]]:
    """(start, end) of the runs of True in a 1-D boolean array."""
    runs, start = [], None
    for i, e in enumerate(empty.tolist()):
        if e and start is None:
            start = i
        elif not e and start is not None:
            runs.append((start, i))
            start = None
    if start is not None:
        runs.append((start, len(empty)))
    return runs


def _count_panels(image: Any) -> int:
    """Panels separated by blank gutters: a recursive XY-cut of the 'ink' (pixels unlike the border colour)."""
    cv2 = _cv2()
    import numpy as np

    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    scale = 600 / max(gray.shape)
    if scale < 1:
        gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    h, w = gray.shape
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    ink = np.abs(gray.astype(np.int16) - int(np.median(border))) > 40
    min_h, min_w = 0.12 * h, 0.12 * w

    def cut(y0: int, y1: int, x0: int, x1: int, depth: int) -> int:
        region = ink[y0:y1, x0:x1]
        rows, cols = np.nonzero(region.any(axis=1))[0], np.nonzero(region.any(axis=0))[0]
        if len(rows) == 0:
            return 0
        y0, y1, x0, x1 = y0 + rows[0], y0 + rows[-1] + 1, x0 + cols[0], x0 + cols[-1] + 1
        if y1 - y0 < min_h or x1 - x0 < min_w:
            return 0  # a caption or a stray mark, not a panel
        if depth < 4:
            for axis in (0, 1):
                profile = ink[y0:y1, x0:x1].any(axis=1 - axis)
                gap = max(2, int(0.006 * (h if axis == 0 else w)))
                gutters = [(a, b) for a, b in _runs(~profile) if b - a >= gap]
                if gutters:
                    bounds = [0, *[x for g in gutters for x in g], len(profile)]
                    parts = [(bounds[i], bounds[i + 1]) for i in range(0, len(bounds), 2)]
                    found = sum(cut(y0 + a, y0 + b, x0, x1, depth + 1) if axis == 0 else
                                cut(y0, y1, x0 + a, x0 + b, depth + 1) for a, b in parts)
                    if found:
                        return found
        return 1

    return max(1, cut(0, h, 0, w, 0))


def image_facts(path: str | Path) -> ImageFacts:
    """Size, colour or not, dominant colours and panel count of the image (see the module docstring)."""
    path = Path(path)
    return _cached("facts", _digest(path), lambda: _image_facts(path))


def _image_facts(path: Path) -> ImageFacts:
    cv2 = _cv2()
    image = _image(path)
    saturation = float(cv2.cvtColor(image, cv2.COLOR_BGR2HSV)[:, :, 1].mean())
    return ImageFacts(width=int(image.shape[1]), height=int(image.shape[0]), colour=saturation >= 25,
                      dominant_colours=_dominant_colours(image), panels=_count_panels(image))


def perceive(path: str | Path) -> PerceptionReport:
    """The offline perception of one image (OCR and facts; cached by the image bytes' SHA-256)."""
    path = Path(path)
    return PerceptionReport(path=str(path), sha256=_digest(path), lines=read_text(path), facts=image_facts(path))
