"""The provider gateway: one Starlette app that answers the official SDKs with the local model.

Route map (see the protocol modules for the details):

* OpenAI and LM Studio: ``/v1/chat/completions``, ``/v1/responses``, ``/v1/embeddings``, ``/v1/models``
* Groq: the same under ``/openai/v1/``
* Gemini: ``/v1/`` and ``/v1beta/`` ``models/{model}:generateContent`` and friends (told apart from
  OpenAI's ``/v1/models`` by Google's ``x-goog-api-key`` / ``x-goog-api-client`` headers)
* Hugging Face: ``/hf/<host>/...``, where the course's client hook sends ``*.huggingface.co``
* the course's own: ``/_course/health``, ``/_course/requests``
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import faults, gemini_api, hf_api, openai_api
from .common import Reject
from .embeddings import Embedder
from .engine import FallbackEngine, LlamaEngine
from .inspector import Inspector
from .lifecycle import code_version

SERVICE = "genai-api-course-local-server"
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
    if path.startswith("/v1beta/") or ":" in path.rsplit("/", 1)[-1]:
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
        return await openai_api.get_model(request)
    return await openai_api.list_models(request)


async def health(request: Request) -> Response:
    st = request.app.state
    return JSONResponse({"service": SERVICE, "version": VERSION, "pid": os.getpid(), "token": st.token, "port": st.port,
                         "lmstudio_port": st.lmstudio_port, "engine": st.backend.status(),
                         "uptime_s": round(time.time() - st.backend.started, 1)})


async def requests_log(request: Request) -> Response:
    inspector = request.app.state.backend.inspector
    if request.method == "DELETE":
        inspector.clear()
        return JSONResponse({"cleared": True})
    n = int(request.query_params.get("n", "10"))
    return JSONResponse(inspector.last(n))


async def on_reject(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Reject)
    return exc.response


async def on_not_found(request: Request, exc: Exception) -> Response:
    code = getattr(exc, "status_code", 404)
    return faults.bad_request(provider_for(request), f"Invalid URL ({request.method} {request.url.path}): "
                              "this path does not exist on the provider's API.", code if code in (404, 405) else 404)


async def on_error(request: Request, exc: Exception) -> Response:
    return faults.bad_request(provider_for(request), f"The local server hit an internal error "
                              f"({type(exc).__name__}: {exc}). The server keeps running; try again.", 500)


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
            headers=dict(request.headers), body=body[:2000] if len(body) > MAX_BODY else body)

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

            try:
                await self.app(scope, replay, capture)
            finally:
                record()


def build_app(backend: Backend, *, port: int = 0, lmstudio_port: int | None = None, token: str = "") -> Starlette:
    """The gateway application (the engine is started by the lifespan)."""

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
    for version in ("v1", "v1beta"):
        routes += [Route(f"/{version}/models", models_route, methods=["GET"]),
                   Route(f"/{version}/models/{{rest:path}}", models_route, methods=["GET", "POST"])]
    routes += hf_api.routes()
    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={Reject: on_reject, 404: on_not_found, 405: on_not_found, Exception: on_error})
    app.state.backend, app.state.token = backend, token
    app.state.port, app.state.lmstudio_port = port, lmstudio_port
    app.add_middleware(InspectAndGuard, backend=backend)
    return app
