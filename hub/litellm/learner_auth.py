"""Learner keys for LiteLLM's proxy without a database: each learner's key is their course credential.

LiteLLM's own per-learner keys ("virtual keys") live in a PostgreSQL database through Prisma, whose engine
binaries are downloaded at run time (not possible on an offline machine: the guide says what failed). This
module is the proxy's ``custom_auth`` hook instead (``general_settings.custom_auth`` in ``config.yaml``): a
learner's key is ``credential_for(COURSE_SHARED_SECRET, name)`` from ``helpers/server/learners.py``, the same
credential the workshop's hub gives each learner as ``COURSE_LEARNER_TOKEN``, so no list of keys is kept
anywhere and only the holder of the room's secret can make one. Every call then carries the learner's limits,
which LiteLLM's own rate limiter and per-key model budgets enforce in memory:

    LITELLM_LEARNER_RPM        requests a minute per learner                       (default 4)
    LITELLM_LEARNER_TPM        tokens a minute per learner                         (default 4000)
    LITELLM_LEARNER_PARALLEL   requests at once per learner                        (default 2)
    LITELLM_LEARNER_BUDGET     US dollars per learner per day, for each model      (default 0.25)

The arithmetic behind the defaults is in ``config.yaml``. The instructor's own ``LITELLM_MASTER_KEY`` is
accepted too, without learner limits. Counters live in the proxy's memory: they restart with it.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import sys
from pathlib import Path

from fastapi import Request
from litellm.proxy._types import LitellmUserRoles, UserAPIKeyAuth

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # this repository: the course's credential scheme
from helpers.server import learners  # noqa: E402

BUDGET_PERIOD = "1d"


def _number(name: str, default: float) -> float:
    raw = (os.environ.get(name) or "").strip()
    try:
        value = float(raw) if raw else default
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number: set it to a number or unset it") from None
    if value <= 0:
        raise ValueError(f"{name}={raw!r} must be greater than 0")
    return value


def limits() -> dict:
    """Each learner's limits, from the environment (read at every call, so a restart is not needed)."""
    return {"rpm_limit": int(_number("LITELLM_LEARNER_RPM", 4)),
            "tpm_limit": int(_number("LITELLM_LEARNER_TPM", 4000)),
            "max_parallel_requests": int(_number("LITELLM_LEARNER_PARALLEL", 2)),
            "budget": _number("LITELLM_LEARNER_BUDGET", 0.25)}


def _model_names() -> list[str]:
    from litellm.proxy.proxy_server import llm_router

    return sorted({m["model_name"] for m in (llm_router.model_list if llm_router else [])})


async def user_api_key_auth(request: Request, api_key: str) -> UserAPIKeyAuth:
    """LiteLLM's custom_auth hook: the learner a key names, with their limits; anything else is refused."""
    key = (api_key or "").strip()
    if key.lower().startswith("bearer "):
        key = key[7:].strip()
    master = os.environ.get("LITELLM_MASTER_KEY") or ""
    if master and key and hmac.compare_digest(key.encode(), master.encode()):
        return UserAPIKeyAuth(api_key=key, user_id="instructor", user_role=LitellmUserRoles.PROXY_ADMIN)
    secret = learners.check_secret(os.environ.get(learners.SECRET_VARIABLE))
    learner = learners.learner_of(secret, key) if key else None
    if learner is None:
        # LiteLLM answers 401 with this text in the error's message.
        raise Exception("this key is not a learner key of this workshop: use the key your instructor gave you "
                        "(on the hub: the COURSE_LEARNER_TOKEN variable of your server)")
    room = limits()
    budget = {"budget_limit": room["budget"], "time_period": BUDGET_PERIOD}
    return UserAPIKeyAuth(
        api_key=key,
        token=hashlib.sha256(key.encode()).hexdigest(),  # LiteLLM's counters are kept per hashed key
        user_id=learner,
        key_alias=learner,
        rpm_limit=room["rpm_limit"],
        tpm_limit=room["tpm_limit"],
        max_parallel_requests=room["max_parallel_requests"],
        model_max_budget={name: budget for name in _model_names()},
        user_role=LitellmUserRoles.INTERNAL_USER,
    )
