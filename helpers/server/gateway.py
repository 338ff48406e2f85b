"""The provider gateway: one Starlette app that answers the official SDKs with the local model.

Route map (see the protocol modules for the details):

* OpenAI and LM Studio: ``/v1/chat/completions``, ``/v1/responses`` (also as a WebSocket:
  ``openai_responses_ws``), ``/v1/embeddings``, ``/v1/models``
* Groq: the same under ``/openai/v1/``
* Gemini: ``/v1/`` and ``/v1beta/`` ``models/{model}:generateContent`` and friends (told apart from
  OpenAI's ``/v1/models`` by Google's ``x-goog-api-key`` / ``x-goog-api-client`` headers), and the
  Interactions API, ``/v1/interactions`` (``gemini_interactions``)
* Hugging Face: ``/hf/<host>/...``, where the course's client hook sends ``*.huggingface.co``
* the course's own: ``/_course/health``, ``/_course/requests`` (both need the state token)

Who may use it (``AccessGuard``, WebSocket handshakes included): programs on this machine that address it as
``127.0.0.1``, ``localhost`` or ``[::1]``. A web page cannot: a foreign ``Host`` (DNS rebinding) and any request a
browser marks as coming from a page (``Origin``, ``Sec-Fetch-Site``) get a 403 in the provider's
shape, and bodies a page may send without asking first (``text/plain``, forms) get a 400. The
``/_course/*`` routes (health with the pid and token, the request inspector) also need the state token
from ``server.json`` (``x-course-token: <token>`` or ``Authorization: Bearer <token>``).

Secrets: the inspector stores requests through ``helpers.masking.redact``, and any error answer
(status 400 and above) passes through it too, so no answer echoes a key.
"""
from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import os
import secrets
import time
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute

from . import faults, gemini_api, gemini_interactions, hf_api, learners, openai_api, openai_responses_ws
from .common import Reject
from .embeddings import Embedder
from .engine import FallbackEngine, LlamaEngine
from ..masking import redact
from .inspector import Inspector, request_notes
from .lifecycle import TOKEN_HEADER, code_version

SERVICE = "genai-api-course-local-server"
SERVICE_HEADER = "x-course-service"  # on refusals: tells a course server (not ours) from LM Studio without the token
VERSION = code_version()  # the source this process runs; helpers restart a server whose version differs
MAX_BODY = 8 * 1024 * 1024  # 8 MB: enough for an image in a multimodal lesson, small enough to refuse junk


class Backend:
    """What every request handler shares: the engine, the embedder and the inspector."""

    def __init__(self, state_dir: Path, engine_mode: str | None = None):
        self.state_dir = state_dir
        self.inspector = Inspector(state_dir / "requests.jsonl")
        self.embedder = Embedder()
        self.engine_mode = engine_mode or os.environ.get("COURSE_ENGINE", "auto")
        self.engine: LlamaEngine | FallbackEngine = FallbackEngine("engine not started yet")
        self.engine_error: str | None = None
        self.started = time.time()

    def start_engine(self) -> None:
        """Start llama.cpp; on any failure use the labelled fallback responder and remember why."""
        if self.engine_mode == "fallback":
            self.engine_error = "COURSE_ENGINE=fallback was set"
            self.engine = FallbackEngine(self.engine_error)
            return
        engine = LlamaEngine(self.state_dir)
        try:
            engine.start()
            self.engine, self.engine_error = engine, None
        except Exception as e:  # no wheel, no AVX2 (illegal instruction), model missing, ...
            self.engine_error = str(e)
            self.engine = FallbackEngine(_short_reason(str(e)))

    def status(self) -> dict:
        e = self.engine
        return {"kind": e.kind, "model": e.model, "pid": e.pid(), "port": getattr(e, "port", None), "alive": e.alive(),
                "started_in_s": getattr(e, "started_in", None), "error": self.engine_error,
                "restarts": getattr(e, "restarts", 0), "embeddings": self.embedder.kind}

    async def watch_engine(self) -> None:
        """Restart a crashed engine once; after a second crash, switch to the fallback loudly."""
        while True:
            await asyncio.sleep(2)
            e = self.engine
            if isinstance(e, LlamaEngine) and not e.alive():
                code = e.proc.returncode if e.proc else None
                if e.restarts >= 1:
                    self.engine_error = f"the model engine crashed twice (exit code {code})"
                    self.engine = FallbackEngine(self.engine_error)
                    continue
                e.restarts += 1
                try:
                    await asyncio.to_thread(e.start)
                except Exception as err:
                    self.engine_error = f"the model engine crashed (exit code {code}) and could not restart: {err}"
                    self.engine = FallbackEngine(_short_reason(self.engine_error))

    def stop(self) -> None:
        self.engine.stop()


