"""The model catalogue: which model each provider uses for each job.

Read it in a notebook with ``helpers.models.chat("openai")`` or ``helpers.models.get("groq", "tools")``.
Override any entry for this session with an environment variable such as
``COURSE_MODEL_OPENAI_CHAT=gpt-4o-mini`` (provider and purpose in capitals).
The ids themselves live in ``helpers/models.toml``: one file to edit when a model is retired.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

CATALOGUE_FILE = Path(__file__).with_name("models.toml")
PROVIDERS = ("openai", "gemini", "groq", "huggingface", "lmstudio")


@functools.lru_cache(maxsize=1)
def catalogue() -> dict[str, Any]:
    """The whole catalogue as a dictionary (read once from models.toml)."""
    with CATALOGUE_FILE.open("rb") as f:
        return tomllib.load(f)


def get(provider: str, purpose: str = "chat") -> str:
    """The model id for ``provider`` and ``purpose`` ("chat", "tools", "embeddings", ...).

    An environment variable ``COURSE_MODEL_<PROVIDER>_<PURPOSE>`` overrides the catalogue.
    """
    override = os.environ.get(f"COURSE_MODEL_{provider.upper()}_{purpose.upper()}")
    if override:
        return override
    entry = catalogue().get(provider)
    if entry is None:
        raise KeyError(f"Unknown provider {provider!r}. Known: {', '.join(PROVIDERS)}.")
    if purpose not in entry or not isinstance(entry[purpose], str):
        choices = [k for k, v in entry.items() if isinstance(v, str) and k not in ("label", "verified", "pricing_url", "prices_checked")]
        raise KeyError(f"The catalogue has no {purpose!r} model for {provider}. It has: {', '.join(choices)}.")
    return entry[purpose]


def chat(provider: str) -> str:
    """The default chat model id for ``provider``."""
    return get(provider, "chat")


def fallbacks(provider: str) -> list[str]:
    """The catalogue's other good models for ``provider``, in order of preference."""
    return list(catalogue().get(provider, {}).get("fallbacks", []))


def retired() -> dict[str, str]:
    """Retired model ids mapped to the current model that replaces each."""
    return dict(catalogue().get("retired", {}))


def replacement_for(model: str) -> str | None:
    """The current model that replaces a retired ``model`` (None when it is not known retired)."""
    table = retired()
    if model in table:
        return table[model]
    bare = model.split("/", 1)[-1] if model.startswith("models/") else model
    return table.get(bare)


def price(provider: str, model: str) -> dict[str, float] | None:
    """Price in US dollars per million tokens, ``{"input": ..., "output": ...}``, or None if unknown."""
    return catalogue().get(provider, {}).get("prices", {}).get(model)


def estimate_cost(provider: str, model: str, input_tokens: int, output_tokens: int) -> float | None:
    """Estimated cost in US dollars of one call, from the catalogue's prices (None if no price)."""
    p = price(provider, model)
    if p is None:
        return None
    return (input_tokens * p["input"] + output_tokens * p["output"]) / 1_000_000


def local_model_name() -> str:
    """The name under which the course's own local model answers."""
    return catalogue()["local"]["display_name"]
