"""The Responses API's WebSocket mode (issue 15) and background responses in the model's queue, with the real
openai SDK over real loopback sockets.

``client.responses.connect()`` against the session's local server (the real model): responses created over the
socket, the same events as the HTTP stream, ``previous_response_id`` chaining, OpenAI's ``error`` event for an
unknown model or a bad request (and the socket stays usable). Against a gateway served in this process (a
stand-in engine that answers only when the test lets it, the HTTP protocol ``helpers/server/main.py`` uses):
a shared room's learner credential on the handshake, a web page refused, background work holding its place in
the queue (the per-learner limit and the engine's slots), and a socket that outlives the server's header timeout.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import socket
import threading
import time
from pathlib import Path

import openai
import pytest
import uvicorn
import websockets.sync.client
from openai import OpenAI
from websockets.exceptions import InvalidStatus

from helpers.server import learners
from helpers.server.engine import FallbackEngine
from helpers.server.gateway import Backend, build_app
from helpers.server.main import GuardedH11Protocol, SlowClientGuard

LOCAL_KEY = "local-test-key"  # pragma: allowlist secret  (a placeholder the local server accepts)
MODEL = "gpt-4o-mini"
RETIRED = "gpt-4.1-nano"  # shut down in helpers/models.toml: OpenAI answers 404 model_not_found
ENDS = ("response.completed", "response.incomplete", "response.failed", "error")


def until_end(connection) -> list:
    """The events of one response, up to and including its terminal event (or an ``error``)."""
    events = []
    for event in connection:
        events.append(event)
        if event.type in ENDS:
            return events
    raise AssertionError(f"the socket closed after {[e.type for e in events]}")


def shape(types: list[str]) -> list[str]:
    """Event types with each run of deltas counted once (the text, and so the number of deltas, varies)."""
    return [t for i, t in enumerate(types) if not (t.endswith(".delta") and i and types[i - 1] == t)]


@pytest.fixture
def client(base_url) -> OpenAI:
    return OpenAI(base_url=f"{base_url}/v1", api_key=LOCAL_KEY)


# ---------------------------------------------------------------- the real model, over the SDK's socket

def test_create_over_the_socket_streams_the_http_events(client):
    ask = {"model": MODEL, "input": "Name a colour.", "max_output_tokens": 16, "temperature": 0}
    with client.responses.connect() as connection:
        connection.response.create(**ask)
        events = until_end(connection)
    final = events[-1]
    assert final.type in ("response.completed", "response.incomplete"), events[-1]
    assert final.response.output_text.strip() and final.response.usage.output_tokens > 0
    assert [e.sequence_number for e in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == final.response.output_text
    with client.responses.create(**ask, stream=True) as stream:
        over_http = [e.type for e in stream]
    assert shape([e.type for e in events]) == shape(over_http)
    assert shape(over_http)[:4] == ["response.created", "response.in_progress", "response.output_item.added",
                                    "response.content_part.added"]
    # stored as over HTTP: the HTTP API retrieves a response made over the socket
    assert client.responses.retrieve(final.response.id).output_text == final.response.output_text


def test_previous_response_id_chains_responses_on_one_socket(client):
    with client.responses.connect() as connection:
        connection.response.create(model=MODEL, input="My name is Ada. Say hello.", max_output_tokens=16)
        first = until_end(connection)[-1].response
        connection.response.create(model=MODEL, input="What is my name?", previous_response_id=first.id,
                                   max_output_tokens=16)
        second = until_end(connection)[-1]
    assert second.type in ("response.completed", "response.incomplete")
    assert second.response.previous_response_id == first.id and second.response.id != first.id
    # the chain reaches the model: the HTTP input-token count of the same turn includes the first exchange
    alone = client.responses.input_tokens.count(model=MODEL, input="What is my name?").input_tokens
    chained = client.responses.input_tokens.count(model=MODEL, input="What is my name?",
                                                  previous_response_id=first.id).input_tokens
    assert chained > alone


def test_generate_false_prepares_a_response_to_chain_on(client):
    """The WebSocket mode's warm-up: ``generate: false`` stores the input, makes no output."""
    with client.responses.connect() as connection:
        connection.response.create(model=MODEL, input="My name is Ada.", instructions="Answer briefly.",
                                   generate=False)
        warm = until_end(connection)
        connection.response.create(model=MODEL, input="What is my name?", previous_response_id=warm[-1].response.id,
                                   max_output_tokens=16)
        answer = until_end(connection)[-1]
    assert [e.type for e in warm] == ["response.created", "response.in_progress", "response.completed"]
    assert warm[-1].response.output == [] and warm[-1].response.usage is None
    assert answer.type in ("response.completed", "response.incomplete") and answer.response.output_text.strip()
    prepared = client.responses.input_tokens.count(model=MODEL, input="Hi", previous_response_id=warm[-1].response.id)
    alone = client.responses.input_tokens.count(model=MODEL, input="Hi", instructions="Answer briefly.")
    assert prepared.input_tokens > alone.input_tokens  # the prepared turn (and its instructions) come first


