"""Hostile clients: slow, greedy, flooding, half-closed and resetting connections.

Every test runs a real server (in-process, or as a ``python -m morello`` subprocess when the
server process itself is measured through /proc) on 127.0.0.1, port 0. Every wait is bounded;
the bounds are generous, so none of these is a speed test: each checks that an attack is cut
short, that memory and CPU stay bounded, and that other clients keep being served.
"""

import resource
import select
import socket
import threading
import time

import pytest

from conftest import (
    Recorder,
    addr,
    cpu_share,
    proc_fd_count,
    wait_until,
)
from httpclient import Conn, simple_get

KIB = 1 << 10
MIB = 1 << 20
GIB = 1 << 30

# The app served by the subprocess servers. /endless streams 1 MiB chunks (2 GiB by default)
# and records its close() in a file named after ?tag=; any other path answers with the path.
PROC_APP = r'''
import os
from urllib.parse import parse_qsl

DIR = os.environ["MORELLO_TEST_DIR"]
MIB = 1 << 20
PIECE = bytes(range(256)) * (MIB // 256)


def mark(name):
    with open(os.path.join(DIR, name), "a") as f:
        f.write("x\n")


class Endless:
    def __init__(self, total, tag):
        self.total = total
        self.tag = tag

    def __iter__(self):
        sent = 0
        while sent < self.total:
            yield PIECE
            sent += len(PIECE)

    def close(self):
        mark("closed-" + self.tag)


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/endless":
        qs = dict(parse_qsl(environ["QUERY_STRING"]))
        total = int(qs.get("total", 2 << 30))
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return Endless(total, qs.get("tag", "x"))
    body = path.encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
'''

