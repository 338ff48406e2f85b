"""The Responses API's WebSocket mode: ``client.responses.connect()`` (a WebSocket at ``/v1/responses``).

The SDK turns the client's base URL into ``ws://.../v1/responses`` (``wss`` for https) and sends the key as
``Authorization: Bearer ...`` on the handshake. Over the open socket the client sends ``response.create``
events (the body of ``POST /v1/responses`` plus ``"type"``; ``stream`` is implicit) and gets back, as one JSON
message each, the events the HTTP stream sends (``response.created`` ... ``response.completed``), made by the
same generator (``openai_api.stream_events``). Each ``response.create`` is admitted to the model's queue as an
HTTP request is (``common.admit``: a full queue, or a shared room's learner over their share, is refused), and
``previous_response_id`` chains responses as over HTTP (``generate: false`` prepares a response to chain on
without any output). Responses run one after another, in the order sent; ``stream_id`` is echoed on their events.

A request the server refuses is an ``error`` event and the socket stays open for the next one, in OpenAI's
WebSocket shape: ``{"type": "error", "status": 400, "error": {"type", "code", "message", "param"}}``
(``ResponseWsError`` in openai 3.54.0, ``openai/types/responses/responses_server_event.py``; the WebSocket mode
guide, developers.openai.com/docs/guides/websocket-mode, read 2026-11-30). As OpenAI documents, ``background``
is not supported over a WebSocket; neither is steering (``response.steer``) on the local server.

The handshake passes the gateway's access guard as every HTTP request does (``gateway.AccessGuard``: loopback
``Host``, no web page's ``Origin``, a shared room's learner credential); a key the teaching faults call bad
(``faults``: one containing "invalid" or "wrong") is refused there with OpenAI's 401, as the real handshake is.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket, WebSocketDisconnect

from ..masking import redact
from . import faults, inspector, openai_api
from .common import (BadParam, Reject, admit, api_key, backend, check_faults, engine_error, internal_error,
                     log_exception, param_error)
from .engine import EngineError

# Fields of a ``response.create`` event that are the socket's, not the Responses body's.
ENVELOPE = ("type", "stream_id", "stream", "stream_options")
MAX_RECORDED = 40_000  # bytes of a response's events the request inspector keeps (as for HTTP streams)


async def _pending() -> dict:
    """A ``receive`` that never has a message (a turn reads no body; the socket has its own reader)."""
    await asyncio.Event().wait()
    return {}


def _turn_request(websocket: WebSocket) -> Request:
    """A request object for one ``response.create``: the handshake's headers and learner, its own queue turns
    and inspector notes (``common.admit``, ``common.check_faults`` and ``openai_api.read_turn`` take a request)."""
    scope = {**websocket.scope, "type": "http", "method": "GET", "course_tickets": {}, "course_notes": []}
    return Request(scope, _pending)


def error_event(status: int, error: dict, stream_id: str | None = None, headers: dict | None = None) -> dict:
    """OpenAI's WebSocket ``error`` event (``status``: the HTTP status the same error has over HTTP)."""
    event: dict[str, Any] = {"type": "error", "status": status,
                             "error": {"type": error.get("type") or "invalid_request_error",
                                       "code": error.get("code"), "message": error.get("message") or "",
                                       "param": error.get("param")}}
    if headers:
        event["error"]["headers"] = headers
    if stream_id is not None:
        event["stream_id"] = stream_id
    return event


def _from_response(response: Response, stream_id: str | None) -> dict:
    """An HTTP error answer of the server (``Reject``, ``faults``) as the WebSocket ``error`` event."""
    try:
        error = json.loads(bytes(response.body)).get("error") or {}
    except (ValueError, AttributeError):
        error = {}
    if not isinstance(error, dict):
        error = {"message": str(error)}
    kept = {k: v for k, v in response.headers.items() if k.startswith(("retry-after", "x-should-retry"))}
    return error_event(response.status_code, error, stream_id, kept or None)


def _bad(message: str, param: str | None, code: str | None, stream_id: str | None) -> dict:
    return _from_response(param_error("openai", BadParam(message, param,
                                                         code)), stream_id)


