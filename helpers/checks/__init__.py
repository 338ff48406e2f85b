"""Exercise checks: an immediate verdict and a hint for each exercise.

Each lesson has a module here (``helpers.checks.lesson03``) with one function per exercise,
for example ``check.exercise_2(messages)``. Checks test structure (roles in order, a valid tool
call, a JSON object that fits a schema), never the model's wording, so they pass with the local
model and with live providers alike.

In a notebook::

    from helpers.checks import lesson03 as check
    check.exercise_1(messages)
"""
from __future__ import annotations

import importlib
from typing import Any

from .base import CheckFailed, Verdict, require_done, verdict

__all__ = ["CheckFailed", "Verdict", "require_done", "verdict"]


def __getattr__(name: str) -> Any:
    if name.startswith("lesson"):
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(name)
