"""Connections that fail on purpose: see what each SDK raises when a provider cannot be reached.

A provider can fail before it answers anything: the network drops, the server closes the connection, or it
never replies. Each SDK then raises its own kind of error, not an HTTP error. To see them without breaking
your network, point a client at a tiny server on your own machine that misbehaves::

    from helpers import unreachable

    with unreachable.server("drop") as url:          # accepts each connection and closes it at once
        OpenAI(base_url=url + "/v1", api_key="x", max_retries=0).models.list()   # openai.APIConnectionError

    with unreachable.provider("gemini"):             # genai.Client() made inside talks to a dropping server
        genai.Client().models.generate_content(...)  # httpx2.RemoteProtocolError (or ReadError)

Nothing leaves your machine: the server listens on 127.0.0.1 only, and it never reads what it is sent.
"""
from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

MODES = ("drop", "silent", "closed")

# The environment variable each SDK reads for its address (helpers.setup() sets them in local mode).
BASE_URL_VARIABLE = {"openai": "OPENAI_BASE_URL", "groq": "GROQ_BASE_URL", "gemini": "GOOGLE_GEMINI_BASE_URL"}


@contextmanager
def server(mode: str = "drop") -> Iterator[str]:
    """A misbehaving server on 127.0.0.1 while the ``with`` block runs; yields its address (``http://127.0.0.1:PORT``).

    ``mode``:

    * ``"drop"``: accepts each connection and closes it at once (a connection dropped mid-request);
    * ``"silent"``: accepts each connection and never answers (a timeout, if your client has one);
    * ``"closed"``: nothing listens on the port (connection refused, as when a server is down).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}; got {mode!r}.")
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    if mode == "closed":
        listener.close()  # the port was free a moment ago and nothing listens on it now
        yield url
        return
    listener.listen(16)
    listener.settimeout(0.1)  # accept() wakes up 10 times a second to see whether the block has ended
    ended = threading.Event()
    held: list[socket.socket] = []  # "silent" keeps its connections open until the block ends

    def accept_until_ended() -> None:
        while not ended.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if mode == "drop":
                connection.close()
            else:
                held.append(connection)

    thread = threading.Thread(target=accept_until_ended, name=f"unreachable-{mode}", daemon=True)
    thread.start()
    try:
        yield url
    finally:
        ended.set()
        thread.join(timeout=2)
        listener.close()
        for connection in held:
            connection.close()


@contextmanager
def provider(name: str, mode: str = "drop") -> Iterator[str]:
    """While the ``with`` block runs, SDK clients for provider ``name`` created inside it reach a misbehaving server.

    ``name`` is "openai", "groq", "gemini" or "huggingface". Clients created inside the block (``OpenAI()``,
    ``Groq()``, ``genai.Client()``, ``InferenceClient()``) send their requests to :func:`server` in ``mode``;
    everything is put back when the block ends, in live and in local mode alike. Yields the server's address.
    """
    if name not in (*BASE_URL_VARIABLE, "huggingface"):
        raise ValueError(f"provider must be one of openai, groq, gemini, huggingface; got {name!r}.")
    with server(mode) as url:
        if name == "huggingface":
            with _huggingface_at(url):
                yield url
            return
        variable = BASE_URL_VARIABLE[name]
        before = os.environ.get(variable)
        os.environ[variable] = url + "/v1" if name == "openai" else url  # groq and gemini add their own paths
        try:
            yield url
        finally:
            if before is None:
                os.environ.pop(variable, None)
            else:
                os.environ[variable] = before


@contextmanager
def _huggingface_at(url: str) -> Iterator[None]:
    """Send huggingface_hub's requests to ``url`` (through the course's redirect), then put things back."""
    from . import hf_local

    previous = hf_local._state.get("base_url")  # the local server's address in local mode; None when live
    hf_local.enable(url)
    try:
        yield
    finally:
        if previous:
            hf_local.enable(previous)
        else:
            hf_local.disable()
