"""What a run's JSONL trace records for each call: what the agent saw and replied, and the graph node it ran in.

Scripted deterministic models (`ModelPool.scripted`): the orchestration is what is under test.
"""

from __future__ import annotations

import json
from pathlib import Path

from maslab.agent import Agent
from maslab.errors import ModelCallError
from maslab.messages import ImagePart, Message, TextPart
from maslab.method import load_method
from maslab.models import ModelPool, ScriptedRequest
from maslab.trace import RunRecorder, TraceStep, graph_position, recording


def _lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


async def test_each_call_line_carries_the_messages_it_saw_its_reply_and_its_node(tmp_path):
    pool = ModelPool.scripted(lambda r: f"{r.agent} says 4", "a")
    trace = tmp_path / "t.jsonl"
    solution = await load_method("llm_debate", model="a").solve("What is 2+2?", pool=pool,
                                                                recorder=RunRecorder(trace, run_id="r1"))
    calls = [e for e in _lines(trace) if e["event"] == "call"]
    assert len(calls) == 7
    assert [(c["node"], c["step"]) for c in calls] == [("answer_independently", 1)] * 3 + [("debate", 2)] * 3 + [
        ("aggregate", 3)]
    first = next(c for c in calls if c["agent"] == "debater_2" and c["step"] == 1)
    assert first["messages"] == [{"role": "user", "content": "What is 2+2? Make sure to state your answer at the "
                                                             "end of the response."}]
    assert first["reply"] == {"role": "assistant", "content": "debater_2 says 4"}
    second = next(c for c in calls if c["agent"] == "debater_2" and c["step"] == 2)
    assert [m["role"] for m in second["messages"]] == ["user", "assistant", "user"]  # its history, then the round
    assert "debater_1 says 4" in second["messages"][2]["content"]
    assert all(isinstance(c["t"], float) for c in calls)
    # the in-memory trace says the same
    assert [s.node for s in solution.messages] == [c["node"] for c in calls]


def test_graph_position_is_empty_outside_a_graph():
    assert graph_position() == {}


async def test_images_are_written_as_references_and_secrets_are_redacted(tmp_path, monkeypatch):
    monkeypatch.setenv("MY_SERVICE_API_KEY", "s3cr3t-value-123")
    pool = ModelPool.scripted(lambda r: "seen; the key is s3cr3t-value-123 and sk-abcdefghijklmnopqrstuv", "v")
    trace = tmp_path / "t.jsonl"
    image = tmp_path / "cat.png"
    image.write_bytes(b"\x89PNG fake image bytes")
    message = Message.user([TextPart(text="Describe both, key s3cr3t-value-123."), ImagePart(path=str(image)),
                            ImagePart(data="QUJDRA==", media_type="image/jpeg")])
    recorder = RunRecorder(trace, run_id="img")
    with recording(recorder):
        await pool.complete("v", [message], agent="looker")
    recorder.flush()
    text = trace.read_text()
    assert "s3cr3t-value-123" not in text and "sk-abcdefghijklmnopqrstuv" not in text
    assert "QUJDRA==" not in text and "PNG fake" not in text  # no blob
    (call,) = [e for e in _lines(trace) if e["event"] == "call"]
    parts = call["messages"][0]["content"]
    assert parts[0] == {"type": "text", "text": "Describe both, key ***."}
    assert parts[1] == {"type": "image", "path": str(image), "media_type": "image/png",
                        "sha256": ImagePart(path=str(image)).digest()}
    assert parts[2] == {"type": "image", "media_type": "image/jpeg",
                        "sha256": ImagePart(data="QUJDRA==", media_type="image/jpeg").digest()}
    assert call["reply"]["content"] == "seen; the key is *** and ***"


async def test_a_failed_call_is_traced_with_its_message_and_node(tmp_path):
    def fn(req: ScriptedRequest):
        if req.agent == "debater_3":
            return ModelCallError("alias 'a' endpoint scripted: bad request (status 400)", alias="a", endpoint="x")
        return "4"

    trace = tmp_path / "t.jsonl"
    try:
        await load_method("llm_debate", model="a").solve("2+2?", pool=ModelPool.scripted(fn, "a"),
                                                         recorder=RunRecorder(trace, run_id="e"))
    except ModelCallError:
        pass
    call_error, run_error = [e for e in _lines(trace) if e["event"] == "error"]  # the call's, then the run's
    assert call_error["agent"] == "debater_3" and call_error["alias"] == "a"
    assert call_error["node"] == run_error["node"] == "answer_independently"
    assert call_error["error"] == run_error["error"] == ("ModelCallError: alias 'a' endpoint scripted: "
                                                         "bad request (status 400)")


async def test_tool_runs_are_traced_with_arguments_and_result(tmp_path):
    replies = iter(['{"tool": "calculator", "arguments": {"expression": "6*7"}}', "It is 42."])
    pool = ModelPool.scripted(lambda r: next(replies), "t")
    trace = tmp_path / "t.jsonl"
    recorder = RunRecorder(trace, run_id="tool")
    with recording(recorder):
        run = await Agent(name="solver", model="t", tools=["calculator"]).run("What is 6*7?", pool=pool)
    recorder.flush()
    assert run.text == "It is 42." and run.tool_calls == 1
    events = _lines(trace)
    assert [e["event"] for e in events] == ["call", "tool", "call"]
    tool = events[1]
    assert tool["tool"] == "calculator" and json.loads(tool["arguments"]) == {"expression": "6*7"}
    assert "42" in tool["result"] and tool["agent"] == "solver"
    assert "Result of tool calculator" in events[2]["messages"][-1]["content"]  # the next call saw the result


def test_a_recorder_without_a_file_keeps_steps_but_writes_nothing(tmp_path):
    recorder = RunRecorder()
    step = TraceStep(agent="a", role="a", alias="x", messages=[Message.user("hi")], reply=Message.assistant("yo"))
    recorder.add_step(step, endpoint="e", retries=0)
    recorder.flush()
    assert len(recorder.steps) == 1 and recorder.steps[0].node is None


async def test_a_system_failure_is_traced_with_the_node_it_escaped_from(tmp_path):
    """Not a model fault: the scripted aggregator raises, the run fails, and the trace names the node."""
    def fn(req: ScriptedRequest) -> str:
        if req.role == "aggregator":
            raise ValueError("the aggregator cannot read this")
        return "4"

    trace = tmp_path / "t.jsonl"
    try:
        await load_method("llm_debate", model="a").solve("2+2?", pool=ModelPool.scripted(fn, "a"),
                                                         recorder=RunRecorder(trace, run_id="bug"))
    except ValueError:
        pass
    events = _lines(trace)
    (error,) = [e for e in events if e["event"] == "error"]
    assert error == {**error, "error": "ValueError: the aggregator cannot read this", "node": "aggregate"}
    assert "end" not in {e["event"] for e in events}
