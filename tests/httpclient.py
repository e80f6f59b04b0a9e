"""A small, strict HTTP/1.x client for tests: raw bytes out, parsed responses in.

It never hides protocol errors from the server: a response whose body is shorter than its
Content-Length is returned with ``incomplete=True`` rather than raising, so tests can assert
on truncated responses; a malformed status line raises ``ProtocolError``.
"""

import socket
import time

DEFAULT_TIMEOUT = 5.0


class ProtocolError(Exception):
    pass


class Response:
    def __init__(self):
        self.version = None
        self.status = None
        self.reason = None
        self.headers = []  # list of (name, value) str, as received (latin-1)
        self.body = b""
        self.trailers = []
        self.raw_head = b""
        self.chunked = False
        self.close_delimited = False
        self.incomplete = False  # the body ended (EOF) before its framing said it would

    def header(self, name, default=None):
        return hget(self.headers, name, default)

    def __repr__(self):
        return "<Response %s %s %r body=%r%s>" % (
            self.version,
            self.status,
            self.headers,
            self.body[:200],
            " INCOMPLETE" if self.incomplete else "",
        )


def hget(headers, name, default=None):
    """First value of header ``name`` (case-insensitive) in a list of pairs."""
    name = name.lower()
    for k, v in headers:
        if k.lower() == name:
            return v
    return default


def hall(headers, name):
    """All values of header ``name`` (case-insensitive)."""
    name = name.lower()
    return [v for k, v in headers if k.lower() == name]


class Conn:
    """One client connection with a receive buffer."""

    def __init__(self, address, timeout=DEFAULT_TIMEOUT, family=None, rcvbuf=None):
        if isinstance(address, str):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        else:
            self.sock = socket.socket(socket.AF_INET6 if ":" in address[0] else socket.AF_INET)
        if rcvbuf is not None:
            # Before connecting, so the advertised window is small from the start.
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(address if isinstance(address, str) else tuple(address))
        self.sock.settimeout(timeout)
        self.buf = b""
        self.eof = False

    # -- low level
    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        """Reads more bytes into the buffer; returns False at EOF (or reset)."""
        if self.eof:
            return False
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def _readline(self):
        while b"\n" not in self.buf:
            if not self._fill():
                raise ProtocolError("EOF while reading a line; have %r" % self.buf[:200])
        i = self.buf.index(b"\n") + 1
        line, self.buf = self.buf[:i], self.buf[i:]
        return line

    def _readexact(self, n):
        """Reads up to n bytes; fewer only at EOF."""
        while len(self.buf) < n:
            if not self._fill():
                break
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    # -- responses
    def read_response(self, method="GET", skip_interim=False):
        """Reads one response. ``method`` tells whether the response can have a body.

        With ``skip_interim`` 1xx responses are read and dropped; their statuses are kept in
        ``resp.interim``.
        """
        interim = []
        while True:
            resp = self._read_one(method)
            if skip_interim and resp.status is not None and 100 <= resp.status < 200 and resp.status != 101:
                interim.append(resp.status)
                continue
            resp.interim = interim
            return resp

    def _read_one(self, method):
        resp = Response()
        # Wait for the first byte: a clean EOF before any byte is reported as such.
        while not self.buf:
            if not self._fill():
                raise ConnectionClosed("connection closed before a response")
        line = self._readline()
        head = line
        if not line.endswith(b"\r\n"):
            raise ProtocolError("status line not CRLF-terminated: %r" % line)
        parts = line[:-2].split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or len(parts[1]) != 3 or not parts[1].isdigit():
            raise ProtocolError("bad status line %r" % line)
        resp.version = parts[0].decode("latin-1")
        resp.status = int(parts[1])
        resp.reason = parts[2].decode("latin-1") if len(parts) > 2 else ""
        while True:
            line = self._readline()
            head += line
            if line == b"\r\n":
                break
            if not line.endswith(b"\r\n"):
                raise ProtocolError("header line not CRLF-terminated: %r" % line)
            if b":" not in line:
                raise ProtocolError("bad header line %r" % line)
            k, v = line[:-2].split(b":", 1)
            resp.headers.append((k.decode("latin-1"), v.strip(b" \t").decode("latin-1")))
        resp.raw_head = head

        if method.upper() == "HEAD" or 100 <= resp.status < 200 or resp.status in (204, 304):
            return resp
        te = hget(resp.headers, "transfer-encoding")
        cl = hget(resp.headers, "content-length")
        if te is not None:
            if te.strip().lower() != "chunked":
                raise ProtocolError("unexpected transfer-encoding %r" % te)
            resp.chunked = True
            body = []
            while True:
                try:
                    size_line = self._readline()
                except ProtocolError:
                    resp.incomplete = True
                    break
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    while True:  # trailers
                        try:
                            tl = self._readline()
                        except ProtocolError:
                            resp.incomplete = True
                            break
                        if tl == b"\r\n":
                            break
                        k, _, v = tl[:-2].partition(b":")
                        resp.trailers.append((k.decode("latin-1"), v.strip().decode("latin-1")))
                    break
                data = self._readexact(size)
                body.append(data)
                if len(data) < size:
                    resp.incomplete = True
                    break
                crlf = self._readexact(2)
                if crlf != b"\r\n":
                    if len(crlf) < 2:
                        resp.incomplete = True
                        break
                    raise ProtocolError("chunk not followed by CRLF: %r" % crlf)
            resp.body = b"".join(body)
        elif cl is not None:
            n = int(cl)
            resp.body = self._readexact(n)
            if len(resp.body) < n:
                resp.incomplete = True
        else:
            resp.close_delimited = True
            chunks = []
            while self._fill():
                pass
            chunks.append(self.buf)
            self.buf = b""
            resp.body = b"".join(chunks)
        return resp

    def wait_closed(self, timeout=2.0):
        """True if the peer closes (EOF or reset) within ``timeout``. Extra bytes received
        meanwhile are kept in ``self.buf``."""
        if self.eof:
            return True
        deadline = time.monotonic() + timeout
        old = self.sock.gettimeout()
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.sock.settimeout(remaining)
                try:
                    if not self._fill():
                        return True
                except socket.timeout:
                    return False
        finally:
            try:
                self.sock.settimeout(old)
            except OSError:
                pass

    def request(self, raw, method=None, skip_interim=True):
        """Sends raw bytes and reads one response."""
        if method is None:
            method = raw.split(b" ", 1)[0].decode("latin-1")
        self.send(raw)
        return self.read_response(method=method, skip_interim=skip_interim)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


