"""Local mode keeps every request on this machine.

``enable(base_url)`` makes, for this Python process, every HTTP library the SDKs use (``httpx``, ``httpx2``,
``requests``/``urllib3``, ``urllib``) do one of three things with a request, however its client was built (an
explicit ``base_url`` too):

* a request for a provider host the course knows goes to the local server at ``base_url`` instead, method,
  headers and body unchanged (``local_target`` says where): ``api.openai.com``, ``api.groq.com``,
  ``generativelanguage.googleapis.com``, ``huggingface.co`` and ``*.huggingface.co`` (the router, the retired
  api-inference service, the Hub), and the host of every inference provider that ``huggingface_hub`` knows
  (``api.together.xyz`` and the others; their calls are answered as the router's ``/<provider>/...`` calls);
* a request for this machine (``localhost``, ``127.0.0.0/8``, ``::1``: the local server, LM Studio) goes
  through unchanged;
* a request for any other host fails at once with ``LocalModeBlocked`` (an error of the library's own kind too,
  so ``except requests.RequestException`` still catches it), saying how to go live.

``enable(base_url, scope="huggingface")`` does less, for a Hugging Face that is local while other providers may be
live (``helpers.hf_local.enable`` calls it): only Hugging Face's hosts and its third-party providers' hosts go to the
local server (so ``OpenAI(base_url="https://router.huggingface.co/v1")`` is answered locally too); every other request
goes where its client sends it.

``disable()`` undoes all of it. ``helpers.setup("local")`` calls ``enable()``; any other mode calls ``disable()``.
"""
from __future__ import annotations

import ipaddress
import threading
from typing import Any, Callable
from urllib.parse import urlsplit, urlunsplit

# Hosts whose paths the local server answers as they are (the SDKs' base URLs in local mode are the server's root).
SAME_PATH_HOSTS = ("api.openai.com", "api.groq.com", "generativelanguage.googleapis.com")

_state: dict[str, Any] = {}  # what enable() patched (name -> original), plus "base_url" and "hosts"
_lock = threading.Lock()


class LocalModeBlocked(Exception):
    """A request for a host outside this machine, refused because the course is in local mode."""


def blocked_message(url: str) -> str:
    """What a refused request says: why, and how to go live."""
    host = urlsplit(url).hostname or url
    return (f"Local mode keeps everything on this machine, so this request for {host} was not sent ({url}). "
            "The course's local server answers the providers' APIs (OpenAI, Gemini, Groq, Hugging Face) but "
            "nothing else. To call real services, add your API key (lesson 02) and run helpers.setup('live') "
            "(or helpers.setup('auto')).")


# ---------------------------------------------------------------------- where a request goes

def is_loopback(host: str | None) -> bool:
    """True for this machine's own addresses: ``localhost``, ``*.localhost``, ``127.0.0.0/8``, ``::1``."""
    host = (host or "").strip("[]").lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def provider_hosts() -> dict[str, str]:
    """Each third-party inference provider's host (from ``huggingface_hub``) -> its router path ``/<provider>``.

    ``InferenceClient(provider="together", api_key=<Together's own key>)`` calls ``api.together.xyz`` directly;
    in local mode that call is answered as ``router.huggingface.co/together/...`` would be.
    """
    hosts: dict[str, str] = {}
    try:
        from huggingface_hub.inference._providers import PROVIDERS
    except ImportError:  # huggingface_hub missing or reorganised: the other hosts are still covered
        return hosts
    for provider, helpers in PROVIDERS.items():
        for helper in helpers.values():
            host = (urlsplit(str(getattr(helper, "base_url", "") or "")).hostname or "").lower()
            if host and not _is_huggingface(host) and host not in SAME_PATH_HOSTS:
                hosts.setdefault(host, f"/{provider}")
    return hosts


def _is_huggingface(host: str) -> bool:
    return host == "huggingface.co" or host.endswith(".huggingface.co")


def local_target(url: str, base_url: str, hosts: dict[str, str] | None = None) -> str | None:
    """The local server's address for a provider ``url``; ``url`` itself for this machine; None: refuse it.

    >>> local_target("https://api.openai.com/v1/chat/completions", "http://127.0.0.1:8321")
    'http://127.0.0.1:8321/v1/chat/completions'
    >>> local_target("https://example.com/", "http://127.0.0.1:8321") is None
    True
    """
    from .hf_local import local_url

    parts = urlsplit(url)
    host = (parts.hostname or "").lower().rstrip(".")
    if is_loopback(host):
        return url
    base = base_url.rstrip("/")
    tail = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if _is_huggingface(host):
        return local_url(urlunsplit(("https", host, parts.path, parts.query, "")), base)
    if host in SAME_PATH_HOSTS:
        return base + tail
    hosts = provider_hosts() if hosts is None else hosts
    if host in hosts:
        return f"{base}/hf/router{hosts[host]}{tail}"
    return None


