"""Shared fixtures and helpers for morello's integration suite.

Every test talks to a real server over real sockets bound to port 0 on the loopback.
Nothing here sleeps to prove speed: waits are always bounded polls for a condition.
"""

import logging
import os
import shutil
import socket
import sys
import threading
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from httpclient import (  # noqa: E402,F401
    Conn,
    Response,
    connect,
    hall,
    hget,
    http_request,
    read_until_close,
)


# --------------------------------------------------------------------------- servers


@pytest.fixture
def serve():
    """Factory: ``serve(app, **opts)`` starts ``Server(app, bind="127.0.0.1:0", **opts)``.

    Every server started through it is stopped at teardown.
    """
    from morello import Server

    servers = []

    def _serve(app, **opts):
        opts.setdefault("bind", "127.0.0.1:0")
        s = Server(app, **opts)
        s.start()
        servers.append(s)
        return s

    yield _serve
    for s in reversed(servers):
        try:
            s.stop(timeout=5)
        except Exception:  # pragma: no cover - teardown must not mask the test's result
            pass


def addr(server, index=0):
    """The (host, port) of a server's listener, for socket.create_connection."""
    return tuple(server.addresses[index])


# --------------------------------------------------------------------------- apps


class Recorder:
    """A WSGI app that records each call's environ (copied) and answers 200 "ok".

    ``calls`` counts dispatches; ``environs`` keeps copies of what the app saw; ``bodies``
    keeps what was read from wsgi.input when ``read_body`` is true.
    """

    def __init__(self, body=b"ok", read_body=False, status="200 OK", headers=None):
        self.calls = 0
        self.environs = []
        self.bodies = []
        self.errors = []
        self.body = body
        self.read_body = read_body
        self.status = status
        self.headers = headers
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        with self.lock:
            self.calls += 1
            self.environs.append(dict(environ))
        if self.read_body:
            try:
                data = environ["wsgi.input"].read()
            except Exception as e:  # record that the body could not be read
                with self.lock:
                    self.errors.append(e)
                raise
            with self.lock:
                self.bodies.append(data)
        headers = self.headers
        if headers is None:
            headers = [("Content-Type", "text/plain"), ("Content-Length", str(len(self.body)))]
        start_response(self.status, list(headers))
        return [self.body]


@pytest.fixture
def recorder():
    return Recorder()


def environ_app(keys=None):
    """An app that answers with repr() of selected environ keys (or all str-valued keys)."""

    def app(environ, start_response):
        if keys is None:
            d = {k: v for k, v in environ.items() if isinstance(v, (str, tuple, bool, int))}
        else:
            d = {k: environ.get(k, "<MISSING>") for k in keys}
        body = repr(d).encode("utf-8")
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]

    return app


# --------------------------------------------------------------------------- logging


class ListHandler(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.records = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))

    def emit(self, record):
        self.records.append(record)

    def text(self):
        out = []
        for r in list(self.records):
            try:
                out.append(self.format(r))
            except Exception as e:  # pragma: no cover
                out.append("<unformattable %r: %r>" % (r, e))
        return "\n".join(out)

    def wait_for(self, needle, timeout=5.0):
        """Polls until ``needle`` appears in the formatted log; returns the text."""
        deadline = time.monotonic() + timeout
        while True:
            t = self.text()
            if needle in t or time.monotonic() > deadline:
                return t
            time.sleep(0.02)


@pytest.fixture
def error_log():
    """Collects everything logged to the "morello.error" logger (any level)."""
    logger = logging.getLogger("morello.error")
    h = ListHandler()
    old_level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(h)
    yield h
    logger.removeHandler(h)
    logger.setLevel(old_level)


# --------------------------------------------------------------------------- misc