class ConnectionClosed(ProtocolError):
    pass


def connect(address, timeout=DEFAULT_TIMEOUT):
    return Conn(address, timeout=timeout)


class Result:
    """What http_request returns; unpacks as (status, headers, body, closed)."""

    def __init__(self, resp, closed, extra):
        self.response = resp
        self.status = resp.status
        self.headers = resp.headers
        self.body = resp.body
        self.closed = closed
        self.extra = extra  # bytes received after the first final response
        self.interim = getattr(resp, "interim", [])

    def __iter__(self):
        return iter((self.status, self.headers, self.body, self.closed))

    def header(self, name, default=None):
        return hget(self.headers, name, default)

    def __repr__(self):
        return "<Result %r closed=%r extra=%r>" % (self.response, self.closed, self.extra[:200])


def http_request(address, raw, timeout=DEFAULT_TIMEOUT, close_wait=None, method=None):
    """Sends ``raw`` on a fresh connection and reads one final response.

    Returns a Result that unpacks as ``(status, headers_list, body, closed)``. ``closed``
    tells whether the server closed the connection after the response: when the response
    says ``Connection: close`` (or is close-delimited, or is an HTTP/1.0 exchange) we wait up
    to ``timeout`` for the EOF; otherwise only ``close_wait`` (0.3 s by default), since a
    kept-alive connection would otherwise hold us until the keep-alive timeout.
    """
    c = Conn(address, timeout=timeout)
    try:
        c.send(raw)
        resp = c.read_response(method=method or raw.split(b" ", 1)[0].decode("latin-1"), skip_interim=True)
        if close_wait is None:
            conn_hdr = (resp.header("connection") or "").lower()
            if "close" in conn_hdr or resp.close_delimited or resp.incomplete:
                close_wait = timeout
            else:
                close_wait = 0.3
        closed = c.wait_closed(close_wait)
        extra = c.buf
        return Result(resp, closed, extra)
    finally:
        c.close()


def read_until_close(address_or_conn, raw=None, timeout=DEFAULT_TIMEOUT):
    """Sends ``raw`` (if given) and returns every byte received until the server closes.

    Raises socket.timeout if the server does not close within ``timeout``.
    """
    own = not isinstance(address_or_conn, Conn)
    c = Conn(address_or_conn, timeout=timeout) if own else address_or_conn
    try:
        if raw:
            c.send(raw)
        c.sock.settimeout(timeout)
        deadline = time.monotonic() + timeout
        while c._fill():
            if time.monotonic() > deadline:
                raise socket.timeout("server did not close within %ss" % timeout)
        data, c.buf = c.buf, b""
        return data
    finally:
        if own:
            c.close()


def pipelined_gets(*targets):
    """HTTP/1.1 GET requests for ``targets`` (str), back to back, as one pipelined send."""
    return b"".join(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % t.encode() for t in targets)


def simple_get(address, path="/", headers=(), timeout=DEFAULT_TIMEOUT, version="HTTP/1.1"):
    """GET with Connection: close; returns the Result."""
    lines = ["GET %s %s" % (path, version), "Host: test"]
    lines += ["%s: %s" % h for h in headers]
    lines.append("Connection: close")
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return http_request(address, raw, timeout=timeout)
