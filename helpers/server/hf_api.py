"""The Hugging Face wire protocol: the inference router and the few Hub calls ``InferenceClient`` makes.

``helpers.hf_local`` sends ``https://<host>.huggingface.co/...`` here as ``/hf/<host>/...``
(``huggingface.co`` itself becomes ``/hf/hub``). Paths:

* ``POST /hf/router/v1/chat/completions``: the auto-router (``InferenceClient`` with no provider). OpenAI shape:
  plain, streaming, tools, ``response_format``; model ids may carry a ``:provider`` or ``:fastest`` suffix. A stream
  ends as the router's does: every chunk's ``delta`` has ``content`` (hf.co's ``requests`` snippet reads it).
* ``POST /hf/router/<provider>/.../chat/completions``: a named provider (``/together/v1/...``,
  ``/hf-inference/models/<id>/v1/...``); ``.../completions`` (text) and ``.../embeddings`` likewise.
* ``POST /hf/router/hf-inference/models/<id>`` and ``.../pipeline/<task>``: tasks, ``{inputs, parameters}``
  (text-classification, token-classification, summarization, translation, feature-extraction,
  sentence-similarity, text-generation with TGI's JSON ``grammar``, zero-shot-classification, fill-mask,
  question-answering), answered by ``hf_tasks`` with the real service's shapes. Images and sound
  (image-classification, object-detection, automatic-speech-recognition) arrive as raw bytes: the answer has the
  real shape and says plainly that the local model cannot see or hear.
* ``GET /hf/router/v1/models``; ``GET /hf/hub/api/models/<id>`` (``?expand=inferenceProviderMapping``),
  ``/hf/hub/api/tasks``, ``/hf/hub/api/whoami-v2``. Other Hub paths (downloads) get a 404 that says so.
* anything under ``/hf/api-inference/``: 410 Gone, as the retired service answers.

Errors are ``{"error": "..."}``. The router wants a token (``Authorization: Bearer hf_...``), as the real one does.
Inputs and ``parameters`` are checked before any work (``check_parameters``: a 400 naming the parameter);
embedding inputs are cut to the model's 512 tokens, as sentence-transformers models read no more.
"""
from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Awaitable, Callable

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from .. import models as catalogue
from . import faults, hf_tasks, openai_api
from .common import (LOCAL_MODEL, BadParam, Fields, Reject, admit, api_key, backend, budget, check_faults, engine_error,
                     kind_of, local_headers, new_id, note, now, read_json, refuse, sse, supervise)
from .embeddings import embed_batched
from .engine import EngineError, Generation

HF = "huggingface"
CHAT_PROVIDERS = ["together", "novita", "featherless-ai", "fireworks-ai", "groq", "cerebras", "nscale", "scaleway",
                  "ovhcloud", "deepinfra", "cohere", "publicai", "zai-org"]
TASKS = ("text-classification", "token-classification", "summarization", "translation", "feature-extraction",
         "sentence-similarity", "text-generation", "zero-shot-classification", "fill-mask", "question-answering",
         "image-classification", "object-detection", "automatic-speech-recognition")
MEDIA_TASKS = ("image-classification", "object-detection", "automatic-speech-recognition")
_PURPOSE_TASK = {"sentiment": "text-classification", "ner": "token-classification", "summarization": "summarization",
                 "translation": "translation", "embeddings": "feature-extraction", "text_generation": "text-generation",
                 "zero_shot": "zero-shot-classification", "fill_mask": "fill-mask",
                 "question_answering": "question-answering", "chat": "conversational", "tools": "conversational"}
_NAME_HINTS = [  # (pattern in a model id, task) for models the catalogue does not list
    (r"sentence-transformers/|e5-|bge-|minilm|mpnet|embed|gte-", "feature-extraction"),
    (r"summar|bart-large-cnn|pegasus|-cnn\b|xsum", "summarization"),
    (r"opus-mt|translat|nllb|m2m100|madlad|mbart|-mmt\b|seamless", "translation"),  # mbart-large-50-*-mmt
    (r"sentiment|sst-?2|emotion|-imdb|finbert|toxic", "text-classification"),
    (r"(^|[-/_])ner($|[-_])|conll|-pos\b|ner-", "token-classification"),
    (r"detr|yolo|object-detect|owlvit|owlv2|grounding-dino", "object-detection"),  # facebook/detr-resnet-50
    (r"whisper|wav2vec|speech-recognition|hubert|parakeet|[-_/]asr\b", "automatic-speech-recognition"),
    (r"(^|/)vit-|resnet|convnext|efficientnet|beit|deit|mobilenet|swin|image-classif", "image-classification"),
    (r"mnli|xnli|zero-shot|[-_/]nli\b|nli-", "zero-shot-classification"),  # facebook/bart-large-mnli
    (r"squad|question|[-_]qa\b", "question-answering"),  # deepset/roberta-base-squad2
    (r"(^|/)(bert|roberta|distilbert|albert|camembert|xlm-roberta|distilroberta|modernbert)-(base|large)"
     r"(-(un)?cased|-multilingual(-(un)?cased)?)?$", "fill-mask"),  # google-bert/bert-base-uncased
    (r"instruct|chat|-it\b|-it-|qwen|llama|mistral|gemma|phi-|deepseek|gpt-oss|smollm", "conversational"),
]


