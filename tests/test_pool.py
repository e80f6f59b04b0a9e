"""The thread pool, the queue, idle connections and timeouts."""

import os
import resource
import socket
import subprocess
import sys
import threading
import time

import pytest

from conftest import Recorder, addr, wait_until
from httpclient import Conn, http_request

LOADGEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "loadgen.py")


def start_load(s, nconn, duration, path="/"):
    host, port = addr(s)
    p = subprocess.Popen(
        [sys.executable, LOADGEN, host, str(port), str(nconn), str(duration), path],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = p.stdout.readline()
    if line.strip() != "go":
        p.kill()
        out, err = p.communicate(timeout=10)
        pytest.fail("load generator did not start: %r %r %r" % (line, out, err))
    return p


def finish_load(p, timeout=60):
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        pytest.fail("load generator did not finish: %r" % err)
    return out.strip().splitlines()[-1] if out.strip() else "", err


def parse_done(line):
    assert line.startswith("done "), line
    fields = dict(kv.split("=", 1) for kv in line.split()[1:])
    return int(fields["OK"]), int(fields["ERR"]), fields["STATUS"]


def test_stats_keys_and_idle_threads(serve):
    s = serve(Recorder(), threads=4, max_threads=16)
    st = s.stats()
    assert set(st) >= {"threads", "busy_threads", "queued", "connections", "requests"}
    assert wait_until(lambda: s.stats()["threads"] == 4)
    st = s.stats()
    assert st["threads"] == 4
    assert st["busy_threads"] == 0
    assert st["queued"] == 0
    assert st["requests"] == 0


def test_stats_counts_requests_and_busy(serve):
    entered = threading.Event()
    release = threading.Event()

    def app(environ, start_response):
        if environ["PATH_INFO"] == "/block":
            entered.set()
            release.wait(10)
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    s = serve(app, threads=3)
    with Conn(addr(s)) as c:
        for _ in range(3):
            assert c.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").status == 200
    assert wait_until(lambda: s.stats()["requests"] == 3)
    assert s.stats()["requests"] == 3
    c = Conn(addr(s))
    try:
        c.send(b"GET /block HTTP/1.1\r\nHost: x\r\n\r\n")
        assert entered.wait(5)
        st = s.stats()
        assert st["busy_threads"] == 1
        assert st["connections"] >= 1
    finally:
        release.set()
        assert c.read_response().status == 200
        c.close()
    assert wait_until(lambda: s.stats()["busy_threads"] == 0)


def test_cpu_bound_load_does_not_grow_pool(serve):
    def app(environ, start_response):
        end = time.perf_counter() + 0.001
        while time.perf_counter() < end:
            pass
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    s = serve(app, threads=4, max_threads=128)
    assert wait_until(lambda: s.stats()["threads"] == 4)
    p = start_load(s, 64, 3.0)
    samples = []
    while p.poll() is None:
        samples.append(s.stats()["threads"])
        time.sleep(0.01)
    line, err = finish_load(p)
    ok, errors, bad = parse_done(line)
    assert ok > 100, (line, err)
    assert errors == 0 and bad == "", line
    assert samples, "no stats samples taken during load"
    assert max(samples) == 4, "pool grew under CPU-bound load: max threads %d" % max(samples)
    assert min(samples) == 4, "pool fell below `threads` under load: min %d" % min(samples)
    assert s.stats()["threads"] == 4


def test_blocking_load_grows_pool_then_shrinks(serve):
    def app(environ, start_response):
        time.sleep(0.05)
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    s = serve(app, threads=4, max_threads=128)
    assert wait_until(lambda: s.stats()["threads"] == 4)
    p = start_load(s, 80, 4.0)
    t0 = time.monotonic()
    grew_at = None
    peak = 0
    low = 4
    while p.poll() is None:
        n = s.stats()["threads"]
        peak = max(peak, n)
        low = min(low, n)
        if n > 60 and grew_at is None:
            grew_at = time.monotonic() - t0
        time.sleep(0.01)
    line, err = finish_load(p)
    ok, errors, bad = parse_done(line)
    assert errors == 0 and bad == "", line
    assert peak <= 128
    assert low >= 4, "pool fell below `threads` (%d) under load" % low
    assert grew_at is not None, "pool never grew past 60 threads (peak %d)" % peak
    assert grew_at < 2.0, "pool took %.2fs to grow past 60 threads" % grew_at
    # after the load, idle threads are retired back to the floor, never below it
    shrink = []

    def at_floor():
        shrink.append(s.stats()["threads"])
        return shrink[-1] <= 4

    wait_until(at_floor, timeout=15, interval=0.02)
    assert shrink[-1] == 4, "after idle the pool must be back at `threads` (4): %r" % shrink[-5:]
    assert min(shrink) >= 4


def test_pool_never_shrinks_below_threads(serve):
    """Grow/shrink cycles (blocking load, then CPU load on the grown pool, then idle): the
    live thread count must return to exactly `threads` and never go below it."""

    def app(environ, start_response):
        if environ["PATH_INFO"] == "/cpu":
            end = time.perf_counter() + 0.001
            while time.perf_counter() < end:
                pass
        else:
            time.sleep(0.05)
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    s = serve(app, threads=4, max_threads=128)
    assert wait_until(lambda: s.stats()["threads"] == 4)
    history = []
    for rnd in range(3):
        for path in ("/sleep", "/cpu"):
            p = start_load(s, 64, 1.0, path)
            while p.poll() is None:
                history.append(s.stats()["threads"])
                time.sleep(0.01)
            line, err = finish_load(p)
            ok, errors, bad = parse_done(line)
            assert errors == 0 and bad == "", line
        shrink = []

        def settled():
            shrink.append(s.stats()["threads"])
            # at the floor for the last 0.5 s of samples
            return len(shrink) > 25 and all(n == 4 for n in shrink[-25:])

        wait_until(settled, timeout=15, interval=0.02)
        history.extend(shrink)
        assert min(history) >= 4, "round %d: live threads fell to %d, below threads=4" % (rnd, min(history))
        assert shrink[-1] == 4, "round %d: pool did not settle at threads=4: %r" % (rnd, shrink[-10:])


def test_max_threads_is_a_ceiling(serve):
    entered = []
    release = threading.Event()
    lock = threading.Lock()

    def app(environ, start_response):
        with lock:
            entered.append(1)
        release.wait(15)
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    s = serve(app, threads=2, max_threads=5, max_queued=0)
    conns = []
    try:
        for _ in range(10):
            c = Conn(addr(s), timeout=10)
            c.send(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            conns.append(c)
        assert wait_until(lambda: len(entered) == 5 and s.stats()["queued"] == 5, timeout=5), (len(entered), s.stats())
        st = s.stats()
        assert st["threads"] == 5
        assert st["busy_threads"] == 5
        assert len(entered) == 5
    finally:
        release.set()
    statuses = [c.read_response().status for c in conns]
    for c in conns:
        c.close()
    assert statuses == [200] * 10


def test_max_queued_gives_503_with_retry_after(serve):
    entered = threading.Event()
    release = threading.Event()
    calls = []

    def app(environ, start_response):
        calls.append(environ["PATH_INFO"])
        entered.set()
        release.wait(15)
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    s = serve(app, threads=1, max_threads=1, max_queued=2)
    conns = []
    try:
        c1 = Conn(addr(s), timeout=10)
        c1.send(b"GET /1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert entered.wait(5)
        c2 = Conn(addr(s), timeout=10)
        c2.send(b"GET /2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        c3 = Conn(addr(s), timeout=10)
        c3.send(b"GET /3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        conns = [c1, c2, c3]
        assert wait_until(lambda: s.stats()["queued"] == 2, timeout=5), s.stats()
        r4 = http_request(addr(s), b"GET /4 HTTP/1.1\r\nHost: x\r\n\r\n", close_wait=3)
        assert r4.status == 503
        assert r4.header("retry-after") is not None
        assert r4.header("retry-after").strip().isdigit()
        assert r4.closed
        r5 = http_request(addr(s), b"GET /5 HTTP/1.1\r\nHost: x\r\n\r\n", close_wait=3)
        assert r5.status == 503
    finally:
        release.set()
    statuses = [c.read_response().status for c in conns]
    for c in conns:
        c.close()
    assert statuses == [200, 200, 200]
    assert sorted(calls) == ["/1", "/2", "/3"]


def test_idle_keepalive_connections_do_not_use_threads(serve):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 1500
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))
    rec = Recorder()
    s = serve(rec, threads=4, max_threads=128, keepalive=60, backlog=1024)
    assert wait_until(lambda: s.stats()["threads"] == 4)
    conns = []
    try:
        for i in range(500):
            c = Conn(addr(s), timeout=10)
            conns.append(c)
            r = c.request(b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n" % i)
            assert r.status == 200
        st = s.stats()
        assert st["threads"] == 4, st
        assert st["connections"] >= 500, st
        assert st["busy_threads"] == 0, st
        # a new client is still answered promptly
        r = http_request(addr(s), b"GET /new HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert r.status == 200
        # and the idle connections are still alive and usable
        for c in conns[:: 50]:
            assert c.request(b"GET /again HTTP/1.1\r\nHost: x\r\n\r\n").status == 200
        assert s.stats()["threads"] == 4
    finally:
        for c in conns:
            c.close()
    assert rec.calls == 500 + 1 + 10


# --------------------------------------------------------------------------- timeouts


def test_header_timeout_partial_head(serve):
    rec = Recorder()
    s = serve(rec, header_timeout=1)
    with Conn(addr(s), timeout=6) as c:
        c.send(b"GET / HTTP/1.1\r\nHost:")
        t0 = time.monotonic()
        closed = c.wait_closed(5)
        elapsed = time.monotonic() - t0
        assert closed, "server did not close a connection with a stalled head"
        if c.buf:
            assert c.buf.startswith(b"HTTP/1.1 408"), c.buf[:100]
    assert elapsed < 5
    assert rec.calls == 0


def test_header_timeout_is_total_not_per_read(serve):
    """A slowloris that trickles a byte every 0.2 s must still be cut off."""
    rec = Recorder()
    s = serve(rec, header_timeout=1)
    c = Conn(addr(s), timeout=6)
    try:
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        deadline = time.monotonic() + 5
        cut = False
        while time.monotonic() < deadline:
            try:
                c.send(b"a")
            except OSError:
                cut = True
                break
            if c.wait_closed(0.2):
                cut = True
                break
        assert cut, "a trickling head kept the connection open past header_timeout"
    finally:
        c.close()
    assert rec.calls == 0


def test_header_timeout_for_no_bytes_at_all(serve):
    s = serve(Recorder(), header_timeout=1)
    with Conn(addr(s), timeout=6) as c:
        assert c.wait_closed(5), "a silent connection must be closed by header_timeout"


def test_keepalive_idle_timeout(serve):
    s = serve(Recorder(), keepalive=1)
    with Conn(addr(s), timeout=6) as c:
        assert c.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").status == 200
        assert c.wait_closed(5), "idle keep-alive connection not closed after keepalive=1"
        assert c.buf == b"", "nothing (not even a 408) is sent on an idle keep-alive close"


def test_keepalive_connection_survives_shorter_idle(serve):
    s = serve(Recorder(), keepalive=4)
    with Conn(addr(s), timeout=6) as c:
        assert c.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").status == 200
        assert not c.wait_closed(1.0), "closed well before keepalive=4 elapsed"
        assert c.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").status == 200


def test_read_timeout_body_stall(serve):
    got = []

    def app(environ, start_response):
        try:
            got.append(environ["wsgi.input"].read())
        except Exception as e:
            got.append(e)
            raise
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    s = serve(app, read_timeout=1)
    with Conn(addr(s), timeout=6) as c:
        c.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        assert c.wait_closed(5), "connection with a stalled body not closed after read_timeout=1"
        if c.buf:
            assert not c.buf.startswith(b"HTTP/1.1 200"), c.buf[:100]
    assert not [g for g in got if isinstance(g, bytes)], "a stalled body must never be handed to the app as complete: %r" % got


def test_write_timeout_client_not_reading(serve):
    """A client that stops reading: after write_timeout the server gives up on the
    response, calls close() on the iterable and frees the worker."""
    produced = [0]
    closed = threading.Event()

    class Big:
        def __iter__(self):
            piece = b"z" * 65536
            for _ in range(1600):  # 100 MiB at most: far beyond any socket buffer
                produced[0] += 1
                yield piece

        def close(self):
            closed.set()

    def app(environ, start_response):
        start_response("200 OK", [("Content-Length", str(1600 * 65536))])
        return Big()

    s = serve(app, write_timeout=1)
    sk = socket.create_connection(addr(s), timeout=5)
    sk.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        sk.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert closed.wait(15), "close() not called: the stalled write never timed out"
        assert produced[0] < 1600
        assert wait_until(lambda: s.stats()["busy_threads"] == 0, timeout=5)
    finally:
        sk.close()
