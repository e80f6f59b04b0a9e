"""The WSGI environ (PEP 3333) as the app sees it."""

import socket
import sys

import pytest

from conftest import Recorder, addr
from httpclient import Conn, http_request


def one(serve, raw, **opts):
    rec = Recorder(read_body=False)
    s = serve(rec, **opts)
    r = http_request(addr(s), raw)
    assert r.status == 200, r
    assert rec.calls == 1
    return rec.environs[0], s


def get(path, extra=b""):
    return b"GET " + path + b" HTTP/1.1\r\nHost: example.org:8080\r\n" + extra + b"Connection: close\r\n\r\n"


def test_basic_cgi_variables(serve):
    env, s = one(
        serve,
        b"POST /some/path?a=1&b=%20x HTTP/1.1\r\nHost: example.org:8080\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 3\r\n"
        b"Connection: close\r\n\r\nabc",
    )
    host, port = addr(s)
    assert env["REQUEST_METHOD"] == "POST"
    assert env["SCRIPT_NAME"] == ""
    assert env["PATH_INFO"] == "/some/path"
    assert env["QUERY_STRING"] == "a=1&b=%20x"
    assert env["CONTENT_TYPE"] == "application/x-www-form-urlencoded"
    assert env["CONTENT_LENGTH"] == "3"
    assert env["SERVER_PORT"] == str(port)
    assert isinstance(env["SERVER_NAME"], str) and env["SERVER_NAME"]
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["REMOTE_PORT"].isdigit() and 0 < int(env["REMOTE_PORT"]) < 65536
    assert env["REQUEST_URI"] == "/some/path?a=1&b=%20x"
    assert env["RAW_URI"] == "/some/path?a=1&b=%20x"
    assert env["HTTP_HOST"] == "example.org:8080"
    for k, v in env.items():
        if k.isupper() or k.startswith("HTTP_"):
            assert isinstance(v, str), (k, v)  # native strings only (PEP 3333)


def test_remote_port_matches_client_socket(serve):
    rec = Recorder()
    s = serve(rec)
    with Conn(addr(s)) as c:
        local_port = c.sock.getsockname()[1]
        r = c.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert r.status == 200
    assert rec.environs[0]["REMOTE_PORT"] == str(local_port)


def test_http10_server_protocol(serve):
    env, _ = one(serve, b"GET / HTTP/1.0\r\n\r\n")
    assert env["SERVER_PROTOCOL"] == "HTTP/1.0"


def test_usual_values_do_not_leak_between_requests(serve):
    # The environ template holds GET, an empty QUERY_STRING and HTTP/1.1; a request that
    # differs sets its own, and the next request on the connection is back to the usual.
    rec = Recorder()
    s = serve(rec)
    with Conn(addr(s)) as c:
        for raw in (
            b"DELETE /a?x=1 HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n",
            b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n",
            b"PATCH /c?y HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
            b"GET /d HTTP/1.1\r\nHost: x\r\n\r\n",
        ):
            assert c.request(raw).status == 200
    seen = [(e["REQUEST_METHOD"], e["QUERY_STRING"], e["SERVER_PROTOCOL"]) for e in rec.environs]
    assert seen == [
        ("DELETE", "x=1", "HTTP/1.0"),
        ("GET", "", "HTTP/1.1"),
        ("PATCH", "y", "HTTP/1.1"),
        ("GET", "", "HTTP/1.1"),
    ]


def test_no_query_string_is_empty(serve):
    env, _ = one(serve, get(b"/x"))
    assert env.get("QUERY_STRING", "") == ""
    assert env["REQUEST_URI"] == "/x"


def test_no_content_type_or_length_when_absent(serve):
    env, _ = one(serve, get(b"/"))
    assert "CONTENT_TYPE" not in env or env["CONTENT_TYPE"] == ""
    assert "CONTENT_LENGTH" not in env or env["CONTENT_LENGTH"] == ""
    assert "HTTP_CONTENT_TYPE" not in env
    assert "HTTP_CONTENT_LENGTH" not in env


def test_no_http_content_duplicates(serve):
    env, _ = one(
        serve,
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
    )
    assert env["CONTENT_TYPE"] == "text/plain"
    assert env["CONTENT_LENGTH"] == "2"
    assert "HTTP_CONTENT_TYPE" not in env
    assert "HTTP_CONTENT_LENGTH" not in env