# ---------------------------------------------------------------------- which task a model does

def task_for_model(model_id: str) -> str | None:
    """The task a model id does: from the catalogue (``[huggingface]``), else guessed from its name, else None."""
    entry = catalogue.catalogue().get("huggingface", {})
    found = [task for purpose, task in _PURPOSE_TASK.items() if entry.get(purpose) == model_id]
    if found:
        non_chat = [t for t in found if t != "conversational"]
        return (non_chat or found)[0]
    if model_id in entry.get("fallbacks", []):
        return "conversational"
    low = model_id.lower()
    for pattern, task in _NAME_HINTS:
        if re.search(pattern, low):
            return task
    return None


def _task_from_inputs(inputs: Any) -> str:
    if isinstance(inputs, dict) and "source_sentence" in inputs:
        return "sentence-similarity"
    if isinstance(inputs, dict) and "question" in inputs and "context" in inputs:
        return "question-answering"
    if isinstance(inputs, list):
        return "feature-extraction"
    return "text-generation"


# ---------------------------------------------------------------------- small helpers

def _reject(status: int, message: str) -> Reject:
    return Reject(faults.bad_request(HF, message, status))


def _require_token(request: Request) -> None:
    if not api_key(request):
        raise Reject(faults.hf_error(401, "You must provide a Hugging Face token: send the header "
                                     "'Authorization: Bearer hf_...' (InferenceClient reads HF_TOKEN)."
                                     + faults.LOCAL_NOTE))


def _with_body(request: Request, body: dict) -> Request:
    """The same request with another JSON body (to hand a normalised body to the OpenAI handler)."""
    raw = json.dumps(body).encode()

    async def receive() -> dict:
        return {"type": "http.request", "body": raw, "more_body": False}

    return Request(request.scope, receive)


async def _run(provider_call: Awaitable[Any]) -> Any:
    try:
        return await provider_call
    except EngineError as e:
        raise Reject(engine_error(HF, e)) from e


def _texts(inputs: Any, task: str, allow_list: bool = True, name: str = "inputs", list_only: bool = False,
           ) -> list[str]:
    """``inputs`` as a non-empty list of non-empty strings, or a clear 400 naming the field (``name``)."""
    if list_only and not isinstance(inputs, list):
        raise _reject(400, f"For {task}, '{name}' must be a list of strings (got {kind_of(inputs)}).")
    items = inputs if isinstance(inputs, list) and allow_list else [inputs]
    if not items or not all(isinstance(t, str) for t in items):
        kind = "a string or a list of strings" if allow_list else "a string"
        bad = next((t for t in items if not isinstance(t, str)), inputs) if items else inputs
        raise _reject(400, f"For {task}, '{name}' must be {kind} (got {kind_of(bad)}).")
    if any(not t.strip() for t in items):
        raise _reject(400, f"For {task}, '{name}' cannot be an empty string.")
    return items


def _int_param(params: dict, *names: str) -> int | None:
    """The first of ``names`` present in ``params`` (checked already by ``check_parameters``)."""
    for name in names:
        value = params.get(name)
        if value is not None:
            return int(value)
    return None


# What each task reads from ``parameters``, checked before any work: (name, kind, low, high).
_COMMON_GENERATION = [("max_new_tokens", "int", 1, None), ("max_length", "int", 1, None),
                      ("temperature", "number", 0, None), ("top_p", "number", 0, 1), ("top_k", "int", 0, None),
                      ("seed", "int", None, None), ("do_sample", "bool", None, None),
                      ("repetition_penalty", "number", 0, None), ("stop", "strings", None, None),
                      ("stop_sequences", "strings", None, None)]
_PARAMETERS = {
    "text-classification": [("top_k", "int", 1, None), ("function_to_apply", "string", None, None)],
    "token-classification": [("aggregation_strategy", "string", None, None), ("stride", "int", 0, None),
                             ("ignore_labels", "strings", None, None)],
    "summarization": _COMMON_GENERATION + [("generate_parameters", "object", None, None),
                                           ("clean_up_tokenization_spaces", "bool", None, None),
                                           ("truncation", "string", None, None)],
    "translation": _COMMON_GENERATION + [("src_lang", "string", None, None), ("tgt_lang", "string", None, None),
                                         ("generate_parameters", "object", None, None)],
    "text-generation": _COMMON_GENERATION + [("return_full_text", "bool", None, None), ("details", "bool", None, None),
                                             ("decoder_input_details", "bool", None, None),
                                             ("truncate", "int", 1, None), ("watermark", "bool", None, None),
                                             ("grammar", "object", None, None)],
    "zero-shot-classification": [("candidate_labels", "strings", None, None), ("multi_label", "bool", None, None),
                                 ("hypothesis_template", "string", None, None)],
    "fill-mask": [("top_k", "int", 1, 100), ("targets", "strings", None, None)],
    "question-answering": [("top_k", "int", 1, 20), ("align_to_words", "bool", None, None),
                           ("doc_stride", "int", 1, None), ("handle_impossible_answer", "bool", None, None),
                           ("max_answer_len", "int", 1, None), ("max_question_len", "int", 1, None),
                           ("max_seq_len", "int", 1, None)],
    "feature-extraction": [("normalize", "bool", None, None), ("truncate", "bool", None, None),
                           ("prompt_name", "string", None, None), ("truncation_direction", "string", None, None)],
}
_PARAMETERS["sentence-similarity"] = _PARAMETERS["feature-extraction"]


