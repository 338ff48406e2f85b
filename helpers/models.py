"""The model catalogue: which model each provider uses for each job, what it can do, and when it retires.

Read it in a notebook with ``helpers.models.chat("openai")`` or ``helpers.models.get("groq", "tools")``,
and ask about one model with ``helpers.models.info("groq", "openai/gpt-oss-20b")``.
Override any default for this session with an environment variable such as
``COURSE_MODEL_OPENAI_CHAT=gpt-5.6-luna`` (provider and purpose in capitals).
The facts live in ``helpers/models.toml``, each with its source and date: one file to edit when a
provider changes something.
"""
from __future__ import annotations

import datetime as dt
import functools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

CATALOGUE_FILE = Path(__file__).with_name("models.toml")
PROVIDERS = ("openai", "gemini", "groq", "huggingface", "lmstudio")
PROVIDER_FIELDS = {"label", "verified", "pricing_url", "prices_checked", "fallbacks", "base_url", "unsupported",
                   "max_candidates"}
SOON_DAYS = 30  # setup() warns about a model in use this close to its shutdown

# The fields a model entry may have: name -> (type, allowed values or None).
FIELDS: dict[str, tuple[type | tuple[type, ...], tuple | None]] = {
    "status": (str, ("active", "preview", "deprecated", "shut_down")),
    "shutdown": (str, None), "replacement": (str, None), "after_shutdown": (str, ("404", "redirect")),
    "purpose": (list, None),
    "reasoning": (str, ("none", "optional", "always")),
    "reasoning_param": (str, ("reasoning_effort", "thinking_level", "thinking_budget")),
    "reasoning_levels": (list, None), "chat_reasoning_levels": (list, None), "reasoning_default": (str, None),
    "reasoning_output": (str, ("hidden", "field", "summary")),
    "sampling": (str, ("honoured", "ignored", "rejected", "reasoning_off")),
    "logprobs": ((bool, str), (True, False, "reasoning_off")), "max_candidates": (int, None),
    "token_limit": (str, ("max_completion_tokens", "max_tokens", "max_output_tokens")),
    "max_tokens_field": (str, ("accepted", "rejected")),
    "tools": (bool, None), "tools_need_reasoning_off": (bool, None), "thought_signatures": (bool, None),
    "context_tokens": (int, None), "max_output_tokens": (int, None),
    "dimensions": (list, None), "default_dimensions": (int, None),
    "price": (dict, None), "prices_checked": (str, None), "source": (str, None), "note": (str, None),
}
DATE_FIELDS = ("shutdown", "prices_checked")


class CatalogueError(ValueError):
    """``models.toml`` has a mistake; the message names the file, the entry and the field."""


@dataclass(frozen=True)
class Model:
    """One catalogue entry: a model id, its provider, lifecycle and capabilities."""

    provider: str
    id: str
    status: str = "active"
    shutdown: dt.date | None = None
    replacement: str | None = None
    after_shutdown: str = "404"
    purpose: tuple[str, ...] = ()
    reasoning: str = "none"
    reasoning_param: str | None = None
    reasoning_levels: tuple[str, ...] = ()
    chat_reasoning_levels: tuple[str, ...] = ()
    reasoning_default: str | None = None
    reasoning_output: str = "hidden"
    sampling: str = "honoured"
    logprobs: bool | str = True
    max_candidates: int | None = None
    token_limit: str | None = None
    max_tokens_field: str = "accepted"
    tools: bool = True
    tools_need_reasoning_off: bool = False
    thought_signatures: bool = False
    context_tokens: int | None = None
    max_output_tokens: int | None = None
    dimensions: tuple[int, int] | None = None
    default_dimensions: int | None = None
    price: dict[str, float] | None = None
    prices_checked: dt.date | None = None
    source: str = ""
    note: str = ""
    extra: dict = field(default_factory=dict, compare=False, repr=False)

    def status_on(self, day: dt.date | None = None) -> str:
        """The status on ``day`` (today by default): a deprecated model past its shutdown is ``shut_down``."""
        day = day or today()
        if self.status == "deprecated" and self.shutdown and self.shutdown <= day:
            return "shut_down"
        return self.status

    def days_left(self, day: dt.date | None = None) -> int | None:
        """Days until the shutdown date (negative once past), or None when no date is known."""
        return None if self.shutdown is None else (self.shutdown - (day or today())).days


def today() -> dt.date:
    """Today's date; ``COURSE_TODAY=YYYY-MM-DD`` pretends another day (to rehearse a shutdown)."""
    pretend = os.environ.get("COURSE_TODAY")
    if pretend:
        try:
            return dt.date.fromisoformat(pretend)
        except ValueError:
            raise CatalogueError(f"COURSE_TODAY={pretend!r} is not a date: write it as YYYY-MM-DD.") from None
    return dt.date.today()