PIECE = bytes(range(256)) * (MIB // 256)


def closed_marks(tmp_path, tag):
    p = tmp_path / ("closed-" + tag)
    return p.read_text().count("x") if p.exists() else 0


def get_ok(address, path="/ok", timeout=5):
    r = simple_get(address, path, timeout=timeout)
    assert r.status == 200, r
    return r


def read_head(c):
    """Reads a response head off a Conn; returns its lines."""
    lines = []
    while True:
        line = c._readline()
        if line == b"\r\n":
            return lines
        lines.append(line)


def read_stream_chunks(c, count):
    """Reads ``count`` 1 MiB chunks of /endless's chunked body and checks each one."""
    for i in range(count):
        size_line = c._readline()
        assert int(size_line.split(b";")[0], 16) == MIB, "chunk %d: size line %r" % (i, size_line)
        data = c._readexact(MIB)
        assert data == PIECE, "chunk %d: wrong bytes" % i
        assert c._readexact(2) == b"\r\n"


def warm_up(srv):
    """Exercises the streaming path once so that baseline RSS includes its caches."""
    with Conn(srv.address, timeout=10) as c:
        c.send(b"GET /endless?total=%d&tag=warm HTTP/1.1\r\nHost: x\r\n\r\n" % (8 * MIB))
        r = c.read_response()
        assert r.status == 200 and len(r.body) == 8 * MIB and not r.incomplete
    get_ok(srv.address)


# --------------------------------------------------------------------------- slow clients


@pytest.mark.timeout(40)
def test_slowloris_200_trickling_heads_are_cut_and_others_served(serve):
    n = 200
    header_timeout = 2.0
    allowed = header_timeout + 3.0
    s = serve(Recorder(), header_timeout=header_timeout, threads=2)
    # A head that takes 50 s to send at this rate: it can only end by the server's timeout.
    head = b"GET /slowloris HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 200 + b"\r\n\r\n"
    socks = []
    for _ in range(n):
        sk = socket.create_connection(addr(s), timeout=5)
        sk.setblocking(False)
        socks.append(sk)
    pos = [0] * n
    started = [None] * n
    ended = [None] * n
    got = [b""] * n

    normal = {}

    def normal_client():
        t0 = time.monotonic()
        try:
            normal["status"] = simple_get(addr(s), "/normal", timeout=5).status
        except Exception as e:  # recorded, asserted below
            normal["error"] = repr(e)
        normal["elapsed"] = time.monotonic() - t0

    normal_thread = threading.Thread(target=normal_client, daemon=True)
    t_start = time.monotonic()
    try:
        while time.monotonic() - t_start < allowed + 3 and not all(ended):
            now = time.monotonic()
            if "thread" not in normal and now - t_start > 1.0:
                normal["thread"] = True
                normal_thread.start()
            for i, sk in enumerate(socks):
                if ended[i] is not None:
                    continue
                try:
                    sent = sk.send(head[pos[i]:pos[i] + 1])
                    pos[i] += sent
                    if started[i] is None and sent:
                        started[i] = time.monotonic()
                except (BlockingIOError, InterruptedError):
                    pass
                except (BrokenPipeError, ConnectionResetError):
                    ended[i] = time.monotonic()
            deadline = time.monotonic() + 0.2
            while True:
                wait = deadline - time.monotonic()
                if wait <= 0:
                    break
                live = [sk for i, sk in enumerate(socks) if ended[i] is None]
                if not live:
                    break
                readable, _, _ = select.select(live, [], [], wait)
                for sk in readable:
                    i = socks.index(sk)
                    try:
                        data = sk.recv(65536)
                    except (BlockingIOError, InterruptedError):
                        continue
                    except ConnectionResetError:
                        data = b""
                    if data:
                        got[i] += data
                    else:
                        ended[i] = time.monotonic()
        normal_thread.join(6)
    finally:
        for sk in socks:
            sk.close()

    assert pos[0] < len(head), "the slow head was sent completely: the test is too slow to prove anything"
    open_ = [i for i in range(n) if ended[i] is None]
    assert not open_, "%d of %d slowloris connections still open %.1f s after their first byte (header_timeout=%g)" % (
        len(open_), n, allowed + 3, header_timeout)
    late = [ended[i] - started[i] for i in range(n) if ended[i] - started[i] > allowed]
    assert not late, "%d slowloris connections cut later than header_timeout + 3 s: worst %.2f s" % (len(late), max(late))
    bad = [got[i][:40] for i in range(n) if got[i] and not got[i].startswith(b"HTTP/1.1 408 ")]
    assert not bad, "slowloris connections answered with something other than 408: %r" % bad[:5]
    assert "error" not in normal, "a normal client failed during the attack: %s" % normal.get("error")
    assert normal.get("status") == 200, normal
    assert normal["elapsed"] < 5.0, "a normal client waited %.2f s during the attack" % normal["elapsed"]


@pytest.mark.timeout(30)
def test_slow_bodies_are_cut_after_read_timeout_and_others_served(serve):
    app = Recorder(read_body=True)
    s = serve(app, read_timeout=1, threads=2)
    conns = []
    try:
        t0 = time.monotonic()
        for _ in range(10):
            c = Conn(addr(s), timeout=10)
            c.send(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + b"b" * 10)
            conns.append(c)
        # While every slow body holds (or waits for) a worker, a normal request is answered.
        assert wait_until(lambda: app.calls >= 2, timeout=5), "the slow-body requests never reached the app"
        t1 = time.monotonic()
        r = simple_get(addr(s), "/normal", timeout=5)
        assert r.status == 200, r
        assert time.monotonic() - t1 < 5.0
        for i, c in enumerate(conns):
            remaining = max(0.1, t0 + 1 + 5 - time.monotonic())
            assert c.wait_closed(remaining), "slow body %d: connection still open %.1f s after read_timeout=1" % (
                i, time.monotonic() - t0)
            if c.buf:
                assert c.buf.startswith(b"HTTP/1.1 408 "), "slow body %d answered %r" % (i, c.buf[:60])
    finally:
        for c in conns:
            c.close()
    # Only the GET /normal body (empty) was read completely: no stalled body was handed over.
    assert app.bodies == [b""], "a stalled body was handed to the app as complete: %r" % app.bodies
    assert simple_get(addr(s), "/after", timeout=5).status == 200


@pytest.mark.timeout(60)
def test_slow_reader_of_endless_response_keeps_rss_bounded(spawn, tmp_path):
    srv = spawn(PROC_APP, "--threads", "2")
    warm_up(srv)
    base = srv.rss_kib()
    c = Conn(srv.address, timeout=10)
    try:
        c.send(b"GET /endless?tag=slow HTTP/1.1\r\nHost: x\r\n\r\n")
        # Read nothing for 3 s while the app could produce 2 GiB.
        peak_rss = base
        t0 = time.monotonic()
        while time.monotonic() - t0 < 3.0:
            peak_rss = max(peak_rss, srv.rss_kib())
            time.sleep(0.05)
        hwm = srv.hwm_kib()
        grown = (max(hwm, peak_rss) - base) / 1024
        assert grown < 64, "RSS grew by %.1f MiB while a client read nothing of an endless response" % grown
        # The response resumes intact once the client reads again.
        head = read_head(c)
        assert head[0].startswith(b"HTTP/1.1 200 "), head
        read_stream_chunks(c, 16)
    finally:
        c.close()
    # The client went away mid-response: the app's iterable is closed exactly once.
    assert wait_until(lambda: closed_marks(tmp_path, "slow") >= 1, timeout=10), \
        "close() not called after the slow reader disconnected"
    get_ok(srv.address)
    assert closed_marks(tmp_path, "slow") == 1
    assert srv.alive()


@pytest.mark.timeout(60)
def test_write_timeout_closes_stalled_endless_response_and_calls_close(spawn, tmp_path):
    srv = spawn(PROC_APP, "--threads", "2", "--write-timeout", "2")
    warm_up(srv)
    base = srv.rss_kib()
    c = Conn(srv.address, timeout=10)
    try:
        c.send(b"GET /endless?tag=wt HTTP/1.1\r\nHost: x\r\n\r\n")
        t0 = time.monotonic()
        assert wait_until(lambda: closed_marks(tmp_path, "wt") >= 1, timeout=2 + 8), \
            "close() not called within write_timeout=2 + 8 s of a client reading nothing"
        elapsed = time.monotonic() - t0
        grown = (srv.hwm_kib() - base) / 1024
        assert grown < 64, "RSS grew by %.1f MiB while a client read nothing" % grown
        # The connection is closed: what was in flight drains, then EOF, long before 2 GiB.
        received = 0
        c.sock.settimeout(5)
        while True:
            try:
                data = c.sock.recv(1 << 20)
            except ConnectionResetError:
                break
            except socket.timeout:
                pytest.fail("connection still open %.1f s after the write timeout closed the app" % (
                    time.monotonic() - t0))
            if not data:
                break
            received += len(data)
        assert received < 256 * MIB, "received %d bytes: the response was not cut" % received
    finally:
        c.close()
    assert elapsed >= 1.0, "the write timeout (2 s) fired after only %.2f s" % elapsed
    get_ok(srv.address)
    assert closed_marks(tmp_path, "wt") == 1, "close() called %d times" % closed_marks(tmp_path, "wt")


# --------------------------------------------------------------------------- pipelining


def parse_pipelined(buf, start, expected_index):
    """Parses as many complete responses as ``buf[start:]`` holds; checks each is the answer to
    GET /p/<index> in order. Returns (new start, next expected index)."""
    while True:
        end = buf.find(b"\r\n\r\n", start)
        if end < 0:
            return start, expected_index
        head = bytes(buf[start:end])
        lines = head.split(b"\r\n")
        assert lines[0] == b"HTTP/1.1 200 OK", "response %d: status line %r" % (expected_index, lines[0])
        length = None
        for line in lines[1:]:
            k, sep, v = line.partition(b":")
            assert sep, "response %d: bad header line %r" % (expected_index, line)
            if k.strip().lower() == b"content-length":
                length = int(v.strip())
        assert length is not None, "response %d has no Content-Length: %r" % (expected_index, head)
        if len(buf) < end + 4 + length:
            return start, expected_index
        body = bytes(buf[end + 4:end + 4 + length])
        assert body == b"/p/%d" % expected_index, "response %d out of order: body %r" % (expected_index, body)
        start = end + 4 + length
        expected_index += 1


@pytest.mark.timeout(90)
def test_100k_pipelined_requests_unread_keep_rss_bounded_then_answered_in_order(spawn):
    total = 100_000
    srv = spawn(PROC_APP, "--threads", "2")
    warm_up(srv)
    base = srv.rss_kib()
    requests = [b"GET /p/%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(total)]
    data = memoryview(b"".join(requests))
    sk = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # Small client buffers, so that the kernel absorbs little and the server's own reading is tested.
    sk.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * KIB)
    sk.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * KIB)
    sk.settimeout(10)
    sk.connect(srv.address)
    sk.settimeout(1.0)  # a send that makes no progress for 1 s: the server stopped reading
    state = {"sent": 0, "stalled_at": None, "error": None}
    stalled = threading.Event()
    go = threading.Event()

    def sender():
        try:
            while state["sent"] < len(data):
                try:
                    state["sent"] += sk.send(data[state["sent"]:state["sent"] + 256 * KIB])
                except socket.timeout:
                    if not stalled.is_set():
                        state["stalled_at"] = state["sent"]
                        stalled.set()
                        go.wait(60)
                    else:
                        pass  # the reader is reading: keep trying
        except OSError as e:
            state["error"] = e
        finally:
            stalled.set()

    t = threading.Thread(target=sender, daemon=True)
    t.start()
    try:
        assert stalled.wait(60), "the sender neither finished nor stalled"
        # Nothing has been read yet: the server must have stopped reading instead of buffering.
        time.sleep(0.5)
        hwm = srv.hwm_kib()
        grown = (hwm - base) / 1024
        assert grown < 64, "RSS grew by %.1f MiB with %d pipelined requests sent and no response read" % (
            grown, (state["stalled_at"] or state["sent"]) // len(requests[0]))
        go.set()
        buf = bytearray()
        start = 0
        index = 0
        sk.settimeout(10)
        deadline = time.monotonic() + 60
        while index < total:
            assert time.monotonic() < deadline, "only %d of %d responses within 60 s" % (index, total)
            try:
                chunk = sk.recv(1 << 20)
            except socket.timeout:
                pytest.fail("no response for 10 s after %d of %d responses (sender: %r)" % (index, total, state))
            assert chunk, "connection closed after %d of %d responses (sender: %r)" % (index, total, state)
            buf += chunk
            start, index = parse_pipelined(buf, start, index)
            if start > 4 * MIB:
                del buf[:start]
                start = 0
        t.join(10)
        assert state["error"] is None, state
        assert state["sent"] == len(data)
        assert start == len(buf), "bytes after the last response: %r" % bytes(buf[start:start + 100])
    finally:
        go.set()
        sk.close()
    get_ok(srv.address)


# --------------------------------------------------------------------------- floods

CHUNKED_HEAD = b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"

FLOODS = [
    # name, what is sent first, what is then repeated, accepted statuses
    ("10k-headers", b"GET / HTTP/1.1\r\nHost: x\r\n", b"X-Flood: a\r\n", (431, 400)),
    ("endless-header-line", b"GET / HTTP/1.1\r\nHost: x\r\nX-Long: ", b"a" * 64, (431, 400)),
    ("endless-request-line", b"GET /", b"a" * 64, (414, 400)),
    ("endless-empty-lines-before-request", b"", b"\r\n", (400,)),
    ("endless-trailers", CHUNKED_HEAD + b"1\r\na\r\n0\r\n", b"X-Trailer: v\r\n", (431, 400)),
    ("endless-trailer-line", CHUNKED_HEAD + b"1\r\na\r\n0\r\nX-Trailer: ", b"v" * 64, (431, 400)),
    ("endless-chunk-extensions", CHUNKED_HEAD + b"5", b";a=b", (431, 400)),
    ("endless-chunk-size-zeros", CHUNKED_HEAD, b"0" * 64, (400,)),
]


def flood(address, prefix, filler, cap=4 * MIB):
    """Sends ``prefix`` then ``filler`` repeated, until a response (or close) arrives or ``cap``
    bytes are sent. Returns (bytes sent before the server answered, bytes received)."""
    sk = socket.create_connection(address, timeout=5)
    try:
        sk.sendall(prefix)
        sent = len(prefix)
        block = memoryview(filler * max(1, (16 * KIB) // len(filler)))
        off = 0
        sk.settimeout(2.0)
        answered = False
        while sent < cap:
            readable, _, _ = select.select([sk], [], [], 0.001)
            if readable:
                answered = True
                break
            try:
                n = sk.send(block[off:])
            except socket.timeout:
                break  # the server stopped reading; it had better answer now
            except (BrokenPipeError, ConnectionResetError):
                answered = True
                break
            sent += n
            off = (off + n) % len(block)
        received = b""
        sk.settimeout(3.0)
        try:
            while b"\r\n\r\n" not in received:
                d = sk.recv(65536)
                if not d:
                    break
                received += d
        except (socket.timeout, ConnectionResetError):
            pass
        if not answered and not received:
            pytest.fail("no response and no close after %d bytes of flood" % sent)
        return sent, received
    finally:
        sk.close()


@pytest.mark.timeout(30)
@pytest.mark.parametrize("name,prefix,filler,statuses", FLOODS, ids=[f[0] for f in FLOODS])
def test_flood_is_rejected_before_1mib_past_the_limit(serve, name, prefix, filler, statuses):
    limit = 8190  # limit_request_line and limit_request_field_size, set explicitly below
    s = serve(
        Recorder(read_body=True),
        limit_request_line=limit,
        limit_request_field_size=limit,
        limit_request_fields=100,
    )
    sent, received = flood(addr(s), prefix, filler)
    assert sent < limit + MIB, "%s: the server took %d bytes (limit %d) before answering" % (name, sent, limit)
    status_line = received.split(b"\r\n", 1)[0]
    assert any(status_line.startswith(b"HTTP/1.1 %d " % st) for st in statuses), \
        "%s: expected %s after %d bytes, got %r" % (name, "/".join(map(str, statuses)), sent, received[:80])
    assert simple_get(addr(s), "/after", timeout=5).status == 200


# --------------------------------------------------------------------------- half-closed, reset


def half_open_app(environ, start_response):
    time.sleep(0.3)  # the client's FIN arrives before the response is produced
    n = int(environ["QUERY_STRING"] or "0")
    if environ["PATH_INFO"] == "/stream":
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return (b"s" * (64 * KIB) for _ in range(n))
    body = b"l" * (64 * KIB * n)
    start_response("200 OK", [("Content-Length", str(len(body)))])
    return [body]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("path", ["/stream", "/list"])
def test_half_closed_client_still_gets_full_response(serve, path):
    s = serve(half_open_app)
    with Conn(addr(s), timeout=10) as c:
        c.send(b"GET %s?16 HTTP/1.1\r\nHost: x\r\n\r\n" % path.encode())
        c.sock.shutdown(socket.SHUT_WR)
        r = c.read_response()
        assert r.status == 200, r
        assert not r.incomplete, "response cut after %d bytes" % len(r.body)
        assert len(r.body) == 16 * 64 * KIB
        assert c.wait_closed(5), "the server kept a half-closed connection open after answering"


@pytest.mark.timeout(30)
def test_half_closed_client_gets_every_pipelined_response(serve):
    s = serve(half_open_app)
    with Conn(addr(s), timeout=10) as c:
        c.send(b"GET /list?1 HTTP/1.1\r\nHost: x\r\n\r\nGET /stream?2 HTTP/1.1\r\nHost: x\r\n\r\n")
        c.sock.shutdown(socket.SHUT_WR)
        r1 = c.read_response()
        r2 = c.read_response()
        assert (r1.status, len(r1.body), r1.incomplete) == (200, 64 * KIB, False), r1
        assert (r2.status, len(r2.body), r2.incomplete) == (200, 128 * KIB, False), r2


def _echo_body_app(environ, start_response):
    body = environ["wsgi.input"].read()
    out = b"%s %s" % (environ["PATH_INFO"].encode(), body)
    start_response("200 OK", [("Content-Length", str(len(out)))])
    return [out]


# Where the urgent byte goes: (bytes before it, bytes after it). The kernel takes the urgent
# byte out of the stream, so the server sees the two parts joined.
URGENT_SPLITS = {
    "inside a head": (b"GET /a HTTP/1.1\r\nHo", b"st: x\r\n\r\n"),
    "between pipelined requests": (
        b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n",
    ),
    "inside a body": (
        b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello",
        b"world",
    ),
}


@pytest.mark.timeout(30)
@pytest.mark.parametrize("where", sorted(URGENT_SPLITS))
def test_urgent_data_does_not_stall_its_connection(serve, where):
    """TCP urgent data (MSG_OOB): a read stops at the urgent mark with the bytes after it
    already queued, and they raise no new event. Before the fix the server trusted the short
    read and waited for those bytes until the header or read timeout (10 s here)."""
    s = serve(_echo_body_app, header_timeout=10, read_timeout=10)
    before, after = URGENT_SPLITS[where]
    with Conn(addr(s), timeout=5) as c:
        # Corked, the three sends leave in one segment: all of it is queued at the server
        # before its first read, which then stops at the urgent mark.
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
        c.sock.sendall(before)
        c.sock.send(b"!", socket.MSG_OOB)
        c.sock.sendall(after)
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 0)
        started = time.monotonic()
        responses = [c.read_response()]
        if where == "between pipelined requests":
            responses.append(c.read_response())
        took = time.monotonic() - started
    bodies = [r.body for r in responses]
    assert all(r.status == 200 for r in responses), responses
    expected = {
        "inside a head": [b"/a "],
        "between pipelined requests": [b"/a ", b"/b "],
        "inside a body": [b"/a helloworld"],
    }[where]
    assert bodies == expected
    assert took < 5, "answered only after %.1f s" % took


@pytest.mark.timeout(40)
def test_reset_mid_response_leaves_server_idle_and_serving(spawn, tmp_path):
    srv = spawn(PROC_APP, "--threads", "2")
    warm_up(srv)
    sk = socket.create_connection(srv.address, timeout=10)
    sk.sendall(b"GET /endless?tag=rst HTTP/1.1\r\nHost: x\r\n\r\n")
    got = 0
    while got < MIB:
        d = sk.recv(65536)
        assert d, "closed after %d bytes" % got
        got += len(d)
    sk.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sk.close()  # RST
    share = cpu_share(srv.pid, 2.0)
    assert share < 0.05, "the server used %.0f%% of a core in the 2 s after a client reset" % (share * 100)
    assert wait_until(lambda: closed_marks(tmp_path, "rst") >= 1, timeout=5), \
        "close() not called after the client reset the connection"
    get_ok(srv.address)
    assert closed_marks(tmp_path, "rst") == 1
    assert srv.alive()


# --------------------------------------------------------------------------- connection limits


def _hold_and_overflow(address, cap, extra):
    """Opens ``cap`` served keep-alive connections and ``extra`` more that send a request."""
    held = []
    for i in range(cap):
        c = Conn(address, timeout=10)
        held.append(c)
        r = c.request(b"GET /held/%d HTTP/1.1\r\nHost: x\r\n\r\n" % i)
        assert r.status == 200, r
    waiting = []
    for i in range(extra):
        c = Conn(address, timeout=10)  # the kernel completes the handshake: it waits in the backlog
        waiting.append(c)
        c.send(b"GET /waiting/%d HTTP/1.1\r\nHost: x\r\n\r\n" % i)
    return held, waiting


def _check_waiting_then_served(held, waiting):
    for i, c in enumerate(waiting):
        assert not c.wait_closed(1.0 if i == 0 else 0.05), "connection %d past the cap was closed or reset" % i
        assert c.buf == b"", "connection %d past the cap was served while the cap was reached: %r" % (i, c.buf[:60])
    for c in held:
        c.close()
    for i, c in enumerate(waiting):
        r = c.read_response()  # Conn timeout 10 s
        assert r.status == 200 and r.body == b"ok", "waiting connection %d: %r" % (i, r)


@pytest.mark.timeout(40)
def test_max_connections_stops_accepting_then_serves_waiting(serve, error_log):
    cap = 4
    s = serve(Recorder(), max_connections=cap, keepalive=30, threads=2)
    held, waiting = _hold_and_overflow(addr(s), cap, 3)
    try:
        assert s.stats()["connections"] <= cap, s.stats()
        _check_waiting_then_served(held, waiting)
        assert s.running
        assert simple_get(addr(s), "/after", timeout=5).status == 200
    finally:
        for c in held + waiting:
            c.close()
    errors = [r for r in error_log.records if r.levelno >= 40]
    assert not errors, "reaching max_connections logged errors:\n" + error_log.text()


CAP_APP = '''
def app(environ, start_response):
    start_response("200 OK", [("Content-Length", "2")])
    return [b"ok"]
'''


@pytest.mark.timeout(40)
def test_max_connections_cli_flag(spawn):
    srv = spawn(CAP_APP, "--max-connections", "2", "--keep-alive", "30")
    held, waiting = _hold_and_overflow(srv.address, 2, 2)
    try:
        _check_waiting_then_served(held, waiting)
        assert srv.alive(), srv.output()
    finally:
        for c in held + waiting:
            c.close()


def _low_nofile(limit):
    def preexec():
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    return preexec


@pytest.mark.timeout(60)
def test_emfile_does_not_busy_loop_and_recovers(spawn):
    limit = 64
    srv = spawn(PROC_APP, "--threads", "2", "--log-level", "info", preexec_fn=_low_nofile(limit))
    get_ok(srv.address)
    used = proc_fd_count(srv.pid)
    assert used < limit - 8, "the server already uses %d of %d fds" % (used, limit)
    lines_before = srv.line_count()
    excess = limit - used + 32
    conns = []
    try:
        for _ in range(excess):
            conns.append(socket.create_connection(srv.address, timeout=5))
        # Let the server accept what it can and hit EMFILE.
        assert wait_until(lambda: proc_fd_count(srv.pid) >= limit - 4, timeout=5), \
            "the server did not accept up to its fd limit: %d fds" % proc_fd_count(srv.pid)
        share = cpu_share(srv.pid, 2.0)
        assert share < 0.20, "the server used %.0f%% of a core while out of fds (busy loop?)" % (share * 100)
        assert srv.alive(), srv.output()[-2000:]
        logged = srv.line_count() - lines_before
        assert logged < 200, "%d log lines while out of fds:\n%s" % (logged, srv.output()[-2000:])
    finally:
        for sk in conns:
            sk.close()
    # Once the connections are gone the server accepts and serves again.
    r = None
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            r = simple_get(srv.address, "/recovered", timeout=5)
            break
        except OSError:
            time.sleep(0.2)
    assert r is not None and r.status == 200 and r.body == b"/recovered", r
    assert srv.alive()