@pytest.mark.parametrize(
    "target,expected",
    [
        (b"/a%20b", "/a b"),
        (b"/a%2Fb", "/a/b"),
        (b"/a%2fb", "/a/b"),
        (b"/caf%E9", "/caf\xe9"),
        (b"/%C3%A9", "/\xc3\xa9"),  # UTF-8 bytes decoded as latin-1 (PEP 3333)
        (b"/plus+sign", "/plus+sign"),
        (b"/bad%zzescape", "/bad%zzescape"),
        (b"/trailing%", "/trailing%"),
        (b"/%25", "/%"),
    ],
)
def test_path_info_percent_decoded_latin1(serve, target, expected):
    env, _ = one(serve, get(target))
    assert env["PATH_INFO"] == expected
    assert env["REQUEST_URI"] == target.decode("latin-1")
    assert env["RAW_URI"] == target.decode("latin-1")


def test_query_string_raw(serve):
    env, _ = one(serve, get(b"/p?x=%2F%20+y&z=%E9"))
    assert env["QUERY_STRING"] == "x=%2F%20+y&z=%E9"
    assert env["PATH_INFO"] == "/p"


def test_keep_quoted_slash(serve):
    env, _ = one(serve, get(b"/a%2Fb%20c"), keep_quoted_slash=True)
    assert env["PATH_INFO"] in ("/a%2Fb c", "/a%2fb c")
    assert "%2F" in env["PATH_INFO"].upper()


def test_keep_quoted_slash_off_by_default(serve):
    env, _ = one(serve, get(b"/a%2Fb"))
    assert env["PATH_INFO"] == "/a/b"


def test_http_headers_mapped(serve):
    env, _ = one(
        serve,
        get(b"/", b"X-Custom-Thing: hello\r\nAccept: text/html\r\nUser-Agent: tester/1.0\r\n"),
    )
    assert env["HTTP_X_CUSTOM_THING"] == "hello"
    assert env["HTTP_ACCEPT"] == "text/html"
    assert env["HTTP_USER_AGENT"] == "tester/1.0"


def test_header_value_whitespace_trimmed_and_latin1(serve):
    env, _ = one(serve, get(b"/", b"X-Space:   padded value \t\r\nX-Latin: caf\xe9\r\n"))
    assert env["HTTP_X_SPACE"] == "padded value"
    assert env["HTTP_X_LATIN"] == "caf\xe9"


def test_repeated_headers_joined(serve):
    env, _ = one(serve, get(b"/", b"Accept: a\r\nX-Multi: one\r\nAccept: b\r\nX-Multi: two\r\nx-multi: three\r\n"))
    assert env["HTTP_ACCEPT"] == "a, b"
    assert env["HTTP_X_MULTI"] == "one, two, three"


def test_repeated_cookies_empty_and_one_character_values_joined(serve):
    # CPython shares its empty and one-character strings: two fields with the same short value
    # are one object, and must still be seen as a repeat and joined.
    env, _ = one(serve, get(b"/", b"Cookie: a=1\r\nX-One: 1\r\nCookie: b=2\r\nX-One: 1\r\n"
                                  b"X-Empty:\r\nX-Empty:\r\nX-Mixed: x\r\nX-Mixed:\r\n"))
    assert env["HTTP_COOKIE"] == "a=1; b=2"
    assert env["HTTP_X_ONE"] == "1, 1"
    assert env["HTTP_X_EMPTY"] == ", "
    assert env["HTTP_X_MIXED"] == "x, "


