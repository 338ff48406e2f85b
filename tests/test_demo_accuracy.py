"""The local model fills in tool arguments and structured outputs correctly (issue 13: 90 % or more).

Runs ``benchmarks/demo_accuracy_bench.py`` through the four SDKs against the session's local server;
the figure is printed at the end of the test run (``pytest_terminal_summary`` in the root conftest.py).
"""
from __future__ import annotations

import importlib


def _bench():
    """benchmarks/demo_accuracy_bench.py, imported (the repository's root is on the test session's path)."""
    return importlib.import_module("benchmarks.demo_accuracy_bench")


def test_grounded_answers_are_right_nine_times_in_ten(local_mode, demo_reports):
    bench = _bench()
    result = bench.run()
    demo_reports.append(bench.report(result))
    assert result["total"] == 4 * (len(bench.TOOL_CASES) + len(bench.EXTRACT_CASES) + len(bench.RECALL_CASES)
                                   + len(bench.ANSWER_CASES))
    assert result["share"] >= 0.9, bench.report(result)

