"""Send Hugging Face calls to the course's local server (local mode only).

``enable(base_url)`` redirects, for this Python process:

* every ``huggingface_hub`` call (``InferenceClient``, ``HfApi``) to ``https://<host>.huggingface.co/...``
  or ``https://huggingface.co/...``, through huggingface_hub's public ``set_client_factory`` and
  ``set_async_client_factory`` hooks (with the HTTP library that huggingface_hub itself uses: ``httpx2``
  from version 2 on, ``httpx`` in 1.x, the version Colab preinstalls);
* every ``requests`` call to ``https://router.huggingface.co/``, ``https://api-inference.huggingface.co/``
  or ``https://huggingface.co/`` (the lesson that posts JSON with ``requests``), through a transport
  adapter mounted on each new ``requests.Session``;
* every other client's request for those hosts, or for the inference providers' own hosts
  (``api.together.xyz`` ...): the openai SDK pointed at the router, raw ``httpx``/``httpx2``/``urllib``
  calls, ``InferenceClient(provider=..., api_key=<the provider's own key>)``, through ``helpers.offline``
  with ``scope="huggingface"`` (other hosts are left alone: other providers may be live).

A request keeps its method, headers and body; only the address changes:
``https://router.huggingface.co/v1/chat/completions`` -> ``<base_url>/hf/router/v1/chat/completions``,
``https://huggingface.co/api/models/x`` -> ``<base_url>/hf/hub/api/models/x``. Lesson code stays exactly
what it would be against the real service. It also unsets ``HF_HUB_OFFLINE``, which makes
``InferenceClient`` refuse every call, even to the local server.

``disable()`` undoes all of it (and lifts local mode's guard, ``helpers.offline``, which would keep Hugging Face's
calls here). ``helpers.setup()`` calls these for you; you rarely need them directly.
"""
from __future__ import annotations

import functools
import os
from typing import Any
from urllib.parse import urlsplit

REQUESTS_PREFIXES = ("https://router.huggingface.co/", "https://api-inference.huggingface.co/",
                     "https://huggingface.co/")

_state: dict[str, Any] = {}  # what enable() changed, so that disable() can put it back


def local_url(url: str, base_url: str) -> str | None:
    """The local server's address for a Hugging Face ``url``, or None when ``url`` is not Hugging Face's.

    >>> local_url("https://router.huggingface.co/v1/chat/completions", "http://127.0.0.1:8321")
    'http://127.0.0.1:8321/hf/router/v1/chat/completions'
    """
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme != "https":
        return None
    if host == "huggingface.co":
        name = "hub"
    elif host.endswith(".huggingface.co"):
        name = host[: -len(".huggingface.co")]
    else:
        return None
    path = parts.path or "/"
    return f"{base_url.rstrip('/')}/hf/{name}{path}" + (f"?{parts.query}" if parts.query else "")


def is_enabled() -> bool:
    """True while Hugging Face calls go to the local server."""
    return bool(_state)


