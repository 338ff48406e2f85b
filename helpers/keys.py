"""Find your API keys, and explain in plain words what is wrong with one that does not work.

Keys are looked for in this order, per provider:

1. environment variables (the standard name first, then common wrong names);
2. a ``.env`` file in this folder or a folder above it, up to the course folder;
3. Colab secrets (only when the notebook runs on Colab), under the standard names only: one request per
   name, and none after Colab fails to answer within a few seconds (no Colab page attached). Wrong names
   are recognised only in the environment and ``.env``, which the course can read without asking Colab
   (each request may show Colab's grant-access pop-up);
4. a hidden prompt, only when you ask for one (``prompt=True``).

A key is never printed: you only ever see a masked form such as ``gsk_...a1B2``.

Key formats change: a provider may switch to a new prefix and stop accepting the old one (Google's
Gemini keys now start with ``AQ.``; the older ``AIza`` keys no longer work). The old prefix is still
recognised, so the key is not mistaken for another provider's, and you are told what to do.

Try it::

    from helpers.keys import check_keys
    check_keys()        # a report for OpenAI, Gemini, Groq and Hugging Face
"""

from __future__ import annotations

import getpass
import io
import os
import re
import sys
import textwrap
import threading
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Mapping

from .masking import KEYLIKE, mask_key, redact

__all__ = [
    "ProviderKeySpec",
    "PROVIDERS",
    "KeyInfo",
    "mask",
    "diagnose",
    "find_env_file",
    "read_env_file",
    "find_key",
    "find_keys",
    "check_keys",
]


@dataclass(frozen=True)
class ProviderKeySpec:
    """Where one provider's key lives: its variable names, the prefix of a new key, and its sign-up page."""

    provider: str
    label: str
    variables: tuple[str, ...]
    prefix: str
    signup_url: str
    wrong_names: tuple[str, ...]


PROVIDERS: dict[str, ProviderKeySpec] = {
    "openai": ProviderKeySpec(
        provider="openai",
        label="OpenAI",
        variables=("OPENAI_API_KEY",),
        prefix="sk-",
        signup_url="https://platform.openai.com/api-keys",
        wrong_names=("OPENAI_KEY", "OPENAI_API_TOKEN", "OPEN_AI_API_KEY", "OPENAI_TOKEN", "OPEN_AI_KEY"),
    ),
    "gemini": ProviderKeySpec(
        provider="gemini",
        label="Google Gemini",
        variables=("GEMINI_API_KEY", "GOOGLE_API_KEY"),
        prefix="AQ.",
        signup_url="https://aistudio.google.com/apikey",
        wrong_names=(
            "GOOGLE_GENAI_KEY",
            "GEMINI_KEY",
            "GOOGLE_GEMINI_API_KEY",
            "GENAI_API_KEY",
            "GOOGLE_GENAI_API_KEY",
            "GEMINI_TOKEN",
        ),
    ),
    "groq": ProviderKeySpec(
        provider="groq",
        label="Groq",
        variables=("GROQ_API_KEY",),
        prefix="gsk_",
        signup_url="https://console.groq.com/keys",
        wrong_names=("GROQ_KEY", "GROQ_API_TOKEN", "GROQ_TOKEN"),
    ),
    "huggingface": ProviderKeySpec(
        provider="huggingface",
        label="Hugging Face",
        variables=("HF_TOKEN",),
        prefix="hf_",
        signup_url="https://huggingface.co/settings/tokens",
        wrong_names=(
            "HUGGINGFACE_API_TOKEN",
            "HUGGINGFACEHUB_API_TOKEN",
            "HUGGINGFACE_TOKEN",
            "HF_API_TOKEN",
            "HF_API_KEY",
            "HUGGING_FACE_HUB_TOKEN",
            "HF_KEY",
            "HUGGINGFACE_API_KEY",
            "HUGGING_FACE_TOKEN",
            "HF_ACCESS_TOKEN",
        ),
    ),
}

# The library that reads each provider's variable (named in messages).
_SDK = {"openai": "openai", "gemini": "google-genai", "groq": "groq", "huggingface": "huggingface_hub"}
# "key" or "token": what the provider itself calls it.
_NOUN = {"openai": "API key", "gemini": "API key", "groq": "API key", "huggingface": "access token"}
# Words that point at a provider inside a variable name or a broken .env line.
_NAME_HINTS = {
    "openai": ("OPENAI", "OPEN_AI"),
    "gemini": ("GEMINI", "GOOGLE", "GENAI"),
    "groq": ("GROQ",),
    "huggingface": ("HUGGING", "HF_"),
}
# Rough lower bounds on a real key's length (a shorter one was probably cut off when copied).
_MIN_LENGTH = {"openai": 40, "gemini": 35, "groq": 45, "huggingface": 30}
# Extra words for a few wrong names.
_WRONG_NAME_NOTES = {
    "HUGGING_FACE_HUB_TOKEN": " (HUGGING_FACE_HUB_TOKEN is the older name; HF_TOKEN is the current one)",
    "HUGGINGFACEHUB_API_TOKEN": " (HUGGINGFACEHUB_API_TOKEN is the name LangChain uses)",
}
_SIGNUP_TIPS = {
    "huggingface": " Choose a fine-grained token and tick 'Make calls to Inference Providers'.",
}
# Keys from services this course does not use, which would otherwise look like OpenAI keys.
_FOREIGN_PREFIXES = (("sk-ant-", "an Anthropic (Claude) key"), ("sk-or-", "an OpenRouter key"))
# Older key formats a provider no longer accepts: still recognised as that provider's key (so it is not
# taken for another provider's), with one sentence saying what to do. As of November 2026.
_RETIRED_PREFIXES = {
    "gemini": {
        "AIza": "Google's Gemini API no longer accepts standard 'AIza' keys since September 2026; create a new "
        "key at https://aistudio.google.com/app/apikey (it starts with 'AQ.').",
    },
}
_ALIASES = {
    "openai": "openai",
    "gemini": "gemini",
    "google": "gemini",
    "googlegemini": "gemini",
    "genai": "gemini",
    "groq": "groq",
    "huggingface": "huggingface",
    "hf": "huggingface",
    "huggingfacehub": "huggingface",
}

# --------------------------------------------------------------------------- masking


# One masking function for the whole course (helpers/masking.py): ``mask`` shows one key, ``redact`` hides
# every key, token and secret-named value in a text or a structure.
mask = mask_key
_KEYLIKE = KEYLIKE  # anything that looks like a key ("AQ." must start a word, so "FAQ.section" is left alone)


def _scrub(text: str) -> str:
    """Mask anything in ``text`` that looks like a key (used on error messages from other code)."""
    return redact(text)


# --------------------------------------------------------------------------- the result


