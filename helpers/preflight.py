"""Instructor pre-flight: will the course work in front of a class?  ``python -m helpers preflight``

Always: no default model in helpers/models.toml is past its shutdown date (within 30 days: a warning).
With keys, for each provider whose key is found: the key is accepted, the catalogue's models are
offered to this account (missing ones are flagged as retired or not available to new accounts), one
tiny request per default model succeeds, and the rate-limit headroom the provider reports is shown.
Always: local mode works end to end (the fallback plan when Wi-Fi or a provider fails).
Prints a checklist; the exit code is non-zero when something would break in front of a class.
"""
from __future__ import annotations

import io
import os
import sys
from contextlib import redirect_stdout
from dataclasses import dataclass

from . import models

OK, WARN, FAIL = "OK", "WARN", "FAIL"
PROMPT = [{"role": "user", "content": "Reply with the word OK."}]
LMSTUDIO_KEY = "lm-studio"  # pragma: allowlist secret  (LM Studio accepts any key; this is its documented placeholder)


@dataclass
class Check:
    """One line of the checklist."""

    provider: str
    what: str
    result: str  # OK, WARN or FAIL
    detail: str = ""

    def __str__(self) -> str:
        mark = {"OK": "[OK]  ", "WARN": "[WARN]", "FAIL": "[FAIL]"}[self.result]
        return f"{mark} {self.provider:12s} {self.what}" + (f": {self.detail}" if self.detail else "")


def _explain(provider: str, e: Exception) -> str:
    """A one-line reason for an SDK error, with what to do."""
    text = str(e).replace("\n", " ")[:220]
    code = getattr(e, "status_code", None) or getattr(e, "code", None) or \
        getattr(getattr(e, "response", None), "status_code", None)
    name = type(e).__name__
    if code in (401,) or "API key not valid" in text or "invalid_api_key" in text:
        return f"the key was rejected ({name}); create a new one and update .env"
    if code == 403:
        return f"the key lacks a permission ({name}): {text}"
    if code == 404:
        return f"model not found ({name}): retired or not offered to this account; update helpers/models.toml. {text}"
    if code == 402 or "insufficient_quota" in text or "quota" in text.lower():
        return f"no credit or quota left ({name}): add credit or use another account. {text}"
    if code == 429:
        return f"rate limited right now ({name}); fine alone, but a room of learners will hit it. {text}"
    if "Connection" in name or "Timeout" in name or "connect" in text.lower():
        return f"cannot reach the provider ({name}): check the internet connection, proxy or firewall"
    return f"{name}: {text}"


def _remaining(headers) -> str:
    parts = []
    for h in ("x-ratelimit-remaining-requests", "x-ratelimit-limit-requests", "x-ratelimit-remaining-tokens",
              "x-ratelimit-limit-tokens"):
        if h in headers:
            parts.append(f"{h.replace('x-ratelimit-', '')}={headers[h]}")
    return ", ".join(parts) or "no rate-limit headers in the response"


def tiny_settings(provider: str, model: str) -> dict:
    """Settings for the smallest useful request to ``model``, from its catalogue entry.

    Reasoning models need their reasoning turned as low as it goes, and room for what is left of it,
    or a 5-token request comes back empty (and with ``max_tokens`` it is a 400 on OpenAI's).
    """
    m = models.info(provider, model)
    lowest = m.reasoning_levels[0] if m and m.reasoning_levels else None
    if provider == "gemini":
        thinking = {"thinking_level": lowest} if m and m.reasoning_param == "thinking_level" else (
            {"thinking_budget": 0} if m and m.reasoning == "optional" else None)
        return {"max_output_tokens": 64 if thinking is None or lowest not in (None, "minimal") else 16,
                **({"thinking_config": thinking} if thinking else {})}
    if provider == "huggingface" or (m is None and provider == "lmstudio"):
        return {"max_tokens": 5}
    limit = {"max_completion_tokens": 16 if not m or m.reasoning == "none" or lowest == "none" else 256}
    if m and m.reasoning_param == "reasoning_effort" and lowest:
        limit["reasoning_effort"] = lowest
    return limit


def check_lifecycle() -> list[Check]:
    """Every default model the course uses: FAIL once past its shutdown date, WARN within 30 days of it."""
    checks = []
    for provider, purpose, model in models.in_use():
        m = models.info(provider, model)
        if m is None:
            checks.append(Check(provider, f"{purpose} model {model}", WARN, "not in helpers/models.toml: add an entry "
                                "with its capabilities and shutdown date"))
            continue
        notice = models.shutdown_notice(provider, model)
        if m.status_on() == "shut_down":
            checks.append(Check(provider, f"{purpose} model {model} is shut down", FAIL, notice or ""))
        elif notice:
            checks.append(Check(provider, f"{purpose} model {model} shuts down soon", WARN, notice))
    return checks


