"""Faulty applications: exceptions, bad return values, bad start_response calls, apps that
never return, and apps raising SystemExit or KeyboardInterrupt.

Whatever the application does, the server answers (500, or an aborted connection once the head
is out), calls the iterable's close() exactly once, keeps its worker threads and keeps serving.
"""

import logging
import signal
import threading
import time

import pytest

from conftest import ListHandler, addr, wait_until
from httpclient import Conn, simple_get

KIB = 1 << 10


# --------------------------------------------------------------------------- one faulty app


class Closing:
    """An iterable with close(): iterates ``body`` (a generator function) and counts close()."""

    def __init__(self, app, name, body):
        self.app = app
        self.name = name
        self.body = body

    def __iter__(self):
        return iter(self.body())

    def close(self):
        with self.app.lock:
            self.app.closes[self.name] = self.app.closes.get(self.name, 0) + 1


class FaultyApp:
    """Dispatches on PATH_INFO to one misbehaviour; /ok answers with the worker's thread id."""

    def __init__(self):
        self.lock = threading.Lock()
        self.closes = {}

    def __call__(self, environ, start_response):
        name = environ["PATH_INFO"].strip("/")
        if name == "ok":
            body = str(threading.get_ident()).encode()
            start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
            return [body]
        return getattr(self, "fault_" + name.replace("-", "_"))(environ, start_response, name)

    def iterable(self, name, body):
        return Closing(self, name, body)

    # -- before anything is sent: the client gets a 500

    def fault_raise_in_call(self, environ, start_response, name):
        raise RuntimeError("boom before start_response")

    def fault_raise_in_iter_before_start(self, environ, start_response, name):
        def body():
            raise RuntimeError("boom in the iterable, before start_response")
            yield b""  # pragma: no cover

        return self.iterable(name, body)

    def fault_raise_after_start_before_body(self, environ, start_response, name):
        def body():
            start_response("200 OK", [("Content-Type", "text/plain")])
            raise RuntimeError("boom after start_response, before any body")
            yield b""  # pragma: no cover

        return self.iterable(name, body)

    def fault_return_none(self, environ, start_response, name):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return None

    def fault_yield_str(self, environ, start_response, name):
        def body():
            start_response("200 OK", [("Content-Type", "text/plain")])
            yield "text, not bytes"

        return self.iterable(name, body)

    def fault_yield_int(self, environ, start_response, name):
        def body():
            start_response("200 OK", [("Content-Type", "text/plain")])
            yield 42

        return self.iterable(name, body)

    def fault_bad_status_eager(self, environ, start_response, name):
        start_response("2OO OK", [("Content-Type", "text/plain")])
        return [b"never sent"]

    def fault_bad_status_lazy(self, environ, start_response, name):
        def body():
            start_response("200", [("Content-Type", "text/plain")])
            yield b"never sent"

        return self.iterable(name, body)

    def fault_bad_status_type(self, environ, start_response, name):
        def body():
            start_response(200, [("Content-Type", "text/plain")])
            yield b"never sent"

        return self.iterable(name, body)

    def fault_bad_header_name(self, environ, start_response, name):
        def body():
            start_response("200 OK", [("Bad Name", "v")])
            yield b"never sent"

        return self.iterable(name, body)

    def fault_header_injection(self, environ, start_response, name):
        def body():
            start_response("200 OK", [("X-A", "a\r\nX-Injected: 1")])
            yield b"never sent"

        return self.iterable(name, body)

    def fault_header_not_str(self, environ, start_response, name):
        def body():
            start_response("200 OK", [("X-A", 1)])
            yield b"never sent"

        return self.iterable(name, body)

    def fault_headers_not_list(self, environ, start_response, name):
        def body():
            start_response("200 OK", {"Content-Type": "text/plain"})
            yield b"never sent"

        return self.iterable(name, body)

    def fault_no_start_response(self, environ, start_response, name):
        def body():
            yield b"body without a status"

        return self.iterable(name, body)

    # -- after the head is out: the client sees a truncated body and a close

    def fault_raise_mid_chunked(self, environ, start_response, name):
        def body():
            start_response("200 OK", [("Content-Type", "text/plain")])
            yield b"x" * (64 * KIB)
            yield b"y" * (64 * KIB)
            raise RuntimeError("boom mid-body")

        return self.iterable(name, body)

    def fault_raise_mid_content_length(self, environ, start_response, name):
        def body():
            start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(1024 * KIB))])
            yield b"x" * (64 * KIB)
            raise RuntimeError("boom mid-body")

        return self.iterable(name, body)

    def fault_str_mid_body(self, environ, start_response, name):
        def body():
            start_response("200 OK", [("Content-Type", "text/plain")])
            yield b"x" * (64 * KIB)
            yield "then a str"

        return self.iterable(name, body)


