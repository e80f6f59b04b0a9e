"""wsgi.input: every read method, bounded by the body, on length and chunked bodies."""

import hashlib
import os
import threading
import time

import pytest

from conftest import addr
from httpclient import Conn, http_request

BODY = b"line one\nline two\n\nline four is longer than the others\nno newline at end"


def run_reader(serve, reader, body=BODY, chunked=False, trailer=b"", pipelined=True):
    """Serves an app that applies ``reader(wsgi.input)`` and returns its result. A GET follows
    on the same connection: pipelined right behind the body, or sent after the response."""
    results = []

    def app(environ, start_response):
        try:
            out = reader(environ["wsgi.input"])
        except Exception as e:
            out = ("EXC", type(e).__name__, str(e))
        results.append(out)
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    s = serve(app)
    if chunked:
        payload = b""
        for i in range(0, len(body), 7):
            piece = body[i : i + 7]
            payload += b"%x\r\n%s\r\n" % (len(piece), piece)
        payload += b"0\r\n" + trailer + b"\r\n"
        raw = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + payload
    else:
        raw = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    # A request follows: its bytes must never show through wsgi.input.
    get = b"GET /next HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    with Conn(addr(s)) as c:
        c.send(raw + get if pipelined else raw)
        r1 = c.read_response()
        if not pipelined:
            c.send(get)
        r2 = c.read_response()
    assert r1.status == 200 and r2.status == 200
    assert len(results) == 2
    return results[0]


@pytest.fixture(params=["length", "chunked"])
def chunked(request):
    return request.param == "chunked"


def test_read_all(serve, chunked):
    assert run_reader(serve, lambda f: f.read(), chunked=chunked) == BODY


def test_read_minus_one(serve, chunked):
    assert run_reader(serve, lambda f: f.read(-1), chunked=chunked) == BODY


def test_read_none(serve, chunked):
    assert run_reader(serve, lambda f: f.read(None), chunked=chunked) == BODY


def test_read_n_pieces(serve, chunked):
    def reader(f):
        parts = []
        while True:
            p = f.read(5)
            assert len(p) <= 5
            if not p:
                break
            parts.append(p)
        return parts

    parts = run_reader(serve, reader, chunked=chunked)
    assert b"".join(parts) == BODY
    assert all(len(p) <= 5 for p in parts)


def test_read_more_than_body(serve, chunked):
    def reader(f):
        a = f.read(10 ** 6)
        rest = f.read(10 ** 6)
        return a, rest

    a, rest = run_reader(serve, reader, chunked=chunked)
    # read(n) may return fewer than n bytes, but never bytes past the body.
    b = a
    assert BODY.startswith(b)
    assert (a + rest) == BODY or BODY.startswith(a + rest)


def test_read_after_end_returns_empty(serve, chunked):
    def reader(f):
        whole = f.read()
        return whole, f.read(), f.read(10), f.readline(), f.readlines()

    whole, a, b, c, d = run_reader(serve, reader, chunked=chunked)
    assert whole == BODY
    assert (a, b, c, d) == (b"", b"", b"", [])


def test_readline(serve, chunked):
    def reader(f):
        lines = []
        while True:
            line = f.readline()
            if not line:
                break
            lines.append(line)
        return lines

    assert run_reader(serve, reader, chunked=chunked) == BODY.splitlines(True)


def test_readline_with_size(serve, chunked):
    def reader(f):
        return [f.readline(4), f.readline(4), f.readline(100), f.readline(-1), f.readline(None)]

    out = run_reader(serve, reader, chunked=chunked)
    assert out == [b"line", b" one", b"\n", b"line two\n", b"\n"]


def test_readlines(serve, chunked):
    assert run_reader(serve, lambda f: f.readlines(), chunked=chunked) == BODY.splitlines(True)


