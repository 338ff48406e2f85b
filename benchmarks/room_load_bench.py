"""A workshop's room against one shared course server: N learners running lesson 03's calls.

Starts a shared server (``--shared``, loopback, a throw-away secret), then N simulated learners, each with
its own credential and its own OpenAI client (the header ``helpers.setup()`` adds on a hub), each making
lesson 03's calls: a system + user question, a second stateless question, and a three-turn conversation,
every answer limited to 64 tokens. The SDK's own retries stay on (two, honouring ``retry-after``), as in
a notebook. Two arrival models: ``burst`` (everyone starts at once and never pauses: the worst case) and
``spread`` (each learner starts at a random moment within ``--window`` seconds and thinks ``--think`` seconds,
on average, between calls: a room following the instructor). Prints p50/p95 latency of the calls, aggregate
answer tokens per second, failures, refusals with ``retry-after`` (429 or 503, which the SDK waits out and
retries), the server's memory, the load average, and whether any learner's inspector showed another
learner's request. Issue 12's goal on 2 cores: 30 learners, zero failures, p95 under 10 s, nobody seeing
another's requests; 100 learners degrade with refusals and ``retry-after``, never with silent timeouts.

    python benchmarks/room_load_bench.py                              # 30 learners, all at once
    python benchmarks/room_load_bench.py --learners 100 --arrival spread

Recorded 2026-11-30 on 2 CPUs shared with other jobs (load average at start -> end), lesson 03's 5 calls each,
with the server's queue letting in as many requests as the engine has slots:

    learners arrival slots | answered failed refused | p50 s  p95 s  max s | tok/s | server MB | load
          30 burst       2 |   150      0      0     |  15.5   25.2   27.3 |  85.2 |    579    | 2.1 -> 2.8
          30 burst       4 |   150      0      0     |  19.4   21.8   22.3 |  80.1 |    665    | 2.8 -> 3.0
          30 burst       8 |   150      0      0     |  11.6   18.4   19.7 | 111.7 |    818    | 4.3 -> 2.1
          30 spread      8 |   150      0      0     |   0.9    2.2    3.5 |  37.1 |    872    | 2.9 -> 1.4
         100 spread      8 |   500      0      0     |  12.6   28.3   31.1 |  96.4 |   1331    | 0.1 -> 1.1
         100 burst       8 |   500      0      0     |  36.1   64.7   69.2 | 118.2 |   1495    | 1.1 -> 1.3
    100 burst, groq SDK  8 |   440     60    357 x 503 | 44.6 107.0 155.4 |  83.9 |   1101    | 0.5 -> 1.1
    the same, groq's wait limit 30 s (below) |   436     64    375 x 503 | 37.8  95.4 140.2 |  84.2 |   1049 | 0.5 -> 1.0
With the OpenAI SDK (which waits 120 s here, as the bench sets) 100 learners were all answered: the server lets a
call wait while the expected wait stays within what its SDK waits (``helpers/server/common.py``). Groq's SDK
gives up after 60 s, so the server refuses its calls at once, with 503 and ``retry-after``, when the expected
wait passes 40 s: 357 refusals, retried by the SDK; 60 calls still failed after two retries, 58 of them with
the 503 and its message (the learner sees why and when to retry) and 2 with the SDK's own timeout (a call let
in on an estimate that proved short). (A first groq run: 3 timeouts.) So the limit for groq is now 30 s, half
its SDK's timeout: in the run after, all 64 failed calls were 503s with ``retry-after`` and their message, 0 timed
out. 429s did not occur: each learner had one call at a time, under the per-learner limit of 2.
(An earlier run, 30 all at once with 2 slots at load about 5: p50 41.1 s, p95 60.1 s, 37.5 tokens/s, 585 MB.)
"spread" used ``--window 120 --think 20``; its tokens per second follow the room's demand, not the server's
capacity. No learner's inspector ever showed another learner's request.
"""
from __future__ import annotations

import argparse
import json
import os
import random
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
CALLS = 5  # lesson 03's calls in a learner's session (below)


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


def think_times(rng: random.Random, arrival: str, window: float, think: float, calls: int) -> list[float]:
    """Seconds to wait before each call: all at once (``burst``), or a start at random within ``window`` and
    then a think time (uniform between half and one and a half times ``think``) before each later call."""
    if arrival == "burst":
        return [0.0] * calls
    return [rng.uniform(0, window)] + [rng.uniform(0.5 * think, 1.5 * think) for _ in range(calls - 1)]


def make_client(sdk: str, url: str, credential: str, http_client):
    """The learner's client and the model and options lesson 03 (OpenAI) or lesson 06 (Groq) call it with."""
    headers = {learners.HEADER: credential}
    if sdk == "groq":  # Groq's SDK gives up after 60 s, so the server's queue refuses sooner (40 s) for it
        import groq

        return (groq.Groq(base_url=url, api_key="local", default_headers=headers,  # pragma: allowlist secret
                          http_client=http_client),
                {"model": "openai/gpt-oss-120b", "reasoning_effort": "low"})
    import openai

    return (openai.OpenAI(base_url=url + "/v1", api_key="local", timeout=120,  # pragma: allowlist secret
                          default_headers=headers, http_client=http_client),
            {"model": "gpt-6-luna", "reasoning_effort": "none"})


