"""Typed chat messages: the one currency every agent, model and trace speaks.

`Message` and its content parts convert losslessly to and from OpenAI chat dicts
(`Message.to_openai()` / `Message.from_openai()`), so anything an OpenAI-compatible server
accepts can be expressed here and anything it returns can be read back without loss.

Images are content parts (`ImagePart`) given by local path, URL or base64 data. This module is
the one place where an image becomes wire format: `to_openai()` turns a local path into a base64
data URL (every transport sends what it returns), while `to_openai(images="reference")` replaces
each image by its reference — the SHA-256 of its bytes, never the bytes or the path — which is what
cache keys hash; `ImagePart.reference()` (path or URL plus digest) is what traces keep.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import mimetypes
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from maslab.errors import ImageError

Role = Literal["system", "user", "assistant", "tool"]
ImageForm = Literal["inline", "reference"]


class TextPart(BaseModel):
    """A run of text inside a multi-part message."""

    model_config = ConfigDict(frozen=True)
    type: Literal["text"] = "text"
    text: str


class ImagePart(BaseModel):
    """An image for a vision model, given by exactly one of a local `path`, a `url` or base64 `data`."""

    model_config = ConfigDict(frozen=True)
    type: Literal["image"] = "image"
    path: str | None = None
    url: str | None = None
    data: str | None = None  # base64 payload, without the data: prefix
    media_type: str = "image/png"
    detail: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> ImagePart:
        given = [k for k in ("path", "url", "data") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"an image part needs exactly one of path, url or data (got {given or 'none'})")
        return self

    def _media(self) -> str:
        return (mimetypes.guess_type(self.path)[0] if self.path else None) or self.media_type

    def image_bytes(self) -> bytes | None:
        """The image's bytes (read from `path`, decoded from `data` or a data URL); None for a remote URL."""
        if self.path is not None:
            try:
                return Path(self.path).read_bytes()
            except OSError as e:
                raise ImageError(f"cannot read image {self.path!r}: {e.strerror or e}") from e
        encoded = self.data
        if encoded is None and self.url is not None and self.url.startswith("data:") and ";base64," in self.url:
            encoded = self.url.split(";base64,", 1)[1]
        if encoded is None:
            return None
        try:
            return base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as e:
            raise ImageError(f"image data is not valid base64: {e}") from e

    def digest(self) -> str:
        """SHA-256 of the image's bytes (of the URL text for a remote URL, which is never fetched)."""
        raw = self.image_bytes()
        return hashlib.sha256(raw if raw is not None else (self.url or "").encode()).hexdigest()

    def reference(self) -> dict[str, Any]:
        """What a trace keeps of the image: its path or (non-data) URL and its digest, never its bytes."""
        ref: dict[str, Any] = {"sha256": self.digest(), "media_type": self._media()}
        if self.path is not None:
            ref["path"] = self.path
        elif self.url is not None and not self.url.startswith("data:"):
            ref["url"] = self.url
        return ref

    def image_url(self) -> str:
        """The URL an OpenAI-compatible server receives (a data URL for local or inline images)."""
        if self.url is not None:
            return self.url
        if self.data is not None:
            return f"data:{self.media_type};base64,{self.data}"
        payload = base64.b64encode(self.image_bytes() or b"").decode()
        return f"data:{self._media()};base64,{payload}"

    def to_openai(self, images: ImageForm = "inline") -> dict[str, Any]:
        """The OpenAI `image_url` content part; with ``images="reference"`` the URL is replaced by the
        digest of the bytes (the form cache keys hash: same bytes, same key, whatever the path)."""
        image: dict[str, Any] = {"url": self.image_url()} if images == "inline" else {"sha256": self.digest()}
        if self.detail is not None:
            image["detail"] = self.detail
        return {"type": "image_url", "image_url": image}


Part = TextPart | ImagePart


class ToolCall(BaseModel):
    """A model's request to call a tool; `arguments` is the raw JSON text the model wrote."""

    model_config = ConfigDict(frozen=True)
    id: str
    name: str
    arguments: str = "{}"

    def parsed_arguments(self) -> Any:
        """The arguments as JSON (raises ValueError on malformed JSON)."""
        return json.loads(self.arguments or "{}")


