"""Starting, serving and stopping: start(), serve(), stop(), the context manager."""

import socket
import threading
import time

import pytest

from conftest import Recorder, addr, wait_until
from httpclient import Conn, ConnectionClosed, http_request, pipelined_gets

REQ = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


def refused(address):
    try:
        sk = socket.create_connection(address, timeout=2)
    except (ConnectionRefusedError, OSError):
        return True
    # connected: is anyone serving? (a listener that never accepts would hang here)
    try:
        sk.sendall(REQ)
        sk.settimeout(2)
        return sk.recv(1) == b""
    except OSError:
        return True
    finally:
        sk.close()


def test_start_returns_listening(serve):
    from morello import Server

    s = Server(Recorder(), bind="127.0.0.1:0")
    s.start()
    try:
        # no waiting: start() returned, so the listener accepts right now
        r = http_request(addr(s), REQ)
        assert r.status == 200
    finally:
        assert s.stop(timeout=5) is True


def test_context_manager():
    from morello import Server

    with Server(Recorder(), bind="127.0.0.1:0") as s:
        a = addr(s)
        assert http_request(a, REQ).status == 200
    assert refused(a), "the listener must be closed after the with block"


def test_stop_refuses_new_connections(serve):
    s = serve(Recorder())
    a = addr(s)
    assert http_request(a, REQ).status == 200
    assert s.stop(timeout=5) is True
    with pytest.raises(OSError):
        socket.create_connection(a, timeout=2).close()


def test_stop_is_idempotent(serve):
    s = serve(Recorder())
    assert s.stop(timeout=5) is True
    assert s.stop(timeout=5) is True


def test_graceful_stop_completes_in_flight_request(serve):
    entered = threading.Event()
    release = threading.Event()

    def app(environ, start_response):
        if environ["PATH_INFO"] == "/slow":
            entered.set()
            release.wait(10)
            body = b"slow-done" * 1000
        else:
            body = b"fast"
        start_response("200 OK", [("Content-Length", str(len(body)))])
        return [body]

    s = serve(app, threads=2)
    a = addr(s)
    c = Conn(a, timeout=10)
    c.send(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
    assert entered.wait(5)

    result = {}

    def stopper():
        result["ok"] = s.stop(timeout=10)

    t = threading.Thread(target=stopper)
    t.start()
    try:
        # while stopping: the listener is closed, so new connections are refused
        assert wait_until(lambda: refused(a), timeout=5), "new connections still accepted during stop()"
        assert t.is_alive(), "stop() returned while a request was in flight"
    finally:
        release.set()
    r = c.read_response()
    assert r.status == 200
    assert r.body == b"slow-done" * 1000
    assert not r.incomplete
    # the in-flight connection is closed after its response (we are stopping)
    assert c.wait_closed(5)
    c.close()
    t.join(10)
    assert not t.is_alive()
    assert result["ok"] is True


def test_stop_closes_idle_keepalive_connections(serve):
    s = serve(Recorder(), keepalive=60)
    conns = []
    for _ in range(5):
        c = Conn(addr(s), timeout=10)
        assert c.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").status == 200
        conns.append(c)
    t0 = time.monotonic()
    assert s.stop(timeout=10) is True
    assert time.monotonic() - t0 < 5, "idle connections must not hold up stop()"
    for c in conns:
        assert c.wait_closed(3)
        c.close()


def test_stop_times_out_with_stuck_request(serve, error_log):
    entered = threading.Event()
    release = threading.Event()

    def app(environ, start_response):
        entered.set()
        release.wait(20)
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    s = serve(app)
    c = Conn(addr(s), timeout=10)
    try:
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert entered.wait(5)
        t0 = time.monotonic()
        ok = s.stop(timeout=0.5)
        elapsed = time.monotonic() - t0
        assert ok is False, "stop() must report that a request did not finish in time"
        assert elapsed < 5
    finally:
        release.set()
        c.close()


def test_shutdown_timeout_option_is_stop_default(serve):
    entered = threading.Event()
    release = threading.Event()

    def app(environ, start_response):
        entered.set()
        release.wait(20)
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    s = serve(app, shutdown_timeout=0.5)
    c = Conn(addr(s), timeout=10)
    try:
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert entered.wait(5)
        t0 = time.monotonic()
        ok = s.stop()
        elapsed = time.monotonic() - t0
        assert ok is False
        assert elapsed < 5, "stop() without timeout must use shutdown_timeout (0.5 s), took %.1fs" % elapsed
    finally:
        release.set()
        c.close()


def test_serve_blocks_until_stop():
    from morello import Server

    s = Server(Recorder(), bind="127.0.0.1:0")
    done = threading.Event()
    errors = []

    def run():
        try:
            s.serve()
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)
        finally:
            done.set()

    t = threading.Thread(target=run, daemon=True)
    t.start()

    def ready():
        try:
            return bool(s.addresses)
        except Exception:
            return False

    assert wait_until(ready, timeout=5)
    assert http_request(addr(s), REQ).status == 200
    assert not done.is_set(), "serve() returned while the server was running"
    assert s.stop(timeout=5) is True
    assert done.wait(5), "serve() did not return after stop()"
    assert errors == []