def test_repeated_identical_content_length_is_one_value(serve):
    rec = Recorder()
    s = serve(rec)
    with Conn(addr(s)) as c:
        r = c.request(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok")
        assert r.status == 200
    assert rec.environs[0]["CONTENT_LENGTH"] == "2"


def test_underscore_headers_dropped(serve):
    env, _ = one(serve, get(b"/", b"X_Forwarded_For: 6.6.6.6\r\nX-Forwarded-For: 1.2.3.4\r\n"))
    assert env["HTTP_X_FORWARDED_FOR"] == "1.2.3.4"
    env2, _ = one(serve, get(b"/", b"X_Forwarded_For: 6.6.6.6\r\n"))
    assert "HTTP_X_FORWARDED_FOR" not in env2
    assert "6.6.6.6" not in repr({k: v for k, v in env2.items() if isinstance(v, str)})


def test_remote_address_per_connection_on_keep_alive(serve):
    # REMOTE_ADDR and REMOTE_PORT are made once per connection: each of two interleaved
    # keep-alive connections keeps seeing its own port.
    rec = Recorder()
    s = serve(rec)
    with Conn(addr(s)) as a, Conn(addr(s)) as b:
        ports = {"a": a.sock.getsockname()[1], "b": b.sock.getsockname()[1]}
        for name in ["a", "b", "a", "b"]:
            c = a if name == "a" else b
            r = c.request(b"GET /" + name.encode() + b" HTTP/1.1\r\nHost: x\r\n\r\n")
            assert r.status == 200
    seen = [(e["PATH_INFO"], e["REMOTE_ADDR"], e["REMOTE_PORT"]) for e in rec.environs]
    assert seen == [
        (f"/{n}", "127.0.0.1", str(ports[n])) for n in ["a", "b", "a", "b"]
    ]


def test_environ_holds_exactly_the_expected_keys(serve):
    # No placeholder or spare key of the environ template is ever visible to an app.
    env, _ = one(serve, get(b"/p?q", b"Accept: */*\r\n"))
    assert set(env) == {
        "REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "REQUEST_URI", "RAW_URI",
        "SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL", "SERVER_SOFTWARE", "REMOTE_ADDR",
        "REMOTE_PORT", "HTTP_HOST", "HTTP_ACCEPT", "HTTP_CONNECTION", "wsgi.version",
        "wsgi.url_scheme", "wsgi.input", "wsgi.errors", "wsgi.multithread", "wsgi.multiprocess",
        "wsgi.run_once", "wsgi.input_terminated", "wsgi.file_wrapper",
    }
    assert all(v is not None for v in env.values())


def test_wsgi_keys(serve):
    env, _ = one(serve, get(b"/"))
    assert env["wsgi.version"] == (1, 0)
    assert env["wsgi.url_scheme"] == "http"
    assert env["wsgi.multithread"] is True
    assert env["wsgi.multiprocess"] is False
    assert env["wsgi.run_once"] is False
    assert hasattr(env["wsgi.input"], "read")
    assert hasattr(env["wsgi.errors"], "write")
    assert hasattr(env["wsgi.errors"], "flush")
    assert callable(env["wsgi.file_wrapper"])


def test_server_name_option(serve):
    env, _ = one(serve, get(b"/"), server_name="my.example.test")
    assert env["SERVER_NAME"] == "my.example.test"


def test_server_name_default_is_hostname(serve):
    env, _ = one(serve, get(b"/"))
    candidates = {socket.gethostname(), socket.getfqdn(), "127.0.0.1", "localhost"}
    assert env["SERVER_NAME"] in candidates, env["SERVER_NAME"]


def test_wsgi_errors_goes_to_logger(serve, error_log):
    def app(environ, start_response):
        environ["wsgi.errors"].write("marker-from-wsgi-errors-7731\n")
        environ["wsgi.errors"].writelines(["marker-lines-8842\n"])
        environ["wsgi.errors"].flush()
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    s = serve(app)
    r = http_request(addr(s), get(b"/"))
    assert r.status == 200
    text = error_log.wait_for("marker-lines-8842")
    assert "marker-from-wsgi-errors-7731" in text
    assert "marker-lines-8842" in text
    assert all(rec.name == "morello.error" for rec in error_log.records)


def test_environ_is_fresh_per_request(serve):
    """Keys an app adds must not leak into the next request's environ on the same connection."""
    seen = []

    def app(environ, start_response):
        seen.append("leak" in environ)
        environ["leak"] = True
        start_response("200 OK", [("Content-Length", "0")])
        return []

    s = serve(app)
    with Conn(addr(s)) as c:
        for _ in range(3):
            assert c.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").status == 200
    assert seen == [False, False, False]


def test_chunked_request_environ(serve):
    rec = Recorder(read_body=True)
    s = serve(rec)
    r = http_request(
        addr(s),
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\nhi\r\n0\r\n\r\n",
    )
    assert r.status == 200
    env = rec.environs[0]
    assert env.get("wsgi.input_terminated") is True
    assert env.get("CONTENT_LENGTH", "") == ""
    assert rec.bodies == [b"hi"]
