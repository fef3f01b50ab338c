"""Typed messages: lossless round-trips to and from OpenAI chat dicts."""

from __future__ import annotations

import base64

import pytest

from maslab.messages import Completion, ImagePart, Message, TextPart, ToolCall, Usage, as_messages

OPENAI_DICTS = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "hi", "name": "alice"},
    {"role": "user", "content": [
        {"type": "text", "text": "what is in this picture?"},
        {"type": "image_url", "image_url": {"url": "https://example.org/cat.png", "detail": "low"}},
        {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,AAEC"}},
    ]},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "calculator", "arguments": "{\"expression\": \"2+3\"}"}},
    ]},
    {"role": "tool", "content": "5", "tool_call_id": "call_1", "name": "calculator"},
    {"role": "assistant", "content": "5"},
]


@pytest.mark.parametrize("d", OPENAI_DICTS)
def test_openai_dict_round_trip_is_lossless(d):
    m = Message.from_openai(d)
    assert m.to_openai() == d
    assert Message.model_validate_json(m.model_dump_json()) == m


def test_image_by_path_is_inlined_as_a_data_url(tmp_path):
    img = tmp_path / "dot.png"
    img.write_bytes(b"\x89PNG fake")
    m = Message.user([TextPart(text="look"), ImagePart(path=str(img))])
    url = m.to_openai()["content"][1]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == b"\x89PNG fake"
    back = Message.from_openai(m.to_openai())
    assert back.content[1].data == base64.b64encode(b"\x89PNG fake").decode()
    assert back.text == "look"


def test_tool_call_arguments_parse_and_dict_arguments_are_kept():
    m = Message.from_openai({"role": "assistant", "content": None, "tool_calls": [
        {"id": "x", "type": "function", "function": {"name": "f", "arguments": {"a": 1}}}]})
    assert m.tool_calls == [ToolCall(id="x", name="f", arguments='{"a": 1}')]
    assert m.tool_calls[0].parsed_arguments() == {"a": 1}
    with pytest.raises(ValueError):
        ToolCall(id="y", name="f", arguments="{not json").parsed_arguments()


def test_unknown_part_type_is_rejected():
    with pytest.raises(ValueError, match="audio"):
        Message.from_openai({"role": "user", "content": [{"type": "audio", "data": ""}]})


def test_as_messages_normalises_prompts():
    assert as_messages("hi") == [Message.user("hi")]
    assert as_messages([{"role": "user", "content": "a"}, Message.assistant("b")])[1].text == "b"


def test_completion_exposes_text_usage_and_tool_calls():
    c = Completion(message=Message.assistant("ok", [ToolCall(id="1", name="t")]),
                   usage=Usage(prompt_tokens=3, completion_tokens=4))
    assert c.text == "ok" and c.usage.total_tokens == 7 and c.tool_calls[0].name == "t"