def _short_reason(text: str) -> str:
    if "not installed" in text:
        return "the offline model is not installed: run `python -m helpers install-model`"
    if "No module named 'xllamacpp'" in text:
        return "xllamacpp has no wheel for this platform"
    if "-4" in text or "illegal" in text.lower():
        return "llama.cpp crashed on start (this CPU may lack AVX2)"
    return text[:160]


def provider_for(request: Request) -> str:
    """Which provider's error shape a request expects."""
    path = request.url.path
    if path.startswith("/hf/"):
        return "huggingface"
    if is_gemini(request):
        return "gemini"
    if path.startswith("/openai/"):
        return "groq"
    return openai_api.provider_of(request)


def is_gemini(request: Request) -> bool:
    """True for a google-genai (or Gemini REST) request."""
    path = request.url.path
    if path.startswith(("/v1beta/", "/v1/interactions")) or ":" in path.rsplit("/", 1)[-1]:
        return True
    h = request.headers
    return path.startswith("/v1/models") and bool(
        h.get("x-goog-api-key") or "google-genai" in h.get("x-goog-api-client", "") or "key" in request.query_params)


async def models_route(request: Request) -> Response:
    """``/v1/models...`` and ``/v1beta/models...``: Gemini or OpenAI, by who is asking."""
    rest = request.path_params.get("rest")
    if is_gemini(request):
        version = request.url.path.split("/")[1]
        return await gemini_api.models_endpoint(request, version, rest)
    if request.method != "GET":
        return faults.bad_request("openai", f"Invalid URL ({request.method} {request.url.path})", 404)
    if rest:
        request.path_params["model"] = rest
        return await openai_api.with_request_id(openai_api.get_model)(request)
    return await openai_api.with_request_id(openai_api.list_models)(request)


async def health(request: Request) -> Response:
    """The server's own description (pid, ports, token, engine): only for a caller holding the token. A learner of
    a shared server gets what their notebook needs, never the token."""
    st = request.app.state
    learner = request.scope.get("course_learner")
    if learner is not None:
        return JSONResponse({"service": SERVICE, "version": VERSION, "shared": True, "learner": learner,
                             "engine": st.backend.status(), "uptime_s": round(time.time() - st.backend.started, 1)})
    return JSONResponse({"service": SERVICE, "version": VERSION, "pid": os.getpid(), "token": st.token, "port": st.port,
                         "lmstudio_port": st.lmstudio_port, "engine": st.backend.status(),
                         "uptime_s": round(time.time() - st.backend.started, 1)})


MAX_INSPECTED = 1000  # more than the inspector ever keeps


async def requests_log(request: Request) -> Response:
    """``GET ?n=10``: the last n recorded exchanges (keys masked); ``DELETE``: forget them. A learner of a shared
    server sees and forgets only their own."""
    inspector = request.app.state.backend.inspector
    learner = request.scope.get("course_learner")
    if request.method == "DELETE":
        inspector.clear(learner)
        return JSONResponse({"cleared": True})
    raw = request.query_params.get("n", "10").strip()
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 6:
        return _course_error(400, "The parameter n must be a whole number of requests, such as n=10.",
                             "invalid_parameter")
    # ensure_ascii: a lone surrogate a client sent (valid JSON, not valid UTF-8) must not break this answer
    body = json.dumps(inspector.last(min(int(raw), MAX_INSPECTED), learner))
    return Response(body, media_type="application/json")


def _course_error(status: int, message: str, code: str) -> JSONResponse:
    """An error of the course's own routes, in the OpenAI-style shape the other errors use."""
    return JSONResponse({"error": {"message": message + " (from the course's local server)",
                                   "type": "invalid_request_error" if status == 400 else "authentication_error",
                                   "param": None, "code": code}},
                        status_code=status, headers={SERVICE_HEADER: SERVICE})


