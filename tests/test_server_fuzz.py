"""Fuzzing the local server: every malformed request gets a provider-shaped 4xx naming the parameter.

Never a 5xx, never a stream that starts with 200 and then breaks, never a kept-alive connection closed
behind the client's back; and the server answers as before afterwards. Bounded: about 300 requests on
loopback, each with a short timeout, the whole run well under 60 s.

Run it by hand against any running server (prints the figures):

    python tests/test_server_fuzz.py http://127.0.0.1:PORT
"""
from __future__ import annotations

import copy
import http.client
import json
import socket
import sys
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

HF_TOKEN = "hf_" + "fuzz" * 8  # a fake token made at run time: the router wants one
GOOGLE = {"x-goog-api-key": "local-fuzz-key"}
OPENAI = {"authorization": "Bearer local-fuzz-key"}
HF = {"authorization": f"Bearer {HF_TOKEN}"}
DEEP = "__DEEP__"  # replaced by 1,200 nested arrays in the JSON text
SURROGATE = "\ud83d"  # a lone surrogate: json.dumps writes it as the escape "\ud83d"
PER_REQUEST_TIMEOUT = 20.0
TOTAL_BUDGET = 55.0  # seconds for the whole run


@dataclass
class Case:
    provider: str  # "openai" (also Groq, HF router chat), "gemini" or "huggingface": the error shape expected
    path: str
    body: Any  # a JSON value, or bytes sent as they are
    headers: dict
    stream: str | None = None  # "chat", "responses", "gemini", "tgi": how a complete stream ends
    field_name: str = ""  # the parameter that was broken (for "names the parameter")
    label: str = ""


@dataclass
class Result:
    case: Case
    status: int = 0
    body: bytes = b""
    dropped: bool = False  # the server closed the connection silently after (or instead of) answering
    error: str = ""
    seconds: float = 0.0


# ---------------------------------------------------------------------- building the cases

def _set(body: Any, path: str, value: Any) -> Any:
    out = copy.deepcopy(body)
    keys = path.split(".")
    cur = out
    for k in keys[:-1]:
        cur = cur[int(k)] if isinstance(cur, list) else cur.setdefault(k, {})
    last = keys[-1]
    if isinstance(cur, list):
        cur[int(last)] = value
    else:
        cur[last] = value
    return out


def _mutations(provider: str, url: str, base: dict, headers: dict, table: dict[str, list], stream: str | None = None,
               tag: str = "") -> list[Case]:
    cases = []
    for path, values in table.items():
        for v in values:
            cases.append(Case(provider, url, _set(base, path, v), headers, stream, path.split(".")[-1],
                              f"{tag}{path}={v!r:.40}"))
    return cases


def _chat_table() -> dict[str, list]:
    table = {
        "model": [5, {"a": 1}, None],
        "messages": ["Hi", {"role": "user"}, [], [5]],
        "messages.0": ["Hi", 5],
        "messages.0.role": [5, "robot"],
        "messages.0.content": [5, {"a": 1}, [5], [{"type": "text", "text": 5}], SURROGATE, DEEP],
        "max_tokens": ["abc", 1.5, -1, 0, True],
        "max_completion_tokens": ["abc", 1.5, -1],
        "temperature": ["hot", 5, -1, [1]],
        "top_p": ["abc", 2, -0.5],
        "n": ["abc", 1.5, 0],
        "stop": [5, {"a": 1}, [1, 2]],
        "seed": ["abc", 1.5],
        "response_format": ["json", 5, {"type": "bogus"}, {"type": "json_schema"},
                            {"type": "json_schema", "json_schema": {"name": "x", "schema": "abc"}}],
        "logprobs": ["yes"],
        "top_logprobs": ["abc", 50],
        "presence_penalty": ["abc", 5],
        "frequency_penalty": [[1]],
        "stream": ["yes"],
        "metadata": [DEEP],
    }
    table["tools"] = ["abc", [5], [{"type": "function"}], [{"type": "function", "function": {"name": 5}}],
                          [{"type": "function", "function": {"name": "f", "parameters": "abc"}}],
                          [{"type": "function", "function": {"name": "f", "parameters": {
                              "type": "object", "properties": "abc"}}}]]
    table["tool_choice"] = [5, "sometimes", {"a": 1}]
    table["tools.0.function.name"] = [SURROGATE]
    table["tool_choice.function.name"] = ["nope"]
    return table


