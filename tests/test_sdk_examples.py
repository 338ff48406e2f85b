"""The SDKs' own published examples run unchanged against the local server (issue 15: 95 % or more).

The examples are harvested when the tests run, from the installed SDKs (README blocks in their metadata,
huggingface_hub's docstring examples) and from openai's and groq's source distributions on the package index
(``examples/*.py``); the repository keeps only the selection (``tests/sdk_examples/selection.toml``). Each runs in
its own process under a network guard, against the session's local server, through
``benchmarks/sdk_examples_bench.py``; the figure is printed at the end of the test run
(``pytest_terminal_summary`` in the root conftest.py).
"""
from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HARNESS = ROOT / "tests" / "sdk_examples" / "_harness"

# Measured on 2026-11-30 (2 cores shared with other work; openai 3.54.0, groq 1.7.0, google-genai 3.4.0,
# huggingface_hub 2.4.0, with the test extra's rich, aiohttp and httpx-aiohttp): 90 of 90 pass (100 %). The floor
# leaves a margin of 4 examples for flakiness (a timeout on a busy machine, a streamed structured answer the small
# model cuts): 86 of 90 pass it, 85 do not. It is also the aim (95 %).
FLOOR = 0.95


def _bench():
    """benchmarks/sdk_examples_bench.py, imported (the repository's root is on the test session's path)."""
    return importlib.import_module("benchmarks.sdk_examples_bench")


def _harvest():
    """tests/sdk_examples/_harness/harvest.py (the bench puts its folder on sys.path)."""
    _bench()
    import harvest

    return harvest


@pytest.fixture(scope="module")
def suite(local_server):
    """Every selected example, harvested and run once against the session's server: (the bench, its result)."""
    bench = _bench()
    result = bench.run()
    for text in result["skipped"]:  # the package index could not be reached: say so loudly, measure the rest
        warnings.warn(f"SDK examples not measured: {text}", stacklevel=1)
    return bench, result


def test_the_selection_is_complete_and_explained():
    selection = _harvest().load_selection()
    names = [entry["name"] for entry in selection["example"]]
    assert len(names) == len(set(names)), "a name is used twice in selection.toml"
    for entry in selection["example"]:
        where = entry["name"]
        assert entry["from"] in {"readme", "sdist", "docstring"}, where
        if entry["from"] == "sdist":
            assert entry.get("file", "").startswith("examples/"), where
        else:
            assert re.fullmatch(r"sha256:[0-9a-f]{10}", entry["block"]), where
            assert all(re.fullmatch(r"sha256:[0-9a-f]{10}", b) for b in entry.get("before", [])), where
        if not entry.get("out_of_scope"):
            assert entry["name"].split("/")[0] in {"openai", "groq", "genai", "huggingface"}, where
        if entry.get("replace"):
            assert entry.get("replace_reason"), f"{where}: a substitution without its reason"
        if entry.get("expect_error"):
            assert len(entry.get("expect_reason", "")) > 40, f"{where}: an expected error without its reason"
            re.compile(entry["expect_error"])


def test_a_block_keeps_its_name_when_the_readme_gains_one():
    python_blocks = _harvest().python_blocks
    readme = "# Title\n\n```python\nprint('a')\n```\n\ntext\n\n```py\nprint('b')  \n\n```\n"
    grown = readme.replace("# Title\n", "# Title\n\n```python\nprint('new')\n```\n")
    before, after = python_blocks(readme), python_blocks(grown)
    assert len(before) == 2 and len(after) == 3
    assert set(before) <= set(after) and all(before[k] == after[k] for k in before)


def test_every_selected_example_is_found(suite):
    _, result = suite
    assert result["missing"] == [], ("selected in tests/sdk_examples/selection.toml but not found in the installed "
                                     "packages (a new version changed them? review the selection): "
                                     + "; ".join(result["missing"]))


def test_no_example_reaches_beyond_loopback(suite):
    _, result = suite
    assert result["escapes"] == [], "examples connected beyond loopback: " + "; ".join(result["escapes"])


def test_share_of_examples_that_run_unchanged(suite, demo_reports):
    bench, result = suite
    text = bench.report(result)
    demo_reports.append(text)
    assert result["total"] >= (55 if result["skipped"] else 80), text
    assert result["share"] >= FLOOR, text


def _guarded(code: str, tmp_path: Path) -> tuple[subprocess.CompletedProcess, str]:
    log = tmp_path / "escapes"
    env = {**os.environ, "PYTHONPATH": str(HARNESS), "SDK_EXAMPLES_ESCAPES": str(log)}
    env.pop("SDK_EXAMPLES_LOCAL", None)
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    return proc, log.read_text() if log.exists() else ""


def test_guard_refuses_a_connection_beyond_loopback(tmp_path):
    proc, log = _guarded("import socket\ntry:\n    socket.create_connection(('192.0.2.1', 443), timeout=1)\n"
                         "except Exception as e:\n    print('swallowed', e)\n", tmp_path)
    assert proc.returncode != 0 and "NetworkEscape" in proc.stderr, proc.stderr  # not an Exception: not swallowed
    assert "192.0.2.1:443" in log


def test_guard_refuses_a_name_look_up_beyond_loopback(tmp_path):
    proc, log = _guarded("import socket\nsocket.getaddrinfo('api.openai.com', 443)\n", tmp_path)
    assert proc.returncode != 0 and "NetworkEscape" in proc.stderr, proc.stderr
    assert "api.openai.com:443" in log


def test_guard_lets_loopback_through(tmp_path):
    code = ("import socket\nsrv = socket.socket(); srv.bind(('127.0.0.1', 0)); srv.listen(1)\n"
            "port = srv.getsockname()[1]\n"
            "socket.create_connection(('localhost', port), timeout=5).close()\n"
            "socket.create_connection(('127.0.0.1', port), timeout=5).close()\nprint('ok')\n")
    proc, log = _guarded(code, tmp_path)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr
    assert log == ""


def test_setup_runs_in_the_example_only_not_in_the_processes_it_starts(local_server, tmp_path):
    """The local server an example's setup starts (when none runs) must not run setup itself: it would wait for a
    server to start while the example waits for it."""
    log = tmp_path / "escapes"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HARNESS), str(ROOT)]), "SDK_EXAMPLES_LOCAL": "1",
           "SDK_EXAMPLES_ESCAPES": str(log), "COURSE_MODE": "local"}
    code = ("import subprocess, sys\n"
            "print('helpers' in sys.modules)\n"
            "child = \"import os, sys; print('helpers' in sys.modules, os.environ.get('SDK_EXAMPLES_LOCAL'))\"\n"
            "print(subprocess.run([sys.executable, '-c', child], capture_output=True, text=True).stdout.strip())\n")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:2] == ["True", "False None"], proc.stdout + proc.stderr
