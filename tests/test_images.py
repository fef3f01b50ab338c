"""Images through the whole stack: tasks carry them, messages carry them as content parts, the pool
sends them to OpenAI-compatible vision endpoints (the real local HTTP server `FakeOpenAIServer`;
request bodies asserted), refuses them for text-only aliases, keys its cache on their bytes, and
traces keep references, never blobs; `maslab ask --image` sends one."""

from __future__ import annotations

import base64
import json

import pytest

from maslab import Task
from maslab.cli import main
from maslab.errors import ImageError, ModelCallError
from maslab.messages import ImagePart, Message, TextPart
from maslab.models import ModelPool
from maslab.testing import FakeOpenAIServer
from maslab.trace import RunRecorder, recording

PNG_A = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNgAAAAAgABSK+kcQAAAABJRU5ErkJggg==")
PNG_B = PNG_A[:-12] + b"\x00\x00\x00\x00IEND\xaeB`\x83"  # different bytes, same name later


def _pool(srv: FakeOpenAIServer, *, vision: bool | None = True, cache: str | None = None) -> ModelPool:
    alias = {"endpoints": [{"model": "openai/fake-model", "api_base": srv.api_base, "timeout": 10}],
             "max_retries": 0}
    if vision is not None:
        alias["vision"] = vision
    return ModelPool.from_dict({"default": "v", "models": {"v": alias}}, cache_path=cache)


def _look(path) -> Message:
    return Message.user([TextPart(text="What is in this picture?"), ImagePart(path=str(path))])


@pytest.fixture
def server():
    with FakeOpenAIServer(reply="a cat") as srv:
        yield srv


# ----------------------------------------------------------------------------------- the parts


def test_an_image_part_needs_exactly_one_source():
    with pytest.raises(ValueError, match="exactly one of path, url or data"):
        ImagePart()
    with pytest.raises(ValueError, match="exactly one of path, url or data"):
        ImagePart(path="a.png", url="https://example.org/a.png")


def test_a_missing_image_file_is_a_clear_error_naming_the_path(tmp_path):
    with pytest.raises(ImageError, match="cannot read image .*nowhere.png"):
        _look(tmp_path / "nowhere.png").to_openai()


def test_a_task_carries_its_images_into_the_user_message(tmp_path):
    (tmp_path / "a.png").write_bytes(PNG_A)
    task = Task(question="What colour is it?", images=[str(tmp_path / "a.png")])
    message = task.user_message()
    assert message.text == "What colour is it?" and [p.path for p in message.images] == [str(tmp_path / "a.png")]
    assert Task(question="What colour is it?").user_message() == Message.user("What colour is it?")
    assert task.id != Task(question="What colour is it?").id  # the same words about another picture


def test_the_cache_form_holds_the_digest_of_the_bytes_not_the_path_nor_the_blob(tmp_path):
    (tmp_path / "a.png").write_bytes(PNG_A)
    part = _look(tmp_path / "a.png").to_openai(images="reference")["content"][1]
    digest = ImagePart(data=base64.b64encode(PNG_A).decode()).digest()
    assert part == {"type": "image_url", "image_url": {"sha256": digest}}


# ----------------------------------------------------------------------------------- the wire


@pytest.mark.parametrize("form", ["path", "base64", "url"])
async def test_an_image_reaches_the_server_as_an_openai_image_content_part(server, tmp_path, form):
    (tmp_path / "photo.png").write_bytes(PNG_A)
    b64 = base64.b64encode(PNG_A).decode()
    part = {"path": ImagePart(path=str(tmp_path / "photo.png")),
            "base64": ImagePart(data=b64, media_type="image/png"),
            "url": ImagePart(url="https://example.org/photo.png", detail="low")}[form]
    completion = await _pool(server).complete("v", [Message.user([TextPart(text="Describe it."), part])])
    assert completion.text == "a cat"
    content = server.last_request["messages"][0]["content"]
    assert content[0] == {"type": "text", "text": "Describe it."}
    expected = ({"url": "https://example.org/photo.png", "detail": "low"} if form == "url"
                else {"url": f"data:image/png;base64,{b64}"})
    assert content[1] == {"type": "image_url", "image_url": expected}


async def test_an_image_sent_to_a_text_only_alias_is_a_clear_error_naming_the_alias(server, tmp_path):
    (tmp_path / "a.png").write_bytes(PNG_A)
    pool = _pool(server, vision=False)
    with pytest.raises(ImageError, match="alias 'v' does not accept images"):
        await pool.complete("v", [_look(tmp_path / "a.png")], agent="looker")
    assert server.requests == 0  # refused before anything went over the wire
    assert (await pool.complete("v", "plain text")).text == "a cat"  # text still goes through


