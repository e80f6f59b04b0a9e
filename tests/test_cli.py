"""The command line: `morello MODULE:APP` and `python -m morello`, run as subprocesses."""

import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

from conftest import wait_until
from httpclient import Conn, http_request

APP_SOURCE = '''
import os, time

def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/slow":
        open(os.environ["MORELLO_TEST_MARKER"], "w").close()
        time.sleep(1.0)
    body = ("%s|%s|%s" % (path, environ["SERVER_NAME"], environ["wsgi.input"].read().decode())).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]

def other(environ, start_response):
    body = ("other|%s|%s" % (environ["SCRIPT_NAME"], environ["PATH_INFO"])).encode()
    start_response("200 OK", [("Content-Length", str(len(body)))])
    return [body]
'''

URL_RE = re.compile(r"http://127\.0\.0\.1:(\d+)")


class CLI:
    def __init__(self, argv, cwd, env):
        self.proc = subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.lines = []
        self.port = None
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._pump, args=(self.proc.stdout,), daemon=True),
            threading.Thread(target=self._pump, args=(self.proc.stderr,), daemon=True),
        ]
        for t in self._threads:
            t.start()

    def _pump(self, stream):
        for line in stream:
            with self._lock:
                self.lines.append(line)

    def output(self):
        with self._lock:
            return "".join(self.lines)

    def wait_for_port(self, timeout=15):
        def found():
            m = URL_RE.search(self.output())
            return m or self.proc.poll() is not None

        wait_until(found, timeout=timeout)
        m = URL_RE.search(self.output())
        if not m:
            self.kill()
            pytest.fail("the CLI never printed the URL it serves; output:\n%s" % self.output())
        self.port = int(m.group(1))
        return self.port

    def wait(self, timeout=15):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail("the CLI did not exit within %ss; output:\n%s" % (timeout, self.output()))

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def finish(self):
        self.kill()
        for t in self._threads:
            t.join(5)


@pytest.fixture
def cli(tmp_path):
    (tmp_path / "cliapp.py").write_text(APP_SOURCE)
    started = []
    env = dict(os.environ)
    env["MORELLO_TEST_MARKER"] = str(tmp_path / "entered")
    env["PYTHONUNBUFFERED"] = "1"

    def _start(*args, module=True):
        if module:
            argv = [sys.executable, "-m", "morello"] + list(args)
        else:
            script = os.path.join(os.path.dirname(sys.executable), "morello")
            if not os.path.exists(script):
                pytest.fail("the `morello` console script is not installed next to %s" % sys.executable)
            argv = [script] + list(args)
        c = CLI(argv, cwd=str(tmp_path), env=env)
        started.append(c)
        return c

    yield _start
    for c in started:
        c.finish()


def get(port, path=b"/", body=b""):
    method = b"POST" if body else b"GET"
    raw = method + b" " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
    if body:
        raw += b"Content-Length: %d\r\n" % len(body)
    return http_request(("127.0.0.1", port), raw + b"\r\n" + body)


def test_python_m_morello_serves_and_sigterm_exits_0(cli):
    c = cli("cliapp:app", "--bind", "127.0.0.1:0")
    port = c.wait_for_port()
    r = get(port, b"/hello", b"data")
    assert r.status == 200
    assert r.body.startswith(b"/hello|")
    assert r.body.endswith(b"|data")
    c.proc.send_signal(signal.SIGTERM)
    assert c.wait() == 0, c.output()


def test_sigint_exits_0(cli):
    c = cli("cliapp:app", "--bind", "127.0.0.1:0")
    port = c.wait_for_port()
    assert get(port).status == 200
    c.proc.send_signal(signal.SIGINT)
    assert c.wait() == 0, c.output()
    assert "Traceback" not in c.output()


def test_console_script(cli):
    c = cli("cliapp:app", "--bind", "127.0.0.1:0", module=False)
    port = c.wait_for_port()
    assert get(port).status == 200
    c.proc.send_signal(signal.SIGTERM)
    assert c.wait() == 0, c.output()


def test_sigterm_finishes_in_flight_request(cli, tmp_path):
    c = cli("cliapp:app", "--bind", "127.0.0.1:0")
    port = c.wait_for_port()
    conn = Conn(("127.0.0.1", port), timeout=15)
    try:
        conn.send(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        assert wait_until(lambda: os.path.exists(str(tmp_path / "entered")), timeout=10)
        c.proc.send_signal(signal.SIGTERM)
        r = conn.read_response()
        assert r.status == 200
        assert r.body.startswith(b"/slow|")
    finally:
        conn.close()
    assert c.wait() == 0, c.output()


def test_cli_options_reach_the_engine(cli):
    c = cli(
        "cliapp:app",
        "--bind", "127.0.0.1:0",
        "--server-name", "cli.example.test",
        "--max-body-size", "10",
        "--threads", "2",
    )
    port = c.wait_for_port()
    r = get(port, b"/x")
    assert r.status == 200
    assert r.body == b"/x|cli.example.test|"
    r = get(port, b"/big", b"x" * 11)
    assert r.status == 413
    assert get(port, b"/small", b"x" * 10).status == 200
    c.proc.send_signal(signal.SIGTERM)
    assert c.wait() == 0


def test_cli_mount(cli):
    c = cli("cliapp:app", "--mount", "/other=cliapp:other", "--bind", "127.0.0.1:0")
    port = c.wait_for_port()
    assert get(port, b"/other/y").body == b"other|/other|/y"
    assert get(port, b"/z").body.startswith(b"/z|")
    c.proc.send_signal(signal.SIGTERM)
    assert c.wait() == 0


def test_cli_unix_socket(cli, tmp_path):
    path = str(tmp_path / "cli.sock")
    c = cli("cliapp:app", "--bind", "unix:" + path)
    assert wait_until(lambda: os.path.exists(path) or c.proc.poll() is not None, timeout=15)
    assert c.proc.poll() is None, c.output()
    r = http_request(path, b"GET /u HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert r.status == 200 and r.body.startswith(b"/u|")
    c.proc.send_signal(signal.SIGTERM)
    assert c.wait() == 0


def test_cli_bad_app_fails(cli):
    c = cli("no_such_module_xyz:app", "--bind", "127.0.0.1:0")
    rc = c.wait()
    assert rc != 0
    assert "no_such_module_xyz" in c.output()


def test_cli_address_in_use_fails(cli):
    import socket

    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    port = blocker.getsockname()[1]
    try:
        c = cli("cliapp:app", "--bind", "127.0.0.1:%d" % port)
        rc = c.wait()
        assert rc != 0
    finally:
        blocker.close()
