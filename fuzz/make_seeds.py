#!/usr/bin/env python3
"""Writes the committed seed corpus: fuzz/corpus/<target>/seed-<name>.

Built from the codec's test cases (crates/morello-http/tests/): valid requests, pipelining,
chunked bodies with extensions and trailers, and classic smuggling attempts. Each target's
input starts with a config byte (see crates/morello-http/tests/common/targets.rs):

* requests:     bit 0 small limits, bits 1-3 read size index (0 = 1 byte, 7 = 64 KiB)
* differential: bit 0 small limits, bits 1-3 number of split points, then 2 bytes per point
* chunked:      body-side limits; 0 = defaults

Re-run after changing the cases: `python3 fuzz/make_seeds.py`. Files other than seed-* (for
instance regressions found by fuzzing, named regress-*) are left alone.
"""

import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

H = b"Host: example.com\r\n"
TE = b"Transfer-Encoding: chunked\r\n"

REQUESTS = {
    "get": b"GET / HTTP/1.1\r\n" + H + b"\r\n",
    "get-query": b"GET /a%20b/c?x=1&y=%2F HTTP/1.1\r\n" + H + b"Accept: */*\r\nUser-Agent: t\r\n\r\n",
    "get-leading-crlf": b"\r\n\r\nGET / HTTP/1.1\r\n" + H + b"\r\n",
    "get-http10": b"GET / HTTP/1.0\r\n\r\n",
    "get-http10-keepalive": b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    "get-close": b"GET / HTTP/1.1\r\n" + H + b"Connection: close\r\n\r\n",
    "head-absolute": b"HEAD http://example.com/b?q HTTP/1.1\r\n" + H + b"X-A: \t v \xa0\r\n\r\n",
    "options-star": b"OPTIONS * HTTP/1.1\r\n" + H + b"\r\n",
    "connect": b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
    "host-ipv6": b"GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n",
    "post-length": b"POST /up HTTP/1.1\r\n" + H + b"Content-Length: 5\r\n\r\nhello",
    "post-length-list": b"POST /up HTTP/1.1\r\n" + H + b"Content-Length: 5, 5\r\nContent-Length: 5\r\n\r\nhello",
    "post-expect": b"POST /up HTTP/1.1\r\n" + H + b"Expect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
    "post-chunked": b"POST /up HTTP/1.1\r\n" + H + TE + b"\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    "post-chunked-ext-trailers": b"POST /up HTTP/1.1\r\n" + H + TE + b"\r\n"
    b"2;a=\"b;c\"\r\n\r\n\r\n1 ; x = y\r\n!\r\nA;q=\"\\\"\"\r\n0123456789\r\n0;end\r\nX-T: 1\r\nX-Sum: abc\r\n\r\n",
    "pipelined": b"GET /1 HTTP/1.1\r\n" + H + b"\r\n"
    b"POST /2 HTTP/1.1\r\n" + H + b"Content-Length: 3\r\n\r\nabc"
    b"POST /3 HTTP/1.1\r\n" + H + TE + b"\r\n3\r\nxyz\r\n0\r\n\r\n"
    b"GET /4 HTTP/1.1\r\n" + H + b"Connection: close\r\n\r\n",
    "incomplete-head": b"GET / HTTP/1.1\r\n" + H,
    "incomplete-body": b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 10\r\n\r\nhello",
    # Smuggling attempts and other malformed framing: all must be rejected.
    "smuggle-cl-te": b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 6\r\n" + TE + b"\r\n0\r\n\r\nGET /admin HTTP/1.1\r\n" + H + b"\r\n",
    "smuggle-te-cl": b"POST / HTTP/1.1\r\n" + H + TE + b"Content-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n",
    "smuggle-te-list": b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    "smuggle-te-chunked-twice": b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "smuggle-te-identity": b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: identity\r\nContent-Length: 3\r\n\r\nabc",
    "smuggle-te-space-colon": b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
    "smuggle-te-xchunked": b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
    "smuggle-te-http10": b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "smuggle-te-empty-element": b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: ,chunked\r\n\r\n0\r\n\r\n",
    "smuggle-cl-plus": b"POST / HTTP/1.1\r\n" + H + b"Content-Length: +5\r\n\r\nhello",
    "smuggle-cl-differ": b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    "smuggle-cl-list-differ": b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 5, 6\r\n\r\nhello!",
    "smuggle-cl-overflow": b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 18446744073709551616\r\n\r\n",
    "smuggle-bare-lf": b"GET / HTTP/1.1\n" + H + b"\r\n",
    "smuggle-bare-lf-header": b"GET / HTTP/1.1\r\n" + H + b"X-A: b\nContent-Length: 3\r\n\r\nabc",
    "smuggle-bare-cr": b"GET / HTTP/1.1\r\n" + H + b"X-A: b\rContent-Length: 3\r\n\r\nabc",
    "smuggle-nul": b"GET / HTTP/1.1\r\n" + H + b"X-A: \x00\r\n\r\n",
    "smuggle-obs-fold": b"GET / HTTP/1.1\r\n" + H + b"X-A: a\r\n b\r\n\r\n",
    "smuggle-obs-fold-te": b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n",
    "smuggle-host-twice": b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    "smuggle-chunk-0x": b"POST / HTTP/1.1\r\n" + H + TE + b"\r\n0x1\r\na\r\n0\r\n\r\n",
    "smuggle-chunk-overflow": b"POST / HTTP/1.1\r\n" + H + TE + b"\r\n10000000000000001\r\na\r\n0\r\n\r\n",
    "smuggle-chunk-bare-lf": b"POST / HTTP/1.1\r\n" + H + TE + b"\r\n1\na\r\n0\r\n\r\n",
    "smuggle-chunk-no-crlf": b"POST / HTTP/1.1\r\n" + H + TE + b"\r\n1\r\nab\r\n0\r\n\r\n",
    "smuggle-trailer-cl": b"POST / HTTP/1.1\r\n" + H + TE + b"\r\n1\r\na\r\n0\r\nContent-Length: 1\r\n\r\n",
    "bad-version": b"GET / HTTP/2.0\r\n" + H + b"\r\n",
    "bad-target-fragment": b"GET /#f HTTP/1.1\r\n" + H + b"\r\n",
    "bad-method": b"G@T / HTTP/1.1\r\n" + H + b"\r\n",
}