class _Socket:
    """One open connection: reads ``response.create`` events and answers them one after another."""

    def __init__(self, websocket: WebSocket):
        self.ws = websocket
        self.provider = openai_api.provider_of(websocket)  # "openai", or "lmstudio" on LM Studio's port

    async def send(self, event: dict) -> None:
        text = json.dumps(event, ensure_ascii=False)
        await self.ws.send_text(redact(text) if event.get("type") == "error" else text)

    async def run(self) -> None:
        """Answer each message in turn until the client closes; a response still running then is cancelled
        (the engine stops, a queued one leaves the queue)."""
        inbox: asyncio.Queue[str | None] = asyncio.Queue()
        reader = asyncio.ensure_future(self._read(inbox))
        try:
            while (text := await inbox.get()) is not None:
                turn = asyncio.ensure_future(self.answer(text))
                await asyncio.wait({turn, reader}, return_when=asyncio.FIRST_COMPLETED)
                if not turn.done():  # the client left mid-response
                    turn.cancel()
                    with contextlib.suppress(BaseException):
                        await turn
                    return
                if turn.exception() is not None:  # the socket failed while sending
                    return
        finally:
            reader.cancel()
            with contextlib.suppress(BaseException):
                await reader

    async def _read(self, inbox: asyncio.Queue) -> None:
        try:
            while True:
                message = await self.ws.receive()
                if message["type"] == "websocket.disconnect":
                    return
                if message.get("text") is not None:
                    inbox.put_nowait(message["text"])
                elif message.get("bytes") is not None:
                    inbox.put_nowait(message["bytes"].decode("utf-8", errors="replace"))
        finally:
            inbox.put_nowait(None)

    async def answer(self, text: str) -> None:
        """One client event: a ``response.create`` answered with its stream events, anything else an error."""
        try:
            event = json.loads(text)
        except ValueError:
            return await self.send(_bad("We could not parse the JSON of your WebSocket message: send one JSON "
                                        "object per message, such as {\"type\": \"response.create\", ...}.",
                                        None, "invalid_json", None))
        if not isinstance(event, dict):
            return await self.send(_bad("A WebSocket message must be a JSON object with a 'type'.", "type",
                                        "invalid_type", None))
        stream_id = event.get("stream_id") if isinstance(event.get("stream_id"), str) else None
        kind = event.get("type")
        if kind == "response.steer":
            return await self.send(_bad("Steering (response.steer) is not supported by the local server: send a "
                                        "new response.create with previous_response_id instead.", "type",
                                        "unsupported_event", stream_id))
        if kind != "response.create":
            return await self.send(_bad(f"Invalid 'type': the Responses WebSocket accepts 'response.create' events "
                                        f"(got {str(kind)[:40]!r}).", "type", "invalid_value", stream_id))
        body = {k: v for k, v in event.items() if k not in ENVELOPE}
        if body.get("background"):
            return await self.send(_bad("Background mode is not supported over a WebSocket connection: use "
                                        "POST /v1/responses with background=true.", "background",
                                        "unsupported_parameter", stream_id))
        await self.respond(body, text, stream_id)

    async def respond(self, body: dict, text: str, stream_id: str | None) -> None:
        """Check, admit and stream one response; its queue turn is given back when it ends."""
        request = _turn_request(self.ws)
        inspector.request_notes.set(request.scope["course_notes"])  # this turn's task: notes from deeper down
        recorder = _Recorder(self.ws, self.provider, text)
        finished = False
        try:
            for missing in ("model", "input"):
                if missing not in body:
                    raise Reject(param_error(self.provider, BadParam(f"Missing required parameter: '{missing}'.",
                                                                     missing, "missing_required_parameter")))
            model = body["model"] if isinstance(body["model"], str) else ""
            await check_faults(request, self.provider, model)
            t = openai_api.read_turn(request, self.provider, model, body)
            if body.get("generate") is False:  # a warm-up: no output, so no turn in the model's queue
                events = openai_api.prepared_events(t)
            else:
                await admit(request, self.provider, work=openai_api.turn_work(t))
                events = openai_api.stream_events(backend(request).engine, t)
            async for event in events:
                if event["type"] == "error":  # the engine failed mid-stream (the HTTP stream's error event)
                    event = {**error_event(500, {"type": "server_error", "code": event.get("code"),
                                                 "message": event.get("message")}, stream_id),
                             "sequence_number": event["sequence_number"]}
                elif stream_id is not None:
                    event = {**event, "stream_id": stream_id}
                recorder.add(event)
                await self.send(event)
            finished = True
        except Reject as e:
            await self._fail(recorder, _from_response(e.response, stream_id))
        except EngineError as e:
            await self._fail(recorder, _from_response(engine_error(self.provider, e), stream_id))
        except (OSError, WebSocketDisconnect):
            raise  # the client left while events were sent: nothing more to send
        except Exception as e:  # noqa: BLE001 - a bug: an error event, logged, and the socket stays open
            log_exception(request, e)
            await self._fail(recorder, _from_response(internal_error(self.provider, e), stream_id))
        finally:
            for ticket in request.scope["course_tickets"].values():
                ticket.release(finished)
            recorder.finish(request.scope)

    async def _fail(self, recorder: _Recorder, event: dict) -> None:
        recorder.add(event)
        recorder.status = event["status"]
        await self.send(event)


class _Recorder:
    """One ``response.create`` in the request inspector (as ``gateway.InspectAndGuard`` records HTTP calls)."""

    def __init__(self, websocket: WebSocket, provider: str, text: str):
        self.inspector = backend(websocket).inspector
        self.t0, self.status, self.parts, self.size = time.perf_counter(), 200, [], 0
        port = (websocket.scope.get("server") or (None, 0))[1]
        self.item = self.inspector.begin(provider=provider, method="WEBSOCKET", path=websocket.url.path,
                                         query=websocket.scope.get("query_string", b"").decode(errors="replace"),
                                         port=port, headers=dict(websocket.headers),
                                         body=text.encode("utf-8", errors="replace"),
                                         learner=websocket.scope.get("course_learner"))

    def add(self, event: dict) -> None:
        if self.size < MAX_RECORDED:
            line = json.dumps(event, ensure_ascii=False).encode() + b"\n"
            self.parts.append(line)
            self.size += len(line)

    def finish(self, scope: dict) -> None:
        if scope.get("course_notes"):
            self.item["emulation"] = list(scope["course_notes"])
        self.inspector.finish(self.item, status=self.status, response_body=b"".join(self.parts),
                              duration_ms=(time.perf_counter() - self.t0) * 1000, streamed=True)


async def responses_socket(websocket: WebSocket) -> None:
    """``/v1/responses`` as a WebSocket (``client.responses.connect()``)."""
    fault = faults.find_fault(None, None, api_key(websocket))
    if fault is not None and fault.kind == "401":  # refused at the handshake, as OpenAI refuses a bad key
        refusal = faults.error_response("openai", fault)
        if "websocket.http.response" in websocket.scope.get("extensions", {}):
            return await websocket.send_denial_response(refusal)
        return await websocket.close(code=1008, reason="invalid_api_key")
    await websocket.accept()
    await _Socket(websocket).run()
    with contextlib.suppress(Exception):
        await websocket.close()
