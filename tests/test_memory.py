"""Memory bounds: a request body is streamed, never buffered whole.

The server runs as a CLI subprocess so its resident memory can be read from /proc without the
test client's own allocations mixed in.
"""

import socket

from test_cli import cli  # noqa: F401  (the fixture)

UPLOAD_APP = '''
def app(environ, start_response):
    stream = environ["wsgi.input"]
    total = 0
    while True:
        piece = stream.read(65536)
        if not piece:
            break
        total += len(piece)
    body = str(total).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
'''

GIB = 1 << 30
MIB = 1 << 20


def status_kib(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError("no %s in /proc/%d/status" % (field, pid))


def upload(port, size, chunk=MIB):
    piece = b"u" * chunk
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        s.sendall(b"POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % size)
        sent = 0
        while sent < size:
            n = min(chunk, size - sent)
            s.sendall(piece[:n])
            sent += n
        data = b""
        while True:
            got = s.recv(65536)
            if not got:
                break
            data += got
    head, _, body = data.partition(b"\r\n\r\n")
    return head.split(b"\r\n")[0], body


def test_1gib_upload_read_in_64kib_pieces_stays_within_16mib(cli, tmp_path):  # noqa: F811
    (tmp_path / "uploadapp.py").write_text(UPLOAD_APP)
    c = cli("uploadapp:app", "--bind", "127.0.0.1:0", "--threads", "2")
    port = c.wait_for_port()
    pid = c.proc.pid
    # Warm up: the first request allocates the thread states, buffers and caches for good.
    status, body = upload(port, 4 * MIB)
    assert status == b"HTTP/1.1 200 OK" and body == str(4 * MIB).encode()
    before = status_kib(pid, "VmRSS")

    status, body = upload(port, GIB)

    assert status == b"HTTP/1.1 200 OK"
    assert body == str(GIB).encode(), "the app must see every byte of the body"
    peak = status_kib(pid, "VmHWM")
    grown_mib = (peak - before) / 1024
    assert grown_mib < 16, "peak RSS grew by %.1f MiB while streaming 1 GiB" % grown_mib
