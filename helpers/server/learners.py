"""The learners of a shared course server: one server for a workshop's room (a JupyterHub service).

Started with ``--shared`` and the room's secret in ``COURSE_SHARED_SECRET``, the server answers only calls
that name a learner: the hub gives each learner's notebook server ``COURSE_SERVER_URL`` (the room's
server) and ``COURSE_LEARNER_TOKEN`` (``credential_for(secret, user)``), and ``helpers.setup()`` then
adds the credential to every call the notebook sends to that address (the ``HEADER`` below, whatever
client and key the call uses: ``helpers/shared_room.py``), so it never shows in an address a cell
prints. Each learner's requests are theirs in the request inspector, another learner's credential
never shows them, and only the secret's holder (the hub) can make a credential. One learner may have at most
``LEARNER_LIMIT`` requests in the model's queue at once; more get a 429 with ``retry-after``, so one
learner's loop cannot starve the room.

    python -m helpers learner-token <user>     # the credential of <user> (reads COURSE_SHARED_SECRET)
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

HEADER = "x-course-learner-credential"  # a "credential" name: helpers.masking.redact hides its value
LEARNER_LIMIT = 2  # a learner's requests in the model's queue at once (their notebook rarely needs more)
SECRET_VARIABLE = "COURSE_SHARED_SECRET"  # pragma: allowlist secret
MIN_SECRET_CHARS = 16


def _signature(secret: str, user: str) -> str:
    return hmac.new(secret.encode(), user.encode(), hashlib.sha256).hexdigest()[:32]


def credential_for(secret: str, user: str) -> str:
    """The credential of learner ``user`` for the room whose secret is ``secret`` (ASCII, safe in a header)."""
    if not user:
        raise ValueError("a learner needs a name")
    name = base64.urlsafe_b64encode(user.encode()).decode().rstrip("=")
    return f"cl.{name}.{_signature(secret, user)}"


def learner_of(secret: str, credential: str) -> str | None:
    """The learner a credential names, or None when it is not one this room's secret made."""
    parts = credential.split(".")
    if len(parts) != 3 or parts[0] != "cl" or not parts[1]:
        return None
    try:
        user = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return user if user and hmac.compare_digest(parts[2], _signature(secret, user)) else None


def check_secret(secret: str | None) -> str:
    """The room's secret, or ``ValueError`` saying how to set one."""
    if not secret or len(secret) < MIN_SECRET_CHARS:
        raise ValueError(f"a shared course server needs a secret of at least {MIN_SECRET_CHARS} characters in "
                         f"{SECRET_VARIABLE} (for example: python -c 'import secrets; print(secrets.token_hex(32))')")
    return secret
