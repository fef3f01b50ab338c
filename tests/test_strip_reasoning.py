"""Reasoning-trace stripping is a property of the alias (`strip_reasoning` in the models file), applied in the
pool after the call: the text keeps only the final answer, while usage counts the whole completion.

The HTTP tests run against a real local server (`maslab.testing.FakeOpenAIServer`), whose token counts are
whitespace word counts of the full reply.
"""

from __future__ import annotations

import pytest

from maslab.errors import ConfigError
from maslab.messages import Completion, Message
from maslab.models import ModelPool, strip_reasoning
from maslab.testing import FakeOpenAIServer, count_tokens

R1_REPLY = "<think>\nLet me think. 6 times 7 is 42, surely, yes.\n</think>\n\nThe answer is 42."
HUATUO_REPLY = "## Thinking\nThe patient has a headache and no red flags.\n\n## Final Response\nTake paracetamol."


def _pool(srv: FakeOpenAIServer, family: str, cache=None) -> ModelPool:
    return ModelPool.from_dict({"default": "m", "models": {"m": {
        "endpoints": [{"model": "openai/reasoner", "api_base": srv.api_base}], "strip_reasoning": family}}},
        cache_path=cache)


async def test_an_r1_reply_keeps_only_its_final_text_and_usage_counts_the_whole_completion():
    """Real HTTP: the alias strips after `</think>` (litellm also moves a <think> block out of the content);
    the ledger's completion tokens are those of the whole reply the server sent."""
    with FakeOpenAIServer(reply=R1_REPLY) as srv:
        pool = _pool(srv, "r1")
        completion = await pool.complete("m", "What is 6 * 7?", agent="solver")
    assert completion.text == "The answer is 42."
    assert completion.usage.completion_tokens == count_tokens(R1_REPLY) > count_tokens("The answer is 42.")
    assert pool.ledger.snapshot().by("alias")["m"].completion_tokens == count_tokens(R1_REPLY)


async def test_the_cache_keeps_the_whole_completion_and_a_hit_is_stripped_too(tmp_path):
    """Real HTTP, a HuatuoGPT-style reply: both the call and its cache hit give the final response only, the
    cache holds the whole completion (so changing an alias's family needs no new cache), usage is full."""
    with FakeOpenAIServer(reply=HUATUO_REPLY) as srv:
        pool = _pool(srv, "huatuo", cache=tmp_path / "cache.sqlite")
        completion = await pool.complete("m", "I have a headache.", agent="doctor")
        again = await pool.complete("m", "I have a headache.", agent="doctor")
    assert completion.text == again.text == "Take paracetamol." and again.cache_hit and srv.requests == 1
    usage = pool.ledger.snapshot().by("alias")["m"]
    assert usage.completion_tokens == 2 * count_tokens(HUATUO_REPLY) and usage.calls == 2
    stored = pool.cache._db.execute("SELECT completion FROM completions").fetchone()[0]
    assert Completion.model_validate_json(stored).text == HUATUO_REPLY


async def test_an_alias_without_the_property_keeps_the_whole_text():
    with FakeOpenAIServer(reply=HUATUO_REPLY) as srv:
        completion = await _pool(srv, "none").complete("m", "q")
    assert completion.text == HUATUO_REPLY


async def test_a_run_sees_and_records_the_stripped_text_with_full_usage():
    """Scripted model on an r1 alias: the system's answer and its trace hold the final text; its usage
    counts the whole scripted completion (scripted token counts are word counts too)."""
    from maslab.method import load_method

    pool = ModelPool.from_dict({"default": "r1", "models": {"r1": {"scripted": [R1_REPLY], "strip_reasoning": "r1"}}})
    sol = await load_method("vanilla").solve("What is 6 * 7?", pool=pool)
    assert sol.answer == "The answer is 42." and sol.messages[0].reply.text == "The answer is 42."
    assert sol.usage.completion_tokens == count_tokens(R1_REPLY)


@pytest.mark.parametrize(("family", "text", "final"), [
    ("r1", "<think>a</think>b</think> final", "final"),
    ("r1", "no trace at all", "no trace at all"),
    ("openthinker", "<|begin_of_thought|>x<|end_of_thought|><|begin_of_solution|> 42 <|end_of_solution|> tail", "42"),
    ("huatuo", "## Thinking\nhmm\n## Final Response\nTake aspirin.", "Take aspirin."),
])
def test_each_family_keeps_the_text_after_its_marker(family, text, final):
    completion = Completion(message=Message.assistant(text))
    assert strip_reasoning(completion, family).text == final
    assert strip_reasoning(completion, "none").text == text


def test_an_unknown_family_is_a_models_file_error():
    with pytest.raises(ConfigError, match="strip_reasoning"):
        ModelPool.from_dict({"default": "m", "models": {"m": {"scripted": ["x"], "strip_reasoning": "o1"}}})