async def on_reject(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Reject)
    return exc.response


async def on_not_found(request: Request, exc: Exception) -> Response:
    code = getattr(exc, "status_code", 404)
    return faults.bad_request(provider_for(request), f"Invalid URL ({request.method} {request.url.path}): "
                              "this path does not exist on the provider's API.", code if code in (404, 405) else 404)


async def on_error(request: Request, exc: Exception) -> Response:
    """A bug outside the route handlers (those answer their own errors: ``common.supervise``): a provider-shaped
    500 naming only the kind of error (a message could quote what the client sent), the traceback in server.log."""
    from .common import internal_error, log_exception

    log_exception(request, exc)
    return internal_error(provider_for(request), exc)


class InspectAndGuard:
    """ASGI middleware: refuses oversized bodies and records every exchange in the inspector."""

    def __init__(self, app, backend: Backend):
        self.app, self.backend = app, backend

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"].startswith("/_course"):
            return await self.app(scope, receive, send)
        request = Request(scope)
        declared = int(request.headers.get("content-length") or 0)
        body, more = b"", True
        while more and declared <= MAX_BODY and len(body) <= MAX_BODY:
            msg = await receive()
            body += msg.get("body", b"")
            more = msg.get("more_body", False)
        status, chunks, streamed, recorded = 500, [], False, False
        t0 = time.perf_counter()
        port = (scope.get("server") or (None, 0))[1]
        item = self.backend.inspector.begin(
            provider=provider_for(request), method=scope["method"], path=scope["path"],
            query=scope.get("query_string", b"").decode(errors="replace"), port=port,
            headers=dict(request.headers), body=body[:2000] if len(body) > MAX_BODY else body,
            learner=scope.get("course_learner"))

        def record() -> None:
            nonlocal recorded
            if not recorded:
                recorded = True
                if scope.get("course_notes"):  # what the local server did to behave as the requested model
                    item["emulation"] = list(scope["course_notes"])
                self.backend.inspector.finish(item, status=status, response_body=b"".join(chunks),
                                              duration_ms=(time.perf_counter() - t0) * 1000, streamed=streamed)

        async def capture(msg):
            nonlocal status, streamed
            if msg["type"] == "http.response.start":
                status = msg["status"]
                streamed = any(k == b"content-type" and b"event-stream" in v for k, v in msg.get("headers", []))
            elif msg["type"] == "http.response.body":
                if sum(map(len, chunks)) < 40_000:
                    chunks.append(msg.get("body", b""))
                if not msg.get("more_body", False):
                    record()  # before the client sees the end, so the inspector is never behind the caller
            await send(msg)

        if declared > MAX_BODY or len(body) > MAX_BODY:
            resp = faults.bad_request(provider_for(request), f"Request body too large: the limit is "
                                      f"{MAX_BODY // (1024 * 1024)} MB.", 413)
            await resp(scope, receive, capture)
        else:
            delivered = False

            async def replay():
                nonlocal delivered
                if not delivered:
                    delivered = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            notes = request_notes.set(scope.setdefault("course_notes", []))  # notes from deeper down
            try:
                await self.app(scope, replay, capture)
            finally:
                request_notes.reset(notes)
                record()


LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
# The body types a web page may send to any address without asking first (no CORS preflight); the SDKs send JSON.
PAGE_BODY_TYPES = ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data")


def _header(scope, name: bytes) -> str | None:
    for k, v in scope.get("headers") or []:
        if k == name:
            return v.decode("latin-1")
    return None


def host_allowed(host: str | None, ports: set[int]) -> bool:
    """True for ``127.0.0.1``, ``localhost`` or ``[::1]``, without a port or with one of ``ports``."""
    if not host:
        return False
    host = host.strip().lower()
    if host.startswith("["):
        name, _, rest = host.partition("]")
        name, port = name + "]", rest[1:] if rest.startswith(":") else (None if not rest else "x")
    else:
        name, sep, port = host.partition(":")
        port = port if sep else None
    if name not in LOOPBACK_NAMES:
        return False
    return port is None or (port.isdigit() and int(port) in ports)


def origin_allowed(origin: str, ports: set[int]) -> bool:
    """An ``Origin`` header is accepted only when it is the server's own address (no page there runs code)."""
    scheme, sep, rest = origin.strip().lower().partition("://")
    return scheme == "http" and bool(sep) and "/" not in rest and host_allowed(rest, ports) and ":" in rest


