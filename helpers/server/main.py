"""The local server process: ``python -m helpers.server.main``. Use ``python -m helpers server start``.

Binds 127.0.0.1 only: the course's port (preferred 8321, else any free port) and, when free,
LM Studio's port 1234 (``COURSE_LMSTUDIO_PORT``) so the LM Studio lesson's code runs unchanged. Writes a
state file with its pid, ports and a random token, which is how ``helpers`` recognises its own server
before reusing it, and removes it when it stops (SIGTERM included).

It also supervises itself: the model engine is probed every few seconds and restarted, with back-off
but never giving up, when it crashes or hangs; slow or idle connections are closed after a timeout;
``server.log`` and ``engine.log`` are rotated at a bounded size.

Privacy: the state folder is 0700 and every file in it 0600 (umask 077, and older files tightened at
start); the model engine's own port (llama.cpp, on 127.0.0.1) refuses any request without a random
key that only this process and the engine know (passed in the engine's environment, never on a
command line); everything this process prints to ``server.log`` passes through ``helpers.masking.redact``.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import signal
import socket
import sys
import time
from pathlib import Path

import httpx
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from ..masking import redact
from . import engine as engine_module
from .engine import LlamaEngine
from .engine_child import ENGINE_KEY_ENV, SLOTS_VARIABLE, shared_slots
from . import learners
from .gateway import Backend, build_app
from .lifecycle import make_private

STATE_FILE = "server.json"
SERVER_LOG_MAX = 2 * 1024 * 1024  # bytes; the older half is kept as server.log.1
ENGINE_LOG_MAX = 4 * 1024 * 1024  # llama.cpp logs every request

# Connections: a client must send its request line and headers within HEADER_TIMEOUT s of connecting (or of
# its previous answer), each piece of the body within BODY_CHUNK_TIMEOUT s, the whole body within
# BODY_TIMEOUT s; an idle kept-alive connection is closed after KEEP_ALIVE s. (SDK clients send at once.)
HEADER_TIMEOUT = 15.0
BODY_CHUNK_TIMEOUT = 15.0
BODY_TIMEOUT = 60.0
KEEP_ALIVE = 30


class _Terminated(SystemExit):
    """Raised by the SIGTERM handler so that ``finally`` blocks run (the state file is removed)."""


def _on_sigterm(signum, frame):  # noqa: ARG001
    raise _Terminated(0)


class GuardedH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, closing connections that do not send a complete request head in time.

    uvicorn bounds only the idle time *after* an answer (keep-alive); a client that connects and sends
    nothing, or sends its headers a byte at a time, would hold a file descriptor forever.
    """

    header_timeout = HEADER_TIMEOUT

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self._head_timer: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        self._arm()

    def _waiting_for_request(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _arm(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.header_timeout, self._head_too_slow)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def data_received(self, data: bytes) -> None:
        if self._waiting_for_request():
            self._arm()
        before = self.cycle
        super().data_received(data)
        if self.cycle is not before and self.cycle is not None:  # a complete request head arrived
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # arms uvicorn's keep-alive timer for the idle time after an answer

    def handle_websocket_upgrade(self, event) -> None:  # type: ignore[override]
        self._disarm()  # the head arrived; the socket (Responses WebSocket mode) then lives as long as it is used
        super().handle_websocket_upgrade(event)

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if self._waiting_for_request() and not self.transport.is_closing():
            self.transport.close()

    def connection_lost(self, exc) -> None:
        self._disarm()
        super().connection_lost(exc)


class _SlowBody(Exception):
    pass


class SlowClientGuard:
    """ASGI wrapper: a request body that stops arriving gets a 408 and its connection is closed.

    Applies until the body is complete; later ``receive()`` calls (waiting for a disconnect during a
    streamed answer) are never timed out.
    """

    def __init__(self, app, chunk_timeout: float = BODY_CHUNK_TIMEOUT, total_timeout: float = BODY_TIMEOUT):
        self.app, self.chunk_timeout, self.total_timeout = app, chunk_timeout, total_timeout

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        deadline = time.monotonic() + self.total_timeout
        body_done = False
        responded = False  # by this guard: the app's own answer is then dropped
        started = False

        async def guarded_receive():
            nonlocal body_done, responded
            if body_done:
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), max(0.01, min(self.chunk_timeout,
                                                                          deadline - time.monotonic())))
            except asyncio.TimeoutError:
                if not started:
                    responded = True
                    await _send_408(send)
                raise _SlowBody from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        async def guarded_send(message):
            nonlocal started
            if responded:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, guarded_receive, guarded_send)
        except _SlowBody:
            pass
        except Exception as e:  # the app turned our _SlowBody into another error on its way out
            if not responded:
                raise
            del e


