"""start_response, the response iterable, write(), close(), file_wrapper, app errors."""

import io
import os
import socket
import sys
import threading
import time

import pytest

from conftest import addr, wait_until
from httpclient import Conn, hall, hget, http_request

GET = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


def raw_exchange(s, raw=GET, timeout=5):
    """Returns every byte the server sends for ``raw`` until it closes."""
    c = Conn(addr(s), timeout=timeout)
    try:
        c.send(raw)
        while c._fill():
            pass
        return c.buf
    finally:
        c.close()


# --------------------------------------------------------------------------- status / headers validation

BAD_STATUS = [
    ("no-reason", "200"),
    ("four-digits", "2000 OK"),
    ("crlf-injection", "200 OK\r\nX-Injected: y"),
    ("lf-injection", "200 OK\nX-Injected: y"),
    ("letters", "abc OK"),
    ("two-digits", "20 OK"),
    ("empty", ""),
    ("non-latin1", "200 \u2603K"),
]


@pytest.mark.parametrize("status", [c[1] for c in BAD_STATUS], ids=[c[0] for c in BAD_STATUS])
def test_invalid_status_gives_500(serve, status, error_log):
    def app(environ, start_response):
        start_response(status, [("Content-Length", "4")])
        return [b"body"]

    s = serve(app)
    data = raw_exchange(s)
    assert data.startswith(b"HTTP/1.1 500 "), data[:200]
    assert b"X-Injected" not in data
    assert b"\r\n\r\nbody" not in data


def test_status_as_bytes_gives_500(serve):
    def app(environ, start_response):
        start_response(b"200 OK", [("Content-Length", "4")])
        return [b"body"]

    s = serve(app)
    data = raw_exchange(s)
    assert data.startswith(b"HTTP/1.1 500 "), data[:200]


BAD_HEADERS = [
    ("name-crlf", [("X-A\r\nX-Injected", "v")]),
    ("value-crlf", [("X-A", "v\r\nX-Injected: 1")]),
    ("value-lf", [("X-A", "v\nX-Injected: 1")]),
    ("value-cr", [("X-A", "v\rX-Injected: 1")]),
    ("value-nul", [("X-A", "v\x00X-Injected")]),
    ("name-space", [("X A", "v")]),
    ("name-colon", [("X-Injected:", "v")]),
    ("name-empty", [("", "X-Injected")]),
    ("value-non-latin1", [("X-Injected", "snow\u2603man")]),
    ("name-non-latin1", [("X-Injected-\u2603", "v")]),
    ("name-bytes", [(b"X-Injected", "v")]),
    ("value-bytes", [("X-Injected", b"v")]),
    ("value-int", [("X-Injected", 5)]),
    ("not-a-pair", [("X-Injected",)]),
]


@pytest.mark.parametrize("headers", [c[1] for c in BAD_HEADERS], ids=[c[0] for c in BAD_HEADERS])
def test_invalid_headers_give_500(serve, headers, error_log):
    def app(environ, start_response):
        start_response("200 OK", [("Content-Length", "4")] + headers)
        return [b"body"]

    s = serve(app)
    data = raw_exchange(s)
    assert data.startswith(b"HTTP/1.1 500 "), data[:300]
    assert b"X-Injected" not in data
    assert b"\r\n\r\nbody" not in data