def cases() -> list[Case]:
    from helpers import models as catalogue

    out: list[Case] = []
    fn = {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}
    chat = {"model": "smollm2-135m-instruct", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2,
            "temperature": 0}
    for path, values in _chat_table().items():
        for v in values:
            body = _set(chat, path, v) if not path.startswith("tool_choice.") else None
            if path.startswith("tool_choice"):
                body = {**chat, "tools": [fn],
                        "tool_choice": {"type": "function", "function": {"name": v}} if path != "tool_choice" else v}
            if path.startswith("tools.0"):
                body = {**chat, "tools": [{"type": "function", "function": {"name": v}}]}
            out.append(Case("openai", "/v1/chat/completions", body, OPENAI, None, path.split(".")[-1],
                            f"chat {path}={v!r:.40}"))
    stream_chat = {**chat, "stream": True}
    out += _mutations("openai", "/v1/chat/completions", stream_chat, OPENAI, {
        "max_tokens": ["abc", -1], "max_completion_tokens": ["abc"], "temperature": [5, "hot"], "n": ["abc"],
        "tools": ["abc", [5]], "tool_choice": [5],
        "response_format": [{"type": "json_schema", "json_schema": {"name": "x", "schema": "abc"}}],
        "messages.0.content": [SURROGATE, 5], "stream_options": ["abc"], "stop": [5]}, "chat", "chat-stream ")
    out += _mutations("openai", "/openai/v1/chat/completions", chat, OPENAI, {
        "max_tokens": ["abc"], "max_completion_tokens": [1.5], "temperature": [5], "top_p": ["x"],
        "tools": ["abc"], "tool_choice": [{"a": 1}], "response_format": [5], "n": ["abc"],
        "messages.0": [5], "messages.0.content": [SURROGATE]}, None, "groq ")
    out += _mutations("openai", "/openai/v1/chat/completions", {**chat, "stream": True}, OPENAI, {
        "max_completion_tokens": ["abc"], "temperature": [9]}, "chat", "groq-stream ")

    resp = {"model": "smollm2-135m-instruct", "input": "Hi", "max_output_tokens": 16}
    rtable = {
        "input": [5, {"a": 1}, [5], [{"type": "message", "role": "user", "content": 5}], SURROGATE, DEEP],
        "instructions": [5, [1]],
        "max_output_tokens": ["abc", 1.5, -1],
        "temperature": ["x", 5], "top_p": [3],
        "text": ["abc", {"format": "json"}, {"format": {"type": "json_schema"}},
                 {"format": {"type": "json_schema", "name": "x", "schema": "abc"}}, {"format": {"type": "bogus"}}],
        "tools": ["abc", [5], [{"type": "function"}], [{"type": "function", "name": "f", "parameters": "abc"}]],
        "tool_choice": [5, {"a": 1}],
        "reasoning": ["high", {"effort": 5}],
        "include": [5, "abc"],
        "previous_response_id": [5, "resp_missing"],
        "stream": ["yes"],
    }
    out += _mutations("openai", "/v1/responses", resp, OPENAI, rtable, None, "responses ")
    out += _mutations("openai", "/v1/responses", {**resp, "stream": True}, OPENAI, {
        "max_output_tokens": ["abc"], "temperature": [5], "tools": ["abc"], "input": [SURROGATE, 5],
        "text": [{"format": {"type": "json_schema", "name": "x", "schema": "abc"}}]}, "responses", "responses-stream ")

    emb = {"model": "text-embedding-3-small", "input": "hello"}
    out += _mutations("openai", "/v1/embeddings", emb, OPENAI, {
        "model": [5], "input": [5, [5], [], "", SURROGATE, DEEP, [None]],
        "dimensions": ["abc", 1.5, 0, -5, 10 ** 9, True], "encoding_format": [5, "hex"]}, None, "embeddings ")

    g = catalogue.get("gemini", "embeddings")
    gen = {"contents": [{"role": "user", "parts": [{"text": "Hi"}]}], "generationConfig": {"maxOutputTokens": 2}}
    gurl = "/v1beta/models/gemini-2.5-flash-lite:generateContent"
    out += _mutations("gemini", gurl, gen, GOOGLE, {
        "contents": [5, [5], [{"role": "user", "parts": 5}], [{"role": "user", "parts": [5]}],
                     [{"role": "robot", "parts": [{"text": "Hi"}]}], [{"role": "user", "parts": [{"text": 5}]}], DEEP],
        "contents.0.parts.0.text": [{"a": 1}, SURROGATE],
        "generationConfig": ["abc", 5],
        "generationConfig.maxOutputTokens": ["abc", 1.5, -1, 0],
        "generationConfig.temperature": ["hot", 5, -1],
        "generationConfig.topP": ["x", 2],
        "generationConfig.topK": ["x", -1],
        "generationConfig.candidateCount": ["two", 0, 9],
        "generationConfig.stopSequences": ["stop", [5]],
        "generationConfig.responseMimeType": [5, "text/bogus"],
        "generationConfig.responseSchema": ["abc"],
        "generationConfig.thinkingConfig": ["abc", {"thinkingBudget": "abc"}, {"thinkingLevel": 5}],
        "generationConfig.seed": ["abc"],
        "systemInstruction": [5, {"parts": 5}],
        "tools": ["abc", [5], [{"functionDeclarations": "abc"}], [{"functionDeclarations": [{"name": 5}]}],
                  [{"functionDeclarations": [{"name": "f", "parameters": "abc"}]}]],
        "toolConfig": ["abc", {"functionCallingConfig": {"mode": 5}},
                       {"functionCallingConfig": {"allowedFunctionNames": "f"}}],
        "safetySettings": ["abc"],
    }, None, "gemini ")
    out += _mutations("gemini", "/v1beta/models/gemini-2.5-flash-lite:streamGenerateContent?alt=sse", gen, GOOGLE, {
        "contents": [5], "contents.0.parts.0.text": [SURROGATE], "generationConfig.maxOutputTokens": ["abc"],
        "generationConfig.temperature": [5], "generationConfig.responseSchema": ["abc"], "tools": ["abc"],
        "generationConfig.candidateCount": ["two"]}, "gemini", "gemini-stream ")
    out += _mutations("gemini", "/v1beta/models/gemini-2.5-flash-lite:countTokens", {"contents": gen["contents"]},
                      GOOGLE, {"contents": [5, DEEP, SURROGATE]}, None, "countTokens ")
    eurl = f"/v1beta/models/{g}:embedContent"
    out += _mutations("gemini", eurl, {"content": {"parts": [{"text": "hello"}]}}, GOOGLE, {
        "content": [5, {"parts": 5}, {"parts": [{"text": 5}]}, SURROGATE],
        "outputDimensionality": ["abc", 1.5, 0, True], "taskType": [5], "title": [[1]]}, None, "embedContent ")
    out += _mutations("gemini", f"/v1beta/models/{g}:batchEmbedContents",
                      {"requests": [{"model": f"models/{g}", "content": {"parts": [{"text": "a"}]}}]}, GOOGLE, {
                          "requests": ["abc", [5], [{"content": 5}], DEEP]}, None, "batchEmbed ")

    hchat = {"model": catalogue.chat("huggingface"), "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2}
    out += _mutations("huggingface", "/hf/router/v1/chat/completions", hchat, HF, {
        "max_tokens": ["abc", -1], "temperature": ["x", 9], "messages": ["Hi"], "messages.0.content": [SURROGATE, 5],
        "tools": ["abc"], "tool_choice": [5], "response_format": [5], "n": ["abc"]}, None, "hf-chat ")
    out += _mutations("huggingface", "/hf/router/v1/chat/completions", {**hchat, "stream": True}, HF, {
        "max_tokens": ["abc"], "temperature": [9]}, "chat", "hf-chat-stream ")
    sent = f"/hf/router/hf-inference/models/{catalogue.get('huggingface', 'sentiment')}"
    out += _mutations("huggingface", sent, {"inputs": "I love it"}, HF, {
        "inputs": [5, {"a": 1}, [5], "", SURROGATE, DEEP], "parameters": ["abc", {"top_k": "abc"}]}, None, "hf-sentiment ")
    tg = f"/hf/router/hf-inference/models/{catalogue.get('huggingface', 'text_generation')}"
    tbase = {"inputs": "Once", "parameters": {"max_new_tokens": 2}}
    out += _mutations("huggingface", tg, tbase, HF, {
        "parameters.max_new_tokens": ["abc", 1.5, -1], "parameters.temperature": ["hot", -1],
        "parameters.top_p": ["x", 3], "parameters.seed": ["x"], "parameters.stop": [5, [5]],
        "parameters.do_sample": ["x"], "parameters.return_full_text": ["x"]}, None, "hf-textgen ")
    out += _mutations("huggingface", tg, {**tbase, "stream": True}, HF, {
        "parameters.max_new_tokens": ["abc"], "parameters.temperature": ["hot"]}, "tgi", "hf-textgen-stream ")
    fe = f"/hf/router/hf-inference/models/{catalogue.get('huggingface', 'embeddings')}/pipeline/feature-extraction"
    out += _mutations("huggingface", fe, {"inputs": "hello"}, HF, {"inputs": [5, [5], {"a": 1}, SURROGATE]}, None,
                      "hf-features ")
    ss = f"/hf/router/hf-inference/models/{catalogue.get('huggingface', 'embeddings')}/pipeline/sentence-similarity"
    out += _mutations("huggingface", ss, {"inputs": {"source_sentence": "a", "sentences": ["b"]}}, HF, {
        "inputs.source_sentence": [5], "inputs.sentences": ["b", [5]]}, None, "hf-similarity ")
    summ = f"/hf/router/hf-inference/models/{catalogue.get('huggingface', 'summarization')}"
    out += _mutations("huggingface", summ, {"inputs": "A long text.", "parameters": {"max_length": 8}}, HF, {
        "parameters.max_length": ["abc"], "parameters.generate_parameters": ["abc"]}, None, "hf-summary ")
    tr = f"/hf/router/hf-inference/models/{catalogue.get('huggingface', 'translation')}"
    out += _mutations("huggingface", tr, {"inputs": "Hello", "parameters": {"tgt_lang": "fr"}}, HF, {
        "parameters.tgt_lang": [5], "parameters.src_lang": [[1]]}, None, "hf-translate ")
    comp = {"model": catalogue.chat("huggingface"), "prompt": "Once", "max_tokens": 2}
    out += _mutations("huggingface", "/hf/router/together/v1/completions", comp, HF, {
        "prompt": [5, [5], SURROGATE], "max_tokens": ["abc", -1], "temperature": ["x"], "stop": [5], "seed": ["x"]},
        None, "hf-completions ")

    # whole bodies that are not what they should be
    for provider, url, headers in (("openai", "/v1/chat/completions", OPENAI), ("openai", "/v1/responses", OPENAI),
                                   ("gemini", gurl, GOOGLE), ("huggingface", sent, HF),
                                   ("openai", "/v1/embeddings", OPENAI), ("gemini", eurl, GOOGLE)):
        for raw, what in ((b"[" * 1200 + b"]" * 1200, "deep array body"), (b'{"a": ' * 1200 + b"1" + b"}" * 1200,
                                                                           "deep object body"),
                          (b'{"model": NaN, "input": 1e999}', "NaN and infinity"), (b"\xff\xfe{}", "invalid UTF-8"),
                          (b'{"model": "m", "messages": [}', "broken JSON")):
            out.append(Case(provider, url, raw, headers, None, "", f"raw {what} to {url}"))
    return out


def encode(body: Any) -> bytes:
    if isinstance(body, bytes):
        return body
    text = json.dumps(body)  # a lone surrogate becomes the JSON escape "\ud83d"
    return text.replace(json.dumps(DEEP), "[" * 1200 + "]" * 1200).encode()


# ---------------------------------------------------------------------- running them

class Connection:
    """One kept-alive HTTP/1.1 connection; counts the times the server closed it without saying so."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.conn: http.client.HTTPConnection | None = None
        self.silent_closes = 0
        self.announced_closes = 0

    def request(self, method: str, path: str, body: bytes, headers: dict) -> tuple[int, dict, bytes, bool]:
        fresh = self.conn is None
        if fresh:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=PER_REQUEST_TIMEOUT)
        h = {"content-type": "application/json", **headers}
        try:
            self.conn.request(method, path, body=body, headers=h)
            r = self.conn.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as e:
            if fresh:
                raise
            # the previous answer was followed by a close nobody announced: count it, reconnect, send again
            self.silent_closes += 1
            self.conn.close()
            self.conn = None
            del e
            return self.request(method, path, body, headers)
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        dropped = False
        try:
            data = r.read()
        except (http.client.IncompleteRead, ConnectionResetError) as e:
            data = getattr(e, "partial", b"") or b""
            dropped = True
        if hdrs.get("connection", "").lower() == "close" or dropped:
            self.announced_closes += 0 if dropped else 1
            self.conn.close()
            self.conn = None
        return r.status, hdrs, data, dropped

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def stream_complete(kind: str, data: bytes) -> bool:
    text = data.decode(errors="replace")
    events = [ln[6:] for ln in text.splitlines() if ln.startswith("data: ")]
    if not events or any('"error"' in e[:12] for e in events):
        return False
    if kind == "chat":
        return events[-1] == "[DONE]"
    if kind == "responses":
        return '"response.completed"' in events[-1]
    if kind == "gemini":
        return '"finishReason"' in events[-1]
    if kind == "tgi":
        return '"generated_text": null' not in events[-1] and '"generated_text"' in events[-1]
    return True


def shaped(provider: str, status: int, data: bytes) -> str:
    """'' when an error body has the provider's shape, else what is wrong with it."""
    try:
        body = json.loads(data)
    except ValueError:
        return "not JSON"
    err = body.get("error") if isinstance(body, dict) else None
    if provider == "huggingface":
        return "" if isinstance(err, str) else "not {'error': '...'}"
    if provider == "gemini":
        ok = isinstance(err, dict) and err.get("code") == status and isinstance(err.get("message"), str) \
            and isinstance(err.get("status"), str)
        return "" if ok else "not {'error': {code, message, status}}"
    ok = isinstance(err, dict) and isinstance(err.get("message"), str) and "type" in err and "param" in err \
        and "code" in err
    return "" if ok else "not {'error': {message, type, param, code}}"


def names_param(case: Case, data: bytes) -> bool:
    if not case.field_name or case.field_name.isdigit():
        return True
    text = data.decode(errors="replace")
    leaf = case.field_name
    snake = "".join("_" + c.lower() if c.isupper() else c for c in leaf)
    return leaf in text or snake in text


def run(base_url: str, selected: list[Case] | None = None, budget: float = TOTAL_BUDGET) -> dict:
    """Send every case over kept-alive connections; return the figures and the failures."""
    u = urllib.parse.urlparse(base_url)
    conn = Connection(u.hostname or "127.0.0.1", u.port or 80)
    results: list[Result] = []
    t_start = time.monotonic()
    for case in selected if selected is not None else cases():
        if time.monotonic() - t_start > budget:
            break
        res = Result(case)
        t0 = time.perf_counter()
        try:
            res.status, _, res.body, res.dropped = conn.request("POST", case.path, encode(case.body), case.headers)
        except (OSError, http.client.HTTPException) as e:
            res.error = f"{type(e).__name__}: {e}"
            conn.close()
            conn.conn = None
        res.seconds = time.perf_counter() - t0
        results.append(res)
    conn.close()
    statuses = Counter(r.status for r in results)
    fails: list[str] = []
    accepted: list[str] = []
    unnamed: list[str] = []
    for r in results:
        c = r.case
        if r.error:
            fails.append(f"{c.label}: no answer ({r.error})")
        elif r.status >= 500:
            fails.append(f"{c.label}: {r.status} {r.body[:160]!r}")
        elif r.dropped:
            fails.append(f"{c.label}: {r.status} then the connection dropped")
        elif r.status == 200 and c.stream and not stream_complete(c.stream, r.body):
            fails.append(f"{c.label}: 200 then a broken or failed stream {r.body[-160:]!r}")
        elif r.status >= 400:
            wrong = shaped(c.provider, r.status, r.body)
            if wrong:
                fails.append(f"{c.label}: {r.status} body {wrong}: {r.body[:160]!r}")
            elif not names_param(c, r.body):
                unnamed.append(f"{c.label}: {r.body[:200]!r}")
        elif r.status == 200:
            accepted.append(c.label)
    return {"requests": len(results), "seconds": round(time.monotonic() - t_start, 1), "statuses": dict(statuses),
            "5xx": sum(n for s, n in statuses.items() if s >= 500), "silent_closes": conn.silent_closes,
            "announced_closes": conn.announced_closes, "failures": fails, "accepted": accepted, "unnamed": unnamed,
            "stream_cases": sum(1 for r in results if r.case.stream),
            "stream_200_broken": sum(1 for r in results if r.case.stream and r.status == 200
                                     and not stream_complete(r.case.stream, r.body))}


# ---------------------------------------------------------------------- the test

def _probe(base_url: str) -> str:
    import httpx

    r = httpx.post(f"{base_url}/v1/chat/completions", timeout=60, json={
        "model": "smollm2-135m-instruct", "messages": [{"role": "user", "content": "Say hello."}],
        "max_tokens": 8, "temperature": 0, "seed": 1})
    assert r.status_code == 200, r.text
    return r.json()["choices"][0]["message"]["content"]


def test_fuzzed_requests_get_provider_shaped_400s(base_url):
    before = _probe(base_url)
    report = run(base_url)
    assert report["requests"] >= 250, f"the run stopped early: {report['requests']} requests in {report['seconds']} s"
    assert report["5xx"] == 0, report["failures"][:10]
    assert report["silent_closes"] == 0
    assert not report["failures"], "\n".join(report["failures"][:15])
    assert report["stream_200_broken"] == 0
    assert not report["unnamed"], "errors that do not name the parameter:\n" + "\n".join(report["unnamed"][:15])
    assert len(report["accepted"]) <= 12, f"malformed requests answered 200: {report['accepted']}"
    assert _probe(base_url) == before  # the server answers exactly as before


def test_connection_survives_an_error(base_url):
    """A 4xx (and any error) is followed by a usable kept-alive connection."""
    u = urllib.parse.urlparse(base_url)
    with socket.create_connection((u.hostname, u.port), timeout=30) as s:
        for body in (b'{"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": "abc"}',
                     b"[" * 1500 + b"]" * 1500,
                     json.dumps({"model": "m", "messages": [{"role": "user", "content": SURROGATE}]}).encode(),
                     b'{"model": "m", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1}'):
            s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
                      b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = s.recv(65536)
                assert chunk, "the server closed the connection"
                head += chunk
            top, rest = head.split(b"\r\n\r\n", 1)
            assert b"connection: close" not in top.lower()
            length = int([ln.split(b":")[1] for ln in top.split(b"\r\n") if ln.lower().startswith(b"content-length")][0])
            while len(rest) < length:
                rest += s.recv(65536)
            status = int(top.split()[1])
            assert status in (200, 400), (status, rest[:200])


@pytest.mark.parametrize("value", ["abc", 1.5, -3])
def test_bad_token_limits_with_the_sdks(base_url, value):
    """The SDKs see a BadRequestError naming the parameter (no retries, no 500)."""
    import openai
    from google import genai
    from google.genai import errors, types

    client = openai.OpenAI(base_url=f"{base_url}/v1", api_key="local-fuzz-key", max_retries=0)
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="smollm2-135m-instruct", messages=[{"role": "user", "content": "Hi"}],
                                       extra_body={"max_completion_tokens": value})
    assert e.value.body["param"] == "max_completion_tokens"
    g = genai.Client(api_key="local-fuzz-key", http_options=types.HttpOptions(base_url=base_url))
    with pytest.raises(errors.ClientError) as e2:
        g.models.generate_content(model="gemini-2.5-flash-lite", contents="Hi",
                                  config={"http_options": {"extra_body": {"generationConfig": {"maxOutputTokens": value}}}})
    assert e2.value.code == 400 and "max_output_tokens" in str(e2.value.message)