@dataclass
class KeyInfo:
    """What was found for one provider: where, under which name, and what is wrong with it.

    ``value`` is the usable key (or ``None``); it is hidden from ``repr`` and ``explain()``.
    ``ok`` is true when there is a key and nothing blocks it. ``explain()`` gives a readable report.
    ``trouble`` is the part of ``problems`` that points at something actually wrong (a bad key, a wrong
    name, a misnamed or broken ``.env`` file, a Colab secret this notebook may not read); it is empty when
    the key is simply not set anywhere, the normal case before lesson 02.
    """

    provider: str
    variable: str | None = None
    value: str | None = field(default=None, repr=False)
    source: str | None = None
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    env_file: Path | None = None
    trouble: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when a key was found and nothing blocks it."""
        return self.value is not None and not self.problems

    @property
    def masked(self) -> str:
        """The key in masked form, such as ``gsk_...a1B2``, or ``""`` when there is none."""
        return mask(self.value) or ""

    def __repr__(self) -> str:
        return (
            f"KeyInfo(provider={self.provider!r}, variable={self.variable!r}, "
            f"value={(self.masked if self.value is not None else None)!r}, "
            f"source={self.source!r}, problems={self.problems!r}, warnings={self.warnings!r}, "
            f"env_file={self.env_file!r})"
        )

    def explain(self) -> str:
        """A few lines, in plain words, saying what was found and what to do next. Never shows the key."""
        return _explain(self, skip=frozenset())


def _label(provider: str) -> str:
    spec = PROVIDERS.get(provider)
    return spec.label if spec else provider


def _where(source: str | None, env_file: Path | None) -> str:
    if source == "env":
        return "the environment"
    if source == ".env":
        return f"the .env file ({env_file})" if env_file else "the .env file"
    if source == "colab":
        return "Colab secrets"
    if source == "prompt":
        return "what you typed at the prompt"
    return "nowhere"


def _wrap(text: str, first: str, rest: str) -> list[str]:
    return textwrap.wrap(
        text, width=100, initial_indent=first, subsequent_indent=rest, break_long_words=False, break_on_hyphens=False
    ) or [first.rstrip()]


def _explain(info: KeyInfo, skip: frozenset[str]) -> str:
    label = _label(info.provider)
    if info.ok:
        head = f"[OK] {label}: key {info.masked} from {_where(info.source, info.env_file)}, under {info.variable}."
    elif info.variable and info.source:
        head = (
            f"[!!] {label}: a key was found in {_where(info.source, info.env_file)} under {info.variable}, "
            "but it cannot be used yet:"
        )
    else:
        head = f"[--] {label}: no usable key found."
    lines = _wrap(head, "", "     ")
    for problem in info.problems:
        if problem not in skip:
            lines += _wrap(problem, "   - ", "     ")
    for warning in info.warnings:
        if warning not in skip:
            lines += _wrap(warning, "   note: ", "         ")
    return "\n".join(lines)


# --------------------------------------------------------------------------- diagnosis of one value


_SPEC_ERROR = "Unknown provider {name!r}. Use one of: openai, gemini, groq, huggingface."


def _spec(provider: str) -> ProviderKeySpec:
    key = re.sub(r"[\s_\-]", "", str(provider).lower())
    name = _ALIASES.get(key)
    if name is None:
        raise ValueError(_SPEC_ERROR.format(name=provider))
    return PROVIDERS[name]


def _noun(spec: ProviderKeySpec) -> str:
    return f"{spec.label} {'token' if spec.provider == 'huggingface' else 'key'}"


def _a(words: str) -> str:
    """``words`` with "a" or "an" in front: "an OpenAI key", "a Groq key"."""
    return f"{'an' if words[:1].lower() in 'aeiou' else 'a'} {words}"


_QUOTE_CHARS = "\"'`\u2018\u2019\u201a\u201b\u201c\u201d\u201e\u201f\u00ab\u00bb"
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u00ad"
_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212"
_SMART_QUOTES = "\u2018\u2019\u201a\u201b\u201c\u201d\u201e\u201f\u00ab\u00bb\u2032\u2033"
_ODD_SPACES = "\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000"
_PLACEHOLDER_WORDS = {
    "none", "null", "nil", "undefined", "changeme", "change_me", "todo", "tbd", "placeholder", "secret",
    "key", "token", "apikey", "api_key", "your_key_here", "xxx", "dummy", "example", "test", "false", "true",
}  # fmt: skip
_PLACEHOLDER_FILL = re.compile(r"^(?:sk-|gsk_|hf_|aiza|aq\.)?(?:proj-)?[x*.\u2026_\-]+$", re.IGNORECASE)
_NAME_PREFIX = re.compile(r"^(?:export\s+|\$env:)?([A-Za-z_][A-Za-z0-9_]*)\s*[=:]\s*(.+)$", re.DOTALL)
_PLACEHOLDER_HINTS = {"your", "insert", "paste", "enter", "replace", "put", "here", "my"}
_PLACEHOLDER_NOUNS = {"key", "token", "api", "apikey", "secret"}


def _is_placeholder(value: str) -> bool:
    low = value.lower()
    if low.replace("-", "_") in _PLACEHOLDER_WORDS:
        return True
    if _PLACEHOLDER_FILL.match(value):
        return True
    if re.match(r"^[<\[{].*[>\]}]$", value, re.DOTALL):
        return True
    if re.match(r"^\$\{?[A-Za-z_][A-Za-z0-9_]*\}?$", value):  # $OTHER_VARIABLE, never expanded
        return True
    words = set(re.split(r"[\s_\-<>\[\]{}.:/]+", low))
    return bool(words & _PLACEHOLDER_HINTS and words & _PLACEHOLDER_NOUNS)


def _safe_to_show(value: str) -> bool:
    """Whether a placeholder is short and harmless enough to quote in a message."""
    return len(value) <= 30 and not re.search(r"[A-Za-z0-9]{12,}", value)


def _prefixes(spec: ProviderKeySpec) -> tuple[str, ...]:
    """Every prefix this provider's keys may start with: the current one first, then retired ones."""
    return (spec.prefix, *_RETIRED_PREFIXES.get(spec.provider, {}))


def _prefix_of(spec: ProviderKeySpec, value: str) -> str | None:
    """The prefix of this provider that ``value`` starts with, or ``None``."""
    return next((prefix for prefix in _prefixes(spec) if value.startswith(prefix)), None)


def _other_provider(value: str) -> tuple[str | None, str | None]:
    """(provider name, description) of the service a key seems to belong to, from its prefix."""
    for prefix, description in _FOREIGN_PREFIXES:
        if value.startswith(prefix):
            return None, description
    for spec in PROVIDERS.values():
        if _prefix_of(spec, value):
            return spec.provider, _a(f"{spec.label} key")
    return None, None


