"""Typed chat messages: the one currency every agent, model and trace speaks.

`Message` and its content parts convert losslessly to and from OpenAI chat dicts
(`Message.to_openai()` / `Message.from_openai()`), so anything an OpenAI-compatible server
accepts can be expressed here and anything it returns can be read back without loss.
An image given by local path is inlined as a base64 data URL on the way out.
"""

from __future__ import annotations

import base64
import json
import mimetypes
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["system", "user", "assistant", "tool"]


class TextPart(BaseModel):
    """A run of text inside a multi-part message."""

    model_config = ConfigDict(frozen=True)
    type: Literal["text"] = "text"
    text: str


class ImagePart(BaseModel):
    """An image for a vision model, given by exactly one of path, url or base64 data."""

    model_config = ConfigDict(frozen=True)
    type: Literal["image"] = "image"
    path: str | None = None
    url: str | None = None
    data: str | None = None  # base64 payload, without the data: prefix
    media_type: str = "image/png"
    detail: str | None = None

    def image_url(self) -> str:
        """The URL an OpenAI-compatible server receives (a data URL for local or inline images)."""
        if self.url is not None:
            return self.url
        if self.data is not None:
            return f"data:{self.media_type};base64,{self.data}"
        if self.path is not None:
            media = mimetypes.guess_type(self.path)[0] or self.media_type
            payload = base64.b64encode(Path(self.path).read_bytes()).decode()
            return f"data:{media};base64,{payload}"
        raise ValueError("ImagePart needs one of path, url or data")


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

    def to_openai(self) -> dict[str, Any]:
        """The OpenAI chat-completions dict for this message."""
        out: dict[str, Any] = {"role": self.role}
        if isinstance(self.content, list):
            parts: list[dict[str, Any]] = []
            for p in self.content:
                if isinstance(p, TextPart):
                    parts.append({"type": "text", "text": p.text})
                else:
                    image: dict[str, Any] = {"url": p.image_url()}
                    if p.detail is not None:
                        image["detail"] = p.detail
                    parts.append({"type": "image_url", "image_url": image})
            out["content"] = parts
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
