"""The seed's API: morello.wsgiserver.CherryPyWSGIServer, argument by argument."""

import socket
import threading
import time

import pytest

from conftest import Recorder, free_port, wait_until
from httpclient import Conn, http_request


def my_crazy_app(environ, start_response):
    status = "200 OK"
    response_headers = [("Content-type", "text/plain")]
    start_response(status, response_headers)
    return [b"Hello world!"]


def my_blog_app(environ, start_response):
    body = ("blog %s|%s" % (environ["SCRIPT_NAME"], environ["PATH_INFO"])).encode()
    start_response("200 OK", [("Content-type", "text/plain")])
    return [body]


@pytest.fixture
def compat():
    """Factory: builds a CherryPyWSGIServer on 127.0.0.1:0, runs its blocking start() in a
    thread, waits until it listens and stops it at teardown."""
    from morello import wsgiserver

    running = []

    def _make(app, configure=None, **kw):
        port = free_port()
        server = wsgiserver.CherryPyWSGIServer(("127.0.0.1", port), app, **kw)
        server.test_port = port
        if configure:
            configure(server)
        errors = []
        done = threading.Event()

        def run():
            try:
                server.start()
            except BaseException as e:
                errors.append(e)
            finally:
                done.set()

        t = threading.Thread(target=run, daemon=True)
        t.start()
        running.append((server, t, done))
        ok = wait_until(lambda: done.is_set() or _listening(port), timeout=5)
        if errors:
            raise errors[0]
        assert ok and not done.is_set(), "CherryPyWSGIServer did not start listening"
        server.test_done = done
        server.test_errors = errors
        return server

    yield _make
    for server, t, done in running:
        try:
            server.stop()
        except Exception:
            pass
        done.wait(10)


def _listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def addr_of(server):
    return ("127.0.0.1", server.test_port)


