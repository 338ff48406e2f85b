"""What a provider error means and what to do next: ``helpers.explain_error(e)``.

Works with the exceptions of all four SDKs (openai, groq, google-genai, huggingface_hub). For a
404 it names the model catalogue's current model, so a retired model id is a one-line fix.
"""
from __future__ import annotations

import re

from . import models

PROVIDER_OF_MODULE = {"openai": "openai", "groq": "groq", "google": "gemini", "huggingface_hub": "huggingface"}


def _provider(error: BaseException) -> str | None:
    return PROVIDER_OF_MODULE.get(type(error).__module__.split(".")[0])


def _status(error: BaseException) -> int | None:
    for value in (getattr(error, "status_code", None), getattr(error, "code", None),
                  getattr(getattr(error, "response", None), "status_code", None)):
        if isinstance(value, int):
            return value
    return None


def explain(error: BaseException, model: str | None = None) -> str:
    """A plain-words explanation of ``error`` with the next step; never contains a key."""
    provider = _provider(error)
    status = _status(error)
    text = str(error)
    label = models.catalogue().get(provider or "", {}).get("label", "the provider")
    if model is None:
        m = re.search(r"models?[/ ]`?([\w.:/-]+?)`? (?:is not found|does not exist)", text) or \
            re.search(r"[Mm]odel `([^`]+)`", text)
        model = m.group(1) if m else None
    name = type(error).__name__
    if "Timeout" in name:
        return f"{label} did not answer in time ({name}). Try again, raise the client's timeout, or shorten the request."
    if "Connection" in name or "ConnectError" in name:
        return (f"Could not reach {label} ({name}): check the internet connection (or, for a local server, "
                "that it is running: `python -m helpers server status`).")
    if status in (401,) or "API key not valid" in text:
        return f"{label} rejected the key (401). Run `helpers.check_keys()`, or create a new key and update .env."
    if status == 402 or "insufficient_quota" in text or ("quota" in text.lower() and status == 429):
        return (f"{label}: the account has no credit or quota left. Retrying will not help: add credit, wait for "
                "the next period, or use local mode (`helpers.setup('local')`).")
    if status == 403:
        if "location is not supported" in text or "region" in text.lower():
            return f"{label} is not available in your region (403/400). Use another provider or local mode."
        return f"{label}: the key lacks a permission for this request (403). Check the key's project or permissions."
    if status == 404:
        current = (models.replacement_for(model) if model else None) or (models.chat(provider) if provider else None)
        what = f"The model `{model}`" if model else "The model"
        hint = f" The catalogue's current model for {label} is `{current}` (helpers/models.toml)." if current else ""
        return f"{what} was not found at {label} (404): retired, misspelt or not offered to this account.{hint}"
    if status == 429:
        return f"{label} rate limit (429): too many requests for now. Wait and retry with backoff (the SDKs' max_retries)."
    if status is not None and status >= 500:
        return f"{label} had a server problem ({status}). It is usually brief: retry after a moment."
    if status == 400:
        return f"{label} refused the request as malformed (400): check the parameters. The message says which."
    return f"{name}: {text[:200]}"
