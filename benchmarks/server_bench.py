"""Benchmark of the local server: prints its figures; compares as ratios measured in one run.

    python benchmarks/server_bench.py [--requests 8]

Measures: engine start-to-ready; tokens per second straight from the engine vs through the
gateway for the same prompts (target: the gateway keeps >= 90 %); the gateway's added latency per
request (target < 5 ms); first-token latency of a stream; resident memory of the server and its
engine (target < 400 MB); and `import helpers; helpers.setup()` in live mode with keys present
(target well under 1 s).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PROMPTS = ["Write two sentences about rivers.", "Explain what an API key is.", "Describe a cat in two sentences.",
           "Give three tips for learning Python.", "What is a token in a language model?",
           "Write a short poem about the sea.", "Name four planets and one fact about each.",
           "Why is the sky blue? Answer briefly."]


def chat(client: httpx.Client, url: str, prompt: str, max_tokens: int) -> tuple[int, float]:
    t = time.perf_counter()
    r = client.post(url, json={"model": "m", "messages": [{"role": "user", "content": prompt}],
                               "max_tokens": max_tokens, "temperature": 0})
    r.raise_for_status()
    return r.json()["usage"]["completion_tokens"], time.perf_counter() - t


def throughput(client: httpx.Client, url: str, n: int) -> float:
    tokens = seconds = 0.0
    for p in (PROMPTS * 4)[:n]:
        k, s = chat(client, url, p, 64)
        tokens, seconds = tokens + k, seconds + s
    return tokens / seconds


def overhead_ms(client: httpx.Client, engine: str, gateway: str, rounds: int = 30) -> tuple[float, float]:
    d, g = [], []
    for i in range(rounds):
        for url, out in ((engine, d), (gateway, g)) if i % 2 == 0 else ((gateway, g), (engine, d)):
            out.append(chat(client, url, "Hi", 1)[1])
    return statistics.median(d) * 1000, statistics.median(g) * 1000


def first_token_ms(client: httpx.Client, gateway: str) -> float:
    times = []
    for p in PROMPTS[:4]:
        t = time.perf_counter()
        with client.stream("POST", gateway, json={"model": "m", "stream": True, "max_tokens": 32,
                                                  "messages": [{"role": "user", "content": p}]}) as r:
            for line in r.iter_lines():
                if line.startswith("data: {"):
                    delta = (json.loads(line[6:]).get("choices") or [{}])[0].get("delta", {})
                    if delta.get("content"):
                        times.append(time.perf_counter() - t)
                        break
    return statistics.median(times) * 1000


def setup_time_live() -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI", "GROQ", "GEMINI", "GOOGLE", "HF_"))}
    parts = [("OPENAI_API_KEY", "sk-proj-", "Ab3d", 12), ("GROQ_API_KEY", "gsk_", "Xy7Q", 13),
             ("GEMINI_API_KEY", "AQ.Ab", "Qw9eRt", 6), ("HF_TOKEN", "hf_", "Kp4sLm", 6)]
    env.update({name: prefix + chunk * n for name, prefix, chunk, n in parts}, COURSE_MODE="live")
    code = ("import time,io,contextlib; t=time.perf_counter(); import helpers\n"
            "with contextlib.redirect_stdout(io.StringIO()): helpers.setup()\nprint(time.perf_counter()-t)")
    runs = [float(subprocess.run([sys.executable, "-c", code], env=env, cwd=tempfile.gettempdir(),
                                 capture_output=True, text=True, check=True).stdout.strip()) for _ in range(3)]
    return statistics.median(runs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=8)
    args = ap.parse_args()
    import psutil

    from helpers.server import lifecycle

    os.environ["COURSE_STATE_DIR"] = tempfile.mkdtemp(prefix="course-bench-")
    t = time.perf_counter()
    st = lifecycle.start(port=0, lmstudio_port=0)
    server_ready = time.perf_counter() - t
    eng = st["engine"]
    if eng["kind"] != "llama.cpp":
        print(f"engine is {eng['kind']} ({eng['error']}): nothing to benchmark")
        return
    engine_url = f"http://127.0.0.1:{eng['port']}/v1/chat/completions"
    gateway_url = f"{st['url']}/v1/chat/completions"
    try:
        with httpx.Client(timeout=120) as c:
            chat(c, engine_url, "warm up", 8)
            chat(c, gateway_url, "warm up", 8)
            tps_engine = throughput(c, engine_url, args.requests)
            tps_gateway = throughput(c, gateway_url, args.requests)
            direct_ms, via_ms = overhead_ms(c, engine_url, gateway_url)
            ttft = first_token_ms(c, gateway_url)
            ttft_engine = first_token_ms(c, engine_url)
        proc = psutil.Process(st["pid"])
        rss = sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)]) / 2**20
    finally:
        lifecycle.stop()
    live = setup_time_live()
    print(f"{'server start to ready (gateway + engine)':46s} {server_ready:8.2f} s")
    print(f"{'engine start to ready':46s} {eng['started_in_s']:8.2f} s")
    print(f"{'tokens/s straight from the engine':46s} {tps_engine:8.1f}")
    print(f"{'tokens/s through the gateway':46s} {tps_gateway:8.1f}")
    print(f"{'gateway keeps (target >= 90 %)':46s} {100 * tps_gateway / tps_engine:8.1f} %")
    print(f"{'1-token request, engine direct (median)':46s} {direct_ms:8.1f} ms")
    print(f"{'1-token request, through gateway (median)':46s} {via_ms:8.1f} ms")
    print(f"{'gateway adds per request (target < 5 ms)':46s} {via_ms - direct_ms:8.1f} ms")
    print(f"{'first token of a stream, engine direct (median)':46s} {ttft_engine:8.1f} ms")
    print(f"{'first token of a stream, through gateway':46s} {ttft:8.1f} ms")
    print(f"{'server + engine resident memory (target < 400)':46s} {rss:8.0f} MB")
    print(f"{'import helpers + setup(), live, keys (target < 1 s)':46s} {live:8.3f} s")


if __name__ == "__main__":
    main()