def _char_kind(ch: str) -> str:
    if ch in _DASHES:
        return f"a long dash ({ch})"
    if ch in _SMART_QUOTES:
        return f"a curly quote ({ch})"
    if ch in _ODD_SPACES:
        return "a non-breaking space"
    if ch in _INVISIBLE:
        return "an invisible character (" + unicodedata.name(ch, f"U+{ord(ch):04X}").lower() + ")"
    if ch == "\u2026":
        return "an ellipsis (...)"
    if ch == "\ufffd":
        return "a character that could not be read (the file is not saved as UTF-8)"
    name = unicodedata.name(ch, f"U+{ord(ch):04X}")
    return f"a character that is not a plain letter or digit ({name.lower()})"


def _clean_edges(value: str, variable: str, warnings: list[str]) -> str:
    """Strip spaces, invisible characters, quotes, a repeated ``NAME=`` and ``Bearer `` from the ends."""
    spaces = quotes = invisible = False
    v = value
    for _ in range(10):
        before = v
        stripped = v.strip()
        if stripped != v:
            spaces, v = True, stripped
        stripped = v.strip(_INVISIBLE)
        if stripped != v:
            invisible, v = True, stripped
        if v and (v[0] in _QUOTE_CHARS or v[-1] in _QUOTE_CHARS):
            quotes = True
            v = v[1:] if v[0] in _QUOTE_CHARS else v
            v = v[:-1] if v and v[-1] in _QUOTE_CHARS else v
        match = _NAME_PREFIX.match(v)
        if match and (
            _norm_name(match.group(1)) in _known_names()
            or re.fullmatch(r"[A-Z][A-Z0-9_]*_(?:KEY|TOKEN)", match.group(1))
        ):
            name = match.group(1)
            warnings.append(
                f"{variable} started with '{name}=' before the key; only the part after '=' was used. "
                "Write the key alone, without repeating the name."
            )
            v = match.group(2)
        if v.lower().startswith("bearer "):
            warnings.append(f"{variable} started with 'Bearer '; only the key after it was used.")
            v = v[7:]
        if v[:1] in ("=", ":"):
            warnings.append(
                f"{variable} started with '{v[0]}' before the key (two signs in a row?); it was removed."
            )
            v = v[1:]
        if v == before:
            break
    if quotes:
        warnings.append(
            f"{variable} had quotes around the key; they were removed. You can delete them where you set it."
        )
    if spaces:
        warnings.append(f"{variable} had spaces or a line break before or after the key; they were removed.")
    if invisible:
        warnings.append(f"{variable} had an invisible character before or after the key; it was removed.")
    return v


def _is_variable_name(value: str) -> bool:
    """True for a value that is a key variable's bare name ("OPENAI_API_KEY", "hf_token"), not a key.

    (``$OPENAI_API_KEY`` and ``${...}`` are reported as example text, by ``_is_placeholder``.)
    """
    name = value.upper()
    return any(name in spec.variables or name in spec.wrong_names for spec in PROVIDERS.values())


def diagnose(provider: str, value: str | None, variable: str) -> tuple[str | None, list[str], list[str]]:
    """Check one key value as it was found under ``variable``.

    Returns ``(cleaned key or None, problems, warnings)``. Problems block the key; each one
    says what to do next. Warnings do not block it (for example quotes that were removed).
    """
    spec = _spec(provider)
    url = spec.signup_url
    noun = _noun(spec)
    problems: list[str] = []
    warnings: list[str] = []

    std = spec.variables[0]
    if variable not in spec.variables and variable not in ("", None):
        warnings.append(
            f"The key was found under {variable}, which is not a standard name, and was used anyway. "
            f"Rename it to {std}: that is the name the {_SDK[spec.provider]} library and this course look for"
            f"{_WRONG_NAME_NOTES.get(variable, '')}."
        )

    if value is None or not isinstance(value, str):
        problems.append(f"{variable} has no value. Put your {noun} after the '=' sign; create one at {url}.")
        return None, problems, warnings

    edge_warnings: list[str] = []
    v = _clean_edges(value, variable, edge_warnings)
    if v == "":
        problems.append(
            f"{variable} exists but is empty. Put your {noun} after the '=' sign "
            f"(create one at {url} if you have none), or remove the empty variable."
        )
        return None, problems, warnings
    warnings[:0] = edge_warnings

    if _is_variable_name(v):
        problems.append(
            f"{variable} holds the text '{v}', a variable's name, not a key: in .env the name goes before the "
            f"'=' and the key itself after it ({std}=your-key), and in code you read the value with "
            f"os.environ['{std}'] rather than writing its name in quotes. Create or copy your {noun} at {url}."
        )
        return None, problems, warnings

    if _is_placeholder(v):
        shown = f" '{v}'" if _safe_to_show(v) else ""
        problems.append(
            f"{variable} still holds the example text{shown}, not a real key. "
            f"Replace it with your {noun} from {url}."
        )
        return None, problems, warnings

    if "..." in v or "\u2026" in v or "***" in v:
        problems.append(
            f"{variable} holds a shortened key, with '...' in the middle, like the ones shown in a key list. "
            f"The full key is shown only once, when you create it: create a new key at {url} "
            "and copy it with the copy button."
        )
        return None, problems, warnings

    odd = [(i, ch) for i, ch in enumerate(v) if not ch.isascii() or (not ch.isprintable() and ch not in "\r\n\t")]
    if odd:
        kinds: list[str] = []
        for _, ch in odd:
            kind = _char_kind(ch)
            if kind not in kinds:
                kinds.append(kind)
        what = " and ".join(kinds[:3])
        problems.append(
            f"{variable}: your key contains {what} (character {odd[0][0] + 1} of {len(v)}), which happens "
            f"when a key is pasted through a word processor or chat app; copy it again from {url} "
            "and paste it straight into the file or prompt."
        )

    if "\n" in v or "\r" in v:
        problems.append(
            f"{variable} has a line break inside the key: it was pasted with a line break. "
            f"Copy it again in one piece from {url} and paste it on one line."
        )
    elif re.search(r"[ \t\f\v]", v):
        problems.append(
            f"{variable} has a space inside the key. Keys have no spaces: copy it again from {url}."
        )

    other, description = _other_provider(v)
    if description and other != spec.provider:
        start = _prefix_of(PROVIDERS[other], v) if other else v[: v.index("-", 3) + 1]
        move = f" Put it in {PROVIDERS[other].variables[0]} instead, and" if other else " This course does not use it;"
        problems.append(
            f"{variable} holds what looks like {description} (it starts with '{start}'), not {_a(noun)}.{move} "
            f"get {_a(noun)} at {url}."
        )
    elif other is None and not v.startswith(spec.prefix):
        warnings.append(
            f"{variable} does not start with '{spec.prefix}' like {noun}s usually do. If calls fail with an "
            f"authentication error, copy the key again from {url}."
        )
    elif not problems and len(v) < _MIN_LENGTH[spec.provider]:
        warnings.append(
            f"{variable} is only {len(v)} characters long, shorter than a usual {noun}. It may have been cut "
            f"off when you copied it; if calls fail, copy it again from {url}."
        )
    if spec.provider == "openai" and v.startswith("sk-admin-"):
        warnings.append(
            f"{variable} looks like an OpenAI admin key, which manages an organisation but cannot call models. "
            f"Create a project key at {url}."
        )
    retired = _RETIRED_PREFIXES.get(spec.provider, {})
    old = next((prefix for prefix in retired if v.startswith(prefix)), None)
    if old is not None:
        warnings.append(retired[old])

    return (None if problems else v), problems, warnings


