"""Like ``google.colab.userdata``: the same exception classes and the same behaviour, without a Colab page."""
from __future__ import annotations

import json
import os
import threading
import time

from google.colab import errors

NO_PAGE_WAIT = float(os.environ.get("COLAB_STANDIN_NO_PAGE_WAIT", "10"))  # Colab's own timeout_sec
requests: list[str] = []  # every name asked for, in order (one request to the Colab page each)


class NotebookAccessError(Exception):
    """Exception thrown when the current notebook doesn't have access to the requested secret."""

    def __init__(self, key):
        super().__init__(f"Notebook does not have access to secret {key}")


class SecretNotFoundError(errors.Error):
    """Exception thrown when the requested secret is not found."""

    def __init__(self, key):
        super().__init__(f"Secret {key} does not exist.")


class TimeoutException(errors.Error):
    """Exception thrown when requesting a secret times out."""

    def __init__(self, key):
        super().__init__(f"Requesting secret {key} timed out. Secrets can only be fetched when running from the Colab UI.")


_lock = threading.Lock()
secrets: dict[str, object] | None = None  # tests may set this instead of COLAB_STANDIN_SECRETS
no_page: bool | None = None  # tests may set this instead of COLAB_STANDIN_NO_PAGE


def get(key):
    """Fetch the value of the secret ``key``, raising as Colab does."""
    if not key or not isinstance(key, str):
        raise ValueError("Please enter a valid secret name")
    with _lock:
        requests.append(key)
        log = os.environ.get("COLAB_STANDIN_LOG")
        if log:
            with open(log, "a", encoding="utf-8") as handle:
                handle.write(key + "\n")
        page_missing = no_page if no_page is not None else os.environ.get("COLAB_STANDIN_NO_PAGE") == "1"
        if page_missing:
            time.sleep(NO_PAGE_WAIT)
            raise TimeoutException(key)
        table = secrets if secrets is not None else json.loads(os.environ.get("COLAB_STANDIN_SECRETS") or "{}")
    if key not in table:
        raise SecretNotFoundError(key)
    value = table[key]
    if isinstance(value, dict) and value.get("error") == "NotebookAccessError":
        raise NotebookAccessError(key)
    return value
