"""What the help after a tool result costs: engine time per answer with ``tool_answer`` and without it.

Runs the demo benchmark's answer-after-a-tool cases (``demo_accuracy_bench.ANSWER_CASES``) through the local
engine directly (no server, no SDK), each answered twice in the same run: as the conversation stands (the
engine before the help) and with the help (the question asked again with the data, numbers limited, up to
``tool_answer.ATTEMPTS`` fixed-seed answers). Prints, per case, whether the answer states the data, the
attempts and the seconds, and the ratio of the totals.

    python benchmarks/tool_answer_bench.py
"""
from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def conversation(case) -> list[dict]:
    """The case as the OpenAI chat route hands it to the engine."""
    from benchmarks.demo_accuracy_bench import answer_history
    from helpers.server.openai_api import to_engine_messages

    return to_engine_messages(answer_history(case)[1])


async def measure() -> list[dict]:
    from benchmarks.demo_accuracy_bench import ANSWER_CASES
    from helpers.server.engine import LlamaEngine

    engine = LlamaEngine(Path(tempfile.mkdtemp()))
    engine.start()
    calls: list[dict] = []
    decode = engine._chat

    async def counted(body: dict):  # each whole answer the engine decodes
        calls.append(body)
        return await decode(body)

    engine._chat = counted
    rows = []
    try:
        await engine.generate([{"role": "user", "content": "Hello"}], max_tokens=8)  # warm the engine up
        for case in ANSWER_CASES:
            row = {"case": case.question}
            for helped in (False, True):
                calls.clear()
                t0 = time.perf_counter()
                gen = await engine.generate(conversation(case), max_tokens=120, data_help=helped)
                row["helped" if helped else "plain"] = {"right": case.expect(gen.text), "attempts": len(calls),
                                                        "seconds": time.perf_counter() - t0}
            rows.append(row)
    finally:
        engine.stop()
    return rows


def report(rows: list[dict]) -> str:
    lines = [f"{'case':<46} {'plain':>12} {'helped':>20}"]
    for r in rows:
        p, h = r["plain"], r["helped"]
        lines.append(f"{r['case'][:46]:<46} {('right' if p['right'] else 'wrong'):>6} {p['seconds']:4.1f} s "
                     f"{('right' if h['right'] else 'wrong'):>7} {h['seconds']:4.1f} s {h['attempts']} try")
    plain = sum(r["plain"]["seconds"] for r in rows)
    helped = sum(r["helped"]["seconds"] for r in rows)
    lines.append(f"right: plain {sum(r['plain']['right'] for r in rows)}/{len(rows)}, helped "
                 f"{sum(r['helped']['right'] for r in rows)}/{len(rows)}; seconds: plain {plain:.1f}, helped "
                 f"{helped:.1f} ({helped / plain:.1f}x); attempts per helped answer: "
                 f"{sum(r['helped']['attempts'] for r in rows) / len(rows):.1f}")
    return "\n".join(lines)


def main() -> None:
    rows = asyncio.run(measure())
    print(report(rows))


if __name__ == "__main__":
    main()