def _task_work(task: str, inputs: Any, params: dict) -> int:
    """A task's size for the work queue: about what the local model reads and writes for it (``common.budget``)."""
    texts = inputs if isinstance(inputs, list) else [inputs]
    chars = sum(len(t) for t in texts if isinstance(t, str))
    if task in ("text-classification", "token-classification"):
        return budget(2, n=len(texts), prompt_chars=chars + 1200 * len(texts))  # few-shot prompts, one-token labels
    if task == "translation":
        return budget(16 + 3 * chars // 5, prompt_chars=chars)
    if task == "zero-shot-classification":  # a few one-token looks per label, with and without the text
        labels = params.get("candidate_labels") if isinstance(params.get("candidate_labels"), list) else []
        return budget(6 * max(1, len(labels)), prompt_chars=(chars + 40) * 3 * max(1, len(labels)))
    if task == "fill-mask":
        return budget(1, prompt_chars=chars)
    if task == "question-answering":
        fields = inputs if isinstance(inputs, dict) else {}
        return budget(24, prompt_chars=sum(len(v) for v in fields.values() if isinstance(v, str)))
    default = 120 if task == "summarization" else 100
    value = params.get("max_new_tokens") or params.get("max_length")
    return budget(value if isinstance(value, int) else default, prompt_chars=chars)


def check_parameters(task: str, params: dict) -> None:
    """Refuse a wrongly typed or out-of-range parameter of ``task`` with a 400 naming it."""
    f = Fields(HF, params, "parameters")
    spec = _PARAMETERS.get(task, [])
    gen = params.get("generate_parameters")
    targets = [(f, spec)] + ([(f.child("generate_parameters", gen), _COMMON_GENERATION)] if isinstance(gen, dict)
                             else [])
    for fields, names in targets:
        for name, kind, lo, hi in names:
            if kind == "int":
                fields.integer(name, lo=lo, hi=hi if hi is not None else 2**31 - 1)
            elif kind == "number":
                fields.number(name, lo, hi)
            elif kind == "bool":
                fields.boolean(name)
            elif kind == "string":
                fields.string(name)
            elif kind == "strings":
                fields.strings(name, 16)
            elif kind == "object":
                fields.object(name)


# sentence-transformers models read at most 512 tokens of an input (multilingual-e5-small's 512 positions; TEI, which
# serves hf-inference's embedding models, cuts longer inputs with truncate=true): the local server cuts there too.
EMBED_MAX_TOKENS = 512


# ---------------------------------------------------------------------- the router

async def routed(request: Request) -> Response:
    """The router, run so that its work is cancelled when the client leaves (``common.supervise``)."""
    return await supervise(request, HF, lambda: router(request))


async def router(request: Request) -> Response:
    """Every ``POST /hf/router/...``: chat, completions, embeddings or an hf-inference task."""
    rest = request.path_params["rest"].strip("/")
    _require_token(request)
    if rest.endswith("chat/completions"):
        return await chat(request, rest)
    if rest.endswith("/completions") or rest == "v1/completions":
        return await completions(request)
    if rest.endswith("/embeddings"):
        return await openai_api.embeddings(request, HF)
    m = re.fullmatch(r"hf-inference/models/(.+?)(?:/pipeline/([a-z0-9-]+))?", rest)
    if m:
        return await hf_inference(request, m.group(1), m.group(2))
    raise HTTPException(404)


async def chat(request: Request, rest: str) -> Response:
    """Router chat: reuses the OpenAI chat handler with Hugging Face's error shape."""
    body = await read_json(request, HF)
    m = re.fullmatch(r"hf-inference/models/(.+?)/v1/chat/completions", rest)
    changed = False
    if m and not body.get("model"):
        body["model"], changed = m.group(1), True
    for key in ("model", "messages"):
        if key not in body:
            raise _reject(400, f"Missing required parameter: {key!r}.")
    model = str(body["model"])
    bare = model.split(":", 1)[0]
    replacement = catalogue.replacement_for(bare) if bare != model else None
    if replacement:
        raise Reject(faults.error_response(HF, faults.Fault("404", model=bare, replacement=replacement)))
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") in ("json", "json_object") and isinstance(fmt.get("value"), dict):
        # TGI spelling (hf-inference): {"type": "json_object", "value": <schema>}
        body["response_format"] = {"type": "json_schema", "json_schema": {"name": "output", "schema": fmt["value"]}}
        changed = True
    response = await openai_api.chat_completions(_with_body(request, body) if changed else request, HF)
    if isinstance(response, StreamingResponse):
        response.body_iterator = _router_stream_end(response.body_iterator)
    return response


async def _router_stream_end(events):
    """The router's stream: every chunk's ``delta`` carries ``content``, the last one too (``""`` beside its
    ``finish_reason``), as TGI-served models send it.

    hf.co's own ``requests`` snippet (huggingface.js, snippets-fixtures/conversational-llm-stream/python/requests,
    read 2026-11-30) prints ``chunk["choices"][0]["delta"]["content"]`` for every chunk before ``data: [DONE]``;
    OpenAI's closing chunk (``"delta": {}``) would stop it with a KeyError.
    """
    buffer = b""
    async for piece in events:
        buffer += piece.encode() if isinstance(piece, str) else piece
        while b"\n\n" in buffer:
            event, buffer = buffer.split(b"\n\n", 1)
            yield _with_content(event) + b"\n\n"
    if buffer:
        yield buffer


def _with_content(event: bytes) -> bytes:
    if not event.startswith(b"data: {"):
        return event
    try:
        chunk = json.loads(event[6:])
    except ValueError:
        return event
    changed = False
    for choice in chunk.get("choices") or []:
        delta = choice.get("delta")
        if isinstance(delta, dict) and "content" not in delta and not delta.get("tool_calls"):
            delta.update({"role": delta.get("role", "assistant"), "content": ""})
            changed = True
    return b"data: " + json.dumps(chunk, ensure_ascii=False).encode() if changed else event


async def completions(request: Request) -> Response:
    """OpenAI-style text completions (``text_generation`` through a named provider such as together)."""
    body = await read_json(request, HF, ("model", "prompt"))
    model = body["model"] if isinstance(body["model"], str) else ""
    await check_faults(request, HF, model)
    try:
        f = Fields(HF, body)
        f.string("model", required=True, nonempty=True)
        f.integer("max_tokens", lo=1)
        f.number("temperature", 0, 2)
        f.number("top_p", 0, 1)
        f.integer("seed", lo=-(2**63), hi=2**63 - 1)
        f.strings("stop", 4)
        f.boolean("echo")
        f.boolean("stream")
    except BadParam as e:
        raise refuse(HF, e) from None
    prompt = body["prompt"][0] if isinstance(body["prompt"], list) and body["prompt"] else body["prompt"]
    prompt = _texts(prompt, "completions", allow_list=False, name="prompt")[0]
    if body.get("stream"):
        raise _reject(400, "The local server answers /v1/completions without streaming: leave out stream=True.")
    await admit(request, HF, work=budget(body.get("max_tokens"), prompt_chars=len(prompt)))
    gen = await _run(hf_tasks.continue_text(backend(request).engine, prompt, **openai_api.options(body)))
    text = prompt + gen.text if body.get("echo") else gen.text
    return JSONResponse({"id": new_id("cmpl-"), "object": "text_completion", "created": now(), "model": LOCAL_MODEL,
                         "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": gen.finish_reason}],
                         "usage": {"prompt_tokens": gen.prompt_tokens, "completion_tokens": gen.completion_tokens,
                                   "total_tokens": gen.prompt_tokens + gen.completion_tokens}},
                        headers=local_headers(model))