def learner_session(url: str, credential: str, out: dict, waits: list[float] | None = None,
                    sdk: str = "openai") -> None:
    """Lesson 03's calls for one learner; appends (seconds, answer tokens) or an error to ``out``, and counts
    the answers that refused a call with ``retry-after`` (429 or 503; the SDK waits and retries them)."""
    import httpx

    def count(response: httpx.Response) -> None:
        if response.status_code in (429, 503):
            key = f"{response.status_code}{'' if response.headers.get('retry-after') else ' without retry-after'}"
            out["refusals"][key] = out["refusals"].get(key, 0) + 1

    client, options = make_client(sdk, url, credential, httpx.Client(event_hooks={"response": [count]}))
    waits = list(waits or [])
    system = {"role": "system", "content": "You are a patient tutor. Answer in one short sentence."}
    calls = [[system, {"role": "user", "content": "What is an API?"}],
             [{"role": "user", "content": "What is my name?"}],
             [{"role": "user", "content": "Hello! My name is Ada."}]]
    history: list[dict] = []
    for messages in calls + [None, None]:
        time.sleep(waits.pop(0) if waits else 0.0)
        if messages is None:  # the conversation's later turns
            messages = history + [{"role": "user", "content": "I live in Lisbon." if len(history) < 4 else
                                   "What is my name, and where do I live?"}]
        t0 = time.perf_counter()
        try:
            r = client.chat.completions.create(messages=messages, max_completion_tokens=ANSWER_TOKENS, **options)
            out["calls"].append((time.perf_counter() - t0, r.usage.completion_tokens))
            if messages[-1]["content"].startswith(("Hello", "I live")):
                history = messages + [{"role": "assistant", "content": r.choices[0].message.content or ""}]
        except Exception as e:  # noqa: BLE001 - every failure is counted and named
            out["errors"].append(f"{type(e).__name__}: {str(e)[:120]}")
            out["failed_after"].append(time.perf_counter() - t0)


def engine_slots(url: str, headers: dict) -> int | str:
    """The engine's slot count, from the server's health answer ("?" when it does not say)."""
    try:
        with urllib.request.urlopen(urllib.request.Request(f"{url}/_course/health", headers=headers), timeout=30) as r:
            return json.loads(r.read()).get("engine", {}).get("slots", "?")
    except (OSError, ValueError):
        return "?"


def inspector_of(url: str, credential: str) -> list[dict]:
    req = urllib.request.Request(f"{url}/_course/requests?n=1000", headers={learners.HEADER: credential})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--learners", type=int, default=30)
    ap.add_argument("--arrival", choices=["burst", "spread"], default="burst",
                    help="burst: everyone starts at once, no pauses; spread: a random start within --window s, "
                         "then --think s (on average) between calls, as a room following the instructor does")
    ap.add_argument("--window", type=float, default=120.0, help="spread: seconds within which learners start")
    ap.add_argument("--think", type=float, default=20.0, help="spread: mean seconds between a learner's calls")
    ap.add_argument("--sdk", choices=["openai", "groq"], default="openai",
                    help="the learners' SDK: openai (lesson 03) or groq (the same calls as lesson 06 makes them)")
    ap.add_argument("--seed", type=int, default=12)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    import psutil

    secret = secrets.token_hex(32)
    with tempfile.TemporaryDirectory(prefix="room-bench-") as tmp:
        proc, info = start_room(Path(tmp), secret)
        url = f"http://127.0.0.1:{info['port']}"
        try:
            names = [f"learner{i:03d}" for i in range(args.learners)]
            results = {n: {"calls": [], "errors": [], "failed_after": [], "refusals": {}} for n in names}
            threads = [threading.Thread(target=learner_session, args=(
                url, learners.credential_for(secret, n), results[n],
                think_times(rng, args.arrival, args.window, args.think, CALLS), args.sdk)) for n in names]
            load_before = Path("/proc/loadavg").read_text().split()[0]
            t0 = time.perf_counter()
            peak = 0
            for t in threads:
                t.start()
            while any(t.is_alive() for t in threads):
                rss = sum(p.memory_info().rss for p in [psutil.Process(proc.pid)] + psutil.Process(proc.pid).children(True))
                peak = max(peak, rss)
                time.sleep(0.5)
            wall = time.perf_counter() - t0
            load_after = Path("/proc/loadavg").read_text().split()[:3]
            slots = engine_slots(url, {**lifecycle.course_headers(info["token"]),
                                       learners.HEADER: learners.credential_for(secret, names[0])})
            leaks = sum(any(item.get("learner") != n for item in inspector_of(url, learners.credential_for(secret, n)))
                        for n in names)
        finally:
            proc.terminate()
            proc.wait(15)
    calls = [c for r in results.values() for c in r["calls"]]
    errors = [e for r in results.values() for e in r["errors"]]
    refusals: dict[str, int] = {}
    for r in results.values():
        for k, v in r["refusals"].items():
            refusals[k] = refusals.get(k, 0) + v
    latencies = sorted(c[0] for c in calls)
    p95 = latencies[int(0.95 * (len(latencies) - 1))] if latencies else float("nan")
    arrival = ("all at once, no pauses" if args.arrival == "burst" else
               f"starts spread over {args.window:.0f} s, {args.think:.0f} s think time between calls")
    print(f"room of {args.learners} learners ({arrival}; {args.sdk} SDK), one shared server ({slots} engine slots) on "
          f"{os.cpu_count()} CPUs, {wall:.0f} s in all; load average {load_before} at the start, "
          f"{' '.join(load_after)} at the end")
    print(f"  calls: {len(calls)} answered, {len(errors)} failed (each call retried by the SDK at most twice)")
    print(f"  refused with retry-after (then retried by the SDK): "
          f"{', '.join(f'{v} x {k}' for k, v in sorted(refusals.items())) or 'none'}")
    if errors:
        failed = sorted(x for r in results.values() for x in r["failed_after"])
        timeouts = sum(e.startswith("APITimeoutError") for e in errors)
        print(f"  failed calls gave up after {failed[0]:.0f} to {failed[-1]:.0f} s; {timeouts} of them timed out "
              f"(the others were refused, with retry-after, again after the SDK's retries)")
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
