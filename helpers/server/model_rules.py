"""Behave as the requested model does: its catalogue entry turned into checks and settings.

Local mode is a rehearsal of live mode. Before the local model answers, each request is checked
against the catalogue entry of the model it names (``helpers/models.toml``): a parameter the real
model rejects gets the provider's own 400, a parameter it ignores is ignored, and a reasoning model
thinks first (for real, with the local model), so its reasoning tokens show in ``usage`` and count
against the token limit as they do live. A model the catalogue does not know is served as a generic
model that accepts everything, and the request inspector says so.

Each protocol module calls ``openai_plan`` or ``gemini_plan`` and turns a ``RuleError`` into its own
error shape. The facts behind each rule are in the catalogue entry's ``source``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .. import models as catalogue
from . import faults

# How many tokens the LOCAL model thinks at each level. Real models think far longer (hundreds to
# thousands of tokens) and vary; these keep a CPU quick while showing the same effects.
THINKING_TOKENS = {"none": 0, "off": 0, "minimal": 0, "low": 16, "medium": 40, "dynamic": 40, "high": 80}
GENERIC_NOTE = ("model not in the course catalogue: served as a generic model that accepts every parameter "
                "(the real provider may reject it or behave differently)")


class RuleError(Exception):
    """A request the real model would reject; each protocol sends it in its own error shape."""

    def __init__(self, message: str, param: str | None = None, code: str | None = None, status: int = 400,
                 gemini_status: str = "INVALID_ARGUMENT"):
        super().__init__(message)
        self.message, self.param, self.code, self.status, self.gemini_status = message, param, code, status, gemini_status

    def openai_response(self):
        return faults.openai_error(self.status, self.message + faults.LOCAL_NOTE, "invalid_request_error",
                                   self.code, self.param)

    def gemini_response(self):
        return faults.gemini_error(self.status, self.message + faults.LOCAL_NOTE, self.gemini_status)

    def hf_response(self):
        return faults.hf_error(self.status, self.message + faults.LOCAL_NOTE)


@dataclass
class Plan:
    """What the local server does for one request, the way the requested model would."""

    model: catalogue.Model | None          # None: not in the catalogue
    level: str | None = None               # the reasoning level in effect
    thinking_tokens: int = 0               # how long the local model thinks first
    show_reasoning: bool = False           # Groq's message.reasoning / Gemini's thought summaries
    drop_sampling: bool = False            # temperature/top_p/top_k ignored, as the real model ignores them
    notes: list[str] = field(default_factory=list)

    @property
    def reasons(self) -> bool:
        return self.thinking_tokens > 0


def _quote_list(values) -> str:
    items = [f"'{v}'" for v in values]
    return ", ".join(items[:-1]) + f", and {items[-1]}" if len(items) > 1 else "".join(items)


def _catalogue_provider(provider: str) -> str:
    return {"lmstudio": "lmstudio"}.get(provider, provider)


def lookup(provider: str, model: str) -> catalogue.Model | None:
    """The catalogue entry for a requested model name (without any ``-simulate-...`` directive)."""
    name = faults.base_model(model)
    if provider == "huggingface" and ":" in name:  # the router's policy or provider suffix: model:fastest, model:groq
        name = name.split(":", 1)[0]
    m = catalogue.info(_catalogue_provider(provider), name)
    if m is not None and m.after_shutdown == "redirect" and m.replacement and m.status_on() == "shut_down":
        return catalogue.info(_catalogue_provider(provider), m.replacement) or m  # served as its replacement
    return m


def note(request_scope: dict, text: str) -> None:
    """Add a line to what the request inspector shows for this request."""
    request_scope.setdefault("course_notes", []).append(text)


# ---------------------------------------------------------------------- OpenAI, Groq, Hugging Face router

def check_tool_messages(messages: list) -> None:
    """The rule every OpenAI-compatible API enforces: tool results answer the assistant's tool calls."""
    pending: dict[str, int] = {}
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            continue
        role = m.get("role")
        if role == "tool":
            if m.get("tool_call_id") not in pending:
                raise RuleError("Invalid parameter: messages with role 'tool' must be a response to a preceeding "
                                "message with 'tool_calls'.", f"messages.[{i}].role")
            del pending[m["tool_call_id"]]
            continue
        if pending:
            at = next(iter(pending.values()))
            raise RuleError("An assistant message with 'tool_calls' must be followed by tool messages responding to "
                            "each 'tool_call_id'. The following tool_call_ids did not have response messages: "
                            + ", ".join(pending), f"messages.[{at}].role")
        if role == "assistant":
            pending = {c.get("id", ""): i for c in m.get("tool_calls") or [] if isinstance(c, dict)}
    # Calls still open at the end are the caller's business (the model is asked to continue after them).


