"""Benchmark of the local server under hostile input, abandoned requests and bursts (issue 14, parts 2-4).

    python benchmarks/hardening_bench.py http://127.0.0.1:PORT [--only fuzz,abandon,burst,embed,memory]

Loopback only; every scenario is bounded in requests and time (at most a few hundred requests and 60 s) and
stops by itself. Figures printed:

* fuzz: the malformed requests of ``tests/test_server_fuzz.py``: statuses, 5xx, silently closed connections,
  streams that answered 200 and then broke.
* abandon: N long requests (non-streaming, then streaming) abandoned after 1 s, then how long a 2-token
  probe takes, and whether the engine's slots are still busy.
* burst: 100 ``AsyncGroq`` clients with the SDK's defaults (60 s timeout, 2 retries) ask at once; for up to
  60 s: how many requests reached the server, answers, errors by status, time to the first error.
* embed: a 0.5 MiB embedding input, then 100 inputs of 2,000 tokens, each abandoned after 3 s: the server's
  CPU seconds over the next 10 s, and a small embedding's time just after.
* memory: the engine's resident memory before and after a 5 MiB prompt, and the answer's status and time.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

LONG = [{"role": "user", "content": "Write a very long story about a dragon, a knight and a village. Go on and on."}]


def server_process(url: str) -> psutil.Process:
    port = int(url.rsplit(":", 1)[1])
    for c in psutil.net_connections("tcp"):
        if c.laddr and c.laddr.port == port and c.status == psutil.CONN_LISTEN and c.pid:
            return psutil.Process(c.pid)
    raise SystemExit(f"no process listens on port {port}")


def engine_process(server: psutil.Process) -> psutil.Process | None:
    for child in server.children(recursive=True):
        if "engine_child" in " ".join(child.cmdline()):
            return child
    return None


def engine_port(engine: psutil.Process) -> int:
    cmd = engine.cmdline()
    return int(cmd[cmd.index("--port") + 1])


def engine_cpu(engine: psutil.Process | None, seconds: float = 1.0) -> float | None:
    """CPU seconds the engine uses over ``seconds``: about 1.0 per second while it generates, near 0 when idle.

    (Its own /slots endpoint needs the engine key, which only the server knows.)"""
    if engine is None:
        return None
    t0 = sum(engine.cpu_times()[:2])
    time.sleep(seconds)
    return sum(engine.cpu_times()[:2]) - t0


def probe(url: str, timeout: float = 120.0) -> tuple[int | str, float]:
    t = time.perf_counter()
    try:
        r = httpx.post(f"{url}/v1/chat/completions", timeout=timeout, json={
            "model": "smollm2-135m-instruct", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2})
    except httpx.TimeoutException:
        return "no answer", time.perf_counter() - t
    return r.status_code, time.perf_counter() - t


# ---------------------------------------------------------------------- scenarios

def fuzz(url: str) -> None:
    import test_server_fuzz as f

    rep = f.run(url)
    print(f"fuzz: {rep['requests']} requests in {rep['seconds']} s; statuses {rep['statuses']}; 5xx {rep['5xx']}; "
          f"silently closed connections {rep['silent_closes']}; streams 200-then-broken {rep['stream_200_broken']} "
          f"of {rep['stream_cases']}; malformed but answered 200: {len(rep['accepted'])}; "
          f"4xx not naming the parameter: {len(rep['unnamed'])}")


def _abandon(url: str, n: int, stream: bool) -> None:
    def one():
        try:
            with httpx.Client(timeout=1.0) as c:
                body = {"model": "smollm2-135m-instruct", "messages": LONG, "max_tokens": 1500, "temperature": 1.0,
                        "stream": stream}
                if stream:
                    t0 = time.monotonic()
                    with c.stream("POST", f"{url}/v1/chat/completions", json=body) as r:
                        for _ in r.iter_bytes():
                            if time.monotonic() - t0 > 1.0:
                                break  # leaving the block closes the connection mid-stream
                else:
                    c.post(f"{url}/v1/chat/completions", json=body)
        except httpx.HTTPError:
            pass  # the timeout: the client gives up and closes its connection

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def abandon(url: str, n: int = 6) -> None:
    engine = engine_process(server_process(url))
    for stream in (False, True):
        _abandon(url, n, stream)
        time.sleep(0.5)
        busy = engine_cpu(engine)
        status, secs = probe(url)
        print(f"abandon ({'streaming' if stream else 'non-streaming'}): {n} requests of up to 1500 tokens abandoned "
              f"after 1 s; engine CPU in the next 0.5-1.5 s: {busy:.2f} s per s; then a 2-token probe: {status} in "
              f"{secs:.2f} s")
        time.sleep(1)


async def _burst(url: str, clients: int, limit: float, tokens: int) -> None:
    from groq import AsyncGroq
    import groq

    attempts: Counter = Counter()
    sent = [0]
    outcomes: Counter = Counter()
    first_error: list[float] = []
    t0 = time.monotonic()

    async def on_request(r: httpx.Request):
        sent[0] += 1

    async def on_response(r: httpx.Response):
        attempts[r.status_code] += 1
        if r.status_code >= 400 and not first_error:
            first_error.append(time.monotonic() - t0)

    async def one(i: int):
        client = AsyncGroq(base_url=url, api_key="gsk_local_bench",  # pragma: allowlist secret
                           http_client=httpx.AsyncClient(event_hooks={"request": [on_request],
                                                                        "response": [on_response]}))
        try:
            await client.chat.completions.create(
                model="openai/gpt-oss-20b", messages=[{"role": "user", "content": (
                    f"Write a haiku about number {i}." if tokens <= 128 else
                    f"Write a very long story about the number {i}, a dragon and a village. Go on and on.")}],
                max_completion_tokens=tokens, reasoning_effort="low")
            outcomes["answer"] += 1
        except groq.APIStatusError as e:
            outcomes[f"error {e.status_code}"] += 1
        except groq.APITimeoutError:
            outcomes["timeout"] += 1
        except groq.APIConnectionError:
            outcomes["connection error"] += 1
        finally:
            await client.close()

    tasks = [asyncio.create_task(one(i)) for i in range(clients)]
    done, pending = await asyncio.wait(tasks, timeout=limit)
    for t in pending:
        t.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    outcomes["unfinished at the limit"] += len(pending)
    took = time.monotonic() - t0
    print(f"burst: {clients} AsyncGroq clients (SDK defaults: 60 s timeout, 2 retries) asking for up to {tokens} "
          f"tokens each, stopped after {took:.0f} s: "
          f"{sent[0]} requests sent, {sum(attempts.values())} responses {dict(attempts)}; outcomes {dict(outcomes)}; "
          f"first error after {first_error[0] if first_error else float('nan'):.2f} s")


def burst(url: str, clients: int = 100, limit: float = 60.0, tokens: int = 128) -> None:
    asyncio.run(_burst(url, clients, limit, tokens))
    time.sleep(2)
    status, secs = probe(url)
    print(f"burst: then a 2-token probe: {status} in {secs:.2f} s")


def _embed_abandoned(url: str, server: psutil.Process, label: str, inputs) -> None:
    t = time.perf_counter()
    try:
        r = httpx.post(f"{url}/v1/embeddings", json={"model": "text-embedding-3-small", "input": inputs}, timeout=3)
        print(f"embed: {label}: answered {r.status_code} in {time.perf_counter() - t:.2f} s: {r.text[:120]}")
    except httpx.TimeoutException:
        print(f"embed: {label}: no answer within 3 s; the client leaves")
    cpu0 = sum(server.cpu_times()[:2])
    time.sleep(10)
    cpu1 = sum(server.cpu_times()[:2])
    t = time.perf_counter()
    r = httpx.post(f"{url}/v1/embeddings", json={"model": "text-embedding-3-small", "input": "hello"}, timeout=300)
    print(f"embed: {label}: the server used {cpu1 - cpu0:.1f} CPU s in the 10 s after; a small embedding then: "
          f"{r.status_code} in {time.perf_counter() - t:.2f} s")


def embed(url: str) -> None:
    server = server_process(url)
    half_mib = ("the quick brown fox jumps over the lazy dog " * 12000)[: 512 * 1024]
    _embed_abandoned(url, server, "one 0.5 MiB input", half_mib)
    # within every cap (2,000 tokens each, 200,000 in all) but minutes of work for the local embedder
    _embed_abandoned(url, server, "100 inputs of about 2,000 tokens", [f"{i} " + "word and more text, " * 500
                                                                        for i in range(100)])


def memory(url: str) -> None:
    engine = engine_process(server_process(url))
    rss = lambda: engine.memory_info().rss / 2**20 if engine else float("nan")  # noqa: E731
    before = rss()
    big = "lorem ipsum dolor sit amet " * (5 * 2**20 // 27)
    t = time.perf_counter()
    try:
        r = httpx.post(f"{url}/v1/chat/completions", timeout=60, json={
            "model": "smollm2-135m-instruct", "messages": [{"role": "user", "content": big}], "max_tokens": 2})
        result = f"{r.status_code} in {time.perf_counter() - t:.2f} s: {r.text[:200]}"
    except httpx.TimeoutException:
        result = "no answer within 60 s"
    time.sleep(1)
    print(f"memory: engine RSS {before:.0f} MB before a 5 MiB prompt, {rss():.0f} MB after; answer {result}")
    status, secs = probe(url)
    print(f"memory: then a 2-token probe: {status} in {secs:.2f} s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--only", default="fuzz,abandon,burst,embed,memory")
    ap.add_argument("--burst-tokens", type=int, default=128, help="max_completion_tokens of each burst request")
    args = ap.parse_args()
    url = args.url.rstrip("/")
    for name in args.only.split(","):
        if name == "burst":
            burst(url, tokens=args.burst_tokens)
        else:
            {"fuzz": fuzz, "abandon": abandon, "embed": embed, "memory": memory}[name](url)


if __name__ == "__main__":
    main()