def enable(base_url: str) -> None:
    """Send this process's Hugging Face calls to the local server at ``base_url`` (local mode only).

    ``base_url`` is the server's address, such as ``http://127.0.0.1:8321``. Calling it again with another
    address switches to that one. Use ``disable()`` to call the real Hugging Face again.
    """
    import requests
    from huggingface_hub import set_async_client_factory, set_client_factory
    from huggingface_hub.utils import _http

    http = http_library()

    from . import offline

    base_url = base_url.rstrip("/")
    if not base_url.startswith(("http://", "https://")):
        raise ValueError(f"base_url must look like 'http://127.0.0.1:8321' (got {base_url!r}).")
    if _state.get("base_url") == base_url:
        offline.enable(base_url, scope="huggingface")
        return
    disable()

    def client() -> Any:
        return http.Client(transport=_transport(base_url), event_hooks={"request": [_trace_id]},
                             follow_redirects=True, timeout=None, trust_env=False)

    def async_client() -> Any:
        return http.AsyncClient(transport=_transport(base_url, asynchronous=True),
                                  event_hooks={"request": [_async_trace_id], "response": [_read_error_body]},
                                  follow_redirects=True, timeout=None, trust_env=False)

    _state["base_url"] = base_url
    _state["factory"] = getattr(_http, "_GLOBAL_CLIENT_FACTORY", _http.default_client_factory)
    _state["async_factory"] = getattr(_http, "_GLOBAL_ASYNC_CLIENT_FACTORY", _http.default_async_client_factory)
    set_client_factory(client)
    set_async_client_factory(async_client)

    _state["session_init"] = original = requests.Session.__init__
    adapter_cls = _requests_adapter()

    def session_init(self, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        adapter = adapter_cls(base_url)
        for prefix in REQUESTS_PREFIXES:
            self.mount(prefix, adapter)

    session_init.__doc__ = original.__doc__
    requests.Session.__init__ = session_init  # type: ignore[method-assign]

    _state["offline"] = os.environ.pop("HF_HUB_OFFLINE", None)
    offline.enable(base_url, scope="huggingface")  # every other HTTP client's calls to Hugging Face's hosts


def disable() -> None:
    """Undo ``enable()``: Hugging Face calls go to the real service again. Safe to call at any time."""
    import sys

    if "helpers.offline" in sys.modules:
        sys.modules["helpers.offline"].disable()
    if not _state:
        return
    import requests
    from huggingface_hub import set_async_client_factory, set_client_factory

    set_client_factory(_state["factory"])
    set_async_client_factory(_state["async_factory"])
    requests.Session.__init__ = _state["session_init"]  # type: ignore[method-assign]
    if _state.get("offline") is not None and "HF_HUB_OFFLINE" not in os.environ:
        os.environ["HF_HUB_OFFLINE"] = _state["offline"]
    _state.clear()


# ---------------------------------------------------------------------- httpx2 / httpx (huggingface_hub)

def http_library() -> Any:
    """The HTTP library module huggingface_hub uses: ``httpx2`` (huggingface_hub 2.x) or ``httpx`` (1.x).

    Both may be installed (Colab has both), so ask huggingface_hub rather than trying imports.
    """
    from huggingface_hub.utils import _http

    for name in ("httpx2", "httpx"):
        module = getattr(_http, name, None)
        if module is not None and hasattr(module, "Client"):
            return module
    import importlib
    from importlib.metadata import version

    return importlib.import_module("httpx" if version("huggingface_hub").split(".")[0] in ("0", "1") else "httpx2")


def _rewrite(request: Any, base_url: str, url_cls: Any) -> None:
    target = local_url(str(request.url), base_url)
    if target is not None:
        request.url = url_cls(target)
        request.headers["host"] = request.url.netloc.decode("ascii")


@functools.lru_cache(maxsize=2)
def _make_transports(http: Any):
    class SyncRedirect(http.BaseTransport):
        """An httpx2 (or httpx) transport that sends ``*.huggingface.co`` requests to the local server."""

        def __init__(self, base_url: str) -> None:
            self.base_url, self.inner = base_url, http.HTTPTransport(trust_env=False)

        def handle_request(self, request: Any) -> Any:
            _rewrite(request, self.base_url, http.URL)
            return self.inner.handle_request(request)

        def close(self) -> None:
            self.inner.close()

    class AsyncRedirect(http.AsyncBaseTransport):
        """The async twin of ``SyncRedirect``."""

        def __init__(self, base_url: str) -> None:
            self.base_url, self.inner = base_url, http.AsyncHTTPTransport(trust_env=False)

        async def handle_async_request(self, request: Any) -> Any:
            _rewrite(request, self.base_url, http.URL)
            return await self.inner.handle_async_request(request)

        async def aclose(self) -> None:
            await self.inner.aclose()

    return SyncRedirect, AsyncRedirect


def _transport(base_url: str, asynchronous: bool = False) -> Any:
    """A redirecting transport (its classes are built on first use, so importing this module stays fast)."""
    sync_cls, async_cls = _make_transports(http_library())
    return (async_cls if asynchronous else sync_cls)(base_url)


def _trace_id(request: Any) -> None:
    # huggingface_hub's own hook also adds a request id; the local server's inspector shows it.
    import uuid

    request.headers.setdefault("x-amzn-trace-id", str(uuid.uuid4()))


async def _async_trace_id(request: Any) -> None:
    _trace_id(request)


async def _read_error_body(response: Any) -> None:
    # As huggingface_hub's async client does: read an error's body so the exception can show the message.
    if response.status_code >= 400:
        await response.aread()


# ---------------------------------------------------------------------- requests

@functools.lru_cache(maxsize=1)
def _requests_adapter():
    from requests.adapters import HTTPAdapter

    class LocalAdapter(HTTPAdapter):
        """A requests adapter that sends Hugging Face URLs to the local server, body and headers unchanged."""

        def __init__(self, base_url: str) -> None:
            super().__init__()
            self.base_url = base_url

        def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):  # type: ignore[override]
            target = local_url(request.url, self.base_url)
            if target is not None:
                request.url = target
                request.headers.pop("Host", None)
                proxies = {}  # loopback: never through a proxy set for the real host
            return super().send(request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies)

    return LocalAdapter