def test_errors_are_error_events_and_the_socket_stays_open(client):
    with client.responses.connect() as connection:
        connection.response.create(model=RETIRED, input="Hi")
        unknown = until_end(connection)
        connection.response.create(model=MODEL, input="Hi", previous_response_id="resp_nowhere")
        missing = until_end(connection)
        connection.send({"type": "response.create", "model": MODEL, "input": 5, "stream_id": "lane-1"})
        bad = until_end(connection)
        connection.send({"type": "response.create", "model": MODEL, "input": "Hi", "background": True})
        background = until_end(connection)
        connection.send({"type": "response.create", "model": f"{MODEL}-simulate-429", "input": "Hi"})
        limited = until_end(connection)
        connection.response.create(model=MODEL, input="Name a fruit.", max_output_tokens=16)
        after = until_end(connection)
    for events in (unknown, missing, bad, background, limited):
        assert [e.type for e in events] == ["error"]  # nothing was generated
    e = unknown[0]
    assert (e.status, e.error.type, e.error.code, e.error.param) == (404, "invalid_request_error",
                                                                     "model_not_found", "model")
    assert RETIRED in e.error.message
    assert (missing[0].status, missing[0].error.code, missing[0].error.param) == (
        400, "previous_response_not_found", "previous_response_id")
    assert (bad[0].status, bad[0].error.param, bad[0].stream_id) == (400, "input", "lane-1")
    assert (background[0].status, background[0].error.param) == (400, "background")
    assert limited[0].status == 429 and limited[0].error.code == "rate_limit_exceeded"
    assert limited[0].error.headers["retry-after"]
    assert after[-1].type in ("response.completed", "response.incomplete")


def test_a_bad_key_is_refused_at_the_handshake(base_url):
    bad = OpenAI(base_url=f"{base_url}/v1", api_key="sk-wrong-key")  # pragma: allowlist secret
    with pytest.raises(InvalidStatus) as e:
        with bad.responses.connect():
            pass
    assert e.value.response.status_code == 401
    assert json.loads(e.value.response.body)["error"]["code"] == "invalid_api_key"


# ---------------------------------------------------------------- a gateway in this process, with a held engine

class HeldEngine(FallbackEngine):
    """The fallback responder, answering only once the test calls ``release()`` (so work stays in the queue)."""

    def __init__(self) -> None:
        super().__init__("a test's stand-in")
        self.released = threading.Event()  # set from the test's thread, read in the server's

    async def _wait(self) -> None:
        while not self.released.is_set():
            await asyncio.sleep(0.02)

    def release(self) -> None:
        self.released.set()

    async def generate(self, messages, **kw):
        await self._wait()
        return await super().generate(messages, **kw)

    async def stream(self, messages, **kw):
        await self._wait()
        async for piece in super().stream(messages, **kw):
            yield piece


class QuickHeadProtocol(GuardedH11Protocol):
    header_timeout = 0.5  # main.py's protocol, closing silent connections after half a second


class HeldBackend(Backend):
    def start_engine(self) -> None:
        self.engine = HeldEngine()


@contextlib.contextmanager
def gateway(tmp_path: Path, shared_secret: str | None = None, protocol: type = GuardedH11Protocol):
    """The gateway served on a loopback port, as ``main.py`` serves it; yields ``(url, backend)``."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    backend = HeldBackend(tmp_path, engine_mode="fallback")
    app = build_app(backend, port=port, shared_secret=shared_secret)
    server = uvicorn.Server(uvicorn.Config(SlowClientGuard(app), http=protocol, lifespan="on",
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "the in-process gateway did not start"
    try:
        yield f"http://127.0.0.1:{port}", backend
    finally:
        backend.engine.release()
        server.should_exit = True
        thread.join(10)


def wait_for(check, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def engine_queue(backend):
    """The engine's queue (``common.gates``), once a request has made it."""
    wait_for(lambda: "course_gates" in backend.__dict__)
    return backend.__dict__["course_gates"]["engine"]


def test_a_socket_outlives_the_servers_header_timeout(tmp_path):
    """uvicorn hands an upgraded connection to the WebSocket protocol: main.py's timer for a slow request head
    must not close it later."""
    with gateway(tmp_path, protocol=QuickHeadProtocol) as (url, backend):
        backend.engine.release()
        client = OpenAI(base_url=f"{url}/v1", api_key=LOCAL_KEY)
        with client.responses.connect() as connection:
            time.sleep(1.5)  # three header timeouts
            connection.response.create(model=MODEL, input="Hi")
            assert until_end(connection)[-1].type == "response.completed"