def _catalogue_models(provider: str, purposes: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for p in purposes:
        try:
            out[p] = models.get(provider, p)
        except KeyError:
            pass
    for i, m in enumerate(models.catalogue()[provider].get("fallbacks", [])):
        out.setdefault(f"fallback {i + 1}", m)
    return out


def _check_listing(provider: str, offered: set[str], wanted: dict[str, str]) -> list[Check]:
    checks = []
    for purpose, model in wanted.items():
        if model in offered:
            checks.append(Check(provider, f"{purpose} model {model} is offered to this account", OK))
        else:
            repl = models.replacement_for(model)
            checks.append(Check(provider, f"{purpose} model {model} is NOT in this account's model list",
                                FAIL if not purpose.startswith("fallback") else WARN,
                                f"retired; use {repl}" if repl else "retired, renamed or not offered to new accounts: "
                                "pick a listed model and update helpers/models.toml"))
    return checks


def check_openai_like(provider: str) -> list[Check]:
    """OpenAI or Groq: models offered, one tiny call per default model, rate-limit headroom."""
    if provider == "openai":
        from openai import OpenAI as Client
    else:
        from groq import Groq as Client
    client = Client(max_retries=0, timeout=30)
    checks: list[Check] = []
    try:
        offered = {m.id for m in client.models.list().data}
    except Exception as e:  # noqa: BLE001 - every failure is reported, none is fatal here
        return [Check(provider, "key accepted and models listed", FAIL, _explain(provider, e))]
    checks.append(Check(provider, "key accepted and models listed", OK, f"{len(offered)} models offered"))
    wanted = _catalogue_models(provider, ("chat", "tools", "fast", "embeddings"))
    checks += _check_listing(provider, offered, wanted)
    for purpose in ("chat", "tools", "fast"):
        if purpose not in wanted:
            continue
        model = wanted[purpose]
        try:
            raw = client.chat.completions.with_raw_response.create(model=model, messages=PROMPT,
                                                                   **tiny_settings(provider, model))
            raw.parse()
            checks.append(Check(provider, f"tiny request to {model} ({purpose})", OK, _remaining(raw.headers)))
        except Exception as e:  # noqa: BLE001
            checks.append(Check(provider, f"tiny request to {model} ({purpose})", FAIL, _explain(provider, e)))
    if "embeddings" in wanted:
        try:
            client.embeddings.create(model=wanted["embeddings"], input="ok")
            checks.append(Check(provider, f"embeddings with {wanted['embeddings']}", OK))
        except Exception as e:  # noqa: BLE001
            checks.append(Check(provider, f"embeddings with {wanted['embeddings']}", FAIL, _explain(provider, e)))
    return checks


def check_gemini() -> list[Check]:
    """Gemini: models offered, one tiny call, embeddings."""
    from google import genai
    from google.genai import types

    client = genai.Client()
    try:
        offered = {m.name.split("/", 1)[-1] for m in client.models.list()}
    except Exception as e:  # noqa: BLE001
        return [Check("gemini", "key accepted and models listed", FAIL, _explain("gemini", e))]
    checks = [Check("gemini", "key accepted and models listed", OK, f"{len(offered)} models offered")]
    wanted = _catalogue_models("gemini", ("chat", "tools", "embeddings"))
    checks += _check_listing("gemini", offered, wanted)
    for purpose in ("chat", "tools"):
        model = wanted[purpose]
        try:
            client.models.generate_content(model=model, contents="Reply with the word OK.",
                                           config=types.GenerateContentConfig(**tiny_settings("gemini", model)))
            checks.append(Check("gemini", f"tiny request to {model} ({purpose})", OK,
                                "Gemini reports no rate-limit headers; see AI Studio's usage page"))
        except Exception as e:  # noqa: BLE001
            checks.append(Check("gemini", f"tiny request to {model} ({purpose})", FAIL, _explain("gemini", e)))
    try:
        client.models.embed_content(model=wanted["embeddings"], contents="ok")
        checks.append(Check("gemini", f"embeddings with {wanted['embeddings']}", OK))
    except Exception as e:  # noqa: BLE001
        checks.append(Check("gemini", f"embeddings with {wanted['embeddings']}", FAIL, _explain("gemini", e)))
    return checks


def check_huggingface() -> list[Check]:
    """Hugging Face: the token can call Inference Providers; chat and the task models answer."""
    from huggingface_hub import InferenceClient

    client = InferenceClient(timeout=60)
    checks: list[Check] = []
    calls = {
        "chat": lambda m: client.chat_completion(PROMPT, model=m, max_tokens=5),
        "sentiment": lambda m: client.text_classification("I love this course.", model=m),
        "embeddings": lambda m: client.feature_extraction("ok", model=m),
        # the defaults InferenceClient takes when a call names no model (the catalogue's, from hf.co/api/tasks)
        "zero_shot": lambda m: client.zero_shot_classification("I love this course.", ["good", "bad"], model=m),
        "fill_mask": lambda m: client.fill_mask("Paris is the <mask> of France.", model=m),
        "question_answering": lambda m: client.question_answering("Where?", "It is in Paris.", model=m),
    }
    for purpose, call in calls.items():
        model = models.get("huggingface", purpose)
        try:
            call(model)
            checks.append(Check("huggingface", f"tiny request to {model} ({purpose})", OK))
        except Exception as e:  # noqa: BLE001
            checks.append(Check("huggingface", f"tiny request to {model} ({purpose})", FAIL, _explain("huggingface", e)))
    return checks


def check_local() -> list[Check]:
    """Local mode end to end: the server starts, the real model answers every SDK."""
    from .course import lmstudio_url, setup

    with redirect_stdout(io.StringIO()):
        status = setup("local")
    if status.server is None:
        return [Check("local", "local server starts", FAIL, "; ".join(status.notes))]
    eng = status.server["engine"]
    checks = [Check("local", "local server starts", OK, status.server["url"]),
              Check("local", "model engine", OK if eng["kind"] == "llama.cpp" else WARN,
                    f"{eng['kind']} ({eng['model']})" + (f": {eng['error']}" if eng.get("error") else ""))]
    probes = {
        "openai": lambda: __import__("openai").OpenAI().chat.completions.create(
            model=models.chat("openai"), messages=PROMPT, **tiny_settings("openai", models.chat("openai"))),
        "groq": lambda: __import__("groq").Groq().chat.completions.create(
            model=models.chat("groq"), messages=PROMPT, **tiny_settings("groq", models.chat("groq"))),
        "gemini": lambda: _gemini_probe(),
        "huggingface": lambda: __import__("huggingface_hub").InferenceClient().chat_completion(
            PROMPT, model=models.chat("huggingface"), max_tokens=3),
        "lmstudio": lambda: __import__("openai").OpenAI(
            base_url=lmstudio_url(), api_key=LMSTUDIO_KEY).chat.completions.create(
            model=models.chat("lmstudio"), messages=PROMPT, max_tokens=3),
    }
    for provider, probe in probes.items():
        try:
            probe()
            checks.append(Check("local", f"{provider} SDK answered by the local model", OK))
        except Exception as e:  # noqa: BLE001
            checks.append(Check("local", f"{provider} SDK answered by the local model", FAIL, _explain(provider, e)))
    return checks


def _gemini_probe():
    from google import genai
    from google.genai import types

    client = genai.Client()
    return client.models.generate_content(model=models.chat("gemini"), contents="Say OK",
                                          config=types.GenerateContentConfig(**tiny_settings("gemini", models.chat("gemini"))))


def run(local: bool = True) -> list[Check]:
    """Run every check that applies (live checks for the providers whose keys are found)."""
    from .keys import find_keys

    with redirect_stdout(io.StringIO()):
        found = find_keys()
    checks: list[Check] = check_lifecycle()
    for provider, info in found.items():
        if not info.ok:
            why = " ".join(info.problems) if info.problems else "no key found"
            checks.append(Check(provider, "key", WARN, f"{why} (learners will use local mode for it)"))
            continue
        var = {"openai": "OPENAI_API_KEY", "groq": "GROQ_API_KEY", "gemini": "GEMINI_API_KEY",
               "huggingface": "HF_TOKEN"}[provider]
        os.environ[var] = info.value
        checks.append(Check(provider, "key", OK, f"{info.masked} from {info.source}"))
        if provider in ("openai", "groq"):
            checks += check_openai_like(provider)
        elif provider == "gemini":
            checks += check_gemini()
        else:
            checks += check_huggingface()
    if local:
        checks += check_local()
    return checks


def main(argv: list[str] | None = None) -> int:
    """Print the checklist; return 1 when something would break in front of a class."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m helpers preflight", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-local", action="store_true", help="skip the local-mode check")
    args = ap.parse_args(argv)
    print("Pre-flight checklist (keys are shown masked)\n")
    checks = run(local=not args.no_local)
    for c in checks:
        print(c)
    failed = [c for c in checks if c.result == FAIL]
    print()
    if failed:
        print(f"{len(failed)} problem(s) would show up in front of a class. Fix them, or switch the room to "
              "local mode: COURSE_MODE=local (see docs/instructor-guide.md).")
        return 1
    print("Ready: every check passed" + (" (warnings above are worth a look)." if any(
        c.result == WARN for c in checks) else "."))
    return 0


if __name__ == "__main__":
    sys.exit(main())