def _date(value: Any, where: str) -> dt.date | None:
    if value in ("", None):
        return None
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise CatalogueError(f"{where}: {value!r} is not a date; write it as YYYY-MM-DD.") from None


def _model(provider: str, model_id: str, raw: dict, path: Path) -> Model:
    where = f"{path}, entry [models.{provider}.\"{model_id}\"]"
    if not isinstance(raw, dict):
        raise CatalogueError(f"{where}: expected a table of fields.")
    values: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in FIELDS:
            raise CatalogueError(f"{where}, field {name!r}: unknown field. Known fields: {', '.join(FIELDS)}.")
        kind, allowed = FIELDS[name]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise CatalogueError(f"{where}, field {name!r}: expected {getattr(kind, '__name__', kind)}, "
                                 f"got {value!r}.")
        if allowed and value not in allowed:
            raise CatalogueError(f"{where}, field {name!r}: {value!r} is not one of {', '.join(map(str, allowed))}.")
        values[name] = value
    for name in DATE_FIELDS:
        if name in values:
            values[name] = _date(values[name], f"{where}, field {name!r}")
    if "status" not in values:
        raise CatalogueError(f"{where}, field 'status': missing (active, preview, deprecated or shut_down).")
    if "source" not in values:
        raise CatalogueError(f"{where}, field 'source': missing; say where the facts were read, with the date.")
    if values["status"] == "deprecated" and not values.get("shutdown"):
        raise CatalogueError(f"{where}, field 'shutdown': a deprecated model needs its shutdown date.")
    levels = values.get("reasoning_levels", [])
    default = values.get("reasoning_default")
    if levels and default is not None and default not in levels:
        raise CatalogueError(f"{where}, field 'reasoning_default': {default!r} is not in reasoning_levels.")
    dims = values.get("dimensions")
    if dims is not None and (len(dims) != 2 or not all(isinstance(d, int) for d in dims) or dims[0] > dims[1]):
        raise CatalogueError(f"{where}, field 'dimensions': expected [smallest, largest], got {dims!r}.")
    price = values.get("price")
    if price is not None and not all(isinstance(price.get(k), (int, float)) for k in ("input", "output")):
        raise CatalogueError(f"{where}, field 'price': expected {{input = ..., output = ...}} in dollars per million.")
    for name in ("purpose", "reasoning_levels", "chat_reasoning_levels", "dimensions"):
        if name in values:
            values[name] = tuple(values[name])
    return Model(provider=provider, id=model_id, **values)


def load(path: Path = CATALOGUE_FILE) -> tuple[dict[str, Any], dict[tuple[str, str], Model]]:
    """Read and check a catalogue file: (the raw tables, the model entries by (provider, id))."""
    with Path(path).open("rb") as f:
        raw = tomllib.load(f)
    entries: dict[tuple[str, str], Model] = {}
    for provider, table in (raw.get("models") or {}).items():
        if provider not in PROVIDERS:
            raise CatalogueError(f"{path}, [models.{provider}]: unknown provider; use one of {', '.join(PROVIDERS)}.")
        for model_id, fields in table.items():
            entries[(provider, model_id)] = _model(provider, model_id, fields, Path(path))
    for provider in PROVIDERS:
        table = raw.get(provider)
        if not isinstance(table, dict):
            raise CatalogueError(f"{path}: the table [{provider}] is missing.")
        for purpose, value in table.items():
            if purpose in PROVIDER_FIELDS or provider == "lmstudio":
                continue
            if not isinstance(value, str):
                raise CatalogueError(f"{path}, [{provider}], field {purpose!r}: expected a model id.")
            if (provider, value) not in entries:
                raise CatalogueError(f"{path}, [{provider}], field {purpose!r}: {value!r} has no "
                                     f"[models.{provider}.\"{value}\"] entry.")
        for fallback in table.get("fallbacks", []):
            if (provider, fallback) not in entries:
                raise CatalogueError(f"{path}, [{provider}], field 'fallbacks': {fallback!r} has no entry.")
        _date(table.get("prices_checked"), f"{path}, [{provider}], field 'prices_checked'")
    return raw, entries


@functools.lru_cache(maxsize=1)
def _loaded() -> tuple[dict[str, Any], dict[tuple[str, str], Model]]:
    return load(CATALOGUE_FILE)


def catalogue() -> dict[str, Any]:
    """The whole catalogue as a dictionary (read once from models.toml)."""
    return _loaded()[0]


def entries() -> dict[tuple[str, str], Model]:
    """Every model entry, keyed by ``(provider, model id)``."""
    return _loaded()[1]