def openai_plan(provider: str, model: str, body: dict, *, api: str = "chat") -> Plan:
    """Check an OpenAI-style request (``api`` "chat" or "responses") against the requested model.

    Raises ``RuleError`` for what the real model rejects; returns the plan for the rest.
    """
    if provider == "lmstudio":
        return Plan(None)  # LM Studio serves whatever is loaded and accepts OpenAI's parameters
    m = lookup(provider, model)
    rules = catalogue.catalogue().get(provider, {})
    for name in rules.get("unsupported", []):
        if body.get(name) not in (None, False):
            raise RuleError(f"'{name}' is not supported by {rules.get('label', provider)}'s OpenAI-compatible API.",
                            name, "unsupported_parameter")
    n = body.get("n")
    limit_n = (m.max_candidates if m and m.max_candidates else None) or rules.get("max_candidates")
    if isinstance(n, int) and limit_n and n > limit_n:
        raise RuleError(f"'n' must be at most {limit_n} for this model, not {n}.", "n", "unsupported_value")
    if api == "chat" and provider in ("openai", "groq") and isinstance(body.get("messages"), list):
        check_tool_messages(body["messages"])
    if api == "responses" and provider == "openai":
        if "max_tokens" in body:
            raise RuleError("Unknown parameter: 'max_tokens'.", "max_tokens", "unknown_parameter")
        limit = body.get("max_output_tokens")
        if isinstance(limit, int) and limit < 16:
            raise RuleError(f"Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16, but "
                            f"got {limit} instead.", "max_output_tokens", "integer_below_min_value")
    if m is None:
        return Plan(None, notes=[GENERIC_NOTE])
    plan = Plan(m)
    _check_output_limit(provider, m, body, api)
    if api == "chat" and "max_tokens" in body and m.max_tokens_field == "rejected":
        raise RuleError("Unsupported parameter: 'max_tokens' is not supported with this model. "
                        "Use 'max_completion_tokens' instead.", "max_tokens", "unsupported_parameter")
    requested = body.get("reasoning_effort") if api == "chat" else (body.get("reasoning") or {}).get("effort")
    if requested is not None and m.reasoning == "none":
        param = "reasoning_effort" if api == "chat" else "reasoning.effort"
        message = (f"`{param}` is not supported with this model" if provider == "groq" else
                   f"Unsupported parameter: '{param}' is not supported with this model.")
        raise RuleError(message, param, "unsupported_parameter")
    if requested is not None and m.reasoning_param == "reasoning_effort":
        _check_effort(provider, m, requested, api)
    if m.reasoning != "none":
        plan.level = requested or m.reasoning_default
        plan.thinking_tokens = THINKING_TOKENS.get(plan.level or "", 0)
        plan.show_reasoning = m.reasoning_output == "field" and body.get("include_reasoning") is not False
        if m.reasoning_output == "field" and body.get("reasoning_format") is not None:
            if body.get("include_reasoning") is not None:
                raise RuleError("cannot specify both `include_reasoning` and `reasoning_format`", None)
            raise RuleError("`reasoning_format` is not supported with this model", "reasoning_format")
    reasoning_off = m.reasoning == "none" or plan.level == "none"
    for name in ("temperature", "top_p"):
        value = body.get(name)
        if value is None or value == 1:
            continue
        if m.sampling == "rejected" or (m.sampling == "reasoning_off" and not reasoning_off):
            if api == "responses":
                raise RuleError(f"Unsupported parameter: '{name}' is not supported with this model.", name)
            raise RuleError(f"Unsupported value: '{name}' does not support {value} with this model. Only the default "
                            "(1) value is supported.", name, "unsupported_value")
        if m.sampling == "ignored":
            plan.drop_sampling = True
    wants_logprobs = body.get("logprobs") or body.get("top_logprobs") or (
        api == "responses" and any("logprobs" in str(x) for x in body.get("include") or []))
    if wants_logprobs and (m.logprobs is False or (m.logprobs == "reasoning_off" and not reasoning_off)):
        raise RuleError("Unsupported parameter: 'logprobs' is not supported with this model.", "logprobs",
                        "unsupported_parameter")
    if api == "chat" and body.get("tools") and m.tools_need_reasoning_off and not reasoning_off:
        raise RuleError(f"Function tools with reasoning_effort are not supported for {m.id} in /v1/chat/completions. "
                        "To use function tools, use /v1/responses or set reasoning_effort to 'none'.",
                        "reasoning_effort")
    if plan.level:
        plan.notes.append(f"{m.id}: reasoning {plan.level} (the local model thinks for up to "
                          f"{plan.thinking_tokens} tokens first)")
    return plan


