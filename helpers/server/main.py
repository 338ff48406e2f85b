"""The local server process: ``python -m helpers.server.main``. Use ``python -m helpers server start``.

Binds 127.0.0.1 only: the course's port (preferred 8321, else any free port) and, when free,
LM Studio's port 1234 so the LM Studio lesson's code runs unchanged. Writes a state file with its
pid, ports and a random token, which is how ``helpers`` recognises its own server before reusing it.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import sys
import time
from pathlib import Path

import uvicorn

from .gateway import Backend, build_app

STATE_FILE = "server.json"


def bind(port: int) -> socket.socket | None:
    """A listening socket on 127.0.0.1:port, or None if the port is taken."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if sys.platform != "win32":
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        s.close()
        return None
    # Accepted connections inherit this: without it, a response sent as headers + body in two writes
    # waits for the client's delayed ACK (about 40 ms per request).
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.listen(128)
    s.set_inheritable(True)
    return s


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--port", type=int, default=8321, help="preferred port (0: any free port)")
    ap.add_argument("--lmstudio-port", type=int, default=1234, help="also serve here when free (0: never)")
    ap.add_argument("--state-dir", type=Path, required=True)
    args = ap.parse_args(argv)
    args.state_dir.mkdir(parents=True, exist_ok=True)

    main_sock = (bind(args.port) if args.port else None) or bind(0)
    assert main_sock is not None
    port = main_sock.getsockname()[1]
    sockets = [main_sock]
    lm_sock = bind(args.lmstudio_port) if args.lmstudio_port else None
    lm_port = lm_sock.getsockname()[1] if lm_sock else None
    if lm_sock:
        sockets.append(lm_sock)

    token = secrets.token_hex(16)
    backend = Backend(args.state_dir)
    app = build_app(backend, port=port, lmstudio_port=lm_port, token=token)
    state = {"pid": os.getpid(), "port": port, "lmstudio_port": lm_port,
             "lmstudio_port_wanted": args.lmstudio_port or None, "token": token, "started": time.time()}
    tmp = args.state_dir / (STATE_FILE + ".tmp")
    tmp.write_text(json.dumps(state))
    os.replace(tmp, args.state_dir / STATE_FILE)

    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on",
                            timeout_graceful_shutdown=2, timeout_keep_alive=30)
    server = uvicorn.Server(config)
    try:
        server.run(sockets=sockets)
    finally:
        backend.stop()
        try:  # remove the state file only if it is still ours
            current = json.loads((args.state_dir / STATE_FILE).read_text())
            if current.get("pid") == os.getpid():
                (args.state_dir / STATE_FILE).unlink()
        except (OSError, ValueError):
            pass


if __name__ == "__main__":
    main()