class AccessGuard:
    """ASGI middleware, outermost: only programs on this machine, addressing it as localhost, get in.

    Refuses, before any work: a foreign ``Host`` (403: a page that rebinds its own name to 127.0.0.1 still
    sends its name), a request a browser marks as a page's (``Origin`` other than the server's own address,
    ``Sec-Fetch-Site: cross-site`` or ``same-site``: 403), a body a page may send without a preflight
    (``text/plain``, a form, multipart: 400, the SDKs send JSON), and ``/_course/*`` without the state
    token (401). Refusals are in the provider's error shape and never quote what was sent.
    """

    def __init__(self, app, gateway: Starlette):
        self.app, self.gateway = app, gateway

    def _ports(self, scope) -> set[int]:
        st = self.gateway.state
        ports = {p for p in (getattr(st, "port", None), getattr(st, "lmstudio_port", None)) if p}
        server = scope.get("server")
        if server and server[1]:
            ports.add(server[1])
        return ports

    @staticmethod
    def _refuse(scope, status: int, message: str, code: str) -> Response:
        """A refusal in the shape the caller expects: the course's own for ``/_course``, else its provider's."""
        if scope.get("path", "").startswith("/_course"):
            return _course_error(status, message, code)
        resp = faults.bad_request(provider_for(HTTPConnection(scope)), message, status, code)  # type: ignore[arg-type]
        resp.headers[SERVICE_HEADER] = SERVICE
        return resp

    def identify(self, scope) -> Response | None:
        """In a shared server (``learners``): read the learner's credential header, note the learner in the scope
        (``course_learner``) and refuse a call that names no valid learner. A one-person server has nothing to
        do here."""
        secret = getattr(self.gateway.state, "shared_secret", None)
        if not secret:
            return None
        credential = _header(scope, learners.HEADER.encode())
        if credential is None:
            if scope.get("path", "").startswith("/_course"):
                return None  # the room's owner, with the state token (checked by ``refusal``)
            return self._refuse(scope, 401, "This is a workshop's shared course server: calls reach it through "
                                "helpers.setup(), which adds your learner credential to each call (the hub sets "
                                "COURSE_SERVER_URL and COURSE_LEARNER_TOKEN).", "learner_credential_required")
        user = learners.learner_of(secret, credential.strip())
        if user is None:
            return self._refuse(scope, 401, "This learner credential is not valid on this workshop's course server: "
                                "run helpers.setup() again, and if it still fails, ask the instructor (the hub sets "
                                "COURSE_LEARNER_TOKEN).", "invalid_learner_credential")
        scope["course_learner"] = user
        return None

    def refusal(self, scope) -> Response | None:
        """The answer that refuses this request, or None when it may pass."""
        path = scope.get("path", "")
        course = path.startswith("/_course")
        ports = self._ports(scope)

        def refuse(status: int, message: str, code: str) -> Response:
            return self._refuse(scope, status, message, code)

        if not host_allowed(_header(scope, b"host"), ports):
            return refuse(403, "This server answers only requests addressed to 127.0.0.1 or localhost on its own "
                          "port (the Host header names another address).", "host_not_allowed")
        origin = _header(scope, b"origin")
        site = (_header(scope, b"sec-fetch-site") or "").lower()
        if (origin is not None and not origin_allowed(origin, ports)) or site in ("cross-site", "same-site"):
            return refuse(403, "Requests from web pages are refused: the course's local server is for programs on "
                          "this computer (the SDKs, Python code), not for sites open in a browser.",
                          "origin_not_allowed")
        if course and scope.get("course_learner") is not None:
            return None if path in ("/_course/health", "/_course/requests") else \
                refuse(404, "Not a course route for learners: use /_course/health or /_course/requests.", "not_found")
        if course:
            token = getattr(self.gateway.state, "token", "") or ""
            given = _header(scope, TOKEN_HEADER.encode()) or ""
            auth = _header(scope, b"authorization") or ""
            if not given and auth[:7].lower() == "bearer ":
                given = auth[7:].strip()
            if not (token and given and hmac.compare_digest(given.encode(), token.encode())):
                return refuse(401, "The course's own routes need the server's token (x-course-token, from server.json "
                              "in the state folder): use helpers.server.last_requests() and "
                              "helpers.server.status() instead.", "course_token_required")
            return None
        ctype = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
        if scope.get("method") in ("POST", "PUT", "PATCH") and ctype in PAGE_BODY_TYPES:
            return refuse(400, "Unsupported content type: send a JSON body with 'Content-Type: application/json', "
                          "as the SDKs do.", "unsupported_content_type")
        return None

    async def __call__(self, scope, receive, send):
        if scope["type"] in ("http", "websocket"):
            resp = self.identify(scope) or self.refusal(scope)
            if resp is not None:
                if scope["type"] == "websocket" and "websocket.http.response" not in scope.get("extensions", {}):
                    return await send({"type": "websocket.close", "code": 1008})  # no HTTP answer possible
                return await resp(scope, receive, send)  # a WebSocket handshake gets it as its HTTP answer
        return await self.app(scope, receive, send)


