"""Tasks in, solutions out: the two records that cross every system's boundary."""

from __future__ import annotations

import hashlib
from typing import Any

from pydantic import BaseModel, Field, model_validator

from maslab.messages import ImagePart, Message, TextPart
from maslab.trace import LedgerSnapshot, TraceStep

_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


class Task(BaseModel):
    """One benchmark item or user question."""

    id: str = ""
    question: str
    choices: list[str] | None = None
    answer: str | None = None  # the reference answer, when known
    domain: str | None = None
    images: list[str] = Field(default_factory=list)  # input images (local paths), image-0, image-1, …
    metadata: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _default_id(self) -> Task:
        if not self.id:
            key = "\x00".join([self.question, *self.images])
            self.id = hashlib.sha1(key.encode()).hexdigest()[:12]
        return self

    def dataset_name(self) -> str | None:
        """The name of the dataset the task came from: `metadata["dataset"]`, else the name (file stem)
        of `metadata["source"]` (loaders set it: "gsm8k", or the JSON-lines path); None if unknown."""
        name = self.metadata.get("dataset") or self.metadata.get("source")
        if not name:
            return None
        stem = str(name).replace("\\", "/").rsplit("/", 1)[-1]
        return stem.split(".", 1)[0] or None

    def prompt(self) -> str:
        """The question with its lettered choices, as a model sees it."""
        if not self.choices:
            return self.question
        lines = [self.question, ""] + [f"({_LETTERS[i]}) {c}" for i, c in enumerate(self.choices)]
        return "\n".join(lines)

    def user_message(self, text: str | None = None) -> Message:
        """The user turn a model sees: `text` (default: `prompt()`) followed by the task's images, if any."""
        text = self.prompt() if text is None else text
        if not self.images:
            return Message.user(text)
        return Message.user([TextPart(text=text), *(ImagePart(path=p) for p in self.images)])


class Solution(BaseModel):
    """What `Method.solve` returns: the answer, the full message trace and the usage ledger."""

    answer: str
    messages: list[TraceStep] = Field(default_factory=list)
    usage: LedgerSnapshot = Field(default_factory=LedgerSnapshot)
    metadata: dict[str, Any] = Field(default_factory=dict)
