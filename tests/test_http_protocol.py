"""HTTP/1.x framing and connection management seen from the wire."""

import email.utils
import socket
import threading
import time
from datetime import datetime, timezone

from conftest import Recorder, addr
from httpclient import Conn, ConnectionClosed, hall, hget, http_request, pipelined_gets


def path_echo(environ, start_response):
    body = ("%s %s" % (environ["REQUEST_METHOD"], environ["PATH_INFO"])).encode("latin-1")
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def generator_app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])

    def gen():
        yield b"hello "
        yield b""  # an empty chunk must not end a chunked body
        yield b"chunked "
        yield b"world"

    return gen()


def body_echo(environ, start_response):
    data = environ["wsgi.input"].read()
    info = "CL=%s TERM=%s " % (
        environ.get("CONTENT_LENGTH", "<none>"),
        environ.get("wsgi.input_terminated", "<none>"),
    )
    body = info.encode() + data
    start_response("200 OK", [("Content-Length", str(len(body)))])
    return [body]


# --------------------------------------------------------------------------- keep-alive


def test_keepalive_several_requests_on_one_connection(serve):
    ports = []

    def app(environ, start_response):
        ports.append(environ["REMOTE_PORT"])
        body = environ["PATH_INFO"].encode()
        start_response("200 OK", [("Content-Length", str(len(body)))])
        return [body]

    s = serve(app)
    with Conn(addr(s)) as c:
        for i in range(5):
            r = c.request(b"GET /r%d HTTP/1.1\r\nHost: x\r\n\r\n" % i)
            assert r.status == 200
            assert r.body == b"/r%d" % i
            assert "close" not in (r.header("connection") or "").lower()
        assert not c.wait_closed(0.2)
    assert len(ports) == 5
    assert len(set(ports)) == 1, "all five requests must arrive on the same connection"


