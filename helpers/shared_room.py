"""A learner's notebook on a workshop's hub: every call to the room's course server says whose it is.

``helpers.setup()`` calls ``enable(url, credential)`` when the hub set ``COURSE_SERVER_URL`` and
``COURSE_LEARNER_TOKEN``. From then on every request this Python process sends to the room's server
carries the learner's credential in one header (``helpers.server.learners.HEADER``), whichever client
sent it (the SDKs through httpx or httpx2, ``requests``) and whatever key it holds. The header is added
where the request leaves the process (the HTTP libraries' transports), so calls that ``helpers`` reroutes
(Hugging Face's) carry it too. The address stays the plain ``COURSE_SERVER_URL``: a cell that prints
a client's ``base_url`` shows no secret.
"""
from __future__ import annotations

import importlib
from typing import Any
from urllib.parse import urlsplit

_state: dict[str, Any] = {}
_patched: list[tuple[Any, str, Any]] = []  # (class, method name, original): what enable() replaced


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, (parts.hostname or "").lower(), port


def _credential_for(url: Any) -> str | None:
    """The credential to send with a request to ``url``: only to the room's server."""
    if not _state:
        return None
    return _state["credential"] if _origin(str(url)) == _state["origin"] else None


def _wrap_sync(original: Any) -> Any:
    def handle_request(self: Any, request: Any) -> Any:
        credential = _credential_for(request.url)
        if credential is not None:
            request.headers[_state["header"]] = credential
        return original(self, request)

    return handle_request


def _wrap_async(original: Any) -> Any:
    async def handle_async_request(self: Any, request: Any) -> Any:
        credential = _credential_for(request.url)
        if credential is not None:
            request.headers[_state["header"]] = credential
        return await original(self, request)

    return handle_async_request


def _wrap_requests(original: Any) -> Any:
    def send(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        credential = _credential_for(request.url)
        if credential is not None:
            request.headers[_state["header"]] = credential
        return original(self, request, *args, **kwargs)

    return send


def _patch_once() -> None:
    if _patched:
        return
    for name in ("httpx", "httpx2"):
        try:
            http = importlib.import_module(name)
        except ImportError:
            continue
        for cls, method, wrap in ((http.HTTPTransport, "handle_request", _wrap_sync),
                                  (http.AsyncHTTPTransport, "handle_async_request", _wrap_async)):
            original = getattr(cls, method)
            _patched.append((cls, method, original))
            setattr(cls, method, wrap(original))
    try:
        from requests.adapters import HTTPAdapter
    except ImportError:
        pass
    else:
        _patched.append((HTTPAdapter, "send", HTTPAdapter.send))
        HTTPAdapter.send = _wrap_requests(HTTPAdapter.send)  # type: ignore[method-assign]
    _patch_websockets()


def _with_credential(uri: Any, kw: dict) -> dict:
    """``kw`` of a ``websockets`` connect, with the credential among its headers when ``uri`` is the room's."""
    from .offline import ws_as_http

    credential = _credential_for(ws_as_http(uri))
    if credential is None:
        return kw
    headers = kw.get("additional_headers")
    if headers is None or isinstance(headers, dict):
        headers = {**(headers or {}), _state["header"]: credential}
    else:  # a list of pairs, or websockets' Headers
        pairs = headers.raw_items() if hasattr(headers, "raw_items") else headers
        headers = [*pairs, (_state["header"], credential)]
    return {**kw, "additional_headers": headers}


def _patch_websockets() -> None:
    """The ``websockets`` client (OpenAI's ``client.responses.connect()``) sends the credential in its handshake."""
    try:
        import websockets.asyncio.client as async_client
        import websockets.sync.client as sync_client
    except ImportError:
        return
    original_sync, original_init = sync_client.connect, async_client.connect.__init__

    def connect(uri: Any, *args: Any, **kw: Any) -> Any:
        return original_sync(uri, *args, **_with_credential(uri, kw))

    def __init__(self: Any, uri: Any, *args: Any, **kw: Any) -> None:
        original_init(self, uri, *args, **_with_credential(uri, kw))

    _patched.append((sync_client, "connect", original_sync))
    _patched.append((async_client.connect, "__init__", original_init))
    sync_client.connect = connect
    async_client.connect.__init__ = __init__  # type: ignore[method-assign]


def enable(url: str, credential: str) -> None:
    """Send ``credential`` with every request to the room's server at ``url`` (from now on, in this process)."""
    from .server.learners import HEADER

    _patch_once()
    _state.update(origin=_origin(url), credential=credential, header=HEADER)


def disable() -> None:
    """Stop sending the credential (``setup()`` does this before deciding again). Safe to call at any time."""
    _state.clear()
    while _patched:
        cls, method, original = _patched.pop()
        setattr(cls, method, original)


def is_enabled() -> bool:
    """True while calls to a workshop's shared server carry this learner's credential."""
    return bool(_state)
