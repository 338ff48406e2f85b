"""Loaded by Python at start-up in each example's subprocess (this folder is first on its PYTHONPATH).

1. A network guard: any connection (or name look-up) beyond loopback is refused with ``NetworkEscape`` and
   written to the file named by ``SDK_EXAMPLES_ESCAPES``, so the runner sees it even when an example
   catches the exception.
2. Local mode, as a learner's first notebook cell does: ``helpers.setup("local")`` points the SDKs at the
   course's running local server (found through ``COURSE_STATE_DIR``) and installs its Hugging Face hooks;
   in the example's own process only (``SDK_EXAMPLES_LOCAL`` is removed from its environment).
"""
from __future__ import annotations

import contextlib
import io
import ipaddress
import os
import socket

LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", ""}


class NetworkEscape(BaseException):
    """A connection beyond loopback. A BaseException, so no SDK retries it or turns it into an answer."""


def _is_loopback(host) -> bool:
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    host = str(host).strip("[]").lower()
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _refuse(host, port) -> None:
    where = f"{host}:{port}"
    path = os.environ.get("SDK_EXAMPLES_ESCAPES")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(where + "\n")
    raise NetworkEscape(f"network guard: connection to {where} refused (only loopback is allowed)")


def _check(address) -> None:
    if isinstance(address, tuple) and len(address) >= 2 and not _is_loopback(address[0]):
        _refuse(address[0], address[1])


_connect, _connect_ex = socket.socket.connect, socket.socket.connect_ex
_create_connection, _getaddrinfo = socket.create_connection, socket.getaddrinfo


def connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _check(address)
    return _connect(self, address)


def connect_ex(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _check(address)
    return _connect_ex(self, address)


def create_connection(address, *args, **kwargs):
    _check(address)
    return _create_connection(address, *args, **kwargs)


def getaddrinfo(host, port, *args, **kwargs):
    if not _is_loopback(host):
        _refuse(host, port)
    return _getaddrinfo(host, port, *args, **kwargs)


socket.socket.connect, socket.socket.connect_ex = connect, connect_ex
socket.create_connection, socket.getaddrinfo = create_connection, getaddrinfo

# Popped, so that the processes an example starts do not set up again. One of them may be the local server
# itself, which helpers.setup starts when none is running (or the one running has other code): were it to run
# setup too, it would wait for a server to start while the example waits for it, until the time limit.
if os.environ.pop("SDK_EXAMPLES_LOCAL", None) == "1":
    import helpers

    with contextlib.redirect_stdout(io.StringIO()):
        helpers.setup("local")
