"""Hello world: the smallest complete WSGI application.

Serve it with ``make run``, or ``morello examples.hello:app --bind 127.0.0.1:8080``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

BODY = b"Hello, world!\n"


def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """Answer every request with a short plain-text greeting."""
    start_response(
        "200 OK", [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(BODY)))]
    )
    return [BODY]
