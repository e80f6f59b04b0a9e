"""Shared fixtures and helpers for morello's integration suite.

Every test talks to a real server over real sockets bound to port 0 on the loopback.
Nothing here sleeps to prove speed: waits are always bounded polls for a condition.
"""

import logging
import os
import shutil
import socket
import sys
import threading
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from httpclient import (  # noqa: E402,F401
    Conn,
    Response,
    connect,
    hall,
    hget,
    http_request,
    read_until_close,
)


# --------------------------------------------------------------------------- servers


@pytest.fixture
def serve():
    """Factory: ``serve(app, **opts)`` starts ``Server(app, bind="127.0.0.1:0", **opts)``.

    Every server started through it is stopped at teardown.
    """
    from morello import Server

    servers = []

    def _serve(app, **opts):
        opts.setdefault("bind", "127.0.0.1:0")
        s = Server(app, **opts)
        s.start()
        servers.append(s)
        return s

    yield _serve
    for s in reversed(servers):
        try:
            s.stop(timeout=5)
        except Exception:  # pragma: no cover - teardown must not mask the test's result
            pass


def addr(server, index=0):
    """The (host, port) of a server's listener, for socket.create_connection."""
    return tuple(server.addresses[index])


# --------------------------------------------------------------------------- apps


class Recorder:
    """A WSGI app that records each call's environ (copied) and answers 200 "ok".

    ``calls`` counts dispatches; ``environs`` keeps copies of what the app saw; ``bodies``
    keeps what was read from wsgi.input when ``read_body`` is true.
    """

    def __init__(self, body=b"ok", read_body=False, status="200 OK", headers=None):
        self.calls = 0
        self.environs = []
        self.bodies = []
        self.errors = []
        self.body = body
        self.read_body = read_body
        self.status = status
        self.headers = headers
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        with self.lock:
            self.calls += 1
            self.environs.append(dict(environ))
        if self.read_body:
            try:
                data = environ["wsgi.input"].read()
            except Exception as e:  # record that the body could not be read
                with self.lock:
                    self.errors.append(e)
                raise
            with self.lock:
                self.bodies.append(data)
        headers = self.headers
        if headers is None:
            headers = [("Content-Type", "text/plain"), ("Content-Length", str(len(self.body)))]
        start_response(self.status, list(headers))
        return [self.body]


@pytest.fixture
def recorder():
    return Recorder()


def environ_app(keys=None):
    """An app that answers with repr() of selected environ keys (or all str-valued keys)."""

    def app(environ, start_response):
        if keys is None:
            d = {k: v for k, v in environ.items() if isinstance(v, (str, tuple, bool, int))}
        else:
            d = {k: environ.get(k, "<MISSING>") for k in keys}
        body = repr(d).encode("utf-8")
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]

    return app


# --------------------------------------------------------------------------- logging


class ListHandler(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.records = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))

    def emit(self, record):
        self.records.append(record)

    def text(self):
        out = []
        for r in list(self.records):
            try:
                out.append(self.format(r))
            except Exception as e:  # pragma: no cover
                out.append("<unformattable %r: %r>" % (r, e))
        return "\n".join(out)

    def wait_for(self, needle, timeout=5.0):
        """Polls until ``needle`` appears in the formatted log; returns the text."""
        deadline = time.monotonic() + timeout
        while True:
            t = self.text()
            if needle in t or time.monotonic() > deadline:
                return t
            time.sleep(0.02)


@pytest.fixture
def error_log():
    """Collects everything logged to the "morello.error" logger (any level)."""
    logger = logging.getLogger("morello.error")
    h = ListHandler()
    old_level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(h)
    yield h
    logger.removeHandler(h)
    logger.setLevel(old_level)


# --------------------------------------------------------------------------- misc


def wait_until(predicate, timeout=5.0, interval=0.02):
    """Polls ``predicate`` until true or ``timeout``; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = predicate()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(interval)


def require_binary(name):
    """Returns the path of an external binary; FAILS (never skips) when it is missing."""
    path = shutil.which(name) or (
        os.path.exists("/usr/sbin/" + name) and "/usr/sbin/" + name
    )
    if not path:
        pytest.fail("required binary %r not found on PATH (CI installs it via apt)" % name)
    return path


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
