"""Does a server answer HTTP/1.1 pipelined requests correctly? (the `pipelined` app's gate)

    python pipeline_check.py HOST PORT [--depth 16]

Expects the server to serve ``apps:pipelined`` (hello; a query string is echoed as the body).
On one keep-alive connection, three times: sends DEPTH GET requests ("/?p0-0", "/?p0-1", ...,
with "/" in the middle, as wrk sends them) written (a) in one send, (b) in 7-byte pieces, and
(c) split across two sends mid-request; then checks that exactly DEPTH well-formed responses come
back, in order (each body is its request's query), status 200, framed by Content-Length or
chunked, and that the connection stays open for the next batch. Prints "ok" or the first
problem, and exits 0 or 1.
"""

from __future__ import annotations

import argparse
import socket
import sys
import time


class Problem(Exception):
    pass


class Reader:
    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock, self.buf, self.deadline = sock, b"", deadline

    def _more(self) -> None:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise Problem("timed out waiting for responses")
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise Problem("timed out waiting for responses") from None
        if not data:
            raise Problem("connection closed by the server")
        self.buf += data

    def until(self, sep: bytes) -> bytes:
        while sep not in self.buf:
            self._more()
        head, _, self.buf = self.buf.partition(sep)
        return head

    def exactly(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._more()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def response(self) -> tuple[int, dict[str, str], bytes]:
        head = self.until(b"\r\n\r\n").decode("latin-1")
        lines = head.split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise Problem(f"malformed status line {lines[0][:60]!r}")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                raise Problem(f"malformed header line {line[:60]!r}")
            key = name.strip().lower()
            headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = b""
            while True:
                size = int(self.until(b"\r\n").split(b";")[0], 16)
                if size == 0:
                    self.until(b"\r\n")  # no trailers expected
                    break
                body += self.exactly(size)
                if self.exactly(2) != b"\r\n":
                    raise Problem("bad chunk terminator")
        elif "content-length" in headers:
            body = self.exactly(int(headers["content-length"]))
        else:
            raise Problem("response without Content-Length or chunked framing (end only at close)")
        return int(parts[1]), headers, body


def batch(depth: int, tag: int) -> tuple[bytes, list[bytes]]:
    reqs, expected = [], []
    for i in range(depth):
        if i == depth // 2:
            target, body = "/", b"Hello, World!"
        else:
            q = f"p{tag}-{i}"
            target, body = f"/?{q}", q.encode()
        reqs.append(f"GET {target} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
        expected.append(body)
    return b"".join(reqs), expected


def check(host: str, port: int, depth: int, timeout: float) -> str:
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for tag, how in enumerate(("one send", "7-byte pieces", "split mid-request")):
            data, expected = batch(depth, tag)
            if how == "one send":
                sock.sendall(data)
            elif how == "7-byte pieces":
                for off in range(0, len(data), 7):
                    sock.sendall(data[off:off + 7])
                    time.sleep(0.0005)
            else:
                cut = len(data) // 2 + 5
                sock.sendall(data[:cut])
                time.sleep(0.05)
                sock.sendall(data[cut:])
            reader = Reader(sock, time.monotonic() + timeout)
            for i, want in enumerate(expected):
                try:
                    status, headers, body = reader.response()
                except Problem as e:
                    return f"{how}: response {i + 1}/{depth}: {e}"
                if status != 200:
                    return f"{how}: response {i + 1}/{depth}: status {status}"
                if body != want:
                    return f"{how}: response {i + 1}/{depth}: body {body[:30]!r}, expected {want!r} (out of order?)"
                if "close" in headers.get("connection", "").lower():
                    return f"{how}: response {i + 1}/{depth}: Connection: close"
            if reader.buf:
                return f"{how}: {len(reader.buf)} unexpected bytes after {depth} responses"
    return "ok"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("--depth", type=int, default=16)
    parser.add_argument("--timeout", type=float, default=5.0)
    args = parser.parse_args(argv)
    try:
        result = check(args.host, args.port, args.depth, args.timeout)
    except OSError as e:
        result = f"socket error: {e}"
    print(result)
    return 0 if result == "ok" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