def route(url: str, error: Callable[[str], Exception]) -> str:
    """Where a request for ``url`` goes while local mode is on (``url`` unchanged when it is off).

    A host outside this machine that is not a known provider raises ``error(message)``.
    """
    base = _state.get("base_url")
    if base is None:
        return url
    if _state.get("scope") == "huggingface":
        host = (urlsplit(url).hostname or "").lower().rstrip(".")
        if not (_is_huggingface(host) or host in _state["hosts"]):
            return url
    target = local_target(url, base, _state["hosts"])
    if target is None:
        raise error(blocked_message(url))
    return target


def is_enabled() -> bool:
    """True while local mode keeps every request on this machine (``scope="all"``)."""
    return _state.get("scope") == "all"


def scope() -> str | None:
    """"all" (local mode: nothing leaves this machine), "huggingface" (only its hosts are local) or None (off)."""
    return _state.get("scope")


def enable(base_url: str, scope: str = "all") -> None:
    """Keep this process's requests on this machine: providers' hosts go to ``base_url``, other hosts fail.

    ``base_url`` is the local server's address, such as ``http://127.0.0.1:8321``. ``scope="huggingface"``
    sends only Hugging Face's (and its inference providers') hosts there and lets everything else through; it
    never narrows an ``"all"`` already in force. Safe to call again.
    """
    if scope not in ("all", "huggingface"):
        raise ValueError(f"scope must be 'all' or 'huggingface' (got {scope!r}).")
    base_url = base_url.rstrip("/")
    if not base_url.startswith(("http://", "https://")) or not is_loopback(urlsplit(base_url).hostname):
        raise ValueError(f"base_url must be the local server on this machine, like 'http://127.0.0.1:8321' "
                         f"(got {base_url!r}).")
    with _lock:
        hosts = provider_hosts()
        if not _state.get("patched"):
            for patch in (_patch_httpx, _patch_requests, _patch_urllib, _patch_websockets):
                patch()
            _state["patched"] = True
        if scope == "huggingface" and _state.get("scope") == "all" and _state.get("base_url") == base_url:
            return
        _state["hosts"], _state["base_url"], _state["scope"] = hosts, base_url, scope


def disable() -> None:
    """Undo ``enable()``: requests go wherever their clients send them again. Safe to call at any time."""
    with _lock:
        for (owner, name), original in _state.pop("originals", {}).items():
            setattr(owner, name, original)
        _state.clear()


def _replace(owner: Any, name: str, make: Callable[[Any], Any]) -> None:
    original = getattr(owner, name)
    _state.setdefault("originals", {})[(owner, name)] = original
    new = make(original)
    new.__doc__, new.__name__ = original.__doc__, original.__name__
    setattr(owner, name, new)


def _error_class(base: type, name: str = "LocalModeBlocked") -> type:
    """An error that is both ``LocalModeBlocked`` and the HTTP library's own kind (``base``)."""
    return type(name, (base, LocalModeBlocked), {"__module__": __name__})


# ---------------------------------------------------------------------- httpx and httpx2

def _patch_httpx() -> None:
    import importlib

    for name in ("httpx", "httpx2"):
        try:
            http = importlib.import_module(name)
        except ImportError:
            continue
        _patch_one_httpx(http)


def _direct(transport: Any) -> bool:
    """True when an httpx transport connects directly (no proxy that would carry loopback traffic away)."""
    return type(getattr(transport, "_pool", None)).__name__ in ("ConnectionPool", "AsyncConnectionPool")


def _patch_one_httpx(http: Any) -> None:
    error = _error_class(http.ConnectError)

    def rewrite(request: Any) -> bool:
        old = str(request.url)
        target = route(old, lambda msg: error(msg, request=request))
        if target == old:
            return False
        request.url = http.URL(target)
        request.headers["host"] = request.url.netloc.decode("ascii")
        return True

    def make_sync(original: Any) -> Any:
        def handle_request(self: Any, request: Any) -> Any:
            if rewrite(request) and not _direct(self):
                return original(http.HTTPTransport(trust_env=False), request)
            return original(self, request)
        return handle_request

    def make_async(original: Any) -> Any:
        async def handle_async_request(self: Any, request: Any) -> Any:
            if rewrite(request) and not _direct(self):
                return await original(http.AsyncHTTPTransport(trust_env=False), request)
            return await original(self, request)
        return handle_async_request

    _replace(http.HTTPTransport, "handle_request", make_sync)
    _replace(http.AsyncHTTPTransport, "handle_async_request", make_async)


