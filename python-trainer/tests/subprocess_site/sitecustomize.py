"""Loaded by every Python process started with this folder on PYTHONPATH: refuses and records network access.

With $TRAINYARD_TEST_FAULT set it also loads `trainer_faults`, which injects that fault into Ultralytics.

Loopback and Unix sockets stay allowed (torch and multiprocessing use them locally). Every refused attempt is
appended as one JSON line to $TRAINYARD_NETWORK_GUARD_LOG, which starts with an "installed" line so a test
can tell that the guard really ran.
"""

from __future__ import annotations

import json
import os
import socket
from typing import Any

_LOG = os.environ.get("TRAINYARD_NETWORK_GUARD_LOG")
_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "0.0.0.0", "::"}


def _record(kind: str, target: Any) -> None:
    if _LOG:
        with open(_LOG, "a", encoding="utf-8") as log:
            log.write(json.dumps({"kind": kind, "target": repr(target), "pid": os.getpid()}) + "\n")


def _is_local_host(host: Any) -> bool:
    if host is None:
        return True
    name = host.decode() if isinstance(host, bytes) else str(host)
    return name in _LOOPBACK_NAMES or name.startswith("127.")


def _is_local_address(sock: socket.socket, address: Any) -> bool:
    if sock.family == getattr(socket, "AF_UNIX", None):
        return True
    return isinstance(address, tuple) and _is_local_host(address[0])


_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex
_sendto = socket.socket.sendto
_getaddrinfo = socket.getaddrinfo
_gethostbyname = socket.gethostbyname


def _guarded_connect(self: socket.socket, address: Any) -> None:
    if not _is_local_address(self, address):
        _record("connect", address)
        raise OSError(101, "network access refused by the Trainyard test guard")
    _connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    if not _is_local_address(self, address):
        _record("connect_ex", address)
        return 101
    return _connect_ex(self, address)


def _guarded_sendto(self: socket.socket, data: Any, *args: Any) -> int:
    address = args[-1]
    if not _is_local_address(self, address):
        _record("sendto", address)
        raise OSError(101, "network access refused by the Trainyard test guard")
    return _sendto(self, data, *args)


def _guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    if not _is_local_host(host):
        _record("getaddrinfo", host)
        raise socket.gaierror(socket.EAI_NONAME, "name resolution refused by the Trainyard test guard")
    return _getaddrinfo(host, *args, **kwargs)


def _guarded_gethostbyname(host: str) -> str:
    if not _is_local_host(host):
        _record("gethostbyname", host)
        raise socket.gaierror(socket.EAI_NONAME, "name resolution refused by the Trainyard test guard")
    return _gethostbyname(host)


socket.socket.connect = _guarded_connect  # type: ignore[method-assign,assignment]
socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign,assignment]
socket.socket.sendto = _guarded_sendto  # type: ignore[method-assign,assignment]
socket.getaddrinfo = _guarded_getaddrinfo
socket.gethostbyname = _guarded_gethostbyname
_record("installed", None)

if os.environ.get("TRAINYARD_TEST_FAULT"):
    import trainer_faults  # noqa: F401 -- installs itself on import
