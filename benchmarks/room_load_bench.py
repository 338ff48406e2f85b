"""A workshop's room against one shared course server: N learners running lesson 03's calls at once.

Starts a shared server (``--shared``, loopback, a throw-away secret), then N simulated learners, each with
its own credential and its own OpenAI client (the header ``helpers.setup()`` adds on a hub), each making
lesson 03's calls: a system + user question, a second stateless question, and a three-turn conversation,
every answer limited to 64 tokens. The SDK's own retries stay on (two, honouring ``retry-after``), as in
a notebook. Prints p50/p95 latency of the calls, aggregate answer tokens per second, failures, the server's
memory, and whether any learner's inspector showed another learner's request. Issue 12's goal on 2 cores:
30 learners, zero failures, p95 under 10 s, nobody seeing another's requests.

    python benchmarks/room_load_bench.py              # 30 learners
    python benchmarks/room_load_bench.py --learners 100
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from helpers.server import learners, lifecycle  # noqa: E402

ANSWER_TOKENS = 64


def start_room(state: Path, secret: str) -> tuple[subprocess.Popen, dict]:
    env = {**os.environ, learners.SECRET_VARIABLE: secret}
    proc = subprocess.Popen([sys.executable, "-m", "helpers.server.main", "--shared", "--port", "0", "--lmstudio-port",
                             "0", "--state-dir", str(state)], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            info = json.loads((state / lifecycle.STATE_FILE).read_text())
            if info.get("pid") == proc.pid and lifecycle.probe(info["port"], info["token"]):
                return proc, info
        except (OSError, ValueError):
            pass
        time.sleep(0.2)
    proc.terminate()
    raise SystemExit("the shared server did not start")


def learner_session(url: str, credential: str, out: dict) -> None:
    """Lesson 03's calls for one learner; appends (seconds, answer tokens) or an error to ``out``."""
    import openai

    client = openai.OpenAI(base_url=url + "/v1", api_key="local", timeout=120,  # pragma: allowlist secret
                           default_headers={learners.HEADER: credential})
    system = {"role": "system", "content": "You are a patient tutor. Answer in one short sentence."}
    calls = [[system, {"role": "user", "content": "What is an API?"}],
             [{"role": "user", "content": "What is my name?"}],
             [{"role": "user", "content": "Hello! My name is Ada."}]]
    history: list[dict] = []
    for messages in calls + [None, None]:
        if messages is None:  # the conversation's later turns
            messages = history + [{"role": "user", "content": "I live in Lisbon." if len(history) < 4 else
                                   "What is my name, and where do I live?"}]
        t0 = time.perf_counter()
        try:
            r = client.chat.completions.create(model="gpt-6-luna", messages=messages, reasoning_effort="none",
                                               max_completion_tokens=ANSWER_TOKENS)
            out["calls"].append((time.perf_counter() - t0, r.usage.completion_tokens))
            if messages[-1]["content"].startswith(("Hello", "I live")):
                history = messages + [{"role": "assistant", "content": r.choices[0].message.content or ""}]
        except Exception as e:  # noqa: BLE001 - every failure is counted and named
            out["errors"].append(f"{type(e).__name__}: {str(e)[:120]}")


def inspector_of(url: str, credential: str) -> list[dict]:
    req = urllib.request.Request(f"{url}/_course/requests?n=1000", headers={learners.HEADER: credential})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--learners", type=int, default=30)
    args = ap.parse_args()
    import psutil

    secret = secrets.token_hex(32)
    with tempfile.TemporaryDirectory(prefix="room-bench-") as tmp:
        proc, info = start_room(Path(tmp), secret)
        url = f"http://127.0.0.1:{info['port']}"
        try:
            names = [f"learner{i:03d}" for i in range(args.learners)]
            results = {n: {"calls": [], "errors": []} for n in names}
            threads = [threading.Thread(target=learner_session, args=(url, learners.credential_for(secret, n),
                                                                      results[n])) for n in names]
            t0 = time.perf_counter()
            peak = 0
            for t in threads:
                t.start()
            while any(t.is_alive() for t in threads):
                rss = sum(p.memory_info().rss for p in [psutil.Process(proc.pid)] + psutil.Process(proc.pid).children(True))
                peak = max(peak, rss)
                time.sleep(0.5)
            wall = time.perf_counter() - t0
            leaks = sum(any(item.get("learner") != n for item in inspector_of(url, learners.credential_for(secret, n)))
                        for n in names)
        finally:
            proc.terminate()
            proc.wait(15)
    calls = [c for r in results.values() for c in r["calls"]]
    errors = [e for r in results.values() for e in r["errors"]]
    latencies = sorted(c[0] for c in calls)
    p95 = latencies[int(0.95 * (len(latencies) - 1))] if latencies else float("nan")
    print(f"room of {args.learners} learners, one shared server on {os.cpu_count()} CPUs, {wall:.0f} s in all")
    print(f"  calls: {len(calls)} answered, {len(errors)} failed (each call retried by the SDK at most twice)")
    if latencies:
        print(f"  latency of a call (answer <= {ANSWER_TOKENS} tokens): p50 {statistics.median(latencies):.1f} s, "
              f"p95 {p95:.1f} s, max {latencies[-1]:.1f} s")
    print(f"  answer tokens per second, whole room: {sum(c[1] for c in calls) / wall:.1f}")
    print(f"  server memory (peak, engine included): {peak / 2**20:.0f} MB; per learner: {peak / 2**20 / args.learners:.1f} MB")
    print(f"  learners whose inspector showed someone else's request: {leaks}")
    for e in sorted(set(errors))[:5]:
        print(f"  failure: {e} (x{errors.count(e)})")


if __name__ == "__main__":
    main()
