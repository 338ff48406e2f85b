"""The request inspector: the last requests exactly as the SDKs sent them, secrets masked.

Every key-bearing header, query parameter, path piece, body field and key-shaped text is masked by
``helpers.masking.redact`` (the course's one masking function) before it is kept in memory or written.
Only the server's owner can read it: ``/_course/requests`` needs the state token, and ``requests.jsonl``
is created with mode 0600 in a 0700 folder.

From a notebook: ``helpers.server.last_requests()``. On disk: ``requests.jsonl`` in the
server's state folder, one JSON object a line; beyond 5 MB it is renamed ``requests.jsonl.1`` (replacing
the previous one) and a new file begins.
"""
from __future__ import annotations

import json
import os
import threading
import time
from collections import deque
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from ..masking import redact

# The notes ("emulation") of the request being answered: set by the gateway for each request, so that code far
# from the request (the engine) can say what it did to behave as the requested model.
request_notes: ContextVar[list | None] = ContextVar("request_notes", default=None)


def note(text: str) -> None:
    """Add ``text`` to the inspector's notes for the request being answered (if there is one)."""
    notes = request_notes.get()
    if notes is not None:
        notes.append(text)


MAX_BODY_CHARS = 20_000
MAX_LOG_BYTES = 5 * 1024 * 1024


def _jsonish(raw: bytes) -> Any:
    text = raw[:MAX_BODY_CHARS].decode("utf-8", errors="replace")
    try:
        return json.loads(raw) if len(raw) <= MAX_BODY_CHARS else text + " ...(truncated)"
    except (ValueError, RecursionError):  # not JSON, or nested too deep for Python
        return text


def _open_private(path: Path):
    """``path`` opened for appending, created readable and writable by its owner only (0600)."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "a", encoding="utf-8")


class Inspector:
    """Keeps the last ``size`` exchanges in memory and appends each to a JSON-lines log."""

    def __init__(self, log_file: Path | None, size: int = 100, max_log_bytes: int = MAX_LOG_BYTES):
        self.items: deque[dict] = deque(maxlen=size)
        self.log_file = log_file
        self.max_log_bytes = max_log_bytes  # the log file rotates to ``requests.jsonl.1`` beyond this
        self.lock = threading.Lock()
        self.counter = 0

    def begin(self, *, provider: str, method: str, path: str, query: str, port: int, headers: dict,
              body: bytes, learner: str | None = None) -> dict:
        """Note a request as it arrives (so the list is in arrival order); ``finish`` adds the response.
        ``learner``: who sent it, on a shared server (``learners``)."""
        with self.lock:
            self.counter += 1
            item = {"n": self.counter, "time": time.strftime("%Y-%m-%dT%H:%M:%S"), "provider": provider,
                    "method": method, "path": redact(path), "query": redact(query), "port": port,
                    "headers": redact(headers), "body": redact(_jsonish(body)) if body else None,
                    "status": None, "streamed": False, "response": None, "duration_ms": None}
            if learner is not None:
                item["learner"] = learner
            self.items.append(item)
            return item

    def finish(self, item: dict, *, status: int, response_body: bytes, duration_ms: float, streamed: bool) -> None:
        """Complete a request noted by ``begin`` with its response, and append it to the log file."""
        with self.lock:
            item.update(status=status, streamed=streamed, duration_ms=round(duration_ms, 1),
                        response=redact(_jsonish(response_body) if not streamed else
                                        response_body[:MAX_BODY_CHARS].decode("utf-8", errors="replace")))
            if self.log_file is not None:
                try:
                    with _open_private(self.log_file) as f:
                        f.write(json.dumps(item, ensure_ascii=False) + "\n")
                        size = f.tell()
                    if size > self.max_log_bytes:  # keep one older file: at most about twice the limit on disk
                        os.replace(self.log_file, self.log_file.with_name(self.log_file.name + ".1"))
                except (OSError, ValueError):
                    pass

    def last(self, n: int = 10, learner: str | None = None) -> list[dict]:
        """The last ``n`` exchanges; only ``learner``'s when given."""
        with self.lock:
            items = [i for i in self.items if learner is None or i.get("learner") == learner]
            return items[-n:] if n > 0 else []

    def clear(self, learner: str | None = None) -> None:
        """Forget every exchange, or only ``learner``'s."""
        with self.lock:
            if learner is None:
                self.items.clear()
            else:
                kept = [i for i in self.items if i.get("learner") != learner]
                self.items.clear()
                self.items.extend(kept)