def test_shared_room_needs_the_learner_credential_on_the_socket(tmp_path):
    secret = secrets.token_hex(32)
    credential = learners.credential_for(secret, "ada")
    with gateway(tmp_path, shared_secret=secret) as (url, backend):
        backend.engine.release()
        client = OpenAI(base_url=f"{url}/v1", api_key=LOCAL_KEY)
        with pytest.raises(InvalidStatus) as e:
            with client.responses.connect():
                pass
        assert e.value.response.status_code == 401
        assert json.loads(e.value.response.body)["error"]["code"] == "learner_credential_required"
        with pytest.raises(InvalidStatus) as e:
            with client.responses.connect(extra_headers={learners.HEADER: credential + "x"}):
                pass
        assert json.loads(e.value.response.body)["error"]["code"] == "invalid_learner_credential"
        with client.responses.connect(extra_headers={learners.HEADER: credential}) as connection:
            connection.response.create(model=MODEL, input="Hi")
            assert until_end(connection)[-1].type == "response.completed"
        assert backend.inspector.last(5, "ada")[-1]["method"] == "WEBSOCKET"  # recorded as the learner's call
        # a web page may open a WebSocket to any address: its Origin is refused, credential or not
        ws = url.replace("http://", "ws://") + "/v1/responses"
        with pytest.raises(InvalidStatus) as e:
            websockets.sync.client.connect(ws, origin="http://evil.example",
                                           additional_headers={learners.HEADER: credential})
        assert e.value.response.status_code == 403


def test_a_learners_notebook_sends_its_credential_on_the_socket_by_itself(tmp_path):
    """On a hub, ``helpers.shared_room`` adds the learner's credential to the WebSocket handshake too, as it does
    to every HTTP call: the learner's code is the plain SDK call."""
    from helpers import shared_room

    secret = secrets.token_hex(32)
    with gateway(tmp_path, shared_secret=secret) as (url, backend):
        backend.engine.release()
        shared_room.enable(url, learners.credential_for(secret, "cleo"))
        try:
            with OpenAI(base_url=f"{url}/v1", api_key=LOCAL_KEY).responses.connect() as connection:
                connection.response.create(model=MODEL, input="Hi")
                assert until_end(connection)[-1].type == "response.completed"
        finally:
            shared_room.disable()
        assert backend.inspector.last(5, "cleo")[-1]["method"] == "WEBSOCKET"
        with pytest.raises(InvalidStatus):  # and without it again once disabled
            with OpenAI(base_url=f"{url}/v1", api_key=LOCAL_KEY).responses.connect():
                pass


def test_background_work_keeps_its_place_in_the_queue(tmp_path):
    """A background response holds a learner's share and an engine slot until its work ends, not only while
    the request that created it runs."""
    secret = secrets.token_hex(32)
    with gateway(tmp_path, shared_secret=secret) as (url, backend):
        ada = OpenAI(base_url=f"{url}/v1", api_key=LOCAL_KEY, max_retries=0,
                     default_headers={learners.HEADER: learners.credential_for(secret, "ada")})
        bob = OpenAI(base_url=f"{url}/v1", api_key=LOCAL_KEY, max_retries=0,
                     default_headers={learners.HEADER: learners.credential_for(secret, "bob")})
        started = [ada.responses.create(model=MODEL, input=f"Story {i}", background=True)
                   for i in range(learners.LEARNER_LIMIT)]
        assert all(r.status == "queued" for r in started)
        engine_gate = engine_queue(backend)
        wait_for(lambda: len(engine_gate.active) == 2)  # both hold an engine slot while the engine works
        with pytest.raises(openai.RateLimitError) as e:  # Ada's share is used by her background work
            ada.responses.create(model=MODEL, input="One more", background=True)
        assert e.value.code == "rate_limit_exceeded" and e.value.response.headers["retry-after"]
        with ada.responses.connect() as connection:  # the socket is admitted the same way
            connection.response.create(model=MODEL, input="One more")
            refused = until_end(connection)
        assert refused[-1].type == "error" and refused[-1].status == 429
        waiting = bob.responses.create(model=MODEL, input="Bob's turn", background=True)  # no slot left: it waits
        time.sleep(0.3)
        assert bob.responses.retrieve(waiting.id).status == "queued" and len(engine_gate.waiting()) == 1
        backend.engine.release()
        for r in [*started, waiting]:
            wait_for(lambda r=r: ada.responses.retrieve(r.id).status == "completed")
        wait_for(lambda: not engine_gate.active and not backend.__dict__.get("course_learner_load"))
        assert ada.responses.create(model=MODEL, input="Now?").status == "completed"


def test_a_cancelled_queued_background_response_leaves_the_queue(tmp_path):
    with gateway(tmp_path) as (url, backend):
        client = OpenAI(base_url=f"{url}/v1", api_key=LOCAL_KEY, max_retries=0)
        running = [client.responses.create(model=MODEL, input=f"Story {i}", background=True) for i in range(2)]
        engine_gate = engine_queue(backend)
        wait_for(lambda: len(engine_gate.active) == 2)
        queued = client.responses.create(model=MODEL, input="Third", background=True)
        wait_for(lambda: len(engine_gate.waiting()) == 1)
        assert client.responses.cancel(queued.id).status == "cancelled"
        wait_for(lambda: not engine_gate.waiting())
        client.responses.cancel(running[0].id)
        wait_for(lambda: len(engine_gate.active) == 1)  # a cancelled running response gives its slot back
