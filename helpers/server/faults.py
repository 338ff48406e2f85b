"""Teaching errors: provider-shaped error responses and the ways to trigger them on purpose.

Trigger an error by putting a *directive* in the model name (``gpt-4.1-mini-simulate-429``),
in the ``x-course-simulate`` request header, or (for 401) by using a key that contains
``invalid`` or ``wrong``. Directives:

=================  ==========================================================
``simulate-401``   bad key (Gemini answers 400 API_KEY_INVALID, as the real one does)
``simulate-403``   key without the needed permission
``simulate-404``   unknown model (a retired model from the catalogue gives 404 too)
``simulate-429``   rate limit, with ``retry-after`` (SDKs retry it)
``simulate-quota`` quota / credits exhausted (OpenAI 429 insufficient_quota, Gemini 429
                   RESOURCE_EXHAUSTED, Hugging Face 402): never worth retrying
``simulate-500``   internal server error     ``simulate-503``  overloaded / unavailable
``simulate-slow``  answers after 10 s (``simulate-slow-3`` after 3 s): use it with a client timeout
``simulate-region`` Gemini's "User location is not supported"
=================  ==========================================================
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from starlette.responses import JSONResponse

DIRECTIVE = re.compile(r"simulate-(401|403|404|429|quota|500|503|region|slow(?:-(\d+(?:\.\d+)?))?)")
BAD_KEY = re.compile(r"invalid|wrong", re.IGNORECASE)


@dataclass
class Fault:
    """An error (or delay) the server was asked to produce."""

    kind: str              # "401", "403", "404", "429", "quota", "500", "503", "region", "slow"
    delay: float = 0.0     # seconds, for "slow"
    model: str = ""        # the model name as sent
    replacement: str | None = None  # a current model to suggest
    retired: bool = False           # the catalogue says the model is shut down
    shutdown: str | None = None     # its shutdown date, when known
    route: tuple[str, str] = ("v1", "generateContent")  # Gemini: the API version and method of the path called


def find_fault(model: str | None, header: str | None, api_key: str | None) -> Fault | None:
    """Return the fault requested by a model name, header or key, or None."""
    for text in (header or "", model or ""):
        m = DIRECTIVE.search(text)
        if m:
            kind = m.group(1)
            if kind.startswith("slow"):
                return Fault("slow", float(m.group(2) or 10), model or "")
            return Fault(kind, model=model or "")
    if api_key and BAD_KEY.search(api_key):
        return Fault("401", model=model or "")
    return None


def base_model(model: str) -> str:
    """The model name without any ``-simulate-...`` directive."""
    return DIRECTIVE.sub("", model).rstrip("-") or model


# --------------------------------------------------------------------------- error bodies

def openai_error(status: int, message: str, type_: str, code: str | None = None,
                 param: str | None = None, headers: dict | None = None) -> JSONResponse:
    """An error in the OpenAI / Groq / LM Studio shape: ``{"error": {message, type, param, code}}``."""
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


GEMINI_STATUS = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                 413: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}


def gemini_error(status: int, message: str, status_name: str | None = None,
                 headers: dict | None = None, reason: str | None = None) -> JSONResponse:
    """An error in Gemini's shape: ``{"error": {code, message, status}}``."""
    err: dict = {"code": status, "message": message, "status": status_name or GEMINI_STATUS.get(status, "UNKNOWN")}
    if reason:
        err["details"] = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason,
                           "domain": "googleapis.com"}]
    return JSONResponse({"error": err}, status_code=status, headers=headers)


