"""The one place that hides secrets: ``redact(value)`` before anything is shown, stored or logged.

The request inspector (headers, query, path, body and response), the local server's logs and error
answers, ``helpers.explain_error`` and ``helpers.check_keys`` all call ``redact``; nothing else
decides what a secret looks like. It hides:

* **key-bearing headers and fields**: ``Authorization``, ``x-goog-api-key``, ``api-key``,
  ``x-api-key``, ``x-groq-api-key``, ``openai-api-key``, ``x-hf-token``, ``x-course-token``,
  ``Cookie`` and anything named like ``*_api_key``, ``*-token``, ``access_token``, ``secret``,
  ``password``, in a dict (headers, a JSON body at any depth) or written out in text
  (``x-goog-api-key: ...``, ``"api_key": "..."``, ``{'authorization': 'Bearer ...'}``);
* **query parameters** such as ``key=``, ``KEY=``, ``api-key=``, ``api_key=``, ``access_token=``,
  ``token=`` in a URL or anywhere in a text;
* ``Bearer ...`` and ``Basic ...`` credentials anywhere, and a long secret named in prose
  (``the key ...``, ``API key provided: ...``);
* **a key of any provider's shape** wherever it stands (free text, a URL path, a model name):
  ``sk-``, ``sk-proj-``, ``gsk_``, ``hf_``, ``AIza``, ``AQ.``.

A hidden value keeps at most its provider prefix and its last four characters (``mask_key``), so a
learner can still tell which key was used: ``gsk_...a1B2``, ``Bearer ...-key``. Text that is already
masked is left as it is (``redact`` can be applied twice).
"""
from __future__ import annotations

import re
from typing import Any

__all__ = ["KEY_PREFIXES", "KEYLIKE", "mask_key", "redact", "is_secret_name"]

# The providers' key prefixes (most specific first); tools/secret_patterns.py scans the repository for the
# same shapes with realistic lengths. A key shown masked keeps only one of these and its last 4 characters.
KEY_PREFIXES = ("gsk_", "sk-", "AQ.", "AIza", "hf_")

# Anything shaped like a provider key: a prefix at the start of a word (or after a %-escape such as %3D) and
# at least 6 more key characters. "AQ." and "sk-" must start a word, so "FAQ.section" and "risk-free" stay.
KEYLIKE = re.compile(r"(?:(?<![A-Za-z0-9])|(?<=%[0-9A-Fa-f]{2}))(?:gsk_|sk-|AIza|AQ\.|hf_)[A-Za-z0-9_\-]{6,}")


def mask_key(key: str | None) -> str:
    """A key shortened so it is safe to show: ``sk-...abcd``, ``gsk_...a1B2``, ``AQ....x9Yz``, ``hf_...Q2w3``.

    Only a known prefix (``gsk_``, ``sk-``, ``AQ.``, ``AIza``, ``hf_``) and the last 4 characters are kept.
    Keys shorter than 12 characters, or with spaces or unusual characters, become ``****``.
    An empty key or ``None`` gives ``""``.
    """
    if key is None or key == "":
        return ""
    if not isinstance(key, str):
        return "****"
    if len(key) < 12 or not key.isascii() or not key.isprintable() or any(c.isspace() for c in key):
        return "****"
    for prefix in KEY_PREFIXES:
        if key.startswith(prefix):
            return f"{prefix}...{key[-4:]}"
    return f"...{key[-4:]}"


# ---------------------------------------------------------------------- which names hold secrets

# Header, field and query names (compared in lower case, with "_" read as "-") whose values are secrets.
_EXACT_NAMES = {"authorization", "proxy-authorization", "cookie", "set-cookie", "api-key", "apikey", "x-api-key",
                "password", "passwd", "pwd", "secret", "credential", "credentials", "client-secret"}
# ... and the words that make any name a secret's: x-goog-api-key, openai-api-key, x-groq-api-key, x-hf-token,
# x-course-token, hf_token, access_token, refreshToken, apiKey, client_secret, db_password, ...
_NAME_WORDS = re.compile(r"api-?key|access-?token|auth-?token|refresh-?token|(?<![a-z])id-?token|session-?token|"
                         r"bearer-?token|hf-?token|course-?token|learner-?token|api-?token|private-?key|access-?key|secret|"
                         r"passw(?:or)?d|credential|authori[sz]ation|cookie")
# In a URL query (and only there) the bare names are keys too: Gemini's ?key=, ?token=, ?auth=.
_QUERY_ONLY_NAMES = {"key", "token", "auth", "sig", "signature"}


def _norm(name: str) -> str:
    return name.strip().strip("\"'").lower().replace("_", "-")


def is_secret_name(name: str, *, query: bool = False) -> bool:
    """True when a header, field or (with ``query=True``) query parameter of this name holds a secret."""
    n = _norm(str(name))
    return n in _EXACT_NAMES or bool(_NAME_WORDS.search(n)) or (query and n in _QUERY_ONLY_NAMES)


# ---------------------------------------------------------------------- masking a value


# What mask_key (or httpx) shows: "gsk_...a1B2", "...wxyz", "****", "[secure]"; nothing longer passes as masked.
_MASKED = re.compile(r"(?:gsk_|sk-|AQ\.|AIza|hf_)?\.\.\.[^\s]{0,4}|\*{4}|\[secure\]")


def _already_masked(value: str) -> bool:
    return bool(_MASKED.fullmatch(value))


