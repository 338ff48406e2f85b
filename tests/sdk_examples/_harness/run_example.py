"""Run one example file as ``python file.py`` would, except that a top-level ``await`` is allowed (README
blocks written for an async REPL, like ``python -m asyncio``), without changing the example's text.

    python run_example.py path/to/example.py
"""
from __future__ import annotations

import ast
import asyncio
import inspect
import sys
import types
from pathlib import Path


def main(path: str) -> None:
    source = Path(path).read_text(encoding="utf-8")
    code = compile(source, path, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)
    module = types.ModuleType("__main__")
    module.__file__ = path
    sys.modules["__main__"] = module
    sys.argv = [path]
    result = eval(code, module.__dict__)
    if inspect.iscoroutine(result):
        asyncio.run(result)


if __name__ == "__main__":
    main(sys.argv[1])