def get(provider: str, purpose: str = "chat") -> str:
    """The model id for ``provider`` and ``purpose`` ("chat", "tools", "embeddings", ...).

    An environment variable ``COURSE_MODEL_<PROVIDER>_<PURPOSE>`` overrides the catalogue.
    """
    override = os.environ.get(f"COURSE_MODEL_{provider.upper()}_{purpose.upper()}")
    if override:
        return override
    entry = catalogue().get(provider)
    if entry is None or provider not in PROVIDERS:
        raise KeyError(f"Unknown provider {provider!r}. Known: {', '.join(PROVIDERS)}.")
    if purpose not in entry or not isinstance(entry[purpose], str) or purpose in PROVIDER_FIELDS:
        raise KeyError(f"The catalogue has no {purpose!r} model for {provider}. It has: {', '.join(purposes(provider))}.")
    return entry[purpose]


def purposes(provider: str) -> list[str]:
    """The purposes ``provider`` has a default model for ("chat", "tools", ...)."""
    return [k for k, v in catalogue().get(provider, {}).items() if isinstance(v, str) and k not in PROVIDER_FIELDS]


def chat(provider: str) -> str:
    """The default chat model id for ``provider``."""
    return get(provider, "chat")


def fallbacks(provider: str) -> list[str]:
    """The catalogue's other good models for ``provider``, in order of preference."""
    return list(catalogue().get(provider, {}).get("fallbacks", []))


def _bare(model: str) -> str:
    return model.split("/", 1)[-1] if model.startswith("models/") else model


def info(provider: str, model: str) -> Model | None:
    """The catalogue entry for ``model`` at ``provider`` (None for a model the catalogue does not know)."""
    return entries().get((provider, _bare(model)))


def find(model: str) -> Model | None:
    """The entry for ``model`` at whichever provider lists it (the first found), or None."""
    bare = _bare(model)
    return next((m for (p, mid), m in entries().items() if mid == bare), None)


def retired(day: dt.date | None = None) -> dict[str, str]:
    """Model ids that are shut down on ``day`` (today by default), each mapped to its replacement."""
    return {m.id: m.replacement or "" for m in entries().values() if m.status_on(day) == "shut_down"}


def replacement_for(model: str, provider: str | None = None) -> str | None:
    """The current model that replaces a shut-down ``model`` (None when it is not known to be shut down)."""
    m = info(provider, model) if provider else find(model)
    if m is None or m.status_on() != "shut_down":
        return None
    return m.replacement or None


def price(provider: str, model: str) -> dict[str, float] | None:
    """Price in US dollars per million tokens, ``{"input": ..., "output": ...}``, or None if unknown."""
    m = info(provider, model)
    return dict(m.price) if m and m.price else None


def estimate_cost(provider: str, model: str, input_tokens: int, output_tokens: int) -> float | None:
    """Estimated cost in US dollars of one call, from the catalogue's prices (None if no price)."""
    p = price(provider, model)
    if p is None:
        return None
    return (input_tokens * p["input"] + output_tokens * p["output"]) / 1_000_000


def local_model_name() -> str:
    """The name under which the course's own local model answers."""
    return catalogue()["local"]["display_name"]


def in_use() -> list[tuple[str, str, str]]:
    """``(provider, purpose, model)`` for every default the course uses now (overrides included)."""
    return [(p, purpose, get(p, purpose)) for p in PROVIDERS if p != "lmstudio" for purpose in purposes(p)]


def shutdown_notice(provider: str, model: str, within_days: int = SOON_DAYS, day: dt.date | None = None) -> str | None:
    """One line when ``model`` is past, or within ``within_days`` of, its shutdown date; else None."""
    m = info(provider, model)
    if m is None or m.shutdown is None and m.status != "shut_down":
        return None
    left = m.days_left(day)
    instead = f"; use {m.replacement} instead" if m.replacement else ""
    if m.status_on(day) == "shut_down":
        when = f" on {m.shutdown}" if m.shutdown else ""
        served = " (the provider now answers with the replacement)" if m.after_shutdown == "redirect" else ""
        return f"{provider}: {model} was shut down{when}{served}{instead}."
    if left is not None and left <= within_days:
        return f"{provider}: {model} shuts down on {m.shutdown} (in {left} day{'s' if left != 1 else ''}){instead}."
    return None


def shutdown_notices(within_days: int = SOON_DAYS, day: dt.date | None = None) -> list[str]:
    """``shutdown_notice`` for every model the course uses now, without repeats."""
    seen: dict[str, None] = {}
    for provider, _purpose, model in in_use():
        line = shutdown_notice(provider, model, within_days, day)
        if line:
            seen.setdefault(line)
    return list(seen)


def upcoming_shutdowns(within_days: int = 60, day: dt.date | None = None) -> list[Model]:
    """Catalogue entries that are still answering and shut down within ``within_days``."""
    out = [m for m in entries().values()
           if m.status_on(day) != "shut_down" and m.shutdown is not None and m.days_left(day) <= within_days]
    return sorted(out, key=lambda m: (m.shutdown, m.provider, m.id))