def get(server, path, extra=b""):
    return http_request(addr_of(server), b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n" + extra + b"Connection: close\r\n\r\n")


def compat_stats(server):
    if hasattr(server, "stats"):
        return server.stats()
    return server._server.stats()


def test_seed_two_app_example(compat):
    s = compat([("/", my_crazy_app), ("/blog", my_blog_app)], server_name="localhost")
    r = get(s, b"/")
    assert r.status == 200 and r.body == b"Hello world!"
    r = get(s, b"/anything/else")
    assert r.body == b"Hello world!"
    r = get(s, b"/blog/x")
    assert r.body == b"blog /blog|/x"
    r = get(s, b"/blog")
    assert r.body == b"blog /blog|"
    r = get(s, b"/blogx")
    assert r.body == b"Hello world!"


def test_path_info_dispatcher(compat):
    from morello import wsgiserver

    d = wsgiserver.WSGIPathInfoDispatcher({"/": my_crazy_app, "/blog": my_blog_app})
    s = compat(d)
    assert get(s, b"/blog/x").body == b"blog /blog|/x"
    assert get(s, b"/blogx").body == b"Hello world!"


def test_start_blocks_until_stop(compat):
    s = compat(Recorder())
    assert not s.test_done.is_set(), "start() must block while serving"
    assert get(s, b"/").status == 200
    assert not s.test_done.is_set()
    a = addr_of(s)
    stopper = threading.Thread(target=s.stop)
    stopper.start()
    assert s.test_done.wait(10), "start() did not return after stop()"
    stopper.join(10)
    assert s.test_errors == []
    with pytest.raises(OSError):
        socket.create_connection(a, timeout=2).close()


def test_numthreads(compat):
    entered = []
    release = threading.Event()
    lock = threading.Lock()

    def app(environ, start_response):
        with lock:
            entered.append(environ["PATH_INFO"])
        release.wait(15)
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    s = compat(app, numthreads=2)
    assert compat_stats(s)["threads"] == 2
    conns = []
    try:
        for i in range(3):
            c = Conn(addr_of(s), timeout=10)
            c.send(b"GET /%d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % i)
            conns.append(c)
        assert wait_until(lambda: len(entered) == 2, timeout=5)
        assert wait_until(lambda: compat_stats(s)["queued"] == 1, timeout=5)
        # the pool is fixed at numthreads: the third request waits in the queue
        assert len(entered) == 2
        assert compat_stats(s)["threads"] == 2
    finally:
        release.set()
    assert [c.read_response().status for c in conns] == [200, 200, 200]
    for c in conns:
        c.close()


def test_max_gives_503_when_queue_full(compat):
    entered = threading.Event()
    release = threading.Event()

    def app(environ, start_response):
        entered.set()
        release.wait(15)
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    s = compat(app, numthreads=1, max=2)
    conns = []
    try:
        c = Conn(addr_of(s), timeout=10)
        c.send(b"GET /1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        conns.append(c)
        assert entered.wait(5)
        for i in (2, 3):
            c = Conn(addr_of(s), timeout=10)
            c.send(b"GET /%d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % i)
            conns.append(c)
        assert wait_until(lambda: compat_stats(s)["queued"] == 2, timeout=5)
        r = http_request(addr_of(s), b"GET /4 HTTP/1.1\r\nHost: x\r\n\r\n", close_wait=3)
        assert r.status == 503
        assert r.header("retry-after") is not None
    finally:
        release.set()
    assert [c.read_response().status for c in conns] == [200, 200, 200]
    for c in conns:
        c.close()


def test_max_default_unbounded(compat):
    entered = []
    release = threading.Event()

    def app(environ, start_response):
        entered.append(1)
        release.wait(15)
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    s = compat(app, numthreads=1)
    conns = []
    try:
        for i in range(20):
            c = Conn(addr_of(s), timeout=15)
            c.send(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            conns.append(c)
        assert wait_until(lambda: compat_stats(s)["queued"] == 19, timeout=5), compat_stats(s)
    finally:
        release.set()
    assert [c.read_response().status for c in conns] == [200] * 20
    for c in conns:
        c.close()


def test_request_queue_size_smoke(compat):
    s = compat(Recorder(), request_queue_size=50)
    assert get(s, b"/").status == 200


def test_timeout_is_header_timeout(compat):
    rec = Recorder()
    s = compat(rec, timeout=1)
    with Conn(addr_of(s), timeout=6) as c:
        c.send(b"GET / HTTP/1.1\r\nHost:")
        t0 = time.monotonic()
        assert c.wait_closed(5), "timeout=1 must close a stalled head"
        assert time.monotonic() - t0 < 5
    assert rec.calls == 0


def test_server_name(compat):
    rec = Recorder()
    s = compat(rec, server_name="www.cherrypy.example")
    assert get(s, b"/").status == 200
    assert rec.environs[0]["SERVER_NAME"] == "www.cherrypy.example"


def test_protocol_http10(compat):
    def gen_app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return iter([b"no ", b"chunks"])

    def cl_app(environ, start_response):
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    s = compat([("/", gen_app), ("/cl", cl_app)], protocol="HTTP/1.0")
    # an HTTP/1.1 request to an HTTP/1.0 server: no chunked encoding, close-delimited
    with Conn(addr_of(s)) as c:
        r = c.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert r.status == 200
        assert r.version == "HTTP/1.0"
        assert not r.chunked
        assert r.header("transfer-encoding") is None
        assert r.body == b"no chunks"
        assert c.wait_closed(3)
    # without keep-alive asked, even a Content-Length response closes
    with Conn(addr_of(s)) as c:
        r = c.request(b"GET /cl HTTP/1.1\r\nHost: x\r\n\r\n")
        assert r.body == b"ok"
        assert c.wait_closed(3)
    # keep-alive asked and Content-Length known: the connection stays open
    with Conn(addr_of(s)) as c:
        r = c.request(b"GET /cl HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n")
        assert r.body == b"ok"
        r = c.request(b"GET /cl HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n")
        assert r.body == b"ok"


def test_keep_quoted_slash_default_on(compat):
    rec = Recorder()
    s = compat(rec)
    assert get(s, b"/a%2Fb/c").status == 200
    assert rec.environs[0]["PATH_INFO"].upper() == "/A%2FB/C"


@pytest.mark.parametrize("attr", ["ssl_certificate", "ssl_private_key"])
def test_ssl_settings_make_start_raise(attr):
    from morello import wsgiserver

    port = free_port()
    server = wsgiserver.CherryPyWSGIServer(("127.0.0.1", port), Recorder())
    setattr(server, attr, "/nonexistent/%s.pem" % attr)
    result = []

    def run():
        try:
            server.start()
            result.append("returned")
        except Exception as e:
            result.append(e)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(5)
    try:
        assert not t.is_alive(), "start() with TLS settings must raise, not serve"
        assert result and isinstance(result[0], Exception), result
    finally:
        if t.is_alive():
            server.stop()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_wsgiserver_alias():
    from morello import wsgiserver

    assert wsgiserver.WSGIServer is wsgiserver.CherryPyWSGIServer