def _check_output_limit(provider: str, m: catalogue.Model, body: dict, api: str) -> None:
    """A token limit above the model's largest output (the catalogue's ``max_output_tokens``) gets the 400 the
    provider sends, before the local model starts."""
    if not m.max_output_tokens:
        return
    names = ("max_output_tokens",) if api == "responses" else ("max_completion_tokens", "max_tokens")
    for name in names:
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > m.max_output_tokens:
            if provider == "groq":
                raise RuleError(f"`{name}` must be less than or equal to `{m.max_output_tokens}`, the maximum value "
                                f"for `{name}` is less than the `context_window` for this model", name)
            raise RuleError(f"{name} is too large: {value}. This model supports at most {m.max_output_tokens} "
                            f"completion tokens, whereas you provided {value}.", name, "invalid_value")


def check_gemini_output_limit(m: catalogue.Model | None, limit: Any) -> None:
    """Gemini's 400 for a ``maxOutputTokens`` beyond the model's range."""
    if m is not None and m.max_output_tokens and isinstance(limit, int) and limit > m.max_output_tokens:
        raise RuleError(f"Unable to submit request because it has a maxOutputTokens value of {limit} but the supported "
                        f"range is from 1 (inclusive) to {m.max_output_tokens + 1} (exclusive). Update the value and "
                        "try again.")


def _check_effort(provider: str, m: catalogue.Model, requested: Any, api: str) -> None:
    """A reasoning effort the model does not take gets the provider's own 400."""
    levels = m.chat_reasoning_levels if api == "chat" and m.chat_reasoning_levels else m.reasoning_levels
    if requested in levels:
        return
    if provider == "groq":
        names = ", ".join(f"`{v}`" for v in levels[:-1]) + f", or `{levels[-1]}`"
        raise RuleError(f"reasoning_effort must be one of {names}", "reasoning_effort")
    if api == "chat":
        raise RuleError(f"Unsupported value: 'reasoning_effort' does not support '{requested}' with this model. "
                        f"Supported values are: {_quote_list(levels)}.", "reasoning_effort", "unsupported_value")
    raise RuleError(f"Unsupported value: '{requested}' is not supported with the '{m.id}' model. Supported values "
                    f"are: {_quote_list(levels)}.", "reasoning.effort", "unsupported_value")


# ---------------------------------------------------------------------- Gemini

def _get(obj: Any, camel: str) -> Any:
    if not isinstance(obj, dict):
        return None
    if obj.get(camel) is not None:
        return obj[camel]
    return obj.get("".join("_" + c.lower() if c.isupper() else c for c in camel))


def check_function_turns(contents: list[dict], signatures: bool) -> None:
    """Gemini's rules for function calling turns, as the real API enforces them.

    ``contents`` is the normalised list of ``{role, parts}``.
    """
    last_user_text = max((i for i, c in enumerate(contents)
                          if c.get("role", "user") == "user" and any(_get(p, "text") is not None or isinstance(p, str)
                                                                    for p in c["parts"])), default=-1)
    for i, c in enumerate(contents):
        calls = [p for p in c["parts"] if isinstance(p, dict) and _get(p, "functionCall") is not None]
        if not calls or c.get("role") != "model":
            continue
        responses = [p for p in (contents[i + 1]["parts"] if i + 1 < len(contents) else [])
                     if isinstance(p, dict) and _get(p, "functionResponse") is not None]
        if i + 1 < len(contents) and len(responses) != len(calls):
            raise RuleError("Please ensure that the number of function response parts is equal to the number of "
                            "function call parts of the function call turn.")
        if signatures and i > last_user_text and _get(calls[0], "thoughtSignature") is None:
            name = _get(_get(calls[0], "functionCall"), "name")
            raise RuleError(f"Function call is missing a thought_signature in functionCall parts. This is required "
                            f"for tools to work correctly, and missing thought_signature may lead to degraded model "
                            f"performance. Additional data, function call `default_api:{name}` , position {i + 1}. "
                            "Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more details.")


