"""The course's local server: a real small model behind each provider's own API.

Use it from Python: ``helpers.server.start()``, ``status()``, ``stop()``, ``last_requests()``;
or from a terminal: ``python -m helpers server start|stop|status|restart``.
"""
from .lifecycle import ServerError, base_url, clear_requests, last_requests, start, state_dir, status, stop

__all__ = ["ServerError", "base_url", "clear_requests", "last_requests", "start", "state_dir", "status", "stop"]