async def _send_408(send) -> None:
    body = json.dumps({"error": {"message": "The request body did not arrive in time; the connection is closed. "
                                            "Send the whole request at once.", "type": "invalid_request_error",
                                 "code": "request_timeout"}}).encode()
    await send({"type": "http.response.start", "status": 408,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def rotate(path: Path, max_bytes: int) -> bool:
    """Copy a log grown beyond ``max_bytes`` to ``<name>.1`` and empty it; True if it did.

    Copy-then-truncate, because the writers (this process's stdout, the engine's) keep the file open in
    append mode: their next line goes to the start of the emptied file.
    """
    try:
        if path.stat().st_size <= max_bytes:
            return False
        import shutil

        older = path.with_name(path.name + ".1")
        with contextlib.suppress(FileNotFoundError):
            older.unlink()
        with open(path, "rb") as src, os.fdopen(os.open(older, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
                                                "wb") as dst:
            shutil.copyfileobj(src, dst)
        os.truncate(path, 0)
        return True
    except OSError:
        return False


class ServerBackend(Backend):
    """The gateway's backend plus supervision: engine health, crash and hang restarts, log rotation.

    Restarts never stop: after each failed or short-lived attempt the wait grows along ``BACKOFF``
    (seconds), and it is reset once the engine has run well for ``STABLE_AFTER`` seconds. Meanwhile
    requests get a 503 that says the engine is restarting and names ``python -m helpers server restart``.
    """

    CHECK_EVERY = 2.0
    BACKOFF = (0.0, 2.0, 5.0, 10.0, 30.0, 60.0)
    STABLE_AFTER = 300.0

    def __init__(self, state_dir: Path, engine_mode: str | None = None):
        super().__init__(state_dir, engine_mode)
        self.failures = 0  # crashes/hangs since the engine last ran stably
        self.next_restart: float | None = None  # time.monotonic() of the next restart attempt
        self.ok_since: float | None = None
        self.restarting = False  # between a crash or hang and the engine answering again
        hung_after = os.environ.get("COURSE_ENGINE_HUNG_AFTER_S")  # tests use a short one
        self.hung_after = float(hung_after) if hung_after else None

    def start_engine(self) -> None:
        super().start_engine()
        if isinstance(self.engine, LlamaEngine) and self.hung_after:
            self.engine.HUNG_AFTER = self.hung_after
        self.ok_since = time.monotonic()

    def status(self) -> dict:
        out = super().status()
        e = self.engine
        if isinstance(e, LlamaEngine):
            now = time.monotonic()
            out.update(alive=out["alive"] and not self.restarting,
                       health="restarting" if self.restarting else e.health, threads=e.threads, poll=e.poll,
                       slots=e.slots,
                       failures=self.failures,
                       last_answer_s_ago=round(now - e.last_ok, 1) if e.last_ok else None,
                       next_restart_in_s=round(max(0.0, self.next_restart - now), 1) if self.next_restart else None)
        return out

    def rotate_logs(self) -> None:
        rotate(self.state_dir / "server.log", SERVER_LOG_MAX)
        rotate(self.state_dir / "engine.log", ENGINE_LOG_MAX)

    async def watch_engine(self) -> None:
        while True:
            await asyncio.sleep(self.CHECK_EVERY)
            try:
                self.rotate_logs()
                await self.check_engine()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - the supervisor itself must never die
                print(f"supervisor: {type(e).__name__}: {e}", flush=True)

    async def check_engine(self) -> None:
        """One round of supervision (restarts a dead or hung engine, waiting out the back-off first)."""
        e = self.engine
        if not isinstance(e, LlamaEngine):
            return
        health = await e.check_health()
        now = time.monotonic()
        if health == "ok":
            if self.ok_since is None:
                self.ok_since = now
            if self.failures and now - self.ok_since >= self.STABLE_AFTER:
                self.failures = 0
            return
        if health == "unresponsive":
            return
        # dead or hung
        self.ok_since = None
        self.restarting = True
        code = e.proc.returncode if e.proc is not None else None
        what = "stopped answering (hung)" if health == "hung" else \
            ("crashed" + (f" (exit code {code})" if code is not None else ""))
        if health == "hung":
            await asyncio.to_thread(e.stop)
        delay = self.BACKOFF[min(self.failures, len(self.BACKOFF) - 1)]
        self.failures += 1
        self.next_restart = now + delay
        self.engine_error = (f"the model engine {what}; restarting it" + (f" in {delay:.0f} s" if delay else "")
                             + " (automatic; if it keeps failing, run `python -m helpers server restart`)")
        print(f"supervisor: {self.engine_error}", flush=True)
        await asyncio.sleep(delay)
        old_client = e.client
        try:
            await asyncio.to_thread(e.start)
        except Exception as err:  # noqa: BLE001 - try again later, never give up
            wait = self.BACKOFF[min(self.failures, len(self.BACKOFF) - 1)]
            self.engine_error = (f"the model engine {what} and could not restart yet ({err}); trying again in "
                                 f"{wait:.0f} s, or run `python -m helpers server restart`")
            print(f"supervisor: {self.engine_error}", flush=True)
            return
        finally:
            self.next_restart = None
        e.restarts += 1
        self.engine_error = None
        self.restarting = False
        self.ok_since = time.monotonic()
        if self.hung_after:
            e.HUNG_AFTER = self.hung_after
        print(f"supervisor: the model engine is back (restart {e.restarts}, pid {e.pid()})", flush=True)
        if old_client is not None and old_client is not e.client:
            with contextlib.suppress(Exception):
                await old_client.aclose()


class RedactingStream:
    """A text stream (this process's stdout or stderr, that is ``server.log``) that masks keys in every write."""

    def __init__(self, inner):
        self._inner = inner

    def write(self, text: str) -> int:
        self._inner.write(redact(text) if isinstance(text, str) else text)
        return len(text)

    def __getattr__(self, name):
        return getattr(self._inner, name)


class _EngineHttpx:
    """``httpx`` as ``engine.py`` sees it in this process: every request to the engine carries its key.

    The engine (llama.cpp) is started with ``api_keys`` = this key, so its port, although on 127.0.0.1
    where any local user could connect, answers nothing but ``/health`` to anyone else.
    """

    def __init__(self, key: str):
        auth = {"authorization": f"Bearer {key}"}

        class AsyncClient(httpx.AsyncClient):
            def __init__(self, *args, headers=None, **kwargs):
                super().__init__(*args, headers={**auth, **dict(headers or {})}, **kwargs)

        def get(url, *args, headers=None, **kwargs):
            return httpx.get(url, *args, headers={**auth, **dict(headers or {})}, **kwargs)

        self.AsyncClient, self.get = AsyncClient, get

    def __getattr__(self, name):
        return getattr(httpx, name)


def protect_engine_port() -> str:
    """Give the engine a random key (in the environment its process inherits) and make the gateway send it."""
    key = secrets.token_urlsafe(32)
    os.environ[ENGINE_KEY_ENV] = key
    engine_module.httpx = _EngineHttpx(key)  # type: ignore[assignment]
    return key


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


def _write_state(state_dir: Path, state: dict) -> None:
    tmp = state_dir / (STATE_FILE + f".{os.getpid()}.tmp")
    try:
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            f.write(json.dumps(state))
        os.replace(tmp, state_dir / STATE_FILE)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _remove_state(state_dir: Path) -> None:
    """Remove the state file if it is still ours."""
    try:
        current = json.loads((state_dir / STATE_FILE).read_text())
        if isinstance(current, dict) and current.get("pid") == os.getpid():
            (state_dir / STATE_FILE).unlink()
    except (OSError, ValueError):
        pass


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--port", type=int, default=8321, help="preferred port (0: any free port)")
    ap.add_argument("--lmstudio-port", type=int, default=1234, help="also serve here when free (0: never)")
    ap.add_argument("--state-dir", type=Path, required=True)
    ap.add_argument("--shared", action="store_true",
                    help="serve a workshop's room: every call names its learner (the secret is read from "
                         "COURSE_SHARED_SECRET, never from the command line); see helpers/server/learners.py")
    args = ap.parse_args(argv)
    shared_secret = None
    if args.shared:
        try:
            shared_secret = learners.check_secret(os.environ.get(learners.SECRET_VARIABLE))
        except ValueError as e:
            print(f"SERVER ERROR: {e}", flush=True)
            sys.exit(2)
        # A room's engine decodes more requests at once (engine_child.shared_slots: measured, sized to the
        # machine); COURSE_ENGINE_SLOTS set by the instructor wins. The engine process inherits it.
        os.environ.setdefault(SLOTS_VARIABLE, str(shared_slots()))
    if hasattr(os, "umask"):
        os.umask(0o077)  # the state folder's files (logs, prompts) are for their owner only
    if sys.platform != "win32":
        signal.signal(signal.SIGTERM, _on_sigterm)  # uvicorn re-raises SIGTERM after shutting down: see _Terminated
    sys.stdout, sys.stderr = RedactingStream(sys.stdout), RedactingStream(sys.stderr)  # before uvicorn's logging
    try:
        args.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as e:
        print(f"SERVER ERROR: cannot create the state folder {args.state_dir}: {e.strerror or e}", flush=True)
        sys.exit(4)
    make_private(args.state_dir)
    protect_engine_port()

    main_sock = bind(args.port) if args.port else bind(0)
    if main_sock is None and not args.shared:  # a one-person server moves to a free port; a room's server must
        main_sock = bind(0)                    # stay where the hub told every learner it is
    if main_sock is None:
        print(f"SERVER ERROR: port {args.port} on 127.0.0.1 is taken" if args.shared else
              "SERVER ERROR: no free port on 127.0.0.1", flush=True)
        sys.exit(5)
    port = main_sock.getsockname()[1]
    sockets = [main_sock]
    lm_sock = bind(args.lmstudio_port) if args.lmstudio_port else None
    lm_port = lm_sock.getsockname()[1] if lm_sock else None
    if lm_sock:
        sockets.append(lm_sock)

    token = secrets.token_hex(16)
    backend = ServerBackend(args.state_dir)
    app = build_app(backend, port=port, lmstudio_port=lm_port, token=token, shared_secret=shared_secret)
    state = {"pid": os.getpid(), "port": port, "lmstudio_port": lm_port, "shared": bool(shared_secret),
             "lmstudio_port_wanted": args.lmstudio_port or None, "token": token, "started": time.time(),
             "state_dir": str(args.state_dir)}
    config = uvicorn.Config(SlowClientGuard(app), log_level="warning", access_log=False, lifespan="on",
                            http=GuardedH11Protocol, timeout_graceful_shutdown=2, timeout_keep_alive=KEEP_ALIVE)
    server = uvicorn.Server(config)
    try:
        try:
            _write_state(args.state_dir, state)
        except OSError as e:
            print(f"SERVER ERROR: cannot write the state file in {args.state_dir}: {e.strerror or e}", flush=True)
            raise SystemExit(4) from None
        server.run(sockets=sockets)
    except _Terminated:
        pass
    finally:
        backend.stop()
        _remove_state(args.state_dir)


if __name__ == "__main__":
    main()