def test_readlines_hint(serve, chunked):
    def reader(f):
        first = f.readlines(12)
        rest = f.readlines()
        return first, rest

    first, rest = run_reader(serve, reader, chunked=chunked)
    # hint: stop once at least 12 bytes' worth of whole lines have been read
    assert first == [b"line one\n", b"line two\n"]
    assert first + rest == BODY.splitlines(True)


def test_iteration(serve, chunked):
    assert run_reader(serve, lambda f: list(f), chunked=chunked) == BODY.splitlines(True)


def test_mixed_reads(serve, chunked):
    def reader(f):
        return [f.read(3), f.readline(), f.read(4), f.readlines(1), f.read()]

    out = run_reader(serve, reader, chunked=chunked)
    assert out[0] == b"lin"
    assert out[1] == b"e one\n"
    assert out[2] == b"line"
    assert out[3] == [b" two\n"]
    assert b"".join([out[0], out[1], out[2]] + out[3] + [out[4]]) == BODY


def test_empty_body(serve):
    def reader(f):
        return f.read(), f.readline(), f.readlines(), f.read(5)

    assert run_reader(serve, reader, body=b"") == (b"", b"", [], b"")


def test_get_without_body_reads_empty(serve):
    results = []

    def app(environ, start_response):
        results.append(environ["wsgi.input"].read())
        start_response("200 OK", [("Content-Length", "0")])
        return []

    s = serve(app)
    with Conn(addr(s)) as c:
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n")
        assert c.read_response().status == 200
        assert c.read_response().status == 200
    assert results == [b"", b""]


# 20 KiB of numbered lines. A body this large that ends its read buffer (head and body in one
# read, nothing after) goes to the worker with the buffer itself, the head still in front of it
# (reactor.rs, HANDOFF_MIN): every read method must start exactly at the body.
BIG_BODY = b"".join(b"line %05d of a body that came in one read with its head\n" % i for i in range(360))

READERS = {
    "read": lambda f: f.read(),
    "pieces": lambda f: b"".join(iter(lambda: f.read(1000), b"")),
    "readline": lambda f: b"".join(iter(f.readline, b"")),
    "iter": lambda f: b"".join(f),
    "readlines": lambda f: b"".join(f.readlines()),
}


@pytest.mark.parametrize("how", sorted(READERS))
def test_big_body_in_one_read_with_its_head(serve, how):
    assert len(BIG_BODY) > 16 * 1024
    assert run_reader(serve, READERS[how], body=BIG_BODY, pipelined=False) == BIG_BODY