async def test_an_undeclared_alias_is_probed_once_with_a_tiny_image(server, tmp_path):
    (tmp_path / "a.png").write_bytes(PNG_A)
    pool = _pool(server, vision=None)
    for _ in range(3):
        await pool.complete("v", [_look(tmp_path / "a.png")])
    probe = server.received[0]
    assert probe["max_tokens"] == 1 and probe["messages"][0]["content"][1]["type"] == "image_url"
    assert server.requests == 4  # one probe, three calls
    assert pool.ledger.snapshot().by("agent")["vision_probe"].calls == 1


async def test_a_server_that_fails_on_the_probe_image_but_answers_text_makes_the_alias_text_only(server, tmp_path):
    (tmp_path / "a.png").write_bytes(PNG_A)

    def no_images(body):  # a text-only server (llama.cpp without a projector answers 500 to image parts)
        if any(isinstance(m.get("content"), list) for m in body["messages"]):
            raise ValueError("can only concatenate str (not 'list') to str")
        return "OK"

    server.configure(reply=no_images)
    pool = _pool(server, vision=None)
    for _ in range(2):
        with pytest.raises(ImageError, match="alias 'v' does not accept images"):
            await pool.complete("v", [_look(tmp_path / "a.png")])
    assert server.requests == 2  # the image probe (not retried) and the text control, once
    assert (await pool.complete("v", "hello")).text == "OK"


async def test_a_server_that_fails_the_probe_with_and_without_the_image_raises_its_error(server, tmp_path):
    (tmp_path / "a.png").write_bytes(PNG_A)
    server.configure(mode="bad_request")
    with pytest.raises(ModelCallError, match="status 400"):
        await _pool(server, vision=None).complete("v", [_look(tmp_path / "a.png")])


async def test_two_different_images_with_the_same_path_never_share_a_cache_entry(server, tmp_path):
    image = tmp_path / "frame.png"
    pool = _pool(server, cache=str(tmp_path / "cache.sqlite"))
    image.write_bytes(PNG_A)
    first = await pool.complete("v", [_look(image)])
    image.write_bytes(PNG_B)  # same name, other picture
    second = await pool.complete("v", [_look(image)])
    assert not first.cache_hit and not second.cache_hit and server.requests == 2
    image.write_bytes(PNG_A)
    again = await pool.complete("v", [_look(image)])
    assert again.cache_hit and server.requests == 2
    (tmp_path / "copy.png").write_bytes(PNG_B)  # the same bytes under another name: the same entry
    assert (await pool.complete("v", [_look(tmp_path / "copy.png")])).cache_hit
    stored = "".join(r[0] for r in pool.cache._db.execute("SELECT request FROM completions"))
    assert base64.b64encode(PNG_A).decode() not in stored and str(image) not in stored


async def test_traces_keep_image_references_not_blobs(server, tmp_path):
    (tmp_path / "a.png").write_bytes(PNG_A)
    recorder = RunRecorder(tmp_path / "trace.jsonl", run_id="r")
    with recording(recorder):
        await _pool(server).complete("v", [_look(tmp_path / "a.png")], agent="looker")
    recorder.flush()
    text = (tmp_path / "trace.jsonl").read_text()
    (call,) = [e for e in map(json.loads, text.splitlines()) if e["event"] == "call"]
    images = [p for m in call["messages"] for p in m["content"] if isinstance(m["content"], list) and p["type"] == "image"]
    assert images == [{"type": "image", "path": str(tmp_path / "a.png"), "media_type": "image/png",
                       "sha256": ImagePart(path=str(tmp_path / "a.png")).digest()}]
    assert base64.b64encode(PNG_A).decode() not in text


# ----------------------------------------------------------------------------------- the CLI


def test_maslab_ask_sends_an_image_to_a_vision_model(server, tmp_path, capsys):
    (tmp_path / "a.png").write_bytes(PNG_A)
    models = tmp_path / "models.yaml"
    models.write_text(f"default: v\nmodels:\n  v:\n    vision: true\n    endpoints:\n"
                      f"      - {{model: openai/fake-model, api_base: '{server.api_base}'}}\n")
    assert main(["ask", "What is in the picture?", "--image", str(tmp_path / "a.png"), "--models", str(models)]) == 0
    assert capsys.readouterr().out.strip() == "a cat"
    content = server.last_request["messages"][-1]["content"]
    assert content[1]["image_url"]["url"] == f"data:image/png;base64,{base64.b64encode(PNG_A).decode()}"


def test_maslab_ask_with_an_image_on_the_text_only_default_model_exits_2(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no models.yaml here: the built-in file, whose smol is text only
    (tmp_path / "a.png").write_bytes(PNG_A)
    assert main(["ask", "What is it?", "--image", "a.png"]) == 2
    assert "alias 'smol' does not accept images" in capsys.readouterr().err
    assert main(["ask", "What is it?", "--image", "missing.png"]) == 2
    assert "--image: no such file: missing.png" in capsys.readouterr().err
