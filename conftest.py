"""Live test runs (``make test-live``): skip the notebooks whose provider has no key. Every run: print the
local demo accuracy when it was measured (tests/test_demo_accuracy.py) and say which catalogue models shut
down within 60 days (printed, never a failure: `make preflight` fails on those).

In ``COURSE_MODE=live`` a notebook about one provider (``NN_openai``, ``NN_gemini``, ``NN_groq``,
``NN_huggingface``, ``NN_lmstudio``) runs only when that provider's key is found (LM Studio: when
something answers on port 1234); notebooks that use every provider run only when all four keys are found.
"""
from __future__ import annotations

import os
import re
import socket
from pathlib import Path

import pytest

SINGLE = {"openai": "openai", "gemini": "gemini", "groq": "groq", "huggingface": "huggingface", "lmstudio": "lmstudio"}
_cache: dict[str, bool] = {}


def _available(provider: str) -> bool:
    if provider not in _cache:
        if provider == "lmstudio":
            try:
                with socket.create_connection(("127.0.0.1", 1234), timeout=0.3):
                    _cache[provider] = True
            except OSError:
                _cache[provider] = False
        else:
            from helpers.keys import find_key

            _cache[provider] = find_key(provider).ok
    return _cache[provider]


def pytest_collection_modifyitems(config, items):
    if os.environ.get("COURSE_MODE", "").lower() != "live":
        return
    for item in items:
        path = Path(str(item.fspath))
        if path.suffix != ".ipynb" or not re.match(r"\d\d_", path.name):
            continue
        slug = path.stem.split("_", 1)[1]
        needed = [SINGLE[slug]] if slug in SINGLE else ["openai", "gemini", "groq", "huggingface"]
        missing = [p for p in needed if not _available(p)]
        if missing:
            item.add_marker(pytest.mark.skip(reason=f"live mode: no key (or server) for {', '.join(missing)}"))


DEMO_REPORTS = pytest.StashKey[list]()


@pytest.fixture
def demo_reports(pytestconfig) -> list:
    """Texts to print after the test results (tests/test_demo_accuracy.py adds its figures here)."""
    return pytestconfig.stash.setdefault(DEMO_REPORTS, [])


def pytest_terminal_summary(terminalreporter, config):
    """After the results: the local demo accuracy, when measured, and the catalogue entries within 60 days
    of their shutdown (a reminder, not a failure)."""
    from helpers import models

    if config.stash.get(DEMO_REPORTS, None):
        terminalreporter.section("local demo figures (benchmarks/)")
        for text in config.stash[DEMO_REPORTS]:
            terminalreporter.write_line(text)

    soon = models.upcoming_shutdowns(60)
    if not soon:
        return
    terminalreporter.section("models shutting down within 60 days (helpers/models.toml)")
    for m in soon:
        instead = f"; replacement: {m.replacement}" if m.replacement else ""
        used = " [a course default]" if any(p == m.provider and mid == m.id for p, _, mid in models.in_use()) else ""
        terminalreporter.write_line(f"{m.shutdown}  {m.provider:<12} {m.id}{used}{instead}")