# ---------------------------------------------------------------------- requests and urllib3

def _patch_requests() -> None:
    try:
        import urllib3
        from urllib3.connectionpool import HTTPConnectionPool
    except ImportError:
        return
    urllib3_error = _error_class(urllib3.exceptions.HTTPError)

    def make_pool_urlopen(original: Any) -> Any:
        def urlopen(self: Any, method: str, url: str, redirect: bool = True, **kw: Any) -> Any:
            target = route(url, urllib3_error) if "://" in url else url
            if target != url and isinstance(self, urllib3.ProxyManager):
                return original(_plain_pool_manager(urllib3), method, target, redirect=redirect, **kw)
            return original(self, method, target, redirect=redirect, **kw)
        return urlopen

    def make_connection_urlopen(original: Any) -> Any:
        def urlopen(self: Any, method: str, url: str, *args: Any, **kw: Any) -> Any:
            # the last line of defence: a connection pool for a host outside this machine is never used
            if is_enabled() and not is_loopback(self.host) and not getattr(self, "proxy", None):
                raise urllib3_error(blocked_message(f"{self.scheme}://{self.host}{url if url.startswith('/') else ''}"))
            return original(self, method, url, *args, **kw)
        return urlopen

    _replace(urllib3.PoolManager, "urlopen", make_pool_urlopen)
    _replace(HTTPConnectionPool, "urlopen", make_connection_urlopen)

    try:
        import requests
        from requests.adapters import HTTPAdapter
    except ImportError:
        return
    requests_error = _error_class(requests.exceptions.ConnectionError)

    def make_send(original: Any) -> Any:
        def send(self: Any, request: Any, stream: bool = False, timeout: Any = None, verify: Any = True,
                 cert: Any = None, proxies: Any = None) -> Any:
            target = route(request.url, lambda msg: requests_error(msg, request=request))
            if target != request.url:
                request.url = target
                request.headers.pop("Host", None)
                proxies = {}  # loopback: never through a proxy set for the real host
            return original(self, request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies)
        return send

    _replace(HTTPAdapter, "send", make_send)


_pool_managers: dict[int, Any] = {}


def _plain_pool_manager(urllib3: Any) -> Any:
    return _pool_managers.setdefault(0, urllib3.PoolManager())


# ---------------------------------------------------------------------- urllib

def _patch_urllib() -> None:
    import urllib.error
    import urllib.request

    error = _error_class(urllib.error.URLError)
    direct: dict[str, Any] = {}

    def make_open(original: Any) -> Any:
        def open(self: Any, fullurl: Any, data: Any = None, timeout: Any = urllib.request.socket._GLOBAL_DEFAULT_TIMEOUT):
            req = fullurl if isinstance(fullurl, urllib.request.Request) else urllib.request.Request(fullurl, data)
            target = route(req.full_url, error)
            if target != req.full_url:
                req.full_url = target
                req.remove_header("Host")
                opener = direct.setdefault("opener", urllib.request.build_opener(urllib.request.ProxyHandler({})))
                return original(opener, req, data, timeout)
            return original(self, fullurl, data, timeout)
        return open

    _replace(urllib.request.OpenerDirector, "open", make_open)


# ---------------------------------------------------------------------- websockets (OpenAI's WebSocket modes)

def ws_as_http(url: Any) -> str:
    """A ``ws://``/``wss://`` address as its ``http://``/``https://`` twin (other addresses unchanged)."""
    scheme, sep, rest = str(url).partition("://")
    return {"ws": "http", "wss": "https"}.get(scheme.lower(), scheme) + sep + rest


def _http_as_ws(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    return {"http": "ws", "https": "wss"}.get(scheme.lower(), scheme) + sep + rest


def _patch_websockets() -> None:
    """Route the ``websockets`` client (``client.responses.connect()``) as an HTTP request to its twin address."""
    try:
        import websockets.asyncio.client as async_client
        import websockets.sync.client as sync_client
    except ImportError:
        return
    error = _error_class(OSError)  # websockets' callers expect an OSError from a connection that fails

    def routed(uri: Any) -> str:
        return _http_as_ws(route(ws_as_http(uri), error))

    def make_sync(original: Any) -> Any:
        def connect(uri: Any, *args: Any, **kw: Any) -> Any:
            return original(routed(uri), *args, **kw)
        return connect

    def make_async_init(original: Any) -> Any:
        def __init__(self: Any, uri: Any, *args: Any, **kw: Any) -> None:
            original(self, routed(uri), *args, **kw)
        return __init__

    _replace(sync_client, "connect", make_sync)  # the SDK imports it when it connects, so this is what it gets
    _replace(async_client.connect, "__init__", make_async_init)  # the SDK's async connect subclasses this class