CHUNKED = {
    "simple": b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    "empty": b"0\r\n\r\n",
    "hex-case": b"A\r\n0123456789\r\na\r\n0123456789\r\n000\r\n\r\n",
    "data-with-crlf": b"6\r\n\r\n\x00\n\r\xff\r\n0\r\n\r\n",
    "extensions": b"3;a=b\r\nabc\r\n3 ;a\r\nabc\r\n3\t; a = \"q \\\" u\"\r\nabc\r\n0;x=\"\xff\";y\r\n\r\n",
    "trailers": b"3\r\nabc\r\n0\r\nX-Checksum: abc\r\nX-Empty:\r\nX-Obs: \xa0\r\n\r\n",
    "pipelined-after": b"1\r\nx\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
    "incomplete": b"ffffffffffffffff\r\nabc",
    "bad-size": b"0x1\r\na\r\n0\r\n\r\n",
    "bad-ext": b"1;a=\"x\r\na\r\n0\r\n\r\n",
    "bad-data-end": b"1\r\nab\r\n0\r\n\r\n",
    "bad-bare-lf": b"1\na\r\n0\r\n\r\n",
    "bad-trailer": b"0\r\nTransfer-Encoding: chunked\r\n\r\n",
    "bad-trailer-fold": b"0\r\nX-A: b\r\n c\r\n\r\n",
    "long-ext": b"1;" + b"a" * 40 + b"\r\nx\r\n0\r\n\r\n",
}


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def main():
    for name, msg in REQUESTS.items():
        # requests: whole reads with default limits, 1-byte reads with small limits.
        write("requests", name, bytes([7 << 1]) + msg)
        # differential: no extra split, and (for a few) three fuzzer-style split points.
        write("differential", name, b"\x00" + msg)
    for name in ["get", "pipelined", "post-chunked-ext-trailers", "smuggle-cl-te"]:
        msg = REQUESTS[name]
        write("requests", name + "-small-1byte", b"\x01" + msg)
        points = b"".join(struct.pack("<H", p) for p in (3, len(msg) // 2, len(msg) - 2))
        write("differential", name + "-3splits", bytes([(3 << 1) | 1]) + points + msg)
    for name, body in CHUNKED.items():
        write("chunked", name, b"\x00" + body)
    for name in ["extensions", "trailers", "long-ext"]:
        write("chunked", name + "-small", b"\x55" + CHUNKED[name])


if __name__ == "__main__":
    main()