# name, expected close() calls, whether the head goes out before the fault
FAULTS = [
    ("raise-in-call", 0, False),
    ("raise-in-iter-before-start", 1, False),
    ("raise-after-start-before-body", 1, False),
    ("return-none", 0, False),
    ("yield-str", 1, False),
    ("yield-int", 1, False),
    ("bad-status-eager", 0, False),
    ("bad-status-lazy", 1, False),
    ("bad-status-type", 1, False),
    ("bad-header-name", 1, False),
    ("header-injection", 1, False),
    ("header-not-str", 1, False),
    ("headers-not-list", 1, False),
    ("no-start-response", 1, False),
    ("raise-mid-chunked", 1, True),
    ("raise-mid-content-length", 1, True),
    ("str-mid-body", 1, True),
]
CLEAN_500 = [f for f in FAULTS if not f[2]]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("name,closes,head_sent", FAULTS, ids=[f[0] for f in FAULTS])
def test_faulty_app_answers_500_or_aborts_and_worker_survives(serve, error_log, name, closes, head_sent):
    app = FaultyApp()
    s = serve(app, threads=1, max_threads=1)
    first = simple_get(addr(s), "/ok")
    assert first.status == 200
    worker = first.body

    with Conn(addr(s), timeout=10) as c:
        c.send(b"GET /%s HTTP/1.1\r\nHost: x\r\n\r\n" % name.encode())
        r = c.read_response()
        if head_sent:
            assert r.status == 200, r
            assert r.incomplete, "a response whose app failed mid-body must not look complete: %r" % r
        else:
            assert r.status == 500, "expected 500, got %r" % r
            assert b"Traceback" not in r.body and b"boom" not in r.body, r.body
            assert not r.incomplete, r
        if head_sent:
            assert c.wait_closed(5), "the connection stayed open after an aborted response"
        assert b"X-Injected" not in r.raw_head

    assert error_log.wait_for(name, timeout=5) and name in error_log.text(), \
        "the failure of /%s was not logged (with its path):\n%s" % (name, error_log.text())
    if closes:
        assert wait_until(lambda: app.closes.get(name, 0) >= closes, timeout=5), \
            "close() not called for /%s" % name
    # The one worker survived: the same thread serves the next request (threads=1, max_threads=1).
    after = simple_get(addr(s), "/ok")
    assert after.status == 200, after
    assert after.body == worker, "the worker thread was replaced (%s -> %s)" % (worker, after.body)
    assert s.stats()["threads"] == 1, s.stats()
    assert app.closes.get(name, 0) == closes, "close() called %d times, expected %d" % (app.closes.get(name, 0), closes)


@pytest.mark.timeout(30)
def test_many_faults_in_a_row_on_one_worker(serve, error_log):
    """Faults don't leak: 200 failing requests on one keep-alive connection, then a success."""
    app = FaultyApp()
    s = serve(app, threads=1, max_threads=1)
    worker = simple_get(addr(s), "/ok").body
    with Conn(addr(s), timeout=10) as c:
        for i in range(200):
            name = CLEAN_500[i % len(CLEAN_500)][0]
            r = c.request(b"GET /%s HTTP/1.1\r\nHost: x\r\n\r\n" % name.encode())
            assert r.status == 500, (i, name, r)
            if (r.header("connection") or "").lower() == "close":
                c.close()
                c = Conn(addr(s), timeout=10)
    assert simple_get(addr(s), "/ok").body == worker
    expected = {}
    for i in range(200):
        name, closes, _ = CLEAN_500[i % len(CLEAN_500)]
        if closes:
            expected[name] = expected.get(name, 0) + closes
    assert wait_until(lambda: app.closes == expected, timeout=5), (app.closes, expected)


# --------------------------------------------------------------------------- an app that never returns


class BlockingApp:
    def __init__(self):
        self.never = threading.Event()  # the test never sets it (only teardown does, to free the thread)
        self.entered = threading.Event()

    def __call__(self, environ, start_response):
        if environ["PATH_INFO"].startswith("/blocked"):
            self.entered.set()
            self.never.wait(60)
        body = environ["PATH_INFO"].encode()
        start_response("200 OK", [("Content-Length", str(len(body)))])
        return [body]


