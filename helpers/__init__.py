"""The course's helpers: keys, modes, the local server, the model catalogue and exercise checks.

Start every notebook with ``helpers.setup()``. Then, for example:

* ``helpers.check_keys()``: which keys were found, from where, and what is wrong with them
* ``helpers.models.chat("groq")``: the catalogue's chat model for a provider
* ``helpers.server.last_requests()``: the JSON your SDK call really sent
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"
__all__ = ["setup", "is_local", "lmstudio_url", "explain_error", "check_keys", "find_key", "mask", "models", "server", "keys", "checks"]

_LAZY_MODULES = {"models", "server", "keys", "checks", "hf_local", "course", "install", "workspace"}


def setup(mode: str | None = None, *, prompt: bool = False):
    """Find your API keys and choose, per provider, live or local calls (see ``helpers.course.setup``)."""
    from .course import setup as _setup

    return _setup(mode, prompt=prompt)


def is_local(provider: str) -> bool:
    """True when ``provider`` ("openai", "gemini", "groq", "huggingface", "lmstudio") uses the local server."""
    from .course import is_local as _is_local

    return _is_local(provider)


def lmstudio_url() -> str:
    """Where LM Studio's OpenAI-compatible API is (``http://localhost:1234/v1`` unless that port was busy)."""
    from .course import lmstudio_url as _url

    return _url()


def explain_error(error: BaseException, model: str | None = None) -> str:
    """What a provider error means and what to do next (for a 404: the catalogue's current model)."""
    from .errors import explain

    return explain(error, model)


def check_keys(start=None):
    """Print which API keys were found, from where (masked), and how to fix any problem."""
    from .keys import check_keys as _check

    return _check(start)


def find_key(provider: str, *, prompt: bool = False):
    """Find one provider's key ("openai", "gemini", "groq", "huggingface"); see ``helpers.keys.find_key``."""
    from .keys import find_key as _find

    return _find(provider, prompt=prompt)


def mask(key: str | None) -> str:
    """A key shortened so it is safe to show, e.g. ``gsk_...a1B2``."""
    from .keys import mask as _mask

    return _mask(key)


def __getattr__(name: str) -> Any:  # import submodules on first use, so `import helpers` stays fast
    if name in _LAZY_MODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'helpers' has no attribute {name!r}")
