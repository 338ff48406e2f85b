"""Pieces every protocol module shares: reading a JSON body, faults, retired models, local labels."""
from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from .. import models as catalogue
from . import faults
from .engine import EngineError

LOCAL_MODEL = catalogue.local_model_name()  # "smollm2-135m-instruct (local)"


class Reject(Exception):
    """Stop handling a request and send ``response`` (a provider-shaped error)."""

    def __init__(self, response: Response):
        super().__init__("rejected")
        self.response = response


def backend(request: Request):
    """The server's shared state: ``.engine``, ``.embedder``, ``.inspector``."""
    return request.app.state.backend


def api_key(request: Request) -> str | None:
    """The key the client sent (Bearer token, x-goog-api-key or ?key=)."""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.headers.get("x-goog-api-key") or request.query_params.get("key")


async def read_json(request: Request, provider: str, required: tuple[str, ...] = ()) -> dict[str, Any]:
    """The request's JSON object body, or a provider-shaped 400 (raised as ``Reject``)."""
    raw = await request.body()
    ctype = request.headers.get("content-type", "")
    if raw and "json" not in ctype and not ctype.startswith("text/plain"):
        raise Reject(faults.bad_request(provider, f"Unsupported content type {ctype or '(none)'!r}: send a JSON body "
                                        "with 'Content-Type: application/json'."))
    try:
        body = json.loads(raw or b"{}")
    except ValueError as e:
        raise Reject(faults.bad_request(provider, f"We could not parse the JSON body of your request ({e}). "
                                        "Check for a missing quote, comma or brace.")) from e
    if not isinstance(body, dict):
        raise Reject(faults.bad_request(provider, "The JSON body must be an object ({...})."))
    missing = [k for k in required if k not in body]
    if missing:
        raise Reject(faults.bad_request(provider, f"Missing required parameter: {missing[0]!r}."))
    return body


async def check_faults(request: Request, provider: str, model: str | None) -> None:
    """Apply any requested teaching error (raises ``Reject``) or delay; 404 for retired models."""
    fault = faults.find_fault(model, request.headers.get("x-course-simulate"), api_key(request))
    if fault is None and model:
        entry = catalogue.info(provider, model) or catalogue.find(model)
        if entry is not None and entry.status_on() == "shut_down":
            if entry.after_shutdown == "redirect" and entry.replacement:
                request.scope.setdefault("course_notes", []).append(
                    f"{entry.id} was shut down on {entry.shutdown}: the provider now answers with {entry.replacement}, "
                    "billed at its rates, and so does the local server")
            else:
                fault = faults.Fault("404", model=model, replacement=entry.replacement, retired=True,
                                     shutdown=str(entry.shutdown) if entry.shutdown else None)
    if fault is None:
        return
    if fault.kind == "slow":
        deadline = time.monotonic() + fault.delay
        while time.monotonic() < deadline:  # stop waiting as soon as the client has given up
            await asyncio.sleep(min(0.25, max(0.0, deadline - time.monotonic())))
            if await request.is_disconnected():
                raise Reject(faults.bad_request(provider, "The client closed the connection before the "
                                                "simulated slow answer was ready.", 499))
        return
    if fault.kind == "404" and fault.replacement is None:
        current = _current_for(provider)
        fault.replacement = current if current != faults.base_model(model or "") else None
    raise Reject(faults.error_response(provider, fault))


def _current_for(provider: str) -> str | None:
    try:
        return catalogue.chat("huggingface" if provider == "huggingface" else
                              "groq" if provider == "groq" else "gemini" if provider == "gemini" else "openai")
    except KeyError:
        return None


def engine_error(provider: str, err: EngineError) -> Response:
    """An engine failure as the provider would report it."""
    code = err.kind if err.kind == "context_length_exceeded" else None
    return faults.bad_request(provider, err.message, err.status if 400 <= err.status < 600 else 500, code)


def new_id(prefix: str) -> str:
    """A provider-style random id such as ``chatcmpl-3f9a...``."""
    return f"{prefix}{uuid.uuid4().hex[:24]}"


def now() -> int:
    return int(time.time())


def local_headers(requested: str | None) -> dict[str, str]:
    """Headers that mark an answer as local (never mistaken for the real provider)."""
    h = {"x-course-local": LOCAL_MODEL}
    if requested:
        h["x-course-requested-model"] = requested
    return h


def sse(data: Any, event: str | None = None) -> bytes:
    """One server-sent event: ``data: {json}`` (with a space, which some SDKs require)."""
    payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return (f"event: {event}\n" if event else "").encode() + f"data: {payload}\n\n".encode()
