"""Agents: one turn, and the tool loop with native tool calls and with the JSON-in-text protocol.
Uses scripted (deterministic) models and the real built-in calculator tool."""

from __future__ import annotations

import json

from maslab import Agent
from maslab.messages import Message, ToolCall
from maslab.models import ModelPool


async def test_one_turn_sends_role_prompt_then_messages():
    seen = []
    pool = ModelPool.scripted(lambda req: seen.append(req) or "done")
    agent = Agent(name="critic_1", role="critic", prompt="Be harsh.", params={"temperature": 0.2})
    assert await agent.ask("Review this.", pool=pool) == "done"
    req = seen[0]
    assert [m.role for m in req.messages] == ["system", "user"] and req.system == "Be harsh."
    assert req.params["temperature"] == 0.2 and req.agent == "critic_1" and req.role == "critic"


async def test_json_protocol_tool_loop_uses_the_calculator():
    replies = iter(['{"tool": "calculator", "arguments": {"expression": "17*23"}}', "The product is 391."])
    seen = []
    pool = ModelPool.scripted(lambda req: seen.append(req) or next(replies))
    run = await Agent(name="solver", tools=["calculator"]).run("What is 17*23?", pool=pool)
    assert run.text == "The product is 391." and run.tool_calls == 1 and run.stopped == "answer"
    assert "calculator" in seen[0].system and "JSON" in seen[0].system  # tools described in text
    assert "391" in seen[1].messages[-1].text  # the tool's result came back to the model


async def test_bad_tool_arguments_go_back_to_the_model_not_into_the_graph():
    replies = iter(['{"tool": "calculator", "arguments": {"expr": 5}}',
                    '{"tool": "no_such_tool", "arguments": {}}',
                    "I give up."])
    seen = []
    pool = ModelPool.scripted(lambda req: seen.append(req) or next(replies))
    run = await Agent(name="solver", tools=["calculator"]).run("2+2?", pool=pool)
    assert run.text == "I give up." and run.tool_calls == 2
    assert "expression" in seen[1].messages[-1].text  # names the missing argument
    assert "unknown tool" in seen[2].messages[-1].text


async def test_native_tool_calls_when_the_alias_supports_them():
    calls = iter([
        Message.assistant(None, [ToolCall(id="c1", name="calculator", arguments='{"expression": "2**10"}')]),
        Message.assistant("1024"),
    ])
    seen = []
    pool = ModelPool.from_dict({"default": "m", "models": {"m": {"scripted": [""], "tool_calls": "native"}}},
                               scripted={"m": lambda req: seen.append(req) or next(calls)})
    run = await Agent(name="solver", tools=["calculator"]).run("2^10?", pool=pool)
    assert run.text == "1024"
    assert seen[0].tools[0]["function"]["name"] == "calculator"
    tool_msg = seen[1].messages[-1]
    assert tool_msg.role == "tool" and tool_msg.tool_call_id == "c1" and tool_msg.text == "1024"


async def test_step_budget_bounds_the_loop():
    pool = ModelPool.scripted(lambda req: json.dumps({"tool": "calculator", "arguments": {"expression": "1+1"}}))
    run = await Agent(name="looper", tools=["calculator"], max_steps=3).run("loop", pool=pool)
    assert run.stopped == "step_budget" and run.steps == 3 and run.tool_calls == 3
    assert pool.ledger.snapshot().calls == 3
