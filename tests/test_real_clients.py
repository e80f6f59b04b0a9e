"""Real clients against a real server: curl, nginx as a reverse proxy, a Flask app.

curl and nginx are required: CI installs them (apt: curl nginx-light). A missing binary
FAILS these tests rather than skipping them.
"""

import hashlib
import http.client
import json
import os
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import addr, free_port, require_binary, wait_until
from httpclient import http_request


def info_app(environ, start_response):
    """Echoes method, path, the body's sha256 and length, and the peer port as JSON."""
    path = environ["PATH_INFO"]
    if path == "/stream":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return (("part%d\n" % i).encode() for i in range(100))
    body = environ["wsgi.input"].read()
    out = {
        "method": environ["REQUEST_METHOD"],
        "path": path,
        "query": environ.get("QUERY_STRING", ""),
        "len": len(body),
        "sha256": hashlib.sha256(body).hexdigest(),
        "port": environ["REMOTE_PORT"],
        "cl": environ.get("CONTENT_LENGTH", ""),
        "xff": environ.get("HTTP_X_FORWARDED_FOR", ""),
        "host": environ.get("HTTP_HOST", ""),
    }
    data = json.dumps(out).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def run(cmd, timeout=30, **kw):
    return subprocess.run(cmd, capture_output=True, timeout=timeout, **kw)


# --------------------------------------------------------------------------- curl


def test_curl_keepalive_reuses_connection(serve):
    curl = require_binary("curl")
    s = serve(info_app)
    host, port = addr(s)
    base = "http://%s:%d" % (host, port)
    p = run([curl, "-sS", "-v", base + "/a", "-w", "\n", base + "/b?x=1"])
    assert p.returncode == 0, p.stderr
    lines = [json.loads(l) for l in p.stdout.decode().splitlines() if l.strip()]
    assert [l["path"] for l in lines] == ["/a", "/b"]
    assert lines[1]["query"] == "x=1"
    assert lines[0]["port"] == lines[1]["port"], "curl should reuse one connection for both URLs"
    err = p.stderr.decode().lower()
    assert "re-using existing connection" in err or "reusing existing connection" in err, p.stderr


def test_curl_chunked_upload(serve, tmp_path):
    curl = require_binary("curl")
    data = os.urandom(3 * 1024 * 1024 + 17)
    f = tmp_path / "upload.bin"
    f.write_bytes(data)
    s = serve(info_app)
    host, port = addr(s)
    p = run(
        [curl, "-sS", "-H", "Transfer-Encoding: chunked", "--data-binary", "@" + str(f),
         "http://%s:%d/upload" % (host, port)]
    )
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["method"] == "POST"
    assert out["len"] == len(data)
    assert out["sha256"] == hashlib.sha256(data).hexdigest()
    assert out["cl"] == ""


def test_curl_expect_100_continue(serve, tmp_path):
    curl = require_binary("curl")
    data = os.urandom(200000)
    f = tmp_path / "upload.bin"
    f.write_bytes(data)
    s = serve(info_app)
    host, port = addr(s)
    p = run(
        [curl, "-sS", "-v", "-H", "Expect: 100-continue", "--expect100-timeout", "20",
         "--data-binary", "@" + str(f), "http://%s:%d/e" % (host, port)]
    )
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["sha256"] == hashlib.sha256(data).hexdigest()
    assert b"HTTP/1.1 100 Continue" in p.stderr


def test_curl_http10_and_head(serve):
    curl = require_binary("curl")
    s = serve(info_app)
    host, port = addr(s)
    p = run([curl, "-sS", "-0", "http://%s:%d/old" % (host, port)])
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["path"] == "/old"
    p = run([curl, "-sS", "-I", "http://%s:%d/head" % (host, port)])
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith(b"HTTP/1.1 200")
    assert b"content-length:" in p.stdout.lower()


def test_curl_streamed_chunked_response(serve):
    curl = require_binary("curl")
    s = serve(info_app)
    host, port = addr(s)
    p = run([curl, "-sS", "--raw", "-D", "-", "http://%s:%d/stream" % (host, port)])
    assert p.returncode == 0, p.stderr
    assert b"transfer-encoding: chunked" in p.stdout.lower()
    p = run([curl, "-sS", "http://%s:%d/stream" % (host, port)])
    assert p.stdout == b"".join(("part%d\n" % i).encode() for i in range(100))


# --------------------------------------------------------------------------- nginx


NGINX_CONF = """
daemon off;
master_process off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    client_max_body_size 20m;
    upstream morello {{
        server 127.0.0.1:{upstream};
        keepalive 4;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://morello;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $remote_addr;
        }}
    }}
}}
"""


@pytest.fixture
def nginx(tmp_path):
    """Factory: nginx(upstream_port) starts nginx proxying to it; returns its port."""
    binary = require_binary("nginx")
    procs = []

    def _start(upstream_port):
        port = free_port()
        conf = tmp_path / "nginx.conf"
        conf.write_text(NGINX_CONF.format(tmp=tmp_path, upstream=upstream_port, port=port))
        p = subprocess.Popen(
            [binary, "-c", str(conf), "-p", str(tmp_path), "-e", "stderr"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        procs.append(p)

        def up():
            if p.poll() is not None:
                return True
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return True
            except OSError:
                return False

        wait_until(up, timeout=10)
        if p.poll() is not None:
            out, err = p.communicate(timeout=5)
            pytest.fail("nginx exited (%s): %s" % (p.returncode, err.decode(errors="replace")))
        return port

    yield _start
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGQUIT)
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)


