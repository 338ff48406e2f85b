"""Engine threads and polling under a competing CPU load: which setting degrades in proportion to the CPU?

    python benchmarks/engine_threads_bench.py [--tokens 192] [--repeats 2] [--configs 1:0,1:50,2:0,2:50]
    python benchmarks/engine_threads_bench.py --slots 2,4,8,16,8,4,2 --tokens 64 --requests 32 --repeats 1

For each setting (decode threads : llama.cpp polling level) it starts the engine alone
(``helpers.server.engine_child`` on a free loopback port), asks it for the same greedy answer of
exactly ``--tokens`` tokens (``ignore_eos``), idle and then while this script runs one busy-loop
process per CPU (started and killed by the script, never longer than the measurement), and prints
the answer times side by side with the ratio loaded / idle. Two parallel requests (both engine slots)
are measured too with ``--parallel``.

A competing load of one busy process per CPU leaves the engine about half of the machine: a setting
that degrades in proportion to the CPU available answers about 2x slower under it, not 15x.
Every request is bounded by ``--timeout`` seconds; nothing but 127.0.0.1 is contacted.

Recorded (2 CPUs, AMD EPYC VM, 192 tokens, ``--parallel --timeout 90``; "others" = CPUs used by
unrelated programs during the idle / loaded runs):

    threads poll |  idle s  tok/s | loaded s  tok/s | loaded/idle | others    | 2x idle s  2x loaded s
          1    0 |    1.53  125.3 |     2.47   77.6 |        1.6x | 0.0 / 0.0 |      3.84         5.72
          1   50 |    1.48  129.8 |     2.31   83.2 |        1.6x | 0.0 / 0.0 |      3.73         5.68
          2    0 |    1.14  167.8 |    21.90    8.8 |       19.1x | 0.0 / 0.0 |      2.39        14.55
          2   50 |    1.33  144.4 |    12.45   15.4 |        9.4x | 0.1 / 0.0 |      2.81        11.25

With other programs busy as well (about one more CPU's worth), two threads took 5.4-67 s idle and 34 s
to over 90 s loaded, one thread 1.5 s and 2.5-5.3 s. Hence the engine's default: 1 thread, poll 0
(``helpers/server/engine_child.py``; ``COURSE_ENGINE_THREADS`` overrides the thread count).

``--slots`` compares engine slot counts (llama.cpp's ``--parallel``, each slot 2048 tokens of context): ``--requests``
answers of ``--tokens`` tokens, as many at once as there are slots (as the course server's queue lets them in),
each with its own prompt. Wall-clock speed on a shared machine follows the other programs more than the setting,
so it also prints the answer tokens per CPU-second of the engine, which does not. Recorded 2026-11-30 (2 CPUs,
one decode thread, 32 answers of 64 tokens; slot counts run up then down; load average 2.0-4.6 from other jobs):

    slots |  p50 s  p95 s |  tok/s | tok/CPU-s CPUs | RSS MB
        2 |   1.61   1.73 |   78.4 |      80.5 0.97 |    327
        4 |   2.71   2.75 |   94.1 |      95.2 0.99 |    415
        8 |   6.31   7.39 |   81.1 |     109.9 0.74 |    593
       16 |  14.79  15.82 |   68.9 |     112.5 0.61 |    946
        8 |   7.94   8.53 |   64.8 |     110.9 0.58 |    592
        4 |   4.43   5.80 |   56.7 |      95.0 0.60 |    414
        2 |   2.83   3.92 |   42.6 |      81.9 0.52 |    327

Batching the slots' tokens gives 17% more answer tokens per CPU-second with 4 slots, 36% with 8 and 38% with 16,
at 45 MB a slot; so a room's shared server runs 8 slots per decode thread (``engine_child.shared_slots``) and a
learner's own server keeps 2 (one person's calls come one at a time, so more slots would only cost memory).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from helpers.server.engine import free_port  # noqa: E402
from helpers.server.engine_child import DEFAULT_POLL, available_cpus, default_threads  # noqa: E402

PROMPT = "Write a long story about a lighthouse keeper and a storm."
BUSY = "import time\nend = time.monotonic() + float(__import__('sys').argv[1])\nwhile time.monotonic() < end:\n    pass\n"


def stop(proc: subprocess.Popen) -> None:
    """Stop an engine this bench started (by its process), killing it if it does not exit in 10 s."""
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def start_engine(threads: int, poll: int, log: Path, slots: int = 2) -> tuple[subprocess.Popen, str]:
    port = free_port()
    out = open(log, "ab")
    proc = subprocess.Popen([sys.executable, "-m", "helpers.server.engine_child", "--port", str(port),
                             "--threads", str(threads), "--poll", str(poll), "--parallel", str(slots)], cwd=ROOT,
                            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the engine exited with code {proc.returncode}; see {log}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"the engine did not start within 90 s; see {log}")


def _cpu_seconds(pid: int | None = None) -> float:
    """CPU seconds used: by the whole machine (``pid`` None, from /proc/stat) or by one process."""
    tick = os.sysconf("SC_CLK_TCK")
    if pid is None:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
        idle = int(fields[3]) + int(fields[4])  # idle + iowait
        return (sum(int(f) for f in fields[:8]) - idle) / tick
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / tick  # utime + stime


class Others:
    """How many CPUs processes other than the engine (and our own load) kept busy during a measurement."""

    def __init__(self, engine_pid: int, own: list[int] | None = None):
        self.pids = [engine_pid] + (own or [])

    def __enter__(self):
        self.t, self.machine, self.ours = time.monotonic(), _cpu_seconds(), self._ours()
        return self

    def _ours(self) -> float:
        total = 0.0
        for pid in self.pids:
            try:
                total += _cpu_seconds(pid)
            except (OSError, IndexError, ValueError):
                pass
        return total

    def __exit__(self, *exc):
        elapsed = time.monotonic() - self.t
        self.cpus = max(0.0, ((_cpu_seconds() - self.machine) - (self._ours() - self.ours)) / elapsed)


def answer(url: str, tokens: int, timeout: float, prompt: str = PROMPT) -> tuple[float, int]:
    """Seconds for one greedy answer of exactly ``tokens`` tokens (inf if it did not finish in time)."""
    t = time.perf_counter()
    try:
        r = httpx.post(f"{url}/v1/chat/completions", timeout=timeout,
                       json={"messages": [{"role": "user", "content": prompt}], "max_tokens": tokens,
                             "temperature": 0, "ignore_eos": True, "cache_prompt": False})
        r.raise_for_status()
        return time.perf_counter() - t, r.json()["usage"]["completion_tokens"]
    except httpx.TimeoutException:
        return float("inf"), 0


def parallel(url: str, tokens: int, timeout: float, n: int = 2) -> float:
    """Seconds until ``n`` identical requests sent at once have all answered."""
    results: list[float] = []
    threads = [threading.Thread(target=lambda: results.append(answer(url, tokens, timeout)[0])) for _ in range(n)]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout + 5)
    return time.perf_counter() - t if len(results) == n and all(r != float("inf") for r in results) else float("inf")


class Load:
    """One busy-loop process per CPU, for at most ``limit`` seconds (each process exits by itself too)."""

    def __init__(self, n: int, limit: float):
        self.n, self.limit, self.procs = n, limit, []

    def __enter__(self):
        self.procs = [subprocess.Popen([sys.executable, "-c", BUSY, str(self.limit)]) for _ in range(self.n)]
        time.sleep(0.5)  # let the scheduler see them
        return self

    def __exit__(self, *exc):
        for p in self.procs:  # only the processes this script started, by handle
            p.kill()
        for p in self.procs:
            p.wait(5)


def slot_run(url: str, slots: int, requests: int, tokens: int, timeout: float, pid: int) -> dict:
    """``requests`` answers of ``tokens`` tokens, ``slots`` at a time (as the server's queue sends them): the
    seconds of each answer, and the answer tokens per second of the whole run."""
    todo = list(range(requests))
    times: list[float] = []
    made = [0]
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                if not todo:
                    return
                i = todo.pop()
            s, n = answer(url, tokens, timeout, f"Question {i}: {PROMPT}")  # distinct prompts, as a room sends
            with lock:
                times.append(s)
                made[0] += n

    workers = [threading.Thread(target=worker) for _ in range(slots)]
    cpu = _cpu_seconds(pid)
    t = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    wall = time.perf_counter() - t
    cpu = _cpu_seconds(pid) - cpu
    times.sort()
    return {"p50": statistics.median(times), "p95": times[int(0.95 * (len(times) - 1))], "tok_s": made[0] / wall,
            "tok_cpu": made[0] / cpu if cpu > 0 else float("nan"), "cpu": cpu / wall,
            "wall": wall, "failed": sum(x == float("inf") for x in times)}


def engine_rss(pid: int) -> float:
    """The engine's resident memory in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def slots_main(args) -> int:
    """``--slots``: aggregate tokens/s and per-answer latency with 2, 4, 8... slots (one thread each run)."""
    log = Path(tempfile.mkdtemp(prefix="engine-bench-")) / "engine.log"
    threads = args.slot_threads or default_threads()
    print(f"CPUs available: {cpus_text()}; {args.requests} answers of {args.tokens} tokens, as many at once as "
          f"there are slots; threads {threads}, poll {DEFAULT_POLL}")
    print(f"{'slots':>5} | {'p50 s':>6} {'p95 s':>6} | {'tok/s':>6} | {'tok/CPU-s':>9} {'CPUs':>4} | {'wall s':>6} | "
          f"{'failed':>6} | {'RSS MB':>6} | loadavg")
    for slots in [int(x) for x in args.slots.split(",")]:
        proc, url = start_engine(threads, DEFAULT_POLL, log, slots)
        try:
            answer(url, 8, args.timeout)  # warm-up
            for _ in range(args.repeats):
                r = slot_run(url, slots, args.requests, args.tokens, args.timeout, proc.pid)
                load = Path("/proc/loadavg").read_text().split()[:3]
                print(f"{slots:>5} | {r['p50']:6.2f} {r['p95']:6.2f} | {r['tok_s']:6.1f} | {r['tok_cpu']:9.1f} {r['cpu']:4.2f} | "
                      f"{r['wall']:6.1f} | "
                      f"{r['failed']:>6} | {engine_rss(proc.pid):6.0f} | {' '.join(load)}", flush=True)
        finally:
            stop(proc)
    return 0


def cpus_text() -> str:
    return f"{available_cpus()} (load average {' '.join(Path('/proc/loadavg').read_text().split()[:3])})"


def fmt(s: float) -> str:
    return "  >timeout" if s == float("inf") else f"{s:9.2f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=192, help="answer length in tokens (128-256 is typical)")
    ap.add_argument("--repeats", type=int, default=2, help="measurements per cell (the median is shown)")
    cpus = available_cpus()
    default_configs = sorted({(1, 0), (1, 50), (cpus, 0), (cpus, 50), (default_threads(), DEFAULT_POLL)})
    ap.add_argument("--configs", default=",".join(f"{t}:{p}" for t, p in default_configs),
                    help="threads:poll pairs to compare")
    ap.add_argument("--load", type=int, default=cpus, help="busy-loop processes during the loaded runs")
    ap.add_argument("--parallel", action="store_true", help="also time two requests at once (both slots)")
    ap.add_argument("--timeout", type=float, default=120, help="seconds before one request counts as failed")
    ap.add_argument("--slots", default="", help="compare engine slot counts instead, e.g. 2,4,8")
    ap.add_argument("--requests", type=int, default=32, help="--slots: answers per run")
    ap.add_argument("--slot-threads", type=int, default=0, help="--slots: decode threads (default: the engine's)")
    args = ap.parse_args(argv)
    if args.slots:
        return slots_main(args)
    configs = [tuple(int(x) for x in c.split(":")) for c in args.configs.split(",")]
    log = Path(tempfile.mkdtemp(prefix="engine-bench-")) / "engine.log"
    print(f"CPUs available: {cpus}; competing load: {args.load} busy process(es); answer: {args.tokens} tokens, "
          f"greedy; median of {args.repeats}; default setting here: threads {default_threads()}, poll {DEFAULT_POLL}")
    rows = []
    for threads, poll in configs:
        proc, url = start_engine(threads, poll, log)
        try:
            answer(url, 8, args.timeout)  # warm-up
            with Others(proc.pid) as others_idle:
                idle = [answer(url, args.tokens, args.timeout)[0] for _ in range(args.repeats)]
                idle_par = parallel(url, args.tokens, args.timeout) if args.parallel else None
            budget = args.repeats * args.timeout + (2 * args.timeout if args.parallel else 0) + 30
            with Load(args.load, budget) as load, Others(proc.pid, [p.pid for p in load.procs]) as others_loaded:
                loaded = [answer(url, args.tokens, args.timeout)[0] for _ in range(args.repeats)]
                loaded_par = parallel(url, args.tokens, args.timeout) if args.parallel else None
        finally:
            stop(proc)
        row = (threads, poll, statistics.median(idle), statistics.median(loaded), idle_par, loaded_par,
               others_idle.cpus, others_loaded.cpus)
        rows.append(row)
        print(f"  measured threads={threads} poll={poll}: idle {fmt(row[2]).strip()} s, loaded {fmt(row[3]).strip()} s"
              f" (other processes used {row[6]:.1f} / {row[7]:.1f} CPUs besides the engine and our load)", flush=True)

    print()
    head = (f"{'threads':>7} {'poll':>4} | {'idle s':>9} {'tok/s':>6} | {'loaded s':>9} {'tok/s':>6} | "
            f"{'loaded/idle':>11} | {'others':>11}")
    if args.parallel:
        head += f" | {'2x idle s':>9} {'2x loaded s':>11}"
    print(head)
    print("-" * len(head))
    best_idle = min(r[2] for r in rows)
    for threads, poll, idle, loaded, ip, lp, oi, ol in rows:
        ratio = loaded / idle if idle != float("inf") and loaded != float("inf") else float("inf")
        line = (f"{threads:>7} {poll:>4} | {fmt(idle)} {args.tokens / idle:6.1f} | {fmt(loaded)} "
                f"{args.tokens / loaded:6.1f} | {ratio:10.1f}x | {oi:4.1f} / {ol:4.1f}")
        if args.parallel:
            line += f" | {fmt(ip)} {fmt(lp):>11}"
        print(line)
    print(f"\nloaded/idle near {1 + args.load / cpus:.0f}x is proportional to the CPU left (fastest idle: {best_idle:.2f} s). "
          "'others': CPUs kept busy by unrelated processes during the idle / loaded runs (noise on a shared machine).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