def hf_error(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    """An error in Hugging Face's shape: ``{"error": "..."}``."""
    return JSONResponse({"error": message}, status_code=status, headers=headers)


RATE_HEADERS = {"retry-after": "1", "retry-after-ms": "300", "x-ratelimit-remaining-requests": "0",
                "x-ratelimit-remaining-tokens": "0"}
LOCAL_NOTE = " (simulated by the course's local server)"


def _hint_404(retired: bool, replacement: str | None, shutdown: str | None = None) -> str:
    when = f" on {shutdown}" if shutdown else ""
    if retired and replacement:
        return f" It was shut down{when}: use `{replacement}` instead."
    if retired:
        return f" It was shut down{when}."
    if replacement:
        return f" A current model is `{replacement}` (see helpers/models.toml)."
    return ""


def error_response(provider: str, fault: Fault) -> JSONResponse:
    """The error response ``provider`` would send for ``fault`` (not used for "slow")."""
    k, model = fault.kind, base_model(fault.model) if fault.model else "the model"
    if provider == "gemini":
        return _gemini_fault(k, model, fault.replacement, fault.retired, fault.shutdown, fault.route)
    if provider == "huggingface":
        return _hf_fault(k, model, fault.replacement, fault.retired, fault.shutdown)
    return _openai_fault(provider, k, model, fault.replacement, fault.retired, fault.shutdown)


def _openai_fault(provider: str, k: str, model: str, replacement: str | None, retired: bool, shutdown: str | None = None) -> JSONResponse:
    keys_page = "https://console.groq.com/keys" if provider == "groq" else "https://platform.openai.com/account/api-keys"
    if k == "401":
        return openai_error(401, f"Incorrect API key provided. You can find your API key at {keys_page}.{LOCAL_NOTE}",
                            "invalid_request_error", "invalid_api_key")
    if k == "403":
        return openai_error(403, f"You are not allowed to use {model} with this key: check the key's project and permissions.{LOCAL_NOTE}",
                            "permission_error", "model_not_allowed")
    if k == "404":
        hint = _hint_404(retired, replacement, shutdown)
        return openai_error(404, f"The model `{model}` does not exist or you do not have access to it.{hint}{LOCAL_NOTE}",
                            "invalid_request_error", "model_not_found", "model")
    if k == "429":
        return openai_error(429, f"Rate limit reached for {model} on requests per min (RPM): Limit 3, Used 3, Requested 1. "
                            f"Please try again in 1s.{LOCAL_NOTE}", "requests", "rate_limit_exceeded", headers=RATE_HEADERS)
    if k == "quota":
        return openai_error(429, "You exceeded your current quota, please check your plan and billing details."
                            f"{LOCAL_NOTE}", "insufficient_quota", "insufficient_quota")
    if k == "500":
        return openai_error(500, f"The server had an error while processing your request. Sorry about that!{LOCAL_NOTE}",
                            "server_error", None)
    if k == "503":
        return openai_error(503, f"The engine is currently overloaded, please try again later.{LOCAL_NOTE}",
                            "server_error", "service_unavailable")
    if k == "region":
        return openai_error(403, f"Country, region, or territory not supported.{LOCAL_NOTE}",
                            "request_forbidden", "unsupported_country_region_territory")
    raise ValueError(k)


def _gemini_fault(k: str, model: str, replacement: str | None, retired: bool, shutdown: str | None = None,
                  route: tuple[str, str] = ("v1", "generateContent")) -> JSONResponse:
    if k == "401":
        return gemini_error(400, f"API key not valid. Please pass a valid API key.{LOCAL_NOTE}", reason="API_KEY_INVALID")
    if k == "403":
        return gemini_error(403, f"Method doesn't allow unregistered callers (callers without established identity). "
                            f"Please use API Key or other form of API consumer identity to call this API.{LOCAL_NOTE}")
    if k == "404":
        hint = _hint_404(retired, replacement, shutdown)
        # Google's wording names the API version and the method of the path called (see gemini_api.NOT_FOUND)
        return gemini_error(404, f"models/{model} is not found for API version {route[0]}, or is not supported for "
                            f"{route[1]}. Call ListModels to see the list of available models and their supported "
                            f"methods.{hint}{LOCAL_NOTE}")
    if k == "429":
        return gemini_error(429, f"Resource has been exhausted (e.g. check quota). Rate limit for {model}: "
                            f"requests per minute exceeded; retry in 1s.{LOCAL_NOTE}", headers={"retry-after": "1"})
    if k == "quota":
        return gemini_error(429, f"You exceeded your current quota, please check your plan and billing details. "
                            f"Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_requests, "
                            f"limit: 0, model: {model}{LOCAL_NOTE}")
    if k == "500":
        return gemini_error(500, f"An internal error has occurred. Please retry or report in "
                            f"https://developers.generativeai.google/guide/troubleshooting{LOCAL_NOTE}")
    if k == "503":
        return gemini_error(503, f"The model is overloaded. Please try again later.{LOCAL_NOTE}")
    if k == "region":
        return gemini_error(400, f"User location is not supported for the API use.{LOCAL_NOTE}", "FAILED_PRECONDITION")
    raise ValueError(k)


def _hf_fault(k: str, model: str, replacement: str | None, retired: bool, shutdown: str | None = None) -> JSONResponse:
    if k == "401":
        return hf_error(401, f"Invalid credentials in Authorization header{LOCAL_NOTE}")
    if k == "403":
        return hf_error(403, "This authentication method does not have sufficient permissions to call Inference "
                        "Providers on behalf of user. Create a token with the 'Make calls to Inference Providers' "
                        f"permission at https://huggingface.co/settings/tokens{LOCAL_NOTE}")
    if k == "404":
        hint = _hint_404(retired, replacement, shutdown)
        return hf_error(404, f"Model {model} does not exist or is not served by any Inference Provider.{hint}{LOCAL_NOTE}")
    if k == "429":
        return hf_error(429, f"Rate limit reached. You reached free usage limit (reset hourly).{LOCAL_NOTE}", headers={"retry-after": "1"})
    if k == "quota":
        return hf_error(402, "You have exceeded your monthly included credits for Inference Providers. "
                        f"Subscribe to PRO to get 20x more monthly included credits.{LOCAL_NOTE}")
    if k == "500":
        return hf_error(500, f"Internal Server Error{LOCAL_NOTE}")
    if k == "503":
        return hf_error(503, f"Model {model} is currently loading{LOCAL_NOTE}")
    if k == "region":
        return hf_error(403, f"Inference Providers are not available in your region.{LOCAL_NOTE}")
    raise ValueError(k)


def bad_request(provider: str, message: str, status: int = 400, code: str | None = None) -> JSONResponse:
    """A provider-shaped 4xx/5xx for real problems (bad JSON, missing field, too large, unknown path, too long)."""
    message = message + " (from the course's local server)"
    if provider == "gemini":
        return gemini_error(status, message)
    if provider == "huggingface":
        return hf_error(status, message)
    return openai_error(status, message, "invalid_request_error" if status < 500 else "server_error",
                        code or ("not_found" if status == 404 else None))


BUSY_NOTE = " (from the course's local server)"


def busy(provider: str, *, ahead: int, wait: float, retry_after: float, retry: bool) -> JSONResponse:
    """A real 503 (not simulated): the local server's queue is too long for the caller's SDK to wait.

    ``retry-after`` says when to come back; for the OpenAI-style SDKs (openai, groq) ``x-should-retry`` says
    whether their automatic retry is worth it (only when ``retry-after`` is within the 60 s they honour).
    """
    secs = max(1, int(retry_after + 0.999))
    what = (f"The local server is busy: {ahead} requests are ahead of yours, an expected wait of about {wait:.0f} s, "
            f"longer than your SDK waits for an answer. Retry after {secs} s, or send fewer requests at once "
            "(the local model answers a few at a time).")
    headers = {"retry-after": str(secs), "retry-after-ms": str(secs * 1000)}
    if provider == "gemini":
        return gemini_error(503, f"The model is overloaded. Please try again later. {what}{BUSY_NOTE}",
                            headers=headers)
    if provider == "huggingface":
        return hf_error(503, what + BUSY_NOTE, headers=headers)
    headers["x-should-retry"] = "true" if retry else "false"
    return openai_error(503, what + BUSY_NOTE, "server_error", "server_busy", headers=headers)



def learner_limit(provider: str, *, limit: int, retry_after: float) -> JSONResponse:
    """A real 429 of a shared server (not simulated): this learner already has ``limit`` requests in the queue.

    Rate-limit shaped, with ``retry-after``, so the SDKs' own retry waits and tries again.
    """
    secs = max(1, int(retry_after + 0.999))
    what = (f"You already have {limit} requests waiting for the workshop's shared model, the most one learner may "
            f"have at once, so that everyone in the room gets answers. Retry after {secs} s, or wait for your "
            "earlier calls to finish.")
    headers = {"retry-after": str(secs), "retry-after-ms": str(secs * 1000)}
    if provider == "gemini":
        return gemini_error(429, what + BUSY_NOTE, headers=headers)
    if provider == "huggingface":
        return hf_error(429, what + BUSY_NOTE, headers=headers)
    return openai_error(429, what + BUSY_NOTE, "requests", "rate_limit_exceeded", headers=headers)