def test_reason_phrase_and_repeated_headers_passed_through(serve):
    def app(environ, start_response):
        start_response(
            "299 Custom Reason Here",
            [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"), ("X-Tab", "a\tb"), ("Content-Length", "0")],
        )
        return []

    s = serve(app)
    r = http_request(addr(s), GET)
    assert r.status == 299
    assert r.response.reason == "Custom Reason Here"
    assert hall(r.headers, "set-cookie") == ["a=1", "b=2"]
    assert r.header("x-tab") == "a\tb"


def test_latin1_header_value_sent_as_latin1(serve):
    def app(environ, start_response):
        start_response("200 OK", [("X-Latin", "caf\xe9"), ("Content-Length", "0")])
        return []

    s = serve(app)
    data = raw_exchange(s)
    assert b"X-Latin: caf\xe9\r\n" in data


# --------------------------------------------------------------------------- hop-by-hop

HOP = ["Connection", "Keep-Alive", "Transfer-Encoding", "Upgrade", "TE", "Trailer", "Proxy-Authenticate"]


@pytest.mark.parametrize("name", HOP)
def test_hop_by_hop_header_from_app_gives_500(serve, name):
    def app(environ, start_response):
        start_response("200 OK", [(name, "close" if name == "Connection" else "chunked"), ("Content-Length", "4")])
        return [b"body"]

    s = serve(app)
    data = raw_exchange(s)
    assert data.startswith(b"HTTP/1.1 500 "), data[:300]
    assert b"\r\n\r\nbody" not in data


# --------------------------------------------------------------------------- exc_info


def test_start_response_twice_without_exc_info_is_error(serve, error_log):
    def app(environ, start_response):
        start_response("200 OK", [("Content-Length", "2")])
        start_response("201 Created", [("Content-Length", "2")])
        return [b"ok"]

    s = serve(app)
    r = http_request(addr(s), GET)
    assert r.status == 500


def test_start_response_twice_caught_by_app_keeps_first(serve):
    outcome = []

    def app(environ, start_response):
        start_response("200 OK", [("Content-Length", "2")])
        try:
            start_response("201 Created", [("Content-Length", "2")])
            outcome.append("no error")
        except Exception as e:
            outcome.append(type(e).__name__)
        return [b"ok"]

    s = serve(app)
    r = http_request(addr(s), GET)
    assert outcome and outcome[0] != "no error"
    assert r.status == 200


def test_exc_info_before_headers_sent_replaces_status(serve):
    def app(environ, start_response):
        start_response("200 OK", [("Content-Length", "2"), ("X-First", "1")])
        try:
            raise ValueError("boom")
        except ValueError:
            start_response("503 Service Unavailable", [("Content-Length", "5")], sys.exc_info())
        return [b"error"]

    s = serve(app)
    r = http_request(addr(s), GET)
    assert r.status == 503
    assert r.body == b"error"
    assert r.header("x-first") is None


def test_exc_info_after_headers_sent_reraises_and_aborts(serve, error_log):
    reraised = []

    def app(environ, start_response):
        start_response("200 OK", [])

        def gen():
            yield b"partial"
            try:
                raise ValueError("late failure")
            except ValueError:
                try:
                    start_response("500 Internal Server Error", [], sys.exc_info())
                except ValueError:
                    reraised.append(True)
                    raise
            yield b"never"

        return gen()

    s = serve(app)
    with Conn(addr(s)) as c:
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        r = c.read_response()
        assert r.status == 200
        assert r.incomplete, "an aborted chunked response must not be terminated cleanly"
        assert b"never" not in r.body
        assert c.wait_closed(3)
    assert reraised == [True]


# --------------------------------------------------------------------------- write() and lazy start


def test_write_callable(serve):
    def app(environ, start_response):
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"hello ")
        write(b"world")
        return []

    s = serve(app)
    with Conn(addr(s)) as c:
        r = c.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert r.status == 200
        assert r.body == b"hello world"
        r2 = c.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert r2.body == b"hello world"


def test_write_then_iterable(serve):
    def app(environ, start_response):
        write = start_response("200 OK", [("Content-Length", "6")])
        write(b"abc")
        return [b"de", b"f"]

    s = serve(app)
    r = http_request(addr(s), GET)
    assert r.status == 200
    assert r.body == b"abcdef"


def test_write_rejects_str(serve):
    def app(environ, start_response):
        write = start_response("200 OK", [])
        write("text")
        return []

    s = serve(app)
    r = http_request(addr(s), GET)
    assert r.status == 500


def test_lazy_generator_start_response(serve):
    def app(environ, start_response):
        def gen():
            start_response("202 Accepted", [("X-Lazy", "yes")])
            yield b"lazy "
            yield b"body"

        return gen()

    s = serve(app)
    with Conn(addr(s)) as c:
        r = c.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert r.status == 202
    assert r.header("x-lazy") == "yes"
    assert r.body == b"lazy body"


