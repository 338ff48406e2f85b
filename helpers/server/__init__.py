"""The course's local server: a real small model behind each provider's own API.

Use it from Python: ``helpers.server.start()``, ``status()``, ``stop()``, ``last_requests()``;
or from a terminal: ``python -m helpers server start|stop|status|restart``.

It serves only its owner's programs on this machine: requests must be addressed to 127.0.0.1 or
localhost (web pages are refused), the inspector and ``/_course/*`` need the token in the private
state folder (``last_requests()`` and ``clear_requests()`` send it), and keys are masked everywhere
(``helpers.masking.redact``).
"""
from .lifecycle import ServerError, base_url, clear_requests, last_requests, start, state_dir, status, stop

__all__ = ["ServerError", "base_url", "clear_requests", "last_requests", "start", "state_dir", "status", "stop"]