def wait_until(predicate, timeout=5.0, interval=0.02):
    """Polls ``predicate`` until true or ``timeout``; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = predicate()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(interval)


def require_binary(name):
    """Returns the path of an external binary; FAILS (never skips) when it is missing."""
    path = shutil.which(name) or (
        os.path.exists("/usr/sbin/" + name) and "/usr/sbin/" + name
    )
    if not path:
        pytest.fail("required binary %r not found on PATH (CI installs it via apt)" % name)
    return path


def load_bench_script(name):
    """A script of bench/ (e.g. "summary.py") imported as a module, for its pure functions."""
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).resolve().parent.parent / "bench" / name
    spec = importlib.util.spec_from_file_location(f"bench_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# --------------------------------------------------------------------------- subprocess servers
#
# For tests that measure the server process itself (RSS, CPU time, open fds) or that must survive
# the server dying: ``python -m morello MODULE:APP`` in a subprocess, read through /proc.

CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_status_kib(pid, field):
    """A ``kB`` field of /proc/<pid>/status (VmRSS, VmHWM...), in KiB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError("no %s in /proc/%d/status" % (field, pid))


def proc_cpu_seconds(pid):
    """utime + stime of a process (all its threads), in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rpartition(")")[2].split()
    # fields[0] is the state (field 3 of stat(5)); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def cpu_share(pid, seconds):
    """The share of one core a process used over the next ``seconds`` of wall time."""
    c0, t0 = proc_cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    c1, t1 = proc_cpu_seconds(pid), time.monotonic()
    return (c1 - c0) / (t1 - t0)


class ServerProcess:
    """A ``python -m morello`` subprocess whose stdout and stderr are collected."""

    URL = None  # compiled lazily

    def __init__(self, argv, cwd, env, preexec_fn=None):
        import re
        import subprocess

        type(self).URL = type(self).URL or re.compile(r"http://127\.0\.0\.1:(\d+)")
        self.argv = argv
        self.proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            preexec_fn=preexec_fn,
        )
        self.pid = self.proc.pid
        self.port = None
        self._lines = []
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._pump, args=(s,), daemon=True)
            for s in (self.proc.stdout, self.proc.stderr)
        ]
        for t in self._threads:
            t.start()

    def _pump(self, stream):
        for line in stream:
            with self._lock:
                self._lines.append(line)

    def output(self):
        with self._lock:
            return "".join(self._lines)

    def line_count(self):
        with self._lock:
            return len(self._lines)

    def alive(self):
        return self.proc.poll() is None

    def wait_for_port(self, timeout=20):
        wait_until(lambda: self.URL.search(self.output()) or not self.alive(), timeout=timeout)
        m = self.URL.search(self.output())
        if not m:
            self.kill()
            pytest.fail("the server never printed its URL; output:\n%s" % self.output()[-4000:])
        self.port = int(m.group(1))
        return self.port

    @property
    def address(self):
        return ("127.0.0.1", self.port)

    def rss_kib(self):
        return proc_status_kib(self.pid, "VmRSS")

    def hwm_kib(self):
        return proc_status_kib(self.pid, "VmHWM")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def finish(self):
        self.kill()
        for t in self._threads:
            t.join(5)


@pytest.fixture
def spawn(tmp_path):
    """Factory: ``spawn(app_source, *cli_args, module="procapp", preexec_fn=None)``.

    Writes ``app_source`` to ``tmp_path/<module>.py`` and runs
    ``python -m morello <module>:app --bind 127.0.0.1:0 *cli_args`` in ``tmp_path`` with
    ``MORELLO_TEST_DIR`` set to ``tmp_path``; returns a started :class:`ServerProcess` whose
    port is known. Every process is killed at teardown.
    """
    started = []

    def _spawn(app_source, *args, module="procapp", preexec_fn=None, env=None):
        (tmp_path / (module + ".py")).write_text(app_source)
        full_env = dict(os.environ)
        full_env["MORELLO_TEST_DIR"] = str(tmp_path)
        full_env["PYTHONUNBUFFERED"] = "1"
        full_env.update(env or {})
        argv = [sys.executable, "-m", "morello", module + ":app", "--bind", "127.0.0.1:0"] + list(args)
        p = ServerProcess(argv, cwd=str(tmp_path), env=full_env, preexec_fn=preexec_fn)
        started.append(p)
        p.wait_for_port()
        return p

    yield _spawn
    for p in started:
        p.finish()