def test_headers_not_sent_before_first_nonempty_chunk(serve):
    """PEP 3333: headers wait for the first non-empty chunk, so an error after only empty
    chunks can still become a clean 500."""

    def app(environ, start_response):
        start_response("200 OK", [("X-Should-Not-Appear", "1")])

        def gen():
            yield b""
            raise RuntimeError("failed before any body")

        return gen()

    s = serve(app)
    r = http_request(addr(s), GET)
    assert r.status == 500
    assert r.header("x-should-not-appear") is None


# --------------------------------------------------------------------------- bad return values


@pytest.mark.parametrize("value", [None, b"bytes-not-iterable-of-bytes", "a str", 42], ids=["none", "bytes", "str", "int"])
def test_bad_return_value_gives_500(serve, value):
    def app(environ, start_response):
        start_response("200 OK", [("X-Should-Not-Appear", "1")])
        return value

    s = serve(app)
    r = http_request(addr(s), GET)
    assert r.status == 500
    assert r.header("x-should-not-appear") is None
    assert b"bytes-not-iterable" not in r.body


def test_str_chunk_first_gives_500(serve):
    def app(environ, start_response):
        start_response("200 OK", [("X-Should-Not-Appear", "1")])
        return ["text chunk"]

    s = serve(app)
    r = http_request(addr(s), GET)
    assert r.status == 500
    assert r.header("x-should-not-appear") is None
    assert b"text chunk" not in r.body


def test_str_chunk_after_bytes_never_sent(serve):
    """A str after a bytes chunk: either the server still holds the first chunk (clean 500)
    or it has sent the headers and must abort; "second" is never sent either way."""

    def app(environ, start_response):
        start_response("200 OK", [])
        return [b"first", "second"]

    s = serve(app)
    with Conn(addr(s)) as c:
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        r = c.read_response()
        assert b"second" not in r.body
        if r.status == 200:
            assert r.incomplete
            assert c.wait_closed(3)
        else:
            assert r.status == 500
            assert b"first" not in r.body


def test_str_chunk_after_large_bytes_aborts(serve):
    """Once more than output_buffer bytes have gone out, the headers are on the wire: a str
    chunk can only abort the response (no clean terminating chunk)."""
    big = b"x" * 400000

    def app(environ, start_response):
        start_response("200 OK", [])

        def gen():
            yield big
            yield "second"

        return gen()

    s = serve(app, output_buffer=65536)
    with Conn(addr(s), timeout=10) as c:
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        r = c.read_response()
        assert r.status == 200
        assert r.incomplete, "an aborted chunked response must not be terminated cleanly"
        assert b"second" not in r.body
        assert c.wait_closed(3)


def test_no_start_response_gives_500(serve):
    def app(environ, start_response):
        return [b"body"]

    s = serve(app)
    r = http_request(addr(s), GET)
    assert r.status == 500
    assert r.body != b"body"


# --------------------------------------------------------------------------- content-length mismatch


def test_content_length_longer_than_body(serve, error_log):
    def app(environ, start_response):
        start_response("200 OK", [("Content-Length", "10")])
        return [b"12345"]

    s = serve(app)
    with Conn(addr(s)) as c:
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        r = c.read_response()
        assert r.status == 200
        assert r.incomplete
        assert r.body == b"12345"
        assert c.eof or c.wait_closed(3)


def test_content_length_shorter_than_body(serve, error_log):
    def app(environ, start_response):
        start_response("200 OK", [("Content-Length", "5")])
        return [b"12345", b"67890"]

    s = serve(app)
    with Conn(addr(s)) as c:
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        r = c.read_response()
        assert r.status == 200
        assert r.body == b"12345"
        assert c.wait_closed(3)
        assert c.buf == b"", "bytes past Content-Length must never be sent"


def test_content_length_shorter_in_one_chunk(serve, error_log):
    def app(environ, start_response):
        start_response("200 OK", [("Content-Length", "5")])
        return [b"1234567890"]

    s = serve(app)
    with Conn(addr(s)) as c:
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        r = c.read_response()
        assert r.body == b"12345"
        assert c.wait_closed(3)
        assert c.buf == b""