def _mask_value(value: str) -> str:
    """A secret value hidden: ``Bearer sk-...abcd``, ``...wxyz`` or ``****`` (an auth scheme word is kept)."""
    if not value or _already_masked(value):
        return value
    scheme, sep, rest = value.partition(" ")
    if sep and scheme.lower() in ("bearer", "basic", "token", "apikey") and rest.strip():
        rest = rest.strip()
        return f"{scheme} {rest if _already_masked(rest) else mask_key(rest)}"
    return mask_key(value.strip()) or "****"


# ---------------------------------------------------------------------- masking text

# A name written next to its value: `x-goog-api-key: AQ...`, `"api_key": "..."`, `'authorization': 'Bearer ...'`,
# `api-key=...`, `?key=...&`. Only a secret's name matches (so a URL such as https://... is never swallowed
# whole); the bare query names (key, token, ...) only before "=".
_SECRET_NAME_RX = (r"[\w-]{0,40}(?:api[-_]?key|access[-_]?token|auth[-_]?token|refresh[-_]?token|(?<![a-z])id[-_]?token|"
                   r"session[-_]?token|bearer[-_]?token|hf[-_]?token|course[-_]?token|api[-_]?token|private[-_]?key|"
                   r"access[-_]?key|secret|passw(?:or)?d|credential|authori[sz]ation)[\w-]{0,40}|pwd")
_ASSIGNMENT = re.compile(
    r"""(?<![\w-])(?P<q1>["']?)(?P<name>""" + _SECRET_NAME_RX + r"""|(?:key|token|auth|sig|signature)(?=["']?\s*=))"""
    r"""(?P=q1)(?P<sep>\s*[:=]\s*)(?P<quote>["'])?(?P<scheme>(?:Bearer|Basic|Token)\s+)?"""
    r"""(?P<value>(?(quote)[^"'\r\n]+|[^\s"'&,;}\]<>)#]+))""",
    re.IGNORECASE)
_COOKIE = re.compile(r"""(?<![\w-])(?P<head>["']?(?:set-)?cookie["']?\s*[:=]\s*["']?)[^"'\r\n]+""", re.IGNORECASE)
# A credential after its scheme word: a digit in it (or 24 characters) tells it from words ("Bearer auth").
_CREDENTIAL = re.compile(r"\b(Bearer|Basic)\s+((?=[A-Za-z._~+/=\-]*[0-9]|[^\s]{24})[A-Za-z0-9._~+/=\-]{8,})",
                         re.IGNORECASE)


# A long secret named in prose: "the key Xy...", "API key provided: Xy...", "token Xy..." (16 characters or more,
# with a letter and a digit, so "the key point" or "token usage" stay as they are).
_NAMED_IN_PROSE = re.compile(r"\b(?P<head>(?:key|token|secret|password)(?:\s+provided)?\s*:?\s+)"
                             r"(?P<value>(?=[^\s]*[0-9])(?=[^\s]*[A-Za-z])[A-Za-z0-9._~+/=\-]{16,})", re.IGNORECASE)


def _assignment(m: re.Match) -> str:
    value = (m.group("scheme") or "") + m.group("value")
    head = f"{m.group('q1')}{m.group('name')}{m.group('q1')}{m.group('sep')}{m.group('quote') or ''}"
    return head + _mask_value(value)


def _redact_text(text: str) -> str:
    text = _COOKIE.sub(lambda m: m.group("head") + "****", text)
    text = _ASSIGNMENT.sub(_assignment, text)
    text = _CREDENTIAL.sub(lambda m: f"{m.group(1)} {_mask_value(m.group(2))}", text)
    text = _NAMED_IN_PROSE.sub(lambda m: m.group("head") + _mask_value(m.group("value")), text)
    return KEYLIKE.sub(lambda m: mask_key(m.group(0)), text)


# ---------------------------------------------------------------------- the one function

MAX_DEPTH = 64  # a JSON body nested deeper than this is shown as a placeholder below that depth


def redact(value: Any, name: str | None = None, *, _depth: int = 0) -> Any:
    """``value`` with every secret hidden; strings, bytes, dicts, lists and tuples at any depth.

    ``name`` is the header, field or query name the value was found under, when known: a secret's
    name (``authorization``, ``x-goog-api-key``, ``key``, ``access_token`` ...) hides the whole value.
    Dicts are read as headers or JSON objects (their keys are the names); any text is searched for
    keys of every provider's shape, ``Bearer`` credentials and ``name=value`` / ``name: value`` pairs
    with a secret's name. Other values (numbers, None, ...) come back unchanged.
    """
    if name is not None and is_secret_name(name, query=True):
        return _hide_all(value, _depth)
    if isinstance(value, str):
        return _redact_text(value) if value else value
    if isinstance(value, (bytes, bytearray)):
        return _redact_text(bytes(value).decode("utf-8", errors="replace"))
    if _depth >= MAX_DEPTH and isinstance(value, (dict, list, tuple)):
        return "...(nested too deep to show)"
    if isinstance(value, dict):
        return {k: (_hide_all(v, _depth + 1) if isinstance(k, str) and is_secret_name(k) else
                    redact(v, _depth=_depth + 1)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        out = [redact(v, _depth=_depth + 1) for v in value]
        return out if isinstance(value, list) else tuple(out)
    return value


def _hide_all(value: Any, depth: int) -> Any:
    """Every string under a secret's name masked."""
    if isinstance(value, str):
        return _mask_value(value)
    if isinstance(value, (bytes, bytearray)):
        return "****"
    if depth >= MAX_DEPTH:
        return "****"
    if isinstance(value, dict):
        return {k: _hide_all(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_hide_all(v, depth + 1) for v in value]
    return value