@pytest.fixture
def morello_log():
    """Everything logged to "morello" and its children ("morello.error"...)."""
    h = ListHandler()
    loggers = [logging.getLogger("morello"), logging.getLogger("morello.error")]
    old = [(lg, lg.level) for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
    # "morello.error" records propagate to "morello": one handler there sees both, unless
    # propagation is off, in which case the second handler catches them.
    loggers[0].addHandler(h)
    extra = None
    if not loggers[1].propagate:
        extra = h
        loggers[1].addHandler(h)
    yield h
    loggers[0].removeHandler(h)
    if extra:
        loggers[1].removeHandler(h)
    for lg, level in old:
        lg.setLevel(level)


def _start_blocked(serve):
    app = BlockingApp()
    s = serve(app, threads=4, max_threads=4)
    c = Conn(addr(s), timeout=10)
    c.send(b"GET /blocked/abandoned-xyz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert app.entered.wait(5), "the blocking request never reached the app"
    return app, s, c


@pytest.mark.timeout(30)
def test_blocked_thread_leaves_others_serving(serve):
    app, s, c = _start_blocked(serve)
    try:
        results = []

        def client(i):
            try:
                results.append(simple_get(addr(s), "/other/%d" % i, timeout=5).status)
            except Exception as e:
                results.append(repr(e))

        threads = [threading.Thread(target=client, args=(i,)) for i in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert results == [200] * 12, results
    finally:
        app.never.set()
        c.close()


@pytest.mark.timeout(30)
def test_stop_with_blocked_request_returns_false_after_its_timeout(serve):
    app, s, c = _start_blocked(serve)
    try:
        t0 = time.monotonic()
        ok = s.stop(timeout=1)
        elapsed = time.monotonic() - t0
        assert ok is False, "stop() must report the request that did not finish"
        assert elapsed < 1.0 + 0.75, "stop(timeout=1) took %.2f s" % elapsed
        assert c.wait_closed(5), "the abandoned request's connection was not closed"
    finally:
        app.never.set()
        c.close()


@pytest.mark.timeout(30)
def test_stop_logs_which_requests_it_abandoned(serve, morello_log):
    app, s, c = _start_blocked(serve)
    try:
        assert s.stop(timeout=1) is False
        text = morello_log.wait_for("/blocked/abandoned-xyz", timeout=3)
        assert "/blocked/abandoned-xyz" in text, \
            "stop() did not log the path of the request it abandoned; logged:\n%s" % text
    finally:
        app.never.set()
        c.close()


# --------------------------------------------------------------------------- SystemExit, KeyboardInterrupt

EXIT_APP = '''
import threading

def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/ok":
        body = str(threading.get_ident()).encode()
        start_response("200 OK", [("Content-Length", str(len(body)))])
        return [body]
    exc = {"exit": SystemExit(3), "kbd": KeyboardInterrupt()}[path.split("/")[1]]
    if path.endswith("/call"):
        raise exc

    def body():
        start_response("200 OK", [("Content-Type", "text/plain")])
        raise exc
        yield b""

    return body()
'''


@pytest.mark.timeout(40)
@pytest.mark.parametrize("where", ["call", "iter"])
@pytest.mark.parametrize("exc", ["exit", "kbd"])
def test_systemexit_and_keyboardinterrupt_give_500_are_logged_and_server_lives(spawn, exc, where):
    name = {"exit": "SystemExit", "kbd": "KeyboardInterrupt"}[exc]
    srv = spawn(EXIT_APP, "--threads", "1", "--max-threads", "1")
    worker = simple_get(srv.address, "/ok").body
    path = "/%s/%s" % (exc, where)
    r = simple_get(srv.address, path, timeout=10)
    assert r.status == 500, "%s raised by the app: expected 500, got %r\n%s" % (name, r, srv.output()[-2000:])
    assert wait_until(lambda: name in srv.output() and "Traceback" in srv.output(), timeout=5), \
        "%s from the app was not logged with its traceback; output:\n%s" % (name, srv.output()[-2000:])
    assert path in srv.output(), "the log does not name the request %s:\n%s" % (path, srv.output()[-2000:])
    # The server does not exit, now or a moment later (its serve loop polls every 0.2 s).
    time.sleep(0.6)
    assert srv.alive(), "the server exited (status %r) after the app raised %s:\n%s" % (
        srv.proc.returncode, name, srv.output()[-2000:])
    after = simple_get(srv.address, "/ok")
    assert after.status == 200
    assert after.body == worker, "the worker thread was replaced"
    # And again: a second one changes nothing.
    assert simple_get(srv.address, path, timeout=10).status == 500
    assert simple_get(srv.address, "/ok").status == 200
    assert srv.alive()
    # A real SIGTERM still stops it cleanly.
    srv.proc.send_signal(signal.SIGTERM)
    assert srv.proc.wait(15) == 0, srv.output()[-2000:]