async def list_models(request: Request) -> Response:
    """``GET /hf/router/v1/models``: the catalogue's Hugging Face models, OpenAI shape."""
    entry = catalogue.catalogue().get("huggingface", {})
    ids = [entry[p] for p in _PURPOSE_TASK if isinstance(entry.get(p), str)] + list(entry.get("fallbacks", []))
    data = [{"id": mid, "object": "model", "created": 1700000000,
             "owned_by": "course-local-server (answers with smollm2-135m-instruct)"} for mid in dict.fromkeys(ids)]
    return JSONResponse({"object": "list", "data": data}, headers=local_headers(None))


# ---------------------------------------------------------------------- hf-inference tasks

async def hf_inference(request: Request, model_id: str, pipeline: str | None) -> Response:
    """``POST /hf/router/hf-inference/models/<id>[/pipeline/<task>]`` with ``{inputs, parameters}``."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if (pipeline or task_for_model(model_id)) in MEDIA_TASKS or content_type not in ("", "application/json"):
        return await media_task(request, model_id, pipeline or task_for_model(model_id), content_type)
    body = await read_json(request, HF)
    await check_faults(request, HF, model_id)
    if "inputs" not in body:
        raise _reject(400, "Missing required parameter: 'inputs'. Send {\"inputs\": \"your text\", \"parameters\": {...}}.")
    inputs = body["inputs"]
    params = body.get("parameters") or {}
    if not isinstance(params, dict):
        raise _reject(400, "'parameters' must be an object ({...}).")
    task = pipeline or task_for_model(model_id) or _task_from_inputs(inputs)
    if task == "conversational":
        task = "text-generation" if isinstance(inputs, str) else task
    handler = _HANDLERS.get(task)
    if handler is None:
        raise _reject(400, f"The local server does not run the task {task!r} for {model_id}. "
                      f"It runs: {', '.join(TASKS)} (and chat at /v1/chat/completions).")
    canonical = {"sentiment-analysis": "text-classification", "ner": "token-classification",
                 "text2text-generation": "text-generation"}.get(task, task)
    try:
        check_parameters(canonical, params)
        Fields(HF, body).boolean("stream")
    except BadParam as e:
        raise refuse(HF, e) from None
    if canonical not in ("feature-extraction", "sentence-similarity"):  # those wait for the embedder instead
        await admit(request, HF, work=_task_work(canonical, inputs, params))
    engine = backend(request).engine
    try:
        return await handler(request, engine, model_id, inputs, params, body)
    except EngineError as e:
        return engine_error(HF, e)


async def media_task(request: Request, model_id: str, task: str | None, content_type: str) -> Response:
    """Image classification, object detection, speech recognition: the real response shapes, saying plainly that
    the local model can neither see nor hear (one element labelled so, score 0; a transcript that says so).

    The file arrives as raw bytes or, with parameters, as JSON ``{"inputs": <base64>, "parameters": {...}}``
    (huggingface_hub's binary-input tasks). It is checked to be an image or a sound, as the real service would.
    """
    import base64
    import binascii

    await check_faults(request, HF, model_id)
    data = await request.body()
    if content_type == "application/json":
        try:
            inputs = json.loads(data).get("inputs")
        except (ValueError, AttributeError):
            raise _reject(400, "The body is not valid JSON: send the file's bytes, or {\"inputs\": <base64>}.") from None
        if isinstance(inputs, str) and inputs.startswith(("http://", "https://")):
            raise _reject(400, "The local server does not download files from URLs (local mode keeps everything on "
                          "this machine): pass the file itself, e.g. client.image_classification('photo.png', ...).")
        try:
            data = base64.b64decode(inputs or "", validate=True)
        except (binascii.Error, TypeError, ValueError):
            raise _reject(400, "'inputs' must be the file's bytes in base64.") from None
    kind = hf_tasks.media_kind(data)
    wanted = {"automatic-speech-recognition": "audio"}.get(task or "", "image" if task else kind)
    if kind is None or kind != wanted:
        what = {"image": "an image (PNG, JPEG, GIF, WebP)", "audio": "a sound file (WAV, FLAC, MP3, Ogg)"}
        raise _reject(400, f"{model_id} expects {what.get(wanted or '', 'an image or a sound file')}; "
                      f"the body is {'empty' if not data else 'not one (its first bytes are ' + data[:8].hex() + ')'}.")
    task = task or ("image-classification" if kind == "image" else "automatic-speech-recognition")
    headers = local_headers(model_id)
    if task == "automatic-speech-recognition":
        return JSONResponse({"text": hf_tasks.CANNOT_HEAR, "chunks": None}, headers=headers)
    if task == "object-detection":
        width, height = hf_tasks.image_size(data) or (0, 0)
        return JSONResponse([{"label": hf_tasks.CANNOT_SEE_OBJECTS, "score": 0.0,
                              "box": {"xmin": 0, "ymin": 0, "xmax": width, "ymax": height}}], headers=headers)
    return JSONResponse([{"label": hf_tasks.CANNOT_SEE, "score": 0.0}], headers=headers)


async def _text_classification(request, engine, model_id, inputs, params, body) -> Response:
    texts = _texts(inputs, "text-classification")
    top_k = _int_param(params, "top_k")
    results = []
    for text in texts:
        scores = await hf_tasks.classify_sentiment(engine, text)
        ranked = sorted(({"label": k, "score": v} for k, v in scores.items()), key=lambda d: -d["score"])
        results.append(ranked[:top_k] if top_k else ranked)
    return JSONResponse(results, headers=local_headers(model_id))  # nested, as the real API: [[{label, score}]]


async def _token_classification(request, engine, model_id, inputs, params, body) -> Response:
    texts = _texts(inputs, "token-classification")
    found = [await hf_tasks.find_entities(engine, t) for t in texts]
    return JSONResponse(found[0] if isinstance(inputs, str) else found, headers=local_headers(model_id))


def _max_length(params: dict, default: int, floor: int = 1) -> int:
    """The token budget from ``max_new_tokens`` / ``max_length`` (also inside ``generate_parameters``)."""
    gen = params.get("generate_parameters") if isinstance(params.get("generate_parameters"), dict) else {}
    value = _int_param(params, "max_new_tokens", "max_length") or _int_param(gen, "max_new_tokens", "max_length")
    return max(floor, min(int(value or default), 400))


def _trim_to_sentence(text: str) -> str:
    """Cut an answer that ran out of room back to its last full sentence (when it has one)."""
    text = text.strip()
    cut = max(text.rfind(". "), text.rfind("! "), text.rfind("? "))
    if text and text[-1] not in ".!?" and cut > len(text) // 3:
        return text[:cut + 1]
    return text


async def _summarization(request, engine, model_id, inputs, params, body) -> Response:
    text = _texts(inputs, "summarization", allow_list=False)[0]
    gen, extractive = await hf_tasks.summarize(engine, text, _max_length(params, 120, floor=8))
    summary = _trim_to_sentence(gen.text) if gen.finish_reason == "length" else gen.text.strip()
    if extractive:
        note(request, "summarization: the tiny local model picked one of the text's own sentences "
                      "(helpers/server/hf_tasks.py); the real model writes its summary, often from the text's lead")
    return JSONResponse([{"summary_text": summary}], headers=local_headers(model_id))


async def _translation(request, engine, model_id, inputs, params, body) -> Response:
    texts = _texts(inputs, "translation")
    src_model, tgt_model = hf_tasks.languages_from_model(model_id)
    target = hf_tasks.language_name(params.get("tgt_lang")) or tgt_model
    source = hf_tasks.language_name(params.get("src_lang")) or src_model
    if target is None:
        raise _reject(400, f"Which language should {model_id} translate into? Pass tgt_lang (and src_lang), "
                      "e.g. client.translation(text, src_lang='en', tgt_lang='fr'), or use a model such as "
                      "Helsinki-NLP/opus-mt-en-fr.")
    out = []
    for text in texts:
        gen = await hf_tasks.translate(engine, text, target, source)
        out.append({"translation_text": gen.text.strip()})
    note(request, f"translation: the tiny local chat model translated into {target} as well as it can, which is poorly "
                  "(it is not a translation model, and nothing helps it here); the real model translates well")
    return JSONResponse(out, headers=local_headers(model_id))


async def _embed(request, texts: list[str]):
    """Vectors for ``texts``, each cut to ``EMBED_MAX_TOKENS`` tokens first, in cancellable batches."""
    import anyio

    embedder = backend(request).embedder
    cuts = await anyio.to_thread.run_sync(lambda: [embedder.truncate_tokens(t, EMBED_MAX_TOKENS) for t in texts])
    for i, (_, n, was_cut) in enumerate(cuts):
        if was_cut:
            note(request, f"input {i} was cut to its first {EMBED_MAX_TOKENS} tokens (of about {n} counted), as the "
                          "model reads no more")
    await admit(request, HF, "embed", work=sum(min(c[1], EMBED_MAX_TOKENS) for c in cuts))
    return await embed_batched(embedder, [c[0] for c in cuts], "query", [min(c[1], EMBED_MAX_TOKENS) for c in cuts])


async def _feature_extraction(request, engine, model_id, inputs, params, body) -> Response:
    texts = _texts(inputs, "feature-extraction")
    vecs = await _embed(request, texts)
    rows = [[float(x) for x in v] for v in vecs]
    # sentence-transformers models: one vector for a string, a list of vectors for a list of strings
    return JSONResponse(rows[0] if isinstance(inputs, str) else rows, headers=local_headers(model_id))


async def _sentence_similarity(request, engine, model_id, inputs, params, body) -> Response:
    if not isinstance(inputs, dict) or "source_sentence" not in inputs or "sentences" not in inputs:
        raise _reject(400, "For sentence-similarity, 'inputs' must be {\"source_sentence\": \"...\", "
                      "\"sentences\": [\"...\", ...]}.")
    source = _texts(inputs["source_sentence"], "sentence-similarity", allow_list=False, name="inputs.source_sentence")
    others = _texts(inputs["sentences"], "sentence-similarity", name="inputs.sentences", list_only=True)
    vecs = await _embed(request, source + others)
    scores = [float(vecs[0] @ v) for v in vecs[1:]]
    return JSONResponse(scores, headers=local_headers(model_id))


async def _text_generation(request, engine, model_id, inputs, params, body) -> Response:
    prompt = _texts(inputs, "text-generation", allow_list=False)[0]
    temperature = params.get("temperature")
    if temperature is None and not params.get("do_sample"):
        temperature = 0.0  # TGI decodes greedily unless asked to sample
    stop = params.get("stop") or params.get("stop_sequences")
    schema = _grammar_schema(params.get("grammar"))
    if schema is not None:  # TGI's grammar: the engine's JSON-schema decoding (the prompt is read as a request)
        gen = await engine.generate([{"role": "user", "content": prompt}], max_tokens=_max_length(params, 200),
                                    temperature=temperature, top_p=params.get("top_p"), seed=params.get("seed"),
                                    json_schema=schema)
    else:
        gen = await hf_tasks.continue_text(engine, prompt, max_tokens=_max_length(params, 100),
                                           temperature=temperature, top_p=params.get("top_p"), stop=stop,
                                           seed=params.get("seed"))
    text = prompt + gen.text if params.get("return_full_text") else gen.text
    finish = "length" if gen.finish_reason == "length" else "stop_sequence" if stop else "eos_token"
    headers = local_headers(model_id)
    if body.get("stream"):
        tokens = await engine.tokenize(gen.text)
        return StreamingResponse(_tgi_stream(tokens, text, finish, gen, params), media_type="text/event-stream",
                                 headers=headers)
    out: dict[str, Any] = {"generated_text": text}
    if params.get("details"):
        tokens = await engine.tokenize(gen.text)
        out["details"] = {"finish_reason": finish, "generated_tokens": gen.completion_tokens,
                          "seed": params.get("seed"), "prefill": [],
                          # token ids and pieces are the model's own; per-token log-probabilities are not measured
                          "tokens": [{"id": i, "text": piece, "logprob": None, "special": False} for i, piece in tokens]}
    return JSONResponse([out], headers=headers)


def _grammar_schema(grammar: Any) -> dict | None:
    """The JSON schema of TGI's ``grammar`` parameter (``{"type": "json", "value": <schema>}``), or None without one.

    TGI also takes ``"json_schema"`` (value ``{"name", "schema"}``) and ``"regex"``; the local engine decodes JSON
    schemas only, so a regex grammar gets a 400 that says so.
    """
    if grammar is None:
        return None
    kind = grammar.get("type")
    value = grammar.get("value")
    if kind == "regex":
        raise _reject(400, "The local server cannot constrain text to a regular expression (grammar type 'regex'); "
                      "it can follow a JSON schema: grammar={'type': 'json', 'value': <schema>}.")
    if kind not in ("json", "json_schema"):
        raise _reject(400, f"parameters.grammar.type must be 'json', 'json_schema' or 'regex' (got {kind!r}).")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise _reject(400, "parameters.grammar.value must be a JSON schema (an object, or a string of JSON).") \
                from None
    if kind == "json_schema" and isinstance(value, dict) and isinstance(value.get("schema"), dict):
        value = value["schema"]
    if not isinstance(value, dict):
        raise _reject(400, "parameters.grammar.value must be a JSON schema (an object, or a string of JSON).")
    return value


async def _tgi_stream(tokens: list[tuple[int, str]], text: str, finish: str, gen: Generation, params: dict):
    for n, (tid, piece) in enumerate(tokens):
        last = n == len(tokens) - 1
        yield sse({"index": n + 1, "token": {"id": tid, "text": piece, "logprob": None, "special": False},
                   "generated_text": text if last else None,
                   "details": {"finish_reason": finish, "generated_tokens": gen.completion_tokens,
                               "seed": params.get("seed"), "input_length": gen.prompt_tokens} if last else None})
    if not tokens:
        yield sse({"index": 1, "token": {"id": 0, "text": "", "logprob": None, "special": True},
                   "generated_text": text, "details": {"finish_reason": finish, "generated_tokens": 0,
                                                        "seed": params.get("seed"), "input_length": gen.prompt_tokens}})


async def _zero_shot_classification(request, engine, model_id, inputs, params, body) -> Response:
    text = _texts(inputs, "zero-shot-classification", allow_list=False)[0]
    labels = params.get("candidate_labels")
    if isinstance(labels, str):
        labels = [part.strip() for part in labels.split(",")]
    if not labels or not all(isinstance(x, str) and x.strip() for x in labels):
        raise _reject(400, "For zero-shot-classification, 'parameters.candidate_labels' must be a non-empty list of "
                      "labels, e.g. {\"inputs\": \"...\", \"parameters\": {\"candidate_labels\": [\"sports\", "
                      "\"politics\"]}}.")
    template = params.get("hypothesis_template") or hf_tasks.ZERO_SHOT_TEMPLATE
    ranked = await hf_tasks.zero_shot(engine, lambda texts: _embed(request, texts), text, list(labels),
                                      bool(params.get("multi_label")), template)
    # hf-inference answers a list of {label, score}, best first (huggingface_hub's ZeroShotClassificationOutputElement)
    return JSONResponse([{"label": label, "score": round(score, 6)} for label, score in ranked],
                        headers=local_headers(model_id))


async def _fill_mask(request, engine, model_id, inputs, params, body) -> Response:
    texts = _texts(inputs, "fill-mask")
    out = []
    for text in texts:
        mask = hf_tasks.find_mask(text)
        if mask is None or text.count(mask) != 1:
            raise _reject(400, f"For fill-mask, each input needs exactly one mask token, {' or '.join(hf_tasks.MASK_TOKENS)}"
                          f" (found {0 if mask is None else text.count(mask)}): e.g. \"Paris is the [MASK] of France.\"")
        targets = params.get("targets")
        try:
            out.append(await hf_tasks.fill_mask(engine, text, mask, _int_param(params, "top_k") or 5,
                                                [targets] if isinstance(targets, str) else targets))
        except ValueError as e:
            raise _reject(400, f"For fill-mask, {e} (a limitation of the local model, which reads left to right).") \
                from None
    return JSONResponse(out[0] if isinstance(inputs, str) else out, headers=local_headers(model_id))


async def _question_answering(request, engine, model_id, inputs, params, body) -> Response:
    if not isinstance(inputs, dict) or "question" not in inputs or "context" not in inputs:
        raise _reject(400, "For question-answering, 'inputs' must be {\"question\": \"...\", \"context\": \"...\"}.")
    question = _texts(inputs["question"], "question-answering", allow_list=False, name="inputs.question")[0]
    context = _texts(inputs["context"], "question-answering", allow_list=False, name="inputs.context")[0]
    top_k = _int_param(params, "top_k") or 1
    answers = await hf_tasks.answer_question(engine, lambda texts: _embed(request, texts), question, context, top_k)
    # one object when top_k is 1 (as hf-inference answers), else a list
    return JSONResponse(answers[0] if top_k == 1 and answers else answers, headers=local_headers(model_id))


_HANDLERS: dict[str, Callable[..., Awaitable[Response]]] = {
    "text-classification": _text_classification, "sentiment-analysis": _text_classification,
    "token-classification": _token_classification, "ner": _token_classification,
    "summarization": _summarization, "translation": _translation,
    "feature-extraction": _feature_extraction, "sentence-similarity": _sentence_similarity,
    "text-generation": _text_generation, "text2text-generation": _text_generation,
    "zero-shot-classification": _zero_shot_classification, "fill-mask": _fill_mask,
    "question-answering": _question_answering,
}


# ---------------------------------------------------------------------- the Hub

def _pipeline_tag(task: str | None) -> str:
    return {"conversational": "text-generation", None: "text-generation"}.get(task, task)  # type: ignore[arg-type]


def provider_mapping(model_id: str) -> dict[str, dict]:
    """The ``inferenceProviderMapping`` the local Hub reports: hf-inference first, then chat providers for chat models."""
    task = task_for_model(model_id) or "text-generation"
    mapping = {"hf-inference": {"status": "live", "providerId": model_id, "task": task, "isModelAuthor": False}}
    if task == "conversational":
        for p in CHAT_PROVIDERS:
            mapping[p] = {"status": "live", "providerId": model_id, "task": "conversational", "isModelAuthor": False}
    return mapping


def model_info(model_id: str) -> dict:
    """What ``HfApi().model_info(model_id)`` reads: pipeline tag, tags, library, provider mapping."""
    task = task_for_model(model_id)
    tag = _pipeline_tag(task)
    if task == "feature-extraction":
        tag, tags, library = "sentence-similarity", ["sentence-transformers", "feature-extraction",
                                                     "sentence-similarity"], "sentence-transformers"
    else:
        tags, library = [tag] + (["conversational"] if task == "conversational" else []), "transformers"
    return {"_id": hashlib.sha1(model_id.encode()).hexdigest()[:24], "id": model_id, "modelId": model_id,
            "author": model_id.split("/", 1)[0] if "/" in model_id else None, "private": False, "gated": False,
            "disabled": False, "pipeline_tag": tag, "tags": tags + ["local-course-server"], "library_name": library,
            "inference": "warm", "inferenceProviderMapping": provider_mapping(model_id)}


async def hub_model(request: Request) -> Response:
    """``GET /hf/hub/api/models/<id>[/revision/<rev>]``, honouring ``expand=``."""
    rest = request.path_params["rest"].strip("/")
    model_id = rest.split("/revision/", 1)[0]
    if model_id.count("/") > 1:
        raise _reject(404, f"The local server answers only model information (/api/models/<id>); "
                      f"/api/models/{rest} is not served in local mode. Hub files and listings need live mode.")
    info = model_info(model_id)
    expand = request.query_params.getlist("expand")
    if expand:
        info = {"_id": info["_id"], "id": info["id"], **{k: info[k] for k in expand if k in info}}
    return JSONResponse(info, headers=local_headers(model_id))


_TASK_LABELS = {"zero-shot-classification": "Zero-Shot Classification", "fill-mask": "Fill-Mask"}  # as hf.co spells


async def hub_tasks(request: Request) -> Response:
    """``GET /hf/hub/api/tasks``: the recommended model per task, the catalogue's ``[huggingface]`` defaults.

    ``InferenceClient`` reads each task's first ``widgetModels`` entry when a call names no model.
    """
    entry = catalogue.catalogue().get("huggingface", {})
    out = {}
    for purpose, task in _PURPOSE_TASK.items():
        if task != "conversational" and isinstance(entry.get(purpose), str):
            label = _TASK_LABELS.get(task) or task.replace("-", " ").title()
            out[task] = {"id": task, "label": label, "widgetModels": [entry[purpose]]}
    if "feature-extraction" in out:
        out["sentence-similarity"] = {**out["feature-extraction"], "id": "sentence-similarity",
                                      "label": "Sentence Similarity"}
    return JSONResponse(out, headers=local_headers(None))


async def hub_whoami(request: Request) -> Response:
    """``GET /hf/hub/api/whoami-v2``: who the token belongs to (a local learner; never the real account)."""
    await check_faults(request, HF, None)
    if not api_key(request):
        raise Reject(faults.hf_error(401, "Invalid credentials in Authorization header: send "
                                     "'Authorization: Bearer hf_...'." + faults.LOCAL_NOTE))
    return JSONResponse({"type": "user", "id": "local-course-learner", "name": "local-learner",
                         "fullname": "Local course learner (no real account)", "isPro": False, "orgs": [],
                         "auth": {"type": "access_token",
                                  "accessToken": {"displayName": "local course token", "role": "fineGrained",
                                                  "fineGrained": {"canReadGatedRepos": False, "global": [
                                                      "inference.serverless.write"], "scoped": []}}}},
                        headers=local_headers(None))


async def hub_other(request: Request) -> Response:
    """Any other Hub path (file downloads, listings, the agent registry): not served in local mode, said plainly."""
    rest = request.path_params["rest"]
    return faults.bad_request(HF, f"The local server answers only the Hub calls that inference needs (model info, "
                              f"tasks, whoami); /{rest} is not served in local mode. Downloads and other Hub "
                              "features need live mode.", 404)


async def api_inference_gone(request: Request) -> Response:
    """The old ``api-inference.huggingface.co`` service is retired: 410, with the same advice the real one gives."""
    return faults.bad_request(HF, "https://api-inference.huggingface.co is no longer supported. Please use "
                              "https://router.huggingface.co/hf-inference instead.", 410)


def routes() -> list[Route]:
    """The Hugging Face routes mounted by the gateway (all under ``/hf/``)."""
    every = ["GET", "POST", "PUT", "DELETE", "PATCH"]
    return [Route("/hf/router/v1/models", list_models, methods=["GET"]),
            Route("/hf/router/{rest:path}", routed, methods=["POST"]),
            Route("/hf/hub/api/models/{rest:path}", hub_model, methods=["GET"]),
            Route("/hf/hub/api/tasks", hub_tasks, methods=["GET"]),
            Route("/hf/hub/api/whoami-v2", hub_whoami, methods=["GET"]),
            Route("/hf/hub/{rest:path}", hub_other, methods=every),
            Route("/hf/api-inference/{rest:path}", api_inference_gone, methods=every)]