def test_explain_error_calls_it_a_bad_request(base_url):
    import openai

    import helpers

    client = openai.OpenAI(base_url=f"{base_url}/v1", api_key="local-fuzz-key", max_retries=0)
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="smollm2-135m-instruct", messages=[{"role": "user", "content": "Hi"}],
                                       temperature=7)
    text = helpers.explain_error(e.value)
    assert "400" in text and "server problem" not in text.lower()


if __name__ == "__main__":
    rep = run(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8321")
    for key in ("requests", "seconds", "statuses", "5xx", "silent_closes", "announced_closes", "stream_cases",
                "stream_200_broken"):
        print(f"{key}: {rep[key]}")
    print(f"accepted (200 for malformed input): {len(rep['accepted'])}")
    for line in rep["accepted"]:
        print("   ", line)
    print(f"errors not naming the parameter: {len(rep['unnamed'])}")
    for line in rep["unnamed"][:40]:
        print("   ", line)
    print(f"failures: {len(rep['failures'])}")
    for line in rep["failures"]:
        print("   ", line)


def test_an_internal_error_keeps_the_connection_open():
    """A bug in a handler or in a stream: a provider-shaped error that quotes nothing, on a connection that stays
    usable (an exception that escapes the app makes uvicorn close it: 'after each 500 the connection closes')."""
    import threading

    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse, StreamingResponse
    from starlette.routing import Route

    from helpers.server.common import supervise

    secret = "sk-" + "fuzz" * 10  # pragma: allowlist secret

    async def broken(request):
        async def work():
            raise KeyError(secret)
        return await supervise(request, "openai", work)

    async def broken_stream(request):
        async def events():
            yield b"data: {\"ok\": 1}\n\n"
            raise RuntimeError(secret)

        async def work():
            return StreamingResponse(events(), media_type="text/event-stream")
        return await supervise(request, "gemini", work)

    async def fine(request):
        async def work():
            return JSONResponse({"ok": True})
        return await supervise(request, "openai", work)

    app = Starlette(routes=[Route("/broken", broken, methods=["POST"]), Route("/stream", broken_stream, methods=["POST"]),
                            Route("/fine", fine, methods=["POST"])])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="critical", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        conn = Connection("127.0.0.1", port)
        status, _, body, dropped = conn.request("POST", "/broken", b"{}", {})
        assert status == 500 and not dropped and secret not in body.decode()
        assert json.loads(body)["error"]["type"] == "server_error"
        status, _, body, dropped = conn.request("POST", "/stream", b"{}", {})
        assert status == 200 and not dropped
        last = [ln for ln in body.decode().splitlines() if ln.startswith("data: ")][-1]
        assert json.loads(last[6:])["error"]["code"] == 500 and secret not in body.decode()
        status, _, body, dropped = conn.request("POST", "/fine", b"{}", {})
        assert status == 200 and conn.silent_closes == 0 and conn.announced_closes == 0
        conn.close()
    finally:
        server.should_exit = True
        thread.join(10)