def gemini_plan(model: str, config: dict, contents: list[dict]) -> Plan:
    """Check a generateContent request against the requested Gemini model (raises ``RuleError``)."""
    m = lookup("gemini", model)
    check_function_turns(contents, bool(m and m.thought_signatures))
    check_gemini_output_limit(m, _get(config, "maxOutputTokens"))
    if m is None:
        return Plan(None, notes=[GENERIC_NOTE])
    plan = Plan(m)
    thinking = _get(config, "thinkingConfig") or {}
    level, budget = _get(thinking, "thinkingLevel"), _get(thinking, "thinkingBudget")
    include = bool(_get(thinking, "includeThoughts"))
    if level is not None and budget is not None:
        raise RuleError("You can only set only one of thinking budget and thinking level.")
    if m.reasoning_param == "thinking_level":
        if level is not None:
            plan.level = str(level).lower()
            if plan.level not in m.reasoning_levels:
                raise RuleError(f"Thinking level {str(level).upper()} is not supported for this model. Please retry "
                                "with other thinking level.")
        elif budget is not None:  # accepted for compatibility with 2.5 code, mapped to the nearest level
            if budget == 0 and m.reasoning_levels[0] != "minimal":
                raise RuleError("Budget 0 is invalid. This model only works in thinking mode.")
            plan.level = m.reasoning_levels[0] if budget == 0 else "low" if 0 < budget <= 1024 else "high"
            plan.notes.append(f"thinking_budget={budget} read as thinking_level={plan.level} (Gemini 3 models "
                              "take thinking_level; thinking_budget is kept for old code)")
        else:
            plan.level = m.reasoning_default
    elif m.reasoning_param == "thinking_budget":
        if level is not None:
            raise RuleError(f"Thinking level {str(level).upper()} is not supported for this model. Please retry "
                            "with other thinking level.")
        if budget is None:
            plan.level = m.reasoning_default
        else:
            plan.level = "off" if budget == 0 else "dynamic" if budget < 0 else "low" if budget <= 1024 else "medium"
    plan.thinking_tokens = THINKING_TOKENS.get(plan.level or "", 0)
    plan.show_reasoning = include and plan.thinking_tokens > 0
    n = _get(config, "candidateCount")
    if isinstance(n, int) and n > 1 and (m.max_candidates or 8) < n:
        raise RuleError(f"candidateCount {n} is not supported for {m.id}: it returns one candidate.")
    if m.sampling == "ignored" and any(_get(config, k) is not None for k in ("temperature", "topP", "topK")):
        plan.drop_sampling = True
        plan.notes.append(f"{m.id} ignores temperature, top_p and top_k (deprecated 2026-07-21): the local server "
                          "ignores them too")
    if plan.level:
        plan.notes.append(f"{m.id}: thinking {plan.level} (the local model thinks for up to {plan.thinking_tokens} "
                          "tokens first)")
    return plan


# ---------------------------------------------------------------------- embeddings

def check_dimensions(provider: str, model: str, dimensions: Any, param: str = "dimensions") -> None:
    """Embedding sizes outside the model's range get the 400 the provider sends."""
    if dimensions is None:
        return
    if not isinstance(dimensions, int) or isinstance(dimensions, bool):
        raise RuleError(f"Invalid type for '{param}': expected an integer, but got {type(dimensions).__name__}.",
                        param, "invalid_type")
    m = lookup(provider, model)
    low, high = (m.dimensions if m and m.dimensions else (1, 1 << 16))
    if not low <= dimensions <= high:
        if provider == "gemini":
            raise RuleError(f"output_dimensionality must be between {low} and {high} for {model}, got {dimensions}.")
        raise RuleError(f"Invalid value for 'dimensions': {model} supports between {low} and {high}, got "
                        f"{dimensions}.", param, "invalid_value")