def test_nginx_reverse_proxy(serve, nginx):
    s = serve(info_app, keepalive=30)
    nport = nginx(addr(s)[1])
    conn = http.client.HTTPConnection("127.0.0.1", nport, timeout=10)
    try:
        ports = set()
        for i in range(5):
            conn.request("GET", "/get/%d?q=%d" % (i, i), headers={"Host": "proxied.example"})
            r = conn.getresponse()
            assert r.status == 200
            out = json.loads(r.read())
            assert out["path"] == "/get/%d" % i
            assert out["query"] == "q=%d" % i
            assert out["host"] == "proxied.example"
            assert out["xff"] == "127.0.0.1"
            ports.add(out["port"])
        assert len(ports) < 5, "nginx's upstream keep-alive connection was never reused"

        body = os.urandom(500000)
        conn.request("POST", "/post", body=body, headers={"Content-Type": "application/octet-stream"})
        r = conn.getresponse()
        assert r.status == 200
        out = json.loads(r.read())
        assert out["method"] == "POST"
        assert out["len"] == len(body)
        assert out["sha256"] == hashlib.sha256(body).hexdigest()

        conn.request("GET", "/stream")
        r = conn.getresponse()
        assert r.status == 200
        assert r.read() == b"".join(("part%d\n" % i).encode() for i in range(100))

        conn.request("HEAD", "/head")
        r = conn.getresponse()
        assert r.status == 200
        assert r.read() == b""
    finally:
        conn.close()


def test_nginx_chunked_upload_via_curl(serve, nginx, tmp_path):
    curl = require_binary("curl")
    s = serve(info_app)
    nport = nginx(addr(s)[1])
    data = os.urandom(1024 * 1024)
    f = tmp_path / "up.bin"
    f.write_bytes(data)
    p = run([curl, "-sS", "-H", "Transfer-Encoding: chunked", "--data-binary", "@" + str(f),
             "http://127.0.0.1:%d/up" % nport])
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["sha256"] == hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- Flask


def make_flask_app(tmp_path):
    from flask import Flask, jsonify, render_template, request

    tdir = tmp_path / "templates"
    tdir.mkdir()
    (tdir / "hello.html").write_text("<h1>Hello {{ name }}!</h1>{% for i in items %}<li>{{ i }}</li>{% endfor %}")
    app = Flask("flask_under_test", template_folder=str(tdir))

    @app.route("/")
    def index():
        return "index page"

    @app.route("/hello/<name>")
    def hello(name):
        return render_template("hello.html", name=name, items=[1, 2, 3])

    @app.route("/api/items", methods=["GET", "POST"])
    def items():
        if request.method == "POST":
            data = request.get_json()
            return jsonify(received=data, count=len(data["items"])), 201
        return jsonify(items=["a", "b"], args=request.args.to_dict())

    @app.route("/form", methods=["POST"])
    def form():
        return "name=%s" % request.form["name"]

    return app


def test_flask_app(serve, tmp_path):
    app = make_flask_app(tmp_path)
    s = serve(app)
    host, port = addr(s)
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request("GET", "/")
        r = conn.getresponse()
        assert r.status == 200 and r.read() == b"index page"

        conn.request("GET", "/hello/W%C3%B6rld")
        r = conn.getresponse()
        body = r.read().decode("utf-8")
        assert r.status == 200
        assert "<h1>Hello Wörld!</h1>" in body
        assert body.count("<li>") == 3
        assert r.getheader("Content-Type").startswith("text/html")

        conn.request("GET", "/api/items?x=1")
        r = conn.getresponse()
        assert r.status == 200
        assert json.loads(r.read()) == {"items": ["a", "b"], "args": {"x": "1"}}

        payload = json.dumps({"items": [1, 2, 3]})
        conn.request("POST", "/api/items", body=payload, headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        assert r.status == 201
        assert json.loads(r.read()) == {"received": {"items": [1, 2, 3]}, "count": 3}

        conn.request("POST", "/form", body="name=caf%C3%A9",
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        r = conn.getresponse()
        assert r.status == 200 and r.read().decode() == "name=café"

        conn.request("GET", "/missing")
        r = conn.getresponse()
        assert r.status == 404
        r.read()
    finally:
        conn.close()


def test_flask_with_requests_session(serve, tmp_path):
    import requests
    app = make_flask_app(tmp_path)
    s = serve(app)
    host, port = addr(s)
    with requests.Session() as sess:
        r = sess.get("http://%s:%d/api/items" % (host, port), params={"k": "v"}, timeout=10)
        assert r.status_code == 200
        assert r.json()["args"] == {"k": "v"}
        r = sess.post("http://%s:%d/api/items" % (host, port), json={"items": [9]}, timeout=10)
        assert r.status_code == 201
        assert r.json()["count"] == 1