def test_invalid_content_length_from_app_gives_500(serve):
    def app(environ, start_response):
        start_response("200 OK", [("Content-Length", "abc")])
        return [b"abc"]

    s = serve(app)
    r = http_request(addr(s), GET)
    assert r.status == 500


# --------------------------------------------------------------------------- a Content-Length body ends with its last byte


def test_response_ends_with_its_last_byte_before_the_iterator_does(serve):
    """The connection goes on to its next request while the first request's iterator is still
    running after its last byte: the response was complete."""
    release = threading.Event()
    done = []

    def app(environ, start_response):
        path = environ["PATH_INFO"]

        def body():
            start_response("200 OK", [("Content-Length", "5")])
            yield path[1:6].encode().ljust(5, b".")
            if path == "/first":
                release.wait(10)
                done.append(path)

        return body()

    s = serve(app, threads=2, max_threads=2)
    with Conn(addr(s), timeout=5) as c:
        c.send(b"GET /first HTTP/1.1\r\nHost: x\r\n\r\n")
        first = c.read_response()
        assert (first.status, first.body, first.incomplete) == (200, b"first", False)
        c.send(b"GET /second HTTP/1.1\r\nHost: x\r\n\r\n")
        second = c.read_response()
        assert (second.status, second.body) == (200, b"secon")
        assert done == [], "the second response waited for the first iterator to end"
        release.set()
        assert wait_until(lambda: done == ["/first"], timeout=5)
        c.send(b"GET /third HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert c.read_response().body == b"third"


def test_bytes_past_an_ended_body_are_dropped_and_logged(serve, error_log):
    closes = []

    class Body:
        def __iter__(self):
            start_response_holder[0]("200 OK", [("Content-Length", "5")])
            yield b"12345"
            yield b"67890"

        def close(self):
            closes.append(1)

    start_response_holder = []

    def app(environ, start_response):
        start_response_holder[:] = [start_response]
        return Body()

    s = serve(app, threads=1, max_threads=1)
    with Conn(addr(s), timeout=5) as c:
        for _ in range(2):
            c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            r = c.read_response()
            assert (r.status, r.body, r.incomplete) == (200, b"12345", False)
        # The framing held, so the connection stays: the next response starts right after.
        assert not c.wait_closed(0.3)
        assert c.buf == b"", "bytes past Content-Length must never be sent"
    assert "more than its Content-Length of 5 bytes" in error_log.wait_for("more than its Content-Length")
    assert wait_until(lambda: closes == [1, 1], timeout=5), closes


def test_error_after_the_last_byte_is_logged_and_the_connection_kept(serve, error_log):
    closes = []

    class Body:
        def __init__(self, start_response):
            self.start_response = start_response

        def __iter__(self):
            self.start_response("200 OK", [("Content-Length", "2")])
            yield b"ok"
            raise RuntimeError("boom after the body")

        def close(self):
            closes.append(1)

    s = serve(lambda environ, start_response: Body(start_response), threads=1, max_threads=1)
    with Conn(addr(s), timeout=5) as c:
        for i in range(1, 3):
            c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            r = c.read_response()
            assert (r.status, r.body, r.incomplete) == (200, b"ok", False)
            assert wait_until(lambda: len(closes) == i, timeout=5)
    text = error_log.wait_for("boom after the body")
    assert "boom after the body" in text and "Traceback" in text, text


def test_ended_response_still_reads_the_request_body(serve):
    """The response ends before the app reads wsgi.input: the body is still all there."""
    seen = []

    def app(environ, start_response):
        def body():
            start_response("200 OK", [("Content-Length", "2")])
            yield b"ok"
            seen.append(environ["wsgi.input"].read())

        return body()

    s = serve(app, threads=1, max_threads=1)
    payload = b"0123456789" * 100
    with Conn(addr(s), timeout=5) as c:
        for i in range(1, 3):
            c.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(payload), payload))
            r = c.read_response()
            assert (r.status, r.body) == (200, b"ok")
            assert wait_until(lambda: len(seen) == i, timeout=5)
    assert seen == [payload, payload]