class Message(BaseModel):
    """One chat message. `content` is text, a list of parts, or None (assistant tool calls)."""

    model_config = ConfigDict(frozen=True)
    role: Role
    content: str | list[Part] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None

    @classmethod
    def system(cls, text: str) -> Message:
        return cls(role="system", content=text)

    @classmethod
    def user(cls, content: str | list[Part], name: str | None = None) -> Message:
        return cls(role="user", content=content, name=name)

    @classmethod
    def assistant(cls, text: str | None, tool_calls: list[ToolCall] | None = None) -> Message:
        return cls(role="assistant", content=text, tool_calls=tool_calls or None)

    @classmethod
    def tool(cls, tool_call_id: str, text: str, name: str | None = None) -> Message:
        return cls(role="tool", content=text, tool_call_id=tool_call_id, name=name)

    @property
    def text(self) -> str:
        """The message's text, parts joined; images are omitted."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(p.text for p in self.content if isinstance(p, TextPart))

    @property
    def images(self) -> list[ImagePart]:
        """The message's image parts, in order."""
        return [p for p in self.content if isinstance(p, ImagePart)] if isinstance(self.content, list) else []

    def to_openai(self, images: ImageForm = "inline") -> dict[str, Any]:
        """The OpenAI chat-completions dict for this message (images inlined as data URLs, or, with
        ``images="reference"``, replaced by the digests of their bytes)."""
        out: dict[str, Any] = {"role": self.role}
        if isinstance(self.content, list):
            out["content"] = [{"type": "text", "text": p.text} if isinstance(p, TextPart) else p.to_openai(images)
                              for p in self.content]
        else:
            out["content"] = self.content
        if self.name is not None:
            out["name"] = self.name
        if self.tool_calls:
            out["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in self.tool_calls
            ]
        if self.tool_call_id is not None:
            out["tool_call_id"] = self.tool_call_id
        return out

    @classmethod
    def from_openai(cls, d: dict[str, Any] | Message) -> Message:
        """Read an OpenAI chat dict (or pass a Message through)."""
        if isinstance(d, Message):
            return d
        content = d.get("content")
        if isinstance(content, list):
            content = [_part_from_openai(p) for p in content]
        calls = d.get("tool_calls")
        return cls(
            role=d["role"],
            content=content,
            name=d.get("name"),
            tool_calls=[
                ToolCall(
                    id=c.get("id") or f"call_{i}",
                    name=c["function"]["name"],
                    arguments=_arguments_text(c["function"].get("arguments")),
                )
                for i, c in enumerate(calls)
            ]
            if calls
            else None,
            tool_call_id=d.get("tool_call_id"),
        )


def _arguments_text(arguments: Any) -> str:
    if arguments is None:
        return "{}"
    return arguments if isinstance(arguments, str) else json.dumps(arguments)


def _part_from_openai(p: dict[str, Any]) -> Part:
    if p.get("type") == "text":
        return TextPart(text=p["text"])
    if p.get("type") == "image_url":
        image = p["image_url"]
        url = image if isinstance(image, str) else image["url"]
        detail = None if isinstance(image, str) else image.get("detail")
        if url.startswith("data:") and ";base64," in url:
            head, data = url[5:].split(";base64,", 1)
            return ImagePart(data=data, media_type=head, detail=detail)
        return ImagePart(url=url, detail=detail)
    raise ValueError(f"unsupported content part type {p.get('type')!r}")


def as_messages(messages: str | Message | list[Message | dict[str, Any]]) -> list[Message]:
    """Normalise a prompt string, a message, or a list of messages/OpenAI dicts to Messages."""
    if isinstance(messages, str):
        return [Message.user(messages)]
    if isinstance(messages, Message):
        return [messages]
    return [Message.from_openai(m) for m in messages]


class Usage(BaseModel):
    """Token counts of one completion."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class Completion(BaseModel):
    """What the model pool returns for one call."""

    message: Message
    usage: Usage = Field(default_factory=Usage)
    alias: str = ""
    model: str = ""  # the resolved litellm model string (or "scripted")
    endpoint: str = ""  # api_base, or "scripted"
    finish_reason: str | None = None
    latency_s: float = 0.0
    cache_hit: bool = False
    retries: int = 0

    @property
    def text(self) -> str:
        return self.message.text

    @property
    def tool_calls(self) -> list[ToolCall]:
        return list(self.message.tool_calls or [])