def test_restart_after_stop():
    from morello import Server

    s = Server(Recorder(), bind="127.0.0.1:0")
    s.start()
    assert http_request(addr(s), REQ).status == 200
    assert s.stop(timeout=5)
    s.start()
    try:
        assert http_request(addr(s), REQ).status == 200
    finally:
        assert s.stop(timeout=5)


def test_unknown_option_rejected():
    from morello import Server

    with pytest.raises(TypeError):
        Server(Recorder(), bind="127.0.0.1:0", no_such_option=1)


@pytest.mark.parametrize(
    "opts",
    [{"threads": 0}, {"threads": 8, "max_threads": 4}, {"keepalive": -1}, {"max_body_size": -5}],
    ids=["zero-threads", "max-below-threads", "negative-keepalive", "negative-body"],
)
def test_invalid_option_values_rejected(opts):
    from morello import Server

    with pytest.raises(ValueError):
        s = Server(Recorder(), bind="127.0.0.1:0", **opts)
        s.start()
        s.stop(timeout=1)


def test_config_defaults():
    from morello import Config

    c = Config()
    expected = {
        "threads": 10,
        "max_threads": 128,
        "max_queued": 1024,
        "backlog": 1024,
        "keepalive": 5.0,
        "header_timeout": 10.0,
        "read_timeout": 30.0,
        "write_timeout": 30.0,
        "shutdown_timeout": 30.0,
        "limit_request_line": 8190,
        "limit_request_fields": 100,
        "limit_request_field_size": 8190,
        "max_body_size": 0,
        "protocol": "HTTP/1.1",
        "keep_quoted_slash": False,
        "unix_socket_mode": 0o666,
        "output_buffer": 262144,
    }
    for k, v in expected.items():
        assert getattr(c, k) == v, k
    assert c.server_name == socket.gethostname()


def test_config_object_accepted(serve):
    from morello import Config, Server

    s = Server(Recorder(), config=Config(bind=("127.0.0.1:0",), threads=3))
    s.start()
    try:
        assert wait_until(lambda: s.stats()["threads"] == 3)
        assert http_request(addr(s), REQ).status == 200
    finally:
        s.stop(timeout=5)


def test_default_thread_count(serve):
    s = serve(Recorder())
    assert wait_until(lambda: s.stats()["threads"] == 10)


def test_stop_with_unread_pipelined_responses_starts_no_new_request(serve):
    """A client pipelines many requests and reads nothing while the server stops: it gets
    whole responses in order, then the close; no request starts once the stop began, even
    one whose head completes after it."""
    served = []
    body = b"r" * 30000

    def app(environ, start_response):
        served.append(environ["PATH_INFO"])
        start_response("200 OK", [("Content-Length", str(len(body)))])
        return [body]

    s = serve(app)
    a = addr(s)
    c = Conn(a, timeout=10, rcvbuf=4096)
    n = 200
    c.send(
        pipelined_gets(*("/p%d" % i for i in range(n))) + b"GET /late HTTP/1.1\r\nHo"
    )
    # The server answers until the unread responses fill the socket buffers.
    assert wait_until(lambda: len(served) > 0, timeout=5)
    time.sleep(0.5)
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("ok", s.stop(timeout=10)))
    t.start()
    assert wait_until(lambda: refused(a), timeout=5), "the stop did not begin"
    try:
        c.send(b"st: x\r\n\r\n")
    except OSError:
        pass  # the server may already have closed its side
    got = 0
    while True:
        try:
            r = c.read_response()
        except ConnectionClosed:
            break
        assert r.status == 200 and r.body == body and not r.incomplete
        got += 1
    c.close()
    t.join(10)
    assert result["ok"] is True
    assert 0 < got < n, got
    assert "/late" not in served
    assert served == ["/p%d" % i for i in range(len(served))]
    assert got == len(served)