def test_large_ended_response_does_not_wait_for_room(serve):
    """A last chunk far above output_buffer ends the response; the worker does not wait for the
    client to read it before finishing the iterator."""
    done = threading.Event()
    size = 4 * 1024 * 1024

    def app(environ, start_response):
        def body():
            start_response("200 OK", [("Content-Length", str(size))])
            yield b"x" * size
            done.set()

        return body()

    s = serve(app, threads=1, max_threads=1, output_buffer=65536)
    with Conn(addr(s), timeout=10, rcvbuf=4096) as c:
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert done.wait(5), "the worker waited for the client to read an ended response"
        r = c.read_response()
        assert r.status == 200 and len(r.body) == size and not r.incomplete


@pytest.mark.parametrize("with_length", [False, True], ids=["chunked", "content-length"])
def test_many_small_pieces_among_large_ones_arrive_whole_and_in_order(serve, with_length):
    """Small pieces join the output the IO thread has not taken yet and large ones are queued
    by reference between them, while a slow client makes the worker wait for room and the IO
    thread hands written buffers back: every byte arrives, in order, on two responses in a
    row (the second reuses the first's exchange)."""
    sizes = [1, 0, 7, 1000, 9000, 3, 20000, 15000, 500, 8192, 8191, 16384]
    pieces = [bytes([i % 251]) * sizes[i % len(sizes)] for i in range(240)]
    body = b"".join(pieces)

    def app(environ, start_response):
        headers = [("Content-Length", str(len(body)))] if with_length else []
        start_response("200 OK", headers)
        return iter(pieces)

    s = serve(app, threads=1, max_threads=1, output_buffer=65536)
    with Conn(addr(s), timeout=10, rcvbuf=4096) as c:
        for _ in range(2):
            c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            r = c.read_response()
            assert r.status == 200 and not r.incomplete
            assert (hget(r.headers, "Transfer-Encoding") == "chunked") is not with_length
            assert len(r.body) == len(body)
            assert r.body == body


# --------------------------------------------------------------------------- close()


class Closing:
    def __init__(self, chunks, fail_at=None, limit=None):
        self.chunks = chunks
        self.fail_at = fail_at
        self.closed = 0
        self.event = threading.Event()

    def __iter__(self):
        for i, c in enumerate(self.chunks):
            if self.fail_at == i:
                raise RuntimeError("iteration failure")
            yield c

    def close(self):
        self.closed += 1
        self.event.set()


def test_close_called_once_on_success(serve):
    it = Closing([b"a", b"b"])

    def app(environ, start_response):
        start_response("200 OK", [("Content-Length", "2")])
        return it

    s = serve(app)
    r = http_request(addr(s), GET)
    assert r.body == b"ab"
    assert it.event.wait(5)
    assert wait_until(lambda: it.closed >= 1) and it.closed == 1


def test_close_called_once_on_error_before_body(serve):
    it = Closing([b"a", b"b"], fail_at=0)

    def app(environ, start_response):
        start_response("200 OK", [])
        return it

    s = serve(app)
    r = http_request(addr(s), GET)
    assert r.status == 500
    assert it.event.wait(5)
    assert it.closed == 1


def test_close_called_once_on_error_mid_body(serve):
    it = Closing([b"a", b"b", b"c"], fail_at=2)

    def app(environ, start_response):
        start_response("200 OK", [])
        return it

    s = serve(app)
    with Conn(addr(s)) as c:
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        r = c.read_response()
        assert r.incomplete
        assert c.wait_closed(3)
    assert it.event.wait(5)
    assert it.closed == 1


def test_close_called_when_start_response_fails_in_iteration(serve):
    """start_response called lazily (inside the iterable) with a bad status: 500, and the
    iterable's close() is still called exactly once."""
    closed = []
    done = threading.Event()

    def app(environ, start_response):
        class Lazy:
            def __iter__(self):
                start_response("bad", [])
                yield b"never"

            def close(self):
                closed.append(1)
                done.set()

        return Lazy()

    s = serve(app)
    r = http_request(addr(s), GET)
    assert r.status == 500
    assert b"never" not in r.body
    assert done.wait(5)
    assert closed == [1]


