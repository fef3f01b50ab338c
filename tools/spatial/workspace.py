"""The images of one SpatialAgent run: `image-N` ids, generated images and the run's core model.

A `Workspace` knows the task's input images (`image-0` … `image-{n-1}`) and the images tools
generate, which are saved as ``<result_dir>/image-k.jpg`` and numbered **after** the inputs
(k = n, n+1, …; the reference scaffold restarted at 1 whatever the number of inputs). The agent's
executor activates it around each tool call (`active()`), so a tool can save a picture
(`save_image`) and `SelfThinking` can reach the core model (`think`) without either being an
argument the model writes. `resolve` turns every string that is exactly ``image-<digits>`` —
anywhere in the arguments, inside lists and under any key, `images` included — into its path.
"""

from __future__ import annotations

import contextlib
import contextvars
import re
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

__all__ = ["IMAGE_ID", "ThinkFn", "Workspace", "current_workspace", "save_image"]

IMAGE_ID = re.compile(r"image-(\d+)")
ThinkFn = Callable[[str, list[Path]], Awaitable[str]]

_current: contextvars.ContextVar[Workspace | None] = contextvars.ContextVar("maslab_spatial_workspace",
                                                                            default=None)


class Workspace:
    """Input and generated images of one run, addressed as `image-N`."""

    def __init__(self, inputs: Sequence[str | Path], result_dir: str | Path, think: ThinkFn | None = None) -> None:
        self.inputs = [Path(p) for p in inputs]
        self.generated: list[Path] = []
        self.result_dir = Path(result_dir)
        self.think = think

    @property
    def images(self) -> list[Path]:
        """Every addressable image: the inputs, then the generated ones."""
        return [*self.inputs, *self.generated]

    def ids(self) -> list[str]:
        return [f"image-{i}" for i in range(len(self.images))]

    def path(self, image_id: str) -> Path:
        """The file behind `image-N`; ValueError naming the known ids otherwise."""
        m = IMAGE_ID.fullmatch(image_id)
        images = self.images
        if not m or int(m.group(1)) >= len(images):
            known = ", ".join(self.ids()) or "none"
            raise ValueError(f"unknown image id {image_id!r} (this task has {known})")
        return images[int(m.group(1))]

    def resolve(self, value: Any) -> Any:
        """`value` with every `image-N` string (at any depth, in lists and under any key) replaced by its path."""
        if isinstance(value, str):
            return str(self.path(value)) if IMAGE_ID.fullmatch(value) else value
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if isinstance(value, dict):
            return {k: self.resolve(v) for k, v in value.items()}
        return value

    def save(self, image: Any) -> str:
        """Save a generated image (a BGR or grey numpy array) as the next `image-k`; returns its id."""
        import cv2

        image_id = f"image-{len(self.images)}"
        self.result_dir.mkdir(parents=True, exist_ok=True)
        path = self.result_dir / f"{image_id}.jpg"
        if not cv2.imwrite(str(path), image):
            raise OSError(f"cannot write {path}")
        self.generated.append(path)
        return image_id

    @contextlib.contextmanager
    def active(self) -> Iterator[Workspace]:
        """Make this the workspace tools see (a context variable: concurrent runs stay apart)."""
        token = _current.set(self)
        try:
            yield self
        finally:
            _current.reset(token)


def current_workspace() -> Workspace | None:
    return _current.get()


def save_image(image: Any) -> str | None:
    """Save a tool's picture into the active workspace; None (nothing saved) outside a run."""
    ws = current_workspace()
    return ws.save(image) if ws is not None else None