class RedactErrors:
    """ASGI middleware around the whole app: an error answer (status 400 or more) never echoes a key.

    Its body passes through ``helpers.masking.redact`` (keys of every provider's shape, ``key=...``,
    ``Bearer ...``, secret-named fields), the 500s of Starlette's own error handler included.
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start: dict | None = None
        parts: list[bytes] = []

        async def filtered(msg):
            nonlocal start
            if msg["type"] == "http.response.start":
                headers = msg.get("headers") or []
                stream = any(k.lower() == b"content-type" and b"event-stream" in v for k, v in headers)
                if msg["status"] >= 400 and not stream:
                    start = msg  # held until the whole body is here
                    return
            elif msg["type"] == "http.response.body" and start is not None:
                parts.append(msg.get("body", b""))
                if msg.get("more_body", False):
                    return
                body = redact(b"".join(parts)).encode("utf-8")
                headers = [(k, v) for k, v in start.get("headers") or [] if k.lower() != b"content-length"]
                headers.append((b"content-length", str(len(body)).encode()))
                first, start = {**start, "headers": headers}, None
                await send(first)
                await send({"type": "http.response.body", "body": body, "more_body": False})
                return
            await send(msg)

        await self.app(scope, receive, filtered)


class Gateway(Starlette):
    """The Starlette app with the access guard and the error redaction outside everything else.

    (Starlette's own 500 handler sits outside ordinary middleware; these two wrap it as well.)
    """

    def build_middleware_stack(self):
        return AccessGuard(RedactErrors(super().build_middleware_stack()), self)


def build_app(backend: Backend, *, port: int = 0, lmstudio_port: int | None = None, token: str = "",
              shared_secret: str | None = None) -> Starlette:
    """The gateway application (the engine is started by the lifespan).

    ``token`` is the state token the ``/_course/*`` routes require (a random one when not given).
    ``shared_secret``: serve a workshop's room, each call naming its learner (``learners``).
    """

    @contextlib.asynccontextmanager
    async def lifespan(app):
        await asyncio.to_thread(backend.start_engine)
        watcher = asyncio.create_task(backend.watch_engine())
        try:
            yield
        finally:
            watcher.cancel()
            backend.stop()

    routes = [Route("/_course/health", health), Route("/_course/requests", requests_log, methods=["GET", "DELETE"])]
    routes += openai_api.routes("/v1") + openai_api.routes("/openai/v1")
    routes.append(WebSocketRoute("/v1/responses", openai_responses_ws.responses_socket))  # OpenAI's only (not Groq)
    for version in ("v1", "v1beta"):
        routes += [Route(f"/{version}/models", models_route, methods=["GET"]),
                   Route(f"/{version}/models/{{rest:path}}", models_route, methods=["GET", "POST"])]
    routes += gemini_interactions.routes()
    routes += hf_api.routes()
    app = Gateway(routes=routes, lifespan=lifespan,
                    exception_handlers={Reject: on_reject, 404: on_not_found, 405: on_not_found, Exception: on_error})
    app.state.backend, app.state.token = backend, token or secrets.token_hex(16)
    app.state.port, app.state.lmstudio_port = port, lmstudio_port
    app.state.shared_secret = learners.check_secret(shared_secret) if shared_secret is not None else None
    app.add_middleware(InspectAndGuard, backend=backend)
    return app