def test_http11_connection_close_closes(serve):
    s = serve(Recorder())
    r = http_request(addr(s), b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert r.status == 200
    assert r.body == b"ok"
    assert "close" in (r.header("connection") or "").lower()
    assert r.closed


def test_http10_closes_by_default(serve):
    s = serve(Recorder())
    r = http_request(addr(s), b"GET / HTTP/1.0\r\n\r\n", close_wait=3)
    assert r.status == 200
    assert r.body == b"ok"
    assert r.closed, "HTTP/1.0 without keep-alive must close"


def test_http10_keepalive_when_asked_with_content_length(serve):
    rec = Recorder()
    s = serve(rec)
    with Conn(addr(s)) as c:
        r1 = c.request(b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        assert r1.status == 200 and r1.body == b"ok"
        assert "keep-alive" in (r1.header("connection") or "").lower()
        r2 = c.request(b"GET /b HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        assert r2.status == 200 and r2.body == b"ok"
        r3 = c.request(b"GET /c HTTP/1.0\r\n\r\n")
        assert r3.status == 200
        assert c.wait_closed(3), "a plain HTTP/1.0 request ends the kept-alive connection"
    assert rec.calls == 3
    assert len({e["REMOTE_PORT"] for e in rec.environs}) == 1


def test_http10_keepalive_asked_without_length_is_close_delimited(serve):
    s = serve(generator_app)
    with Conn(addr(s)) as c:
        r = c.request(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        assert r.status == 200
        assert r.close_delimited
        assert r.body == b"hello chunked world"
        assert hget(r.headers, "transfer-encoding") is None
        assert c.wait_closed(1)


# --------------------------------------------------------------------------- pipelining


def test_pipelining_responses_in_order(serve):
    s = serve(path_echo)
    with Conn(addr(s)) as c:
        c.send(
            b"GET /one HTTP/1.1\r\nHost: x\r\n\r\n"
            b"POST /two HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody"
            b"GET /three HTTP/1.1\r\nHost: x\r\n\r\n"
            b"DELETE /four HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        bodies = [c.read_response().body for _ in range(4)]
        assert bodies == [b"GET /one", b"POST /two", b"GET /three", b"DELETE /four"]
        assert c.wait_closed(3)


def test_pipelining_with_unread_body_is_skipped(serve):
    """The app does not read a request body: the server must discard it, not parse it."""
    paths = []

    def app(environ, start_response):
        paths.append(environ["PATH_INFO"])
        return path_echo(environ, start_response)

    s = serve(app)
    smuggled = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
    with Conn(addr(s)) as c:
        c.send(
            b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(smuggled)
            + smuggled
            + b"GET /next HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        r1 = c.read_response()
        assert r1.body == b"POST /p"
        # The body bytes must never be parsed as a request: the server either discards
        # them and answers /next, or closes the connection without answering.
        try:
            r2 = c.read_response()
        except ConnectionClosed:
            r2 = None
        if r2 is not None:
            assert r2.body == b"GET /next"
    assert "/smuggled" not in paths


def test_pipelining_chunked_bodies(serve):
    s = serve(body_echo)
    with Conn(addr(s)) as c:
        c.send(
            b"POST /1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3\r\nabc\r\n0\r\n\r\n"
            b"POST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\ndef"
            b"POST /3 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"1\r\ng\r\n2\r\nhi\r\n0\r\n\r\n"
        )
        r = [c.read_response() for _ in range(3)]
    assert r[0].body.endswith(b" abc")
    assert r[1].body.endswith(b" def")
    assert r[2].body.endswith(b" ghi")


def _gated_app(gates):
    """Answers /fast at once. /slow/<name> waits for the test to set gates[name]; with
    ?stream it first yields one chunk, then waits."""

    def app(environ, start_response):
        path = environ["PATH_INFO"]
        if not path.startswith("/slow/"):
            return path_echo(environ, start_response)
        gate = gates[path[len("/slow/") :]]
        if environ.get("QUERY_STRING") == "stream":
            start_response("200 OK", [("Content-Type", "text/plain")])

            def gen():
                yield b"first"
                assert gate.wait(10)
                yield b"second"

            return gen()
        assert gate.wait(10)
        return path_echo(environ, start_response)

    return app


def test_pipelined_response_not_held_behind_a_slow_next_request(serve):
    """A complete response may wait briefly for the next pipelined one, to share a write,
    but never for as long as the next one takes."""
    gates = {"a": threading.Event()}
    s = serve(_gated_app(gates))
    with Conn(addr(s), timeout=5) as c:
        c.send(pipelined_gets("/fast", "/slow/a", "/after"))
        # /slow/a completes only once the test has read /fast's response.
        assert c.read_response().body == b"GET /fast"
        gates["a"].set()
        assert [c.read_response().body for _ in range(2)] == [b"GET /slow/a", b"GET /after"]


def test_pipelined_responses_held_then_sent_with_streaming_output(serve):
    """Responses held for the next pipelined request leave, in order, with that request's
    first streamed chunk."""
    gates = {"b": threading.Event()}
    s = serve(_gated_app(gates))
    with Conn(addr(s), timeout=5) as c:
        c.send(pipelined_gets("/fast1", "/fast2", "/slow/b?stream"))
        assert [c.read_response().body for _ in range(2)] == [b"GET /fast1", b"GET /fast2"]
        # The streamed response has begun: its head and first chunk are readable now.
        while b"first" not in c.buf:
            assert c._fill(), c.buf
        gates["b"].set()
        r = c.read_response()
        assert r.body == b"firstsecond"


def test_pipelined_responses_all_sent_when_client_half_closes(serve):
    """A client that sends its pipelined requests and shuts down its side still gets every
    response, held or not, before the close."""
    s = serve(path_echo)
    n = 20
    with Conn(addr(s), timeout=5) as c:
        c.send(pipelined_gets(*("/h%d" % i for i in range(n))))
        c.sock.shutdown(socket.SHUT_WR)
        bodies = [c.read_response().body for _ in range(n)]
        assert bodies == [b"GET /h%d" % i for i in range(n)]
        assert c.wait_closed(3)


# --------------------------------------------------------------------------- chunked requests


def test_chunked_request_body_decoded(serve):
    seen = {}

    def app(environ, start_response):
        seen["cl"] = environ.get("CONTENT_LENGTH")
        seen["term"] = environ.get("wsgi.input_terminated")
        seen["te"] = environ.get("HTTP_TRANSFER_ENCODING")
        seen["body"] = environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    s = serve(app)
    r = http_request(
        addr(s),
        b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        b"5\r\nhello\r\n1;ext=1\r\n \r\nA\r\n0123456789\r\n0\r\n\r\n",
    )
    assert r.status == 200
    assert seen["body"] == b"hello 0123456789"
    assert seen["term"] is True
    assert seen["cl"] in (None, ""), "CONTENT_LENGTH must be absent for a chunked body"


def test_chunked_request_trailers_accepted_and_ignored(serve):
    seen = {}

    def app(environ, start_response):
        if environ["REQUEST_METHOD"] == "POST":
            seen["body"] = environ["wsgi.input"].read()
            seen["trailer"] = environ.get("HTTP_X_CHECKSUM")
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    s = serve(app)
    with Conn(addr(s)) as c:
        r = c.request(
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"4\r\ndata\r\n0\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n"
        )
        assert r.status == 200
        # the connection is still in sync: a second request works
        r2 = c.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert r2.status == 200
    assert seen["body"] == b"data"
    assert seen["trailer"] is None


# --------------------------------------------------------------------------- chunked responses


def test_chunked_response_for_http11_generator(serve):
    s = serve(generator_app)
    with Conn(addr(s)) as c:
        r = c.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert r.status == 200
        assert r.chunked, r.headers
        assert hget(r.headers, "content-length") is None
        assert r.body == b"hello chunked world"
        assert not r.incomplete
        # still usable afterwards (terminating chunk was sent)
        r2 = c.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert r2.body == b"hello chunked world"


def test_close_delimited_response_for_http10(serve):
    s = serve(generator_app)
    with Conn(addr(s)) as c:
        r = c.request(b"GET / HTTP/1.0\r\n\r\n")
        assert r.status == 200
        assert not r.chunked
        assert hget(r.headers, "transfer-encoding") is None
        assert r.close_delimited
        assert r.body == b"hello chunked world"
        assert c.eof


def test_content_length_from_app_is_used_not_chunked(serve):
    s = serve(Recorder(body=b"x" * 1000))
    with Conn(addr(s)) as c:
        r = c.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert not r.chunked
    assert r.header("content-length") == "1000"
    assert r.body == b"x" * 1000


# --------------------------------------------------------------------------- 100-continue


def test_expect_100_not_sent_when_app_does_not_read(serve):
    rec = Recorder()
    s = serve(rec)
    with Conn(addr(s)) as c:
        c.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        r = c.read_response(method="POST", skip_interim=False)
        assert r.status == 200, "no 100 Continue may be sent when the app never reads"
        assert r.body == b"ok"
    assert rec.calls == 1


def test_expect_100_sent_when_app_reads(serve):
    entered = threading.Event()
    release = threading.Event()

    def app(environ, start_response):
        entered.set()
        release.wait(10)
        data = environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Length", str(len(data)))])
        return [data]

    s = serve(app)
    with Conn(addr(s)) as c:
        c.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        assert entered.wait(5)
        # Until the app reads, nothing may be sent.
        c.sock.settimeout(0.3)
        try:
            early = c.sock.recv(100)
        except socket.timeout:
            early = None
        c.sock.settimeout(5)
        assert early is None, "server sent %r before the app read wsgi.input" % early
        release.set()
        r100 = c.read_response(method="POST", skip_interim=False)
        assert r100.status == 100
        assert r100.version == "HTTP/1.1"
        c.send(b"hello")
        r = c.read_response(method="POST")
        assert r.status == 200
        assert r.body == b"hello"


def test_expect_100_with_chunked_body(serve):
    s = serve(body_echo)
    with Conn(addr(s)) as c:
        c.send(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n")
        r100 = c.read_response(method="POST", skip_interim=False)
        assert r100.status == 100
        c.send(b"3\r\nabc\r\n0\r\n\r\n")
        r = c.read_response(method="POST")
        assert r.status == 200
        assert r.body.endswith(b" abc")


# --------------------------------------------------------------------------- bodiless responses


def test_head_has_no_body_but_keeps_content_length(serve):
    s = serve(Recorder(body=b"hello world"))
    with Conn(addr(s)) as c:
        r = c.request(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert r.status == 200
        assert r.header("content-length") == "11"
        assert r.body == b""
        # If any body byte had been sent, the next response would not parse.
        r2 = c.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert r2.status == 200 and r2.body == b"hello world"


def test_head_with_generator_app_sends_no_chunks(serve):
    s = serve(generator_app)
    with Conn(addr(s)) as c:
        r = c.request(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert r.status == 200
        assert r.body == b""
        r2 = c.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert r2.status == 200 and r2.body == b"hello chunked world"


def _status_app(status, body):
    def app(environ, start_response):
        start_response(status, [("Content-Type", "text/plain")])
        return [body]

    return app


def test_204_has_no_body(serve):
    s = serve(_status_app("204 No Content", b"should not be sent"))
    with Conn(addr(s)) as c:
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
        r = c.read_response()
        assert r.status == 204
        assert r.header("transfer-encoding") is None
        r2 = c.read_response()  # would be garbage if a body or chunk framing leaked
        assert r2.status == 204


def test_304_has_no_body(serve):
    s = serve(_status_app("304 Not Modified", b"should not be sent"))
    with Conn(addr(s)) as c:
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
        r = c.read_response()
        assert r.status == 304
        assert r.header("transfer-encoding") is None
        r2 = c.read_response()
        assert r2.status == 304


# --------------------------------------------------------------------------- standard headers


def test_date_and_server_headers(serve):
    s = serve(Recorder())
    r = http_request(addr(s), b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert r.status == 200
    dates = hall(r.headers, "date")
    assert len(dates) == 1
    d = email.utils.parsedate_to_datetime(dates[0])
    assert dates[0].endswith(" GMT")
    assert abs((datetime.now(timezone.utc) - d).total_seconds()) < 60
    servers = hall(r.headers, "server")
    assert len(servers) == 1 and servers[0].strip()


def test_app_supplied_server_header_not_duplicated(serve):
    s = serve(Recorder(headers=[("Server", "custom/1"), ("Content-Length", "2")]))
    r = http_request(addr(s), b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert hall(r.headers, "server") == ["custom/1"]


def test_status_line_uses_http11(serve):
    s = serve(Recorder())
    with Conn(addr(s)) as c:
        r = c.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert r.version == "HTTP/1.1"
    assert r.reason == "OK"


# --------------------------------------------------------------------------- methods / targets


def test_methods_passed_as_sent(serve):
    rec = Recorder()
    s = serve(rec)
    # The common methods come from interned strings, the others are decoded: both as sent.
    methods = ["get", "PURGE", "PATCH", "OPTIONS", "M-SEARCH", "GET", "POST", "PUT", "DELETE", "GETS", "GE"]
    with Conn(addr(s)) as c:
        for m in methods:
            r = c.request(m.encode() + b" / HTTP/1.1\r\nHost: x\r\n\r\n", method="GET")
            assert r.status == 200
        r = c.request(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", method="HEAD")
        assert r.status == 200
    assert [e["REQUEST_METHOD"] for e in rec.environs] == methods + ["HEAD"]


def test_absolute_form_target(serve):
    rec = Recorder()
    s = serve(rec)
    r = http_request(
        addr(s),
        b"GET http://example.com:8080/a/b%20c?x=1 HTTP/1.1\r\nHost: example.com:8080\r\nConnection: close\r\n\r\n",
    )
    assert r.status == 200
    env = rec.environs[0]
    assert env["PATH_INFO"] == "/a/b c"
    assert env["QUERY_STRING"] == "x=1"


def test_large_response_body_intact(serve):
    payload = bytes(range(256)) * 8192  # 2 MiB

    def app(environ, start_response):
        start_response("200 OK", [("Content-Length", str(len(payload)))])
        return [payload[i : i + 100000] for i in range(0, len(payload), 100000)]

    s = serve(app)
    with Conn(addr(s), timeout=10) as c:
        r = c.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert r.body == payload


def test_large_chunked_response_intact(serve):
    piece = b"0123456789abcdef" * 4096

    def app(environ, start_response):
        start_response("200 OK", [])
        return (piece for _ in range(64))  # 4 MiB, no Content-Length

    s = serve(app)
    with Conn(addr(s), timeout=10) as c:
        r = c.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert r.chunked
    assert r.body == piece * 64


def test_server_handles_client_closing_early(serve):
    """A client that disconnects after sending a request must not wedge the server."""
    s = serve(Recorder(body=b"y" * 100000))
    for _ in range(10):
        sk = socket.create_connection(addr(s), timeout=5)
        sk.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        sk.close()
    r = http_request(addr(s), b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert r.status == 200
    assert len(r.body) == 100000


# --------------------------------------------------------------------------- edge cases


def test_many_pipelined_requests_in_one_send(serve):
    s = serve(path_echo)
    n = 200
    raw = pipelined_gets(*("/p%d" % i for i in range(n)))
    with Conn(addr(s), timeout=10) as c:
        c.send(raw)
        bodies = [c.read_response().body for _ in range(n)]
    assert bodies == [b"GET /p%d" % i for i in range(n)]


def test_request_delivered_byte_by_byte(serve):
    s = serve(body_echo)
    raw = (
        b"POST /slow HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n4;x=y\r\ndefg\r\n0\r\nX-T: 1\r\n\r\n"
    )
    with Conn(addr(s)) as c:
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(raw)):
            c.send(raw[i : i + 1])
        r = c.read_response()
    assert r.status == 200
    assert r.body.endswith(b" abcdefg")


def test_expect_100_ignored_for_http10(serve):
    s = serve(body_echo)
    with Conn(addr(s)) as c:
        c.send(b"POST / HTTP/1.0\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        # No 100 may be sent to an HTTP/1.0 client: the app's read waits for the body.
        c.sock.settimeout(0.5)
        try:
            early = c.sock.recv(100)
        except socket.timeout:
            early = None
        c.sock.settimeout(5)
        assert early is None or not early.startswith(b"HTTP/1.1 100"), early
        if early:
            c.buf = early
        c.send(b"hello")
        r = c.read_response(method="POST", skip_interim=False)
        assert r.status == 200
        assert r.body.endswith(b" hello")


def test_chunked_coding_case_insensitive_and_hex_forms(serve):
    s = serve(body_echo)
    r = http_request(
        addr(s),
        b"POST / HTTP/1.1\r\nHost: x\r\ntransfer-encoding: Chunked\r\nConnection: close\r\n\r\n"
        b"0005\r\nhello\r\nA\r\n0123456789\r\na\r\nabcdefghij\r\n000\r\n\r\n",
    )
    assert r.status == 200
    assert r.body.endswith(b" hello0123456789abcdefghij")


def test_content_length_leading_zeros(serve):
    s = serve(body_echo)
    r = http_request(addr(s), b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 005\r\nConnection: close\r\n\r\nhello")
    assert r.status == 200
    assert r.body.endswith(b" hello")


def test_default_request_line_limit_boundary(serve):
    rec_paths = []

    def app(environ, start_response):
        rec_paths.append(len(environ["PATH_INFO"]))
        start_response("200 OK", [("Content-Length", "0")])
        return []

    s = serve(app)
    overhead = len(b"GET / HTTP/1.1") - 1  # request line minus the path's letters after "/"
    at_limit = b"GET /" + b"a" * (8190 - overhead - 1) + b" HTTP/1.1"
    assert len(at_limit) == 8190
    r = http_request(addr(s), at_limit + b"\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert r.status == 200
    over = b"GET /" + b"a" * (8190 - overhead) + b" HTTP/1.1"
    assert len(over) == 8191
    r = http_request(addr(s), over + b"\r\nHost: x\r\n\r\n", close_wait=3)
    assert r.status == 414
    assert len(rec_paths) == 1


def test_default_header_count_limit_boundary(serve):
    rec = Recorder()
    s = serve(rec)
    hundred = b"".join(b"X-H%d: v\r\n" % i for i in range(99))  # + Host = 100 fields
    r = http_request(addr(s), b"GET / HTTP/1.1\r\nHost: x\r\n" + hundred + b"Connection: close\r\n\r\n")
    # 99 extra + Host + Connection = 101 fields: over the limit
    assert r.status == 431
    ok = b"".join(b"X-H%d: v\r\n" % i for i in range(98))  # + Host + Connection = 100
    r = http_request(addr(s), b"GET / HTTP/1.1\r\nHost: x\r\n" + ok + b"Connection: close\r\n\r\n")
    assert r.status == 200
    assert rec.calls == 1


def test_default_field_size_limit_boundary(serve):
    rec = Recorder()
    s = serve(rec)
    name = b"X-Long: "
    at_limit = name + b"a" * (8190 - len(name))
    r = http_request(addr(s), b"GET / HTTP/1.1\r\nHost: x\r\n" + at_limit + b"\r\nConnection: close\r\n\r\n")
    assert r.status == 200
    r = http_request(addr(s), b"GET / HTTP/1.1\r\nHost: x\r\n" + at_limit + b"a\r\n\r\n", close_wait=3)
    assert r.status == 431
    assert rec.calls == 1