# --------------------------------------------------------------------------- finding and reading .env


_LOOKALIKE_RENAME = {"env", "_env", "dotenv", ".env.env", "env.env", "dot.env"}
_LOOKALIKE_TXT = {".env.txt", "env.txt", ".env.text", ".env.txt.txt"}
_LOOKALIKE_EXAMPLE = {".env.example", ".env.sample", ".env.template", "env.example", ".env.dist", "example.env"}
_HIDDEN_DOT_NOTE = (
    "Jupyter and Windows Explorer hide files starting with a dot, so a .env file may exist without "
    "showing up, and a file you named .env may really be called something else. Check the exact name "
    "in a terminal (ls -a, or dir /a on Windows)."
)


def _has_course_table(pyproject: Path) -> bool:
    try:
        if not pyproject.is_file() or pyproject.stat().st_size > 1_000_000:
            return False
        text = pyproject.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return re.search(r"^\s*\[\s*tool\s*\.\s*course\s*[\].]", text, re.MULTILINE) is not None


def _course_root(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        try:
            if (folder / ".git").exists() or _has_course_table(folder / "pyproject.toml"):
                return folder
        except OSError:
            continue
    return None


def _lookalike_note(path: Path, env_exists: bool) -> str | None:
    name = path.name
    low = name.lower()
    if name == ".env":
        return None
    if low.strip() == ".env" or low.rstrip(". ") == ".env":
        if env_exists:
            return None  # the same file on a case-insensitive disk
        return f"Found {path}: rename it to exactly .env (lower case, nothing before or after the name)."
    if low in _LOOKALIKE_TXT:
        return (
            f"Found {path}: the file must be named exactly .env, with no .txt at the end. Windows hides the "
            ".txt ending by default (turn on 'File name extensions' in Explorer's View menu to see it). "
            "Rename the file to .env."
        )
    if low in _LOOKALIKE_RENAME:
        return f"Found {path}: the file must be named exactly .env (a dot, then env). Rename it to .env."
    if low in _LOOKALIKE_EXAMPLE:
        if env_exists:
            return None
        return f"Found {path} but no .env: copy {name} to .env and fill it in with your keys."
    if low.startswith(".env.") or (low.startswith(".env") and low.endswith((".txt", ".rtf", ".docx"))):
        return (
            f"Found {path}: this course reads only a file named exactly .env. Rename it to .env, "
            "or copy its lines into .env."
        )
    return None


def find_env_file(start: Path | None = None) -> tuple[Path | None, list[str]]:
    """Find the ``.env`` file for the course.

    Looks in ``start`` (default: the current folder) and the folders above it, up to the course
    folder (the one with ``pyproject.toml`` holding ``[tool.course]``, or with ``.git``), and no
    further. Without a course folder above, only ``start`` is searched.
    Returns ``(path or None, notes)``; the notes name look-alike files (``.env.txt``, ``env``,
    ``.env.example`` ...) met on the way.
    """
    notes: list[str] = []
    try:
        here = Path(start) if start is not None else Path.cwd()
        here = here.expanduser().resolve()
        if here.is_file():
            here = here.parent
    except (OSError, RuntimeError, TypeError, ValueError) as exc:
        return None, [f"Could not look for a .env file ({type(exc).__name__}): {exc}."]
    root = _course_root(here)
    folders = [here]
    if root is not None and root != here:
        for parent in here.parents:
            folders.append(parent)
            if parent == root:
                break
    found: Path | None = None
    examples = False
    for folder in folders:
        candidate = folder / ".env"
        try:
            is_file, is_dir = candidate.is_file(), candidate.is_dir()
        except OSError:
            is_file = is_dir = False
        if is_dir:
            notes.append(
                f"{candidate} is a folder, not a file. Remove or rename that folder and create a .env file instead."
            )
        elif not is_file and candidate.is_symlink():
            notes.append(f"{candidate} is a link to {os.readlink(candidate)}, which does not exist. Point the link "
                         "at your real .env file, or replace the link with the file itself.")
        elif not is_file and os.path.lexists(candidate):
            notes.append(f"{candidate} is not a regular file (a pipe, socket or device), so it was not read. "
                         "Replace it with a plain text file.")
        try:
            entries = sorted(os.listdir(folder))
        except OSError:
            entries = []
        for entry in entries:
            note = _lookalike_note(folder / entry, env_exists=is_file)
            if note:
                examples = examples or entry.lower() in _LOOKALIKE_EXAMPLE
                if note not in notes:
                    notes.append(note)
        if is_file:
            found = candidate
            break
    if found is None:
        top = f" up to the course folder {root}" if root is not None and root != here else ""
        notes.insert(0, f"No .env file found in {here}{' or the folders above it' if top else ''}{top}.")
        if not examples:
            notes.append(_HIDDEN_DOT_NOTE)
    return found, notes


@dataclass
class _EnvFile:
    """A parsed .env file: values, the lines each name is on, and messages with what they are about."""

    path: Path
    values: dict[str, str] = field(default_factory=dict)
    lines: dict[str, list[int]] = field(default_factory=dict)
    # (message, text it concerns: a line of the file, or "*" for the whole file)
    problems: list[tuple[str, str]] = field(default_factory=list)
    # commented-out keys and similar: shown only when a key is missing
    hints: list[tuple[str, str]] = field(default_factory=list)


_ALL_TEXT = "*"


def _norm_name(name: str) -> str:
    """A variable name as a learner meant it: upper case, ``$env:``/``set``/``export`` and dashes removed."""
    n = name.strip()
    n = re.sub(r"^(?:\$env:|set\s+|export\s+)", "", n, flags=re.IGNORECASE)
    return re.sub(r"[\s\-.]", "_", n).upper()


def _known_names() -> dict[str, str]:
    names: dict[str, str] = {}
    for spec in PROVIDERS.values():
        for name in (*spec.variables, *spec.wrong_names):
            names[name] = spec.provider
    return names


def _shown_name(token: str) -> str | None:
    """``token`` if it is safe to quote as a variable name (not a key pasted by mistake)."""
    if _KEYLIKE.match(token):
        return None
    if _norm_name(token) in _known_names():
        return token
    if re.fullmatch(r"[A-Z_][A-Z0-9_]{0,39}", token) and _looks_like_a_name(token):
        return token
    return None


def _looks_like_a_name(token: str) -> bool:
    """True for ``DEBUG`` or ``AWS_SECRET_ACCESS_KEY``; False for a bare secret such as ``AKIAZ3Q...`` in upper case.

    A name is made of words: each part between underscores at most 12 characters with at most 2 digits.
    A line of .env holding only an unrelated secret is then never quoted by ``check_keys()``.
    """
    parts = [p for p in token.split("_") if p]
    return bool(parts) and all(len(p) <= 12 and sum(c.isdigit() for c in p) <= 2 for p in parts)


def _provider_for_bare_value(token: str) -> ProviderKeySpec | None:
    other, _ = _other_provider(token)
    return PROVIDERS[other] if other else None


def _describe_bad_line(text: str, n: int) -> str:
    """A beginner's explanation of a .env line python-dotenv could not read."""
    line = text.splitlines()[0] if text.splitlines() else text
    s = line.strip()
    fmt = "Each line must look like NAME=value, for example GROQ_API_KEY=gsk_... (no spaces in NAME)."
    m = re.match(r"(?i)^set\s+([^=\s]+)\s*=", s)
    if m:
        name = _shown_name(m.group(1)) or "NAME"
        return f"Line {n} of .env starts with 'set', which is a Windows command. In .env write only {name}=value."
    body = re.sub(r"^export\s+", "", s)
    if re.match(r"(?i)^export\s", body):
        body = body[6:].lstrip()
    name_match = re.match(r"^([^=\s:]+)", body)
    token = name_match.group(1) if name_match else ""
    name = _shown_name(token) or "NAME"
    after = body[len(token):]
    if "=" in body:
        lhs, _, rhs = body.partition("=")
        rhs = rhs.strip()
        if " " in lhs.strip():
            return (
                f"Line {n} of .env has spaces inside the name before '='. Names use underscores instead, "
                f"like GROQ_API_KEY. {fmt}"
            )
        if rhs[:1] in ("'", '"') and rhs.count(rhs[0]) == 1:
            return (
                f"Line {n} of .env opens a quote ({rhs[0]}) after {name}= that is never closed. Add the closing "
                "quote at the end of the value, or remove the opening one."
            )
        if rhs[:1] in ("'", '"'):
            return (
                f"Line {n} of .env has text after the closing quote of {name}. Keep only {name}=\"value\" "
                "on the line (a comment may follow after a #)."
            )
        return f"Line {n} of .env could not be read. {fmt}"
    if after.lstrip().startswith(":"):
        return f"Line {n} of .env uses ':' where '=' belongs. Write it as {name}=value."
    if after.strip():
        bare = _provider_for_bare_value(token)
        if bare is not None and name == "NAME":
            return (
                f"Line {n} of .env holds what looks like {_a(bare.label)} key followed by more text, without a "
                f"name. Write it as {bare.variables[0]}=<your key>."
            )
        return f"Line {n} of .env has a space where the '=' should be. Write it as {name}=value, with no spaces."
    return f"Line {n} of .env could not be read. {fmt}"


def _describe_no_equals(token: str, n: int) -> str:
    bare = _provider_for_bare_value(token)
    if bare is not None:
        return (
            f"Line {n} of .env holds what looks like {_a(bare.label)} key on its own, without a name. "
            f"Write it as {bare.variables[0]}=<your key> (the name, an '=' sign, then the key)."
        )
    name = _shown_name(token)
    if name and _norm_name(name) in _known_names():
        return f"Line {n} of .env has {name} but no '=' and no key. Write it as {name}=<your key>."
    shown = f" ({name})" if name else ""
    return f"Line {n} of .env has no '='{shown}. Each line must look like NAME=value."


def _decode(data: bytes, problems: list[tuple[str, str]]) -> str:
    if data.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):  # before UTF-16: its BOM starts the same
        problems.append(
            (
                "The .env file is saved as UTF-32. It was read anyway, but save it as UTF-8 so other tools can "
                "read it too.",
                _ALL_TEXT,
            )
        )
        return data.decode("utf-32", errors="replace")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        problems.append(
            (
                "The .env file is saved as UTF-16 ('Unicode' in Notepad). It was read anyway, but save it as "
                "UTF-8 so other tools can read it too.",
                _ALL_TEXT,
            )
        )
        return data.decode("utf-16", errors="replace")
    if b"\x00" in data:
        problems.append(
            (
                "The .env file contains NUL bytes (it was probably saved as UTF-16). It was read as well as "
                "possible; save it as UTF-8.",
                _ALL_TEXT,
            )
        )
        return data.replace(b"\x00", b"").decode("utf-8-sig", errors="replace")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        problems.append(
            (
                "The .env file is not saved as UTF-8, so some characters could not be read. Save it as UTF-8 "
                "(in Notepad: File > Save as > Encoding: UTF-8).",
                _ALL_TEXT,
            )
        )
        return data.decode("utf-8-sig", errors="replace")