def test_close_called_when_client_disconnects(serve):
    produced = [0]
    done = threading.Event()

    class Endless:
        closed = 0

        def __iter__(self):
            piece = b"x" * 65536
            for _ in range(16384):  # bounded: 1 GiB at most
                produced[0] += 1
                yield piece

        def close(self):
            Endless.closed += 1
            done.set()

    def app(environ, start_response):
        if environ["PATH_INFO"] == "/ping":
            start_response("200 OK", [("Content-Length", "4")])
            return [b"pong"]
        start_response("200 OK", [])
        return Endless()

    s = serve(app)
    c = Conn(addr(s))
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    got = c.sock.recv(65536)
    assert got.startswith(b"HTTP/1.1 200")
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    c.close()  # RST
    assert done.wait(20), "close() not called after the client went away"
    assert Endless.closed == 1
    assert produced[0] < 16384, "the server kept iterating after the client disconnected"
    # and the server still works
    r = http_request(addr(s), b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", timeout=5)
    assert r.status == 200 and r.body == b"pong"


# --------------------------------------------------------------------------- app errors


def test_app_exception_gives_500_without_traceback(serve, error_log):
    def app(environ, start_response):
        raise ZeroDivisionError("secret-internal-detail-5521")

    s = serve(app)
    r = http_request(addr(s), GET)
    assert r.status == 500
    assert b"secret-internal-detail-5521" not in r.body
    assert b"Traceback" not in r.body
    assert b"ZeroDivisionError" not in r.body
    text = error_log.wait_for("secret-internal-detail-5521")
    assert "secret-internal-detail-5521" in text
    assert "Traceback" in text and "ZeroDivisionError" in text


def test_app_exception_connection_usable_or_closed_cleanly(serve):
    calls = []

    def app(environ, start_response):
        calls.append(environ["PATH_INFO"])
        if environ["PATH_INFO"] == "/fail":
            raise RuntimeError("x")
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    s = serve(app)
    with Conn(addr(s)) as c:
        c.send(b"GET /fail HTTP/1.1\r\nHost: x\r\n\r\nGET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
        r1 = c.read_response()
        assert r1.status == 500
        assert not r1.incomplete
        try:
            r2 = c.read_response()
        except Exception:
            r2 = None
    if r2 is not None:
        assert r2.status == 200 and r2.body == b"ok"
    # the server stays up either way
    assert http_request(addr(s), GET).status == 200


def test_exception_in_generator_mid_body_logged(serve, error_log):
    def app(environ, start_response):
        start_response("200 OK", [("Content-Length", "100")])

        def gen():
            yield b"x" * 10
            raise KeyError("mid-body-marker-9012")

        return gen()

    s = serve(app)
    with Conn(addr(s)) as c:
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        r = c.read_response()
        assert r.incomplete
        assert b"mid-body-marker" not in r.body
    assert "mid-body-marker-9012" in error_log.wait_for("mid-body-marker-9012")


def test_close_raising_is_logged_not_fatal(serve, error_log):
    class Bad:
        def __iter__(self):
            yield b"ok"

        def close(self):
            raise RuntimeError("close-failure-3141")

    def app(environ, start_response):
        start_response("200 OK", [("Content-Length", "2")])
        return Bad()

    s = serve(app)
    r = http_request(addr(s), GET)
    assert r.body == b"ok"
    assert "close-failure-3141" in error_log.wait_for("close-failure-3141")
    assert http_request(addr(s), GET).status == 200


# --------------------------------------------------------------------------- file_wrapper


@pytest.fixture
def datafile(tmp_path):
    data = os.urandom(1024 * 1024 + 123)
    p = tmp_path / "data.bin"
    p.write_bytes(data)
    return p, data


def test_file_wrapper_real_file_with_length(serve, datafile):
    path, data = datafile
    opened = []

    def app(environ, start_response):
        f = open(path, "rb")
        opened.append(f)
        start_response("200 OK", [("Content-Length", str(len(data)))])
        return environ["wsgi.file_wrapper"](f, 32768)

    s = serve(app)
    with Conn(addr(s), timeout=10) as c:
        r = c.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert r.body == data
        r2 = c.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert r2.body == data
    assert wait_until(lambda: all(f.closed for f in opened)), "file_wrapper must close the file"


def test_file_wrapper_content_length_honoured(serve, datafile):
    path, data = datafile

    def app(environ, start_response):
        start_response("200 OK", [("Content-Length", "1000")])
        return environ["wsgi.file_wrapper"](open(path, "rb"))

    s = serve(app)
    with Conn(addr(s), timeout=10) as c:
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        r = c.read_response()
        assert r.body == data[:1000]
        # Nothing past Content-Length: either the connection is reused cleanly or closed.
        c.wait_closed(0.5)
        assert c.buf == b""


def test_file_wrapper_starts_at_current_position(serve, datafile):
    path, data = datafile

    def app(environ, start_response):
        f = open(path, "rb")
        f.seek(100)
        start_response("200 OK", [("Content-Length", str(len(data) - 100))])
        return environ["wsgi.file_wrapper"](f)

    s = serve(app)
    r = http_request(addr(s), GET, timeout=10)
    assert r.body == data[100:]


def test_file_wrapper_real_file_chunked(serve, datafile):
    path, data = datafile

    def app(environ, start_response):
        start_response("200 OK", [])
        return environ["wsgi.file_wrapper"](open(path, "rb"))

    s = serve(app)
    with Conn(addr(s), timeout=10) as c:
        r = c.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    # chunked, or a Content-Length the server took from the file's size
    assert r.chunked or r.header("content-length") == str(len(data))
    assert r.body == data
    assert not r.incomplete


def test_file_wrapper_bytesio_fallback(serve):
    data = os.urandom(300000)
    bios = []

    def app(environ, start_response):
        b = io.BytesIO(data)
        bios.append(b)
        start_response("200 OK", [("Content-Length", str(len(data)))])
        return environ["wsgi.file_wrapper"](b, 8192)

    s = serve(app)
    with Conn(addr(s), timeout=10) as c:
        r = c.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert r.body == data
        r = c.request(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert r.body == b"" and r.header("content-length") == str(len(data))
    assert wait_until(lambda: all(b.closed for b in bios))


def test_file_wrapper_public_class(serve, datafile):
    from morello import FileWrapper

    path, data = datafile

    def app(environ, start_response):
        start_response("200 OK", [("Content-Length", str(len(data)))])
        return FileWrapper(open(path, "rb"))

    s = serve(app)
    r = http_request(addr(s), GET, timeout=10)
    assert r.body == data


def test_file_wrapper_slow_readers_then_bytes_bodies(serve, datafile):
    # A connection that sent a file keeps its unsent bytes capped (TCP_NOTSENT_LOWAT) for the
    # rest of its life: the file must still arrive whole to readers that stall and read in
    # small pieces, on several connections at once, and later large bytes bodies on the same
    # connections must too.
    path, data = datafile
    blob = os.urandom(300_000)

    def app(environ, start_response):
        if environ["PATH_INFO"] == "/file":
            start_response("200 OK", [("Content-Length", str(len(data)))])
            return environ["wsgi.file_wrapper"](open(path, "rb"), 65536)
        start_response("200 OK", [("Content-Length", str(len(blob)))])
        return [blob]

    s = serve(app)
    results = {}

    def client(n):
        with Conn(addr(s), timeout=10) as c:
            c.send(b"GET /file HTTP/1.1\r\nHost: x\r\n\r\n")
            time.sleep(0.2)  # the server fills the socket and waits for room
            while len(c.buf) < 256 * 1024:
                piece = c.sock.recv(4096)
                assert piece, "connection closed mid-file"
                c.buf += piece
                if len(c.buf) % 16 == 0:
                    time.sleep(0.001)
            first = c.read_response()
            second = c.request(b"GET /bytes HTTP/1.1\r\nHost: x\r\n\r\n")
            third = c.request(b"GET /file HTTP/1.1\r\nHost: x\r\n\r\n")
            results[n] = (first.body == data, second.body == blob, third.body == data)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results == {n: (True, True, True) for n in range(4)}