@pytest.mark.parametrize("how", ["read", "pieces"])
@pytest.mark.parametrize("framing", ["length", "chunked"])
def test_big_body_in_two_reads(serve, how, framing):
    """The first part comes with the head and the rest later: the worker may hold the first
    buffer (head in front) while the second arrives."""
    results = []

    def app(environ, start_response):
        results.append(READERS[how](environ["wsgi.input"]))
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    s = serve(app)
    half = len(BIG_BODY) // 2
    if framing == "length":
        head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(BIG_BODY)
        first, rest = head + BIG_BODY[:half], BIG_BODY[half:]
    else:
        head = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        # One chunk whose data ends the first send, then the second chunk and the end.
        first = head + b"%x\r\n" % half + BIG_BODY[:half]
        rest = b"\r\n%x\r\n" % (len(BIG_BODY) - half) + BIG_BODY[half:] + b"\r\n0\r\n\r\n"
    with Conn(addr(s)) as c:
        c.send(first)
        time.sleep(0.2)
        c.send(rest)
        r1 = c.read_response()
        c.send(b"POST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
        r2 = c.read_response()
    assert (r1.status, r2.status) == (200, 200)
    assert results == [BIG_BODY, b"hello"]


def test_chunked_with_trailer_reads_body_only(serve):
    out = run_reader(serve, lambda f: f.read(), chunked=True, trailer=b"X-Sum: 1\r\n")
    assert out == BODY


def test_app_reads_part_then_next_request_ok(serve):
    """An app that reads only part of the body: the rest is drained, the next request is
    parsed correctly (or the connection is closed; it must never be misparsed)."""
    seen = []

    def app(environ, start_response):
        seen.append((environ["PATH_INFO"], environ["wsgi.input"].read(3)))
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    s = serve(app)
    with Conn(addr(s)) as c:
        c.send(
            b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789"
            b"POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n0\r\n\r\n"
            b"GET /c HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        statuses = [c.read_response().status for _ in range(3)]
    assert statuses == [200, 200, 200]
    assert seen == [("/a", b"012"), ("/b", b"abc"), ("/c", b"")]


def _upload_app(results):
    def app(environ, start_response):
        h = hashlib.sha256()
        n = 0
        f = environ["wsgi.input"]
        while True:
            piece = f.read(65536)
            if not piece:
                break
            assert len(piece) <= 65536
            h.update(piece)
            n += len(piece)
        results.append((n, h.hexdigest()))
        body = ("%d %s" % (n, h.hexdigest())).encode()
        start_response("200 OK", [("Content-Length", str(len(body)))])
        return [body]

    return app


def test_large_upload_content_length(serve):
    size = 20 * 1024 * 1024
    data = os.urandom(1024 * 1024) * 20
    expected = hashlib.sha256(data).hexdigest()
    results = []
    s = serve(_upload_app(results))
    with Conn(addr(s), timeout=30) as c:
        c.send(b"PUT /up HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % size)
        # stream it in pieces from another thread while the response is awaited
        def sender():
            for i in range(0, size, 256 * 1024):
                c.sock.sendall(data[i : i + 256 * 1024])

        t = threading.Thread(target=sender)
        t.start()
        r = c.read_response()
        t.join(30)
    assert r.status == 200
    assert r.body == ("%d %s" % (size, expected)).encode()
    assert results == [(size, expected)]


def test_large_upload_chunked(serve):
    block = os.urandom(1024 * 1024)
    n_blocks = 20
    expected = hashlib.sha256(block * n_blocks).hexdigest()
    results = []
    s = serve(_upload_app(results))
    with Conn(addr(s), timeout=30) as c:
        c.send(b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")

        def sender():
            for _ in range(n_blocks):
                # odd-sized chunks so chunk boundaries never line up with the app's reads
                for i in range(0, len(block), 100003):
                    piece = block[i : i + 100003]
                    c.sock.sendall(b"%x\r\n" % len(piece) + piece + b"\r\n")
            c.sock.sendall(b"0\r\n\r\n")

        t = threading.Thread(target=sender)
        t.start()
        r = c.read_response()
        t.join(30)
    assert r.status == 200
    assert results == [(len(block) * n_blocks, expected)]


def test_read_blocks_until_body_arrives(serve):
    """read(n) on a slow client returns the data as it comes and does not go past the end."""
    got = []

    def app(environ, start_response):
        f = environ["wsgi.input"]
        got.append(f.read(5))
        got.append(f.read())
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    s = serve(app)
    with Conn(addr(s)) as c:
        c.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhel")
        c.send(b"lo")
        c.send(b"world")
        r = c.read_response()
    assert r.status == 200
    assert got[0] + got[1] == b"helloworld"
    assert 0 < len(got[0]) <= 5


def test_input_not_readable_past_content_length_in_separate_sends(serve):
    """Bytes of the next request, arriving later, never show through wsgi.input."""
    got = []
    reading = threading.Event()

    def app(environ, start_response):
        got.append(environ["wsgi.input"].read())
        got.append(environ["wsgi.input"].read(100))
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    s = serve(app)
    with Conn(addr(s)) as c:
        c.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nabcdGET /x HTTP/1.1\r\nHost: x\r\n\r\n")
        r1 = c.read_response()
        r2 = c.read_response()
    assert (r1.status, r2.status) == (200, 200)
    assert got[:2] == [b"abcd", b""]