def _read_env(path: Path) -> _EnvFile:
    env = _EnvFile(path=path)
    try:
        size = path.stat().st_size
        if size > 1_000_000:
            message = f"{path} is {size // 1000} kB, far too big for a .env file; it was not read."
            env.problems.append((message, _ALL_TEXT))
            return env
        data = path.read_bytes()
    except IsADirectoryError:
        env.problems.append((f"{path} is a folder, not a file. Create a .env file instead.", _ALL_TEXT))
        return env
    except OSError as exc:
        env.problems.append((f"Could not open {path}: {exc.strerror or exc}. Check that you may read it.", _ALL_TEXT))
        return env
    text = _decode(data, env.problems)
    try:
        from dotenv.parser import parse_stream
    except ImportError:
        env.problems.append(
            ("python-dotenv is not installed, so .env could not be read. Run: %pip install python-dotenv", _ALL_TEXT)
        )
        return env
    try:
        bindings = list(parse_stream(io.StringIO(text, newline="")))
    except Exception as exc:  # a parser bug must not reach the learner
        env.problems.append((f"The .env file could not be read ({type(exc).__name__}).", _ALL_TEXT))
        return env

    any_binding = False
    for binding in bindings:
        # python-dotenv counts a binding from the blank lines before it: skip those.
        raw = binding.original.string
        lead = re.match(r"\s*", raw).group(0)  # type: ignore[union-attr]
        lead = lead[: max(lead.rfind("\n"), lead.rfind("\r")) + 1]
        n = binding.original.line + len(re.findall(r"\r\n|\r|\n", lead))
        original = raw[len(lead):]
        if binding.error:
            env.problems.append((_describe_bad_line(original, n), original))
            continue
        if binding.key is None:
            body = original.strip()
            if body.startswith("#"):
                uncommented = body.lstrip("#").strip()
                m = re.match(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*\S", uncommented)
                if m and _norm_name(m.group(1)) in _known_names():
                    env.hints.append(
                        (
                            f"Line {n} of .env is a comment (it starts with #), so {m.group(1)} on it is ignored. "
                            "Remove the # at the start of the line.",
                            original,
                        )
                    )
            continue
        any_binding = True
        if binding.value is None:
            env.problems.append((_describe_no_equals(binding.key, n), original))
            continue
        env.values[binding.key] = binding.value
        env.lines.setdefault(binding.key, []).append(n)
        spread = len(re.findall(r"\r\n|\r|\n", original.rstrip("\r\n")))
        if ("\n" in binding.value or "\r" in binding.value) and spread > 0:
            name = _shown_name(binding.key) or "a value"
            env.problems.append(
                (
                    f"The value of {name} on line {n} of .env starts with a quote that is closed only on line "
                    f"{n + spread}, so lines {n} to {n + spread} were read as one value. Add the missing closing "
                    f"quote on line {n}, or remove the opening one.",
                    original,
                )
            )
    for key, numbers in env.lines.items():
        if len(numbers) > 1:
            name = _shown_name(key) or "a name"
            listed = ", ".join(str(x) for x in numbers[:-1]) + f" and {numbers[-1]}"
            env.problems.append(
                (
                    f"{name} is set more than once in .env (lines {listed}); the last one (line {numbers[-1]}) is "
                    "used. Delete the line you do not want.",
                    key,
                )
            )
    if not any_binding and not any(text == _ALL_TEXT for _, text in env.problems):
        env.problems.append(
            (
                f"The .env file ({path}) has no NAME=value lines. Add one such as GROQ_API_KEY=<your key>, "
                "and save the file (Ctrl+S, or Cmd+S on a Mac).",
                _ALL_TEXT,
            )
        )
    return env


def read_env_file(path: Path) -> tuple[dict[str, str], list[str]]:
    """Read a ``.env`` file with python-dotenv: ``(values, problems)``.

    Handles a byte-order mark and Windows line endings. Lines that cannot be read are skipped
    and named, with their line number, in ``problems``. Never raises for a bad file.
    """
    env = _read_env(Path(path))
    return dict(env.values), [message for message, _ in env.problems]


def _mentions(text: str) -> set[str]:
    """The providers a piece of .env text is about (by variable names and key prefixes)."""
    if text == _ALL_TEXT:
        return set(PROVIDERS)
    upper = text.upper()
    found: set[str] = set()
    for spec in PROVIDERS.values():
        if any(hint in upper for hint in _NAME_HINTS[spec.provider]):
            found.add(spec.provider)
        elif any(name in upper for name in (*spec.variables, *spec.wrong_names)):
            found.add(spec.provider)
        elif any(re.search(r"(?<![A-Za-z0-9_])" + re.escape(prefix), text) for prefix in _prefixes(spec)):
            found.add(spec.provider)
    return found


# --------------------------------------------------------------------------- finding keys


@dataclass
class _Candidate:
    source: str
    variable: str
    raw: str | None
    line: int | None = None


@dataclass
class _Context:
    """Everything read once and shared by the four providers."""

    env_path: Path | None
    env_notes: list[str]
    env: _EnvFile | None
    start: Path | None
    colab: bool
    prompt_stopped: bool = False
    colab_silent: bool = False  # Colab did not answer in time: ask it nothing more in this look-up


def _context(start: Path | None) -> _Context:
    path, notes = find_env_file(start)
    env = _read_env(path) if path is not None else None
    try:
        here = (Path(start) if start is not None else Path.cwd()).expanduser().resolve()
    except (OSError, RuntimeError, TypeError, ValueError):
        here = None
    return _Context(path, notes, env, here, "google.colab" in sys.modules)


def _matches(mapping: Mapping[str, str], spec: ProviderKeySpec) -> list[str]:
    """Names in ``mapping`` that hold this provider's key: standard names first, then wrong names."""
    names: list[str] = [n for n in spec.variables if n in mapping]
    names += [n for n in spec.wrong_names if n in mapping]
    wanted = (*spec.variables, *spec.wrong_names)
    for target in wanted:
        for name in mapping:
            if name not in names and name != target and _norm_name(name) == target:
                names.append(name)
    return names


def _lookalike_names(mapping: Mapping[str, str], spec: ProviderKeySpec, taken: list[str]) -> list[str]:
    """Other names whose value starts with this provider's prefix and whose name points at it."""
    known = _known_names()
    out = []
    for name, value in mapping.items():
        if name in taken or not isinstance(value, str):
            continue
        v = value.strip().strip(_QUOTE_CHARS).strip()
        if _other_provider(v)[0] != spec.provider:  # no prefix of this provider (or a foreign one)
            continue
        norm = _norm_name(name)
        if any(h in norm for h in _NAME_HINTS[spec.provider]) or (known.get(norm) not in (None, spec.provider)):
            out.append(name)
        elif spec.prefix in ("gsk_", "hf_"):  # distinctive prefixes: any name
            out.append(name)
    return out


def _is_blank(raw: str | None) -> bool:
    """True for a value that is empty once spaces and quotes are removed."""
    return raw is None or _clean_edges(str(raw), "", []) == ""


def _env_where(candidate: _Candidate, env_path: Path | None) -> str:
    if candidate.source == "env":
        return "in the environment"
    if candidate.source == ".env":
        line = f"line {candidate.line} of " if candidate.line else ""
        return f"in {line}the .env file ({env_path})"
    if candidate.source == "colab":
        return "in Colab secrets"
    return "at the prompt"


# How long to wait for Colab's answer to one secret request. Colab itself gives up after 10 s when no
# Colab page is attached (a notebook run by a script); the course waits less and then asks no more.
COLAB_WAIT = 3.0


class _NoAnswer(Exception):
    """Colab did not answer a secret request within ``COLAB_WAIT`` seconds."""


def _colab_get(userdata, name: str) -> str | None:
    """``userdata.get(name)`` in a helper thread, waiting at most ``COLAB_WAIT`` seconds (Colab's get is thread-safe)."""
    box: dict[str, object] = {}

    def ask() -> None:
        try:
            box["value"] = userdata.get(name)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            box["error"] = exc

    worker = threading.Thread(target=ask, name=f"course-colab-secret-{name}", daemon=True)
    worker.start()
    worker.join(COLAB_WAIT)
    if worker.is_alive():
        raise _NoAnswer(name)
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    value = box.get("value")
    return None if value is None else str(value)


def _colab_silent_note() -> str:
    return (
        "Colab did not answer when asked for your secrets (no Colab page attached, or a pop-up asking you to "
        "grant access is waiting): grant access if Colab asks, then run this cell again."
    )


def _colab_candidates(spec: ProviderKeySpec, ctx: _Context, notes: list[str]) -> Iterator[_Candidate]:
    """The provider's key from Colab secrets: one request per standard name, and none once Colab went silent."""
    if ctx.colab_silent:
        return
    try:
        from google.colab import userdata  # type: ignore[import-not-found]
    except Exception as exc:
        notes.append(
            f"Colab secrets could not be opened ({type(exc).__name__}); use a .env file or the prompt instead."
        )
        return
    for name in spec.variables:
        try:
            value = _colab_get(userdata, name)
        except Exception as exc:
            kind = type(exc).__name__
            if kind == "SecretNotFoundError":
                continue
            if kind == "NotebookAccessError":
                notes.append(
                    f"Colab has a secret named {name}, but this notebook may not read it: open the key icon in "
                    f"Colab's left bar and switch on 'Notebook access' for {name}, then run this cell again."
                )
                continue
            if isinstance(exc, _NoAnswer) or "timeout" in kind.lower():
                ctx.colab_silent = True
                note = _colab_silent_note()
                if note not in ctx.env_notes:
                    ctx.env_notes.append(note)  # about every provider: said once
                return
            notes.append(f"Could not read the Colab secret {name} ({kind}: {_scrub(str(exc))[:200]}).")
            continue
        if value is None:
            continue
        yield _Candidate("colab", name, value)


def _prompt_candidate(
    spec: ProviderKeySpec, ctx: _Context, notes: list[str]
) -> tuple[_Candidate | None, list[str], list[str], str | None]:
    """Ask for the key with a hidden prompt. Returns (candidate, problems, warnings, cleaned)."""
    variable = spec.variables[0]
    text = (
        f"Paste your {spec.label} {_NOUN[spec.provider]} (create one at {spec.signup_url}), "
        "then press Enter. Leave it empty to skip: "
    )
    last_problems: list[str] = []
    for attempt in range(3):
        try:
            raw = getpass.getpass(text)
        except KeyboardInterrupt:
            ctx.prompt_stopped = True
            notes.append("You stopped the prompt, so no key was typed in.")
            return None, [], [], None
        except Exception as exc:  # no input box here (e.g. a notebook run by a script)
            ctx.prompt_stopped = True
            notes.append(
                f"Could not ask for the key here ({type(exc).__name__}): this notebook cannot show an input box. "
                f"Put {variable} in a .env file instead."
            )
            return None, [], [], None
        if raw is None or str(raw).strip() == "":
            notes.append("You left the prompt empty, so no key was used.")
            return None, [], [], None
        cleaned, problems, warnings = diagnose(spec.provider, str(raw), variable)
        candidate = _Candidate("prompt", variable, str(raw))
        if cleaned is not None and not problems:
            return candidate, [], warnings, cleaned
        last_problems = problems
        if attempt < 2:
            _print("That key cannot be used:\n" + "\n".join(f"  - {p}" for p in problems) + "\nPlease try again.")
    return None, [f"At the prompt: {p}" for p in last_problems], [], None


def _missing_message(spec: ProviderKeySpec, ctx: _Context) -> str:
    std = spec.variables[0]
    short = "token" if spec.provider == "huggingface" else "key"
    also = f" (this course also accepts {', '.join(spec.variables[1:])})" if len(spec.variables) > 1 else ""
    if ctx.env_path is not None:
        where = f"Add a line {std}=<your {short}> to your .env file ({ctx.env_path})"
    else:
        root = _course_root(ctx.start) if ctx.start is not None else None
        where = f"Put it in a file named .env in {root or ctx.start} as one line: {std}=<your {short}>"
    colab = (
        f" On Colab, add it instead as a secret named {std} (key icon in the left bar) and switch on "
        "'Notebook access'."
        if ctx.colab
        else ""
    )
    return (
        f"No {spec.label} {_NOUN[spec.provider]} found: {std} is not set{also}. Create one at "
        f"{spec.signup_url}.{_SIGNUP_TIPS.get(spec.provider, '')} {where}.{colab}"
    )


def _environ() -> dict[str, str]:
    """The environment without the placeholder keys and URLs that ``setup()`` set for the SDKs."""
    course = sys.modules.get(f"{__package__}.course")
    return course.environ_before_setup() if course is not None else dict(os.environ)


def _find(spec: ProviderKeySpec, ctx: _Context, prompt: bool) -> KeyInfo:
    info = KeyInfo(provider=spec.provider, env_file=ctx.env_path)
    environ = _environ()
    env_values = ctx.env.values if ctx.env is not None else {}

    def candidates() -> Iterator[_Candidate]:
        for name in _matches(environ, spec):
            yield _Candidate("env", name, environ[name])
        for name in _matches(env_values, spec):
            lines = ctx.env.lines.get(name) if ctx.env is not None else None
            yield _Candidate(".env", name, env_values[name], lines[-1] if lines else None)
        if ctx.colab:
            yield from _colab_candidates(spec, ctx, colab_notes)

    colab_notes: list[str] = []
    rejected: list[tuple[_Candidate, list[str], list[str]]] = []
    chosen: _Candidate | None = None
    chosen_value: str | None = None
    chosen_warnings: list[str] = []
    try:
        for cand in candidates():
            cleaned, problems, warnings = diagnose(spec.provider, cand.raw, cand.variable)
            if cleaned is not None and not problems:
                chosen, chosen_value, chosen_warnings = cand, cleaned, warnings
                break
            rejected.append((cand, problems, warnings))
    except Exception as exc:  # never let a surprise reach the learner
        colab_notes.append(f"Looking for the key failed unexpectedly ({type(exc).__name__}: {_scrub(str(exc))[:200]}).")

    prompt_notes: list[str] = []
    prompt_problems: list[str] = []
    if chosen is None and prompt and not ctx.prompt_stopped:
        cand, prompt_problems, warnings, cleaned = _prompt_candidate(spec, ctx, prompt_notes)
        if cand is not None:
            chosen, chosen_value, chosen_warnings = cand, cleaned, warnings

    # Messages from the .env file about this provider.
    file_msgs: list[str] = []  # about lines that mention this provider
    file_wide: list[str] = []  # about the whole file (encoding, empty ...)
    hints: list[str] = []
    if ctx.env is not None:
        file_msgs = [m for m, text in ctx.env.problems if text != _ALL_TEXT and spec.provider in _mentions(text)]
        file_wide = [m for m, text in ctx.env.problems if text == _ALL_TEXT]
        hints = [m for m, text in ctx.env.hints if spec.provider in _mentions(text)]

    if chosen is not None:
        info.variable, info.value, info.source = chosen.variable, chosen_value, chosen.source
        where_used = _env_where(chosen, ctx.env_path)
        info.warnings += chosen_warnings
        for cand, problems, _ in rejected:
            for problem in problems:
                info.warnings.append(
                    f"Not used {_env_where(cand, ctx.env_path)}: {problem} (The key {where_used} was used instead.)"
                )
        info.warnings += _conflicts(spec, chosen, chosen_value or "", environ, env_values, ctx)
        info.warnings += colab_notes + file_msgs + (file_wide if chosen.source == ".env" else [])
        return info

    # An empty value (e.g. a line copied from .env.example and not filled in) counts as "not set".
    filled = [cand for cand, _, _ in rejected if not _is_blank(cand.raw)]
    trouble: list[str] = []
    if filled:
        info.variable, info.source = filled[0].variable, filled[0].source
    if rejected:
        for cand, problems, warnings in rejected:
            where = _env_where(cand, ctx.env_path)
            info.problems += [f"{where[0].upper()}{where[1:]}: {p}" for p in problems]
            info.warnings += [w for w in warnings if w not in info.warnings]
            if not _is_blank(cand.raw):  # an empty line copied from .env.example is "not set", not trouble
                trouble += [f"{where[0].upper()}{where[1:]}: {p}" for p in problems]
    else:
        # A Colab secret this notebook may not read explains more than "not set": say it first.
        info.problems += colab_notes
        trouble += colab_notes
        colab_notes = []
        info.problems.append(_missing_message(spec, ctx))
    info.problems += prompt_problems
    for source_name, mapping in (("the environment", environ), ("the .env file", env_values)):
        for name in _lookalike_names(mapping, spec, _matches(mapping, spec)):
            shown = _shown_name(name) or "another name"
            info.problems.append(
                f"{shown} in {source_name} looks like it holds {_a(_noun(spec))}. If it is yours, rename it to "
                f"{spec.variables[0]}."
            )
            trouble.append(info.problems[-1])
    info.problems += colab_notes + prompt_notes + file_msgs + file_wide + hints
    trouble += prompt_problems + colab_notes + file_msgs + file_wide + hints
    if ctx.env is None or spec.variables[0] not in env_values:
        info.problems += [n for n in ctx.env_notes if n not in info.problems]
        trouble += [n for n in ctx.env_notes if not _informational(n) and n not in trouble]
    info.trouble = [n for i, n in enumerate(trouble) if n not in trouble[:i]]
    return info


def _informational(note: str) -> bool:
    """True for a .env note that only describes the normal state (no .env file yet, hidden dot files)."""
    return note.startswith("No .env file found") or note == _HIDDEN_DOT_NOTE or "but no .env: copy" in note


def _conflicts(
    spec: ProviderKeySpec,
    chosen: _Candidate,
    value: str,
    environ: Mapping[str, str],
    env_values: Mapping[str, str],
    ctx: _Context,
) -> list[str]:
    """Warnings about other places that hold a different key under a standard name."""
    out: list[str] = []
    sources = (("env", environ), (".env", env_values))
    for source, mapping in sources:
        for name in spec.variables:
            if name not in mapping or (source, name) == (chosen.source, chosen.variable):
                continue
            raw = mapping[name]
            if raw is None or str(raw).strip() == "":
                continue
            cleaned, problems, _ = diagnose(spec.provider, raw, name)
            if cleaned == value:
                continue
            google_too = spec.provider == "gemini" and name == "GOOGLE_API_KEY" and chosen.variable == "GEMINI_API_KEY"
            if (cleaned is None or problems) and not google_too:
                continue  # an unusable value: reported where it blocks, not here
            other = mask(cleaned) if cleaned else "a value that is not a usable key"
            lines = ctx.env.lines.get(name) if (source == ".env" and ctx.env is not None) else None
            where = _env_where(_Candidate(source, name, raw, lines[-1] if lines else None), ctx.env_path)
            if google_too:
                out.append(
                    f"GOOGLE_API_KEY is also set {where} ({other}), with a different key than GEMINI_API_KEY "
                    f"({mask(value)}). The google-genai library uses GOOGLE_API_KEY when both are set, so remove "
                    "GOOGLE_API_KEY or give both the same key."
                )
                continue
            restart = (
                " If you just edited .env, restart the kernel (Kernel > Restart) so the new key is read."
                if chosen.source == "env" and source == ".env"
                else ""
            )
            out.append(
                f"{name} {where} holds a different key ({other}); the one {_env_where(chosen, ctx.env_path)} "
                f"({mask(value)}) is used.{restart}"
            )
    return out


def find_key(provider: str, *, prompt: bool = False, start: Path | None = None) -> KeyInfo:
    """Find one provider's key: ``"openai"``, ``"gemini"``, ``"groq"`` or ``"huggingface"``.

    Looks in the environment, then ``.env`` (searched from ``start``, default the current
    folder, up to the course folder), then Colab secrets, then, with ``prompt=True``, asks you.
    Returns a ``KeyInfo``; print ``info.explain()`` to see what was found and what to do.
    """
    spec = _spec(provider)
    try:
        ctx = _context(start)
        return _find(spec, ctx, prompt)
    except Exception as exc:  # never a traceback for a key problem
        return KeyInfo(
            provider=spec.provider,
            problems=[
                f"Looking for the {spec.label} key failed unexpectedly "
                f"({type(exc).__name__}: {_scrub(str(exc))[:200]})."
            ],
        )


def _find_all(prompt: bool, start: Path | None) -> tuple[dict[str, KeyInfo], _Context | None]:
    try:
        ctx = _context(start)
    except Exception as exc:
        return {
            name: KeyInfo(provider=name, problems=[f"Looking for keys failed unexpectedly ({type(exc).__name__})."])
            for name in PROVIDERS
        }, None
    infos: dict[str, KeyInfo] = {}
    for name, spec in PROVIDERS.items():
        try:
            infos[name] = _find(spec, ctx, prompt)
        except Exception as exc:
            infos[name] = KeyInfo(
                provider=name,
                problems=[f"Looking for the {spec.label} key failed unexpectedly ({type(exc).__name__})."],
                env_file=ctx.env_path,
            )
    return infos, ctx


def find_keys(*, prompt: bool = False, start: Path | None = None) -> dict[str, KeyInfo]:
    """Find the keys of all four providers: ``{"openai": KeyInfo, "gemini": ..., "groq": ..., "huggingface": ...}``.

    With ``prompt=True`` you are asked, one provider at a time, for each key that was not found;
    press Enter on an empty prompt to skip one.
    """
    infos, _ = _find_all(prompt, start)
    return infos


def _print(text: str) -> None:
    try:
        print(text)
    except UnicodeEncodeError:  # a console that cannot show a long dash or a curly quote
        print(text.encode("ascii", "replace").decode("ascii"))


def check_keys(start: Path | None = None) -> dict[str, KeyInfo]:
    """Print a report on the keys of all four providers and return what was found.

    For each provider: whether a key was found, where, its masked form, and for every problem
    what to do next. Keys are never shown in full.
    """
    infos, ctx = _find_all(False, start)
    lines = ["API keys (shown masked: a key is never printed in full)"]
    shared: set[str] = set()
    if ctx is not None:
        looked = "environment variables, .env" + (", Colab secrets" if ctx.colab else "")
        lines.append(f"Looked in: {looked}.")
        lines.append(f".env file: {ctx.env_path}" if ctx.env_path else ".env file: none found")
        file_level: list[str] = []
        if ctx.env is not None:
            for message, text in ctx.env.problems:
                mentioned = _mentions(text)
                if text == _ALL_TEXT or not mentioned:
                    file_level.append(message)
        if any(not info.ok for info in infos.values()):
            file_level += ctx.env_notes
        for message in file_level:
            lines += _wrap(message, "   - ", "     ")
        shared = set(file_level)
    lines.append("")
    for info in infos.values():
        lines.append(_explain(info, skip=frozenset(shared)))
    _print("\n".join(lines))
    return infos
