"""Mounting several apps by path prefix: Server(app=[(prefix, app), ...])."""

from conftest import addr
from httpclient import Conn, http_request


def named(name):
    def app(environ, start_response):
        body = ("%s|%s|%s" % (name, environ["SCRIPT_NAME"], environ["PATH_INFO"])).encode("latin-1")
        start_response("200 OK", [("Content-Length", str(len(body)))])
        return [body]

    return app


def fetch(s, path):
    r = http_request(addr(s), b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    return r.status, r.body


def test_longest_prefix_wins(serve):
    s = serve(
        [
            ("", named("root")),
            ("/app", named("app")),
            ("/app/admin", named("admin")),
        ]
    )
    assert fetch(s, b"/") == (200, b"root||/")
    assert fetch(s, b"/other") == (200, b"root||/other")
    assert fetch(s, b"/app") == (200, b"app|/app|")
    assert fetch(s, b"/app/") == (200, b"app|/app|/")
    assert fetch(s, b"/app/x/y") == (200, b"app|/app|/x/y")
    assert fetch(s, b"/app/admin") == (200, b"admin|/app/admin|")
    assert fetch(s, b"/app/admin/users") == (200, b"admin|/app/admin|/users")


def test_order_of_mounts_does_not_matter(serve):
    s = serve([("/app/admin", named("admin")), ("/app", named("app")), ("/", named("root"))])
    assert fetch(s, b"/app/admin/x") == (200, b"admin|/app/admin|/x")
    assert fetch(s, b"/app/x") == (200, b"app|/app|/x")
    assert fetch(s, b"/zzz")[1].startswith(b"root|")


def test_prefix_matches_only_whole_segments(serve):
    s = serve([("", named("root")), ("/app", named("app"))])
    assert fetch(s, b"/application") == (200, b"root||/application")
    assert fetch(s, b"/app2/x") == (200, b"root||/app2/x")
    assert fetch(s, b"/app/x") == (200, b"app|/app|/x")


def test_prefix_with_trailing_slash_normalised(serve):
    s = serve([("/", named("root")), ("/blog/", named("blog"))])
    assert fetch(s, b"/blog/x") == (200, b"blog|/blog|/x")
    assert fetch(s, b"/blogx")[1].startswith(b"root|")


def test_no_root_mount_gives_404(serve):
    s = serve([("/only", named("only"))])
    assert fetch(s, b"/only/x") == (200, b"only|/only|/x")
    status, _ = fetch(s, b"/")
    assert status == 404
    status, _ = fetch(s, b"/other/x")
    assert status == 404
    status, _ = fetch(s, b"/onlyx")
    assert status == 404


def test_mount_split_uses_decoded_path(serve):
    s = serve([("", named("root")), ("/my app", named("spaced"))])
    assert fetch(s, b"/my%20app/a%20b") == (200, b"spaced|/my app|/a b")


def test_404_for_unmounted_keeps_connection_usable(serve):
    s = serve([("/a", named("a"))])
    with Conn(addr(s)) as c:
        r1 = c.request(b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
        assert r1.status == 404
        r2 = c.request(b"GET /a/ok HTTP/1.1\r\nHost: x\r\n\r\n")
        assert r2.status == 200 and r2.body == b"a|/a|/ok"
