"""Agent: a role prompt, a model alias, tools and sampling defaults — configuration, not state.

An agent holds no conversation; a system passes it the messages it should see. It can

* `reply` / `ask`: one turn (the role prompt as system message, then the given messages);
* `run`: a tool loop with a step budget. Where the alias supports native tool calls the tools
  are sent as OpenAI tool schemas; where it does not (SmolLM2 on llama.cpp has no tool parser,
  scripted models) the JSON-in-text protocol is used: the system prompt lists the tools and the
  model replies `{"tool": NAME, "arguments": {...}}` to call one, or plain text to finish.
  A malformed call or bad arguments go back to the model as the tool's result, never as an
  exception into the graph.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from maslab.messages import Completion, Message, ToolCall, as_messages
from maslab.trace import current_recorder

if TYPE_CHECKING:
    from maslab.models import ModelPool
    from maslab.tool import Tool

JSON_TOOL_INSTRUCTIONS = """You can use these tools:
{tools}

To call a tool, reply with only a JSON object: {{"tool": "<name>", "arguments": {{...}}}}
You will then receive the tool's result. When you have the final answer, reply with it as plain text."""


class AgentRun(BaseModel):
    """The outcome of a tool loop: the final text, the messages exchanged and why it stopped."""

    text: str
    messages: list[Message]
    steps: int
    tool_calls: int
    stopped: str  # "answer" | "step_budget"


class Agent(BaseModel):
    """A role in a multi-agent system, bound to a model alias (None: the pool's default)."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    name: str
    model: str | None = None
    prompt: str = ""
    tools: list[Any] = Field(default_factory=list)  # tool names or Tool objects
    params: dict[str, Any] = Field(default_factory=dict)
    role: str | None = None  # the ledger's role; defaults to the name
    max_steps: int = Field(default=6, ge=1)

    @property
    def role_name(self) -> str:
        return self.role or self.name

    def _messages(self, messages: str | Message | list[Message | dict[str, Any]], system: str = "") -> list[Message]:
        prompt = "\n\n".join(p for p in (self.prompt, system) if p)
        msgs = as_messages(messages)
        return ([Message.system(prompt)] if prompt else []) + msgs

    async def reply(
        self,
        messages: str | Message | list[Message | dict[str, Any]],
        *,
        pool: ModelPool,
        sample_index: int = 0,
        **params: Any,
    ) -> Completion:
        """One turn: the role prompt, then `messages`; returns the model's completion."""
        return await pool.complete(
            self.model, self._messages(messages), agent=self.name, role=self.role_name,
            sample_index=sample_index, **{**self.params, **params},
        )

    async def ask(
        self,
        messages: str | Message | list[Message | dict[str, Any]],
        *,
        pool: ModelPool,
        sample_index: int = 0,
        **params: Any,
    ) -> str:
        """One turn, returning only the reply's text (stripped)."""
        return (await self.reply(messages, pool=pool, sample_index=sample_index, **params)).text.strip()

    def resolved_tools(self) -> list[Tool]:
        from maslab.tool import default_registry

        return default_registry.resolve(self.tools)

    async def run(
        self,
        messages: str | Message | list[Message | dict[str, Any]],
        *,
        pool: ModelPool,
        max_steps: int | None = None,
        **params: Any,
    ) -> AgentRun:
        """The tool loop: call tools the model asks for until it answers or the step budget is spent."""
        tools = {t.name: t for t in self.resolved_tools()}
        if not tools:
            completion = await self.reply(messages, pool=pool, **params)
            return AgentRun(text=completion.text.strip(), messages=[*as_messages(messages), completion.message],
                            steps=1, tool_calls=0, stopped="answer")
        native = pool.tool_protocol(self.model) == "native"
        system = "" if native else JSON_TOOL_INSTRUCTIONS.format(
            tools="\n".join(f"- {t.name}: {t.description} Arguments (JSON schema): {json.dumps(t.parameters)}"
                            for t in tools.values()))
        history = as_messages(messages)
        budget = max_steps or self.max_steps
        n_calls = 0
        text = ""
        for step in range(1, budget + 1):
            completion = await pool.complete(
                self.model, self._messages(history, system), agent=self.name, role=self.role_name,
                tools=[t.openai_schema() for t in tools.values()] if native else None,
                **{**self.params, **params},
            )
            text = completion.text.strip()
            calls = completion.tool_calls if native else _json_tool_calls(text, step)
            if not calls:
                history.append(completion.message)
                return AgentRun(text=text, messages=history, steps=step, tool_calls=n_calls, stopped="answer")
            if native:
                history.append(completion.message)
            else:
                history.append(Message.assistant(text))
            for call in calls:
                n_calls += 1
                result = await _run_tool(tools, call)
                _trace_tool(self, call, result)
                if native:
                    history.append(Message.tool(call.id, result, name=call.name))
                else:
                    history.append(Message.user(f"Result of tool {call.name}:\n{result}"))
        return AgentRun(text=text, messages=history, steps=budget, tool_calls=n_calls, stopped="step_budget")


async def _run_tool(tools: dict[str, Tool], call: ToolCall) -> str:
    tool = tools.get(call.name)
    if tool is None:
        return f"ERROR: unknown tool {call.name!r}; available tools: {', '.join(tools)}"
    return (await tool.call(call.arguments)).as_text()


def _trace_tool(agent: Agent, call: ToolCall, result: str) -> None:
    """A `tool` line in the current run's trace: which agent ran which tool, with what, and what came back."""
    recorder = current_recorder()
    if recorder is not None:
        recorder.event("tool", agent=agent.name, role=agent.role_name, tool=call.name, call_id=call.id,
                       arguments=call.arguments, result=result)


_JSON_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


def _json_tool_calls(text: str, step: int) -> list[ToolCall]:
    """Tool calls written as JSON in text: `{"tool": ..., "arguments": {...}}` (fences allowed)."""
    match = _JSON_OBJECT.search(text)
    if not match:
        return []
    try:
        obj = json.loads(match.group(0))
    except json.JSONDecodeError:
        return []
    if not isinstance(obj, dict) or not isinstance(obj.get("tool"), str):
        return []
    args = obj.get("arguments", {})
    return [ToolCall(id=f"json_{step}", name=obj["tool"],
                     arguments=args if isinstance(args, str) else json.dumps(args))]
