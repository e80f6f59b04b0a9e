"""Configuration without a network: Config validation, Server's mount table, the application
loader, command-line parsing and the wsgiserver-to-Config mapping. Nothing here starts a server."""

import dataclasses
import os
import socket
import subprocess
import sys
import textwrap
import uuid

import pytest

from morello import Config, Server, wsgiserver
from morello.cli import UsageError, load_applications, parse_command_line
from morello.loader import AppLoadError, AppSpec, load_app
from morello.mounts import normalize_prefix
from morello.options import ENGINE_OPTIONS
from morello.server import format_url


def app(environ, start_response):
    start_response("200 OK", [("Content-Length", "0")])
    return [b""]


def other(environ, start_response):
    start_response("200 OK", [("Content-Length", "0")])
    return [b""]


# --------------------------------------------------------------------------- Config


def test_defaults():
    config = Config()
    for option in ENGINE_OPTIONS:
        if option.name != "server_name":
            assert getattr(config, option.name) == option.default, option.name
    assert config.server_name == socket.gethostname()
    assert config.bind == ("127.0.0.1:8000",)


def test_values_are_normalized():
    config = Config(bind="127.0.0.1:0", keepalive=2, header_timeout=1, server_name="example.org")
    assert config.bind == ("127.0.0.1:0",)
    assert type(config.keepalive) is float and config.keepalive == 2.0
    assert type(config.header_timeout) is float
    assert Config(bind=["127.0.0.1:0", "unix:/tmp/x.sock"]).bind == ("127.0.0.1:0", "unix:/tmp/x.sock")
    assert Config(server_name="example.org").server_name == "example.org"


def test_frozen_and_replace_validates():
    config = Config(threads=4)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.threads = 5
    assert config.replace(threads=6).threads == 6
    assert config.threads == 4
    with pytest.raises(ValueError, match=r"^threads: must be an integer >= 1, got -1$"):
        config.replace(threads=-1)


def test_keyword_only_on_310_and_later():
    if sys.version_info < (3, 10):
        pytest.skip("dataclasses support kw_only from Python 3.10")
    with pytest.raises(TypeError):
        Config(("127.0.0.1:0",))


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"threads": 0}, "threads: must be an integer >= 1, got 0"),
        ({"threads": True}, "threads: must be an integer >= 1, got True"),
        ({"threads": "10"}, "threads: must be an integer >= 1, got '10'"),
        ({"threads": 8, "max_threads": 4}, "max_threads: must be >= threads (8), got 4"),
        ({"threads": 200}, "max_threads: must be >= threads (200), got 128"),
        ({"max_queued": -1}, "max_queued: must be an integer >= 0, got -1"),
        ({"keepalive": -1}, "keepalive: must be a number of seconds >= 0, got -1"),
        ({"header_timeout": 0}, "header_timeout: must be a number of seconds > 0, got 0"),
        ({"read_timeout": float("nan")}, "read_timeout: must be a number of seconds > 0, got nan"),
        ({"write_timeout": float("inf")}, "write_timeout: must be a number of seconds > 0, got inf"),
        ({"shutdown_timeout": "5"}, "shutdown_timeout: must be a number of seconds >= 0, got '5'"),
        ({"max_body_size": -5}, "max_body_size: must be an integer >= 0, got -5"),
        (
            {"unix_socket_mode": 0o1000},
            "unix_socket_mode: must be an octal file mode from 000 to 777, got 512",
        ),
        ({"protocol": "HTTP/2"}, "protocol: must be one of HTTP/1.0, HTTP/1.1, got 'HTTP/2'"),
        ({"keep_quoted_slash": 1}, "keep_quoted_slash: must be True or False, got 1"),
        ({"server_name": ""}, "server_name: must be a non-empty host name without whitespace, got ''"),
        (
            {"bind": []},
            "bind: must be HOST:PORT, [IPV6]:PORT or unix:PATH or a non-empty list of them, got []",
        ),
        (
            {"bind": 8000},
            "bind: must be HOST:PORT, [IPV6]:PORT or unix:PATH or a non-empty list of them, got 8000",
        ),
        ({"bind": ("127.0.0.1:0", 5)}, "bind: must be HOST:PORT, [IPV6]:PORT or unix:PATH, got 5"),
    ],
)
def test_bad_values_name_the_field(changes, message):
    with pytest.raises(ValueError) as info:
        Config(**changes)
    assert str(info.value) == message


def test_bad_bind_string_names_the_field():
    with pytest.raises(ValueError) as info:
        Config(bind="nonsense")
    message = str(info.value)
    assert message.startswith("bind: must be HOST:PORT, [IPV6]:PORT or unix:PATH, got 'nonsense'")
    assert "\n" not in message


def test_unknown_field():
    with pytest.raises(TypeError, match="no_such_option"):
        Config(no_such_option=1)


# --------------------------------------------------------------------------- Server (not started)


def test_server_options_and_config():
    base = Config(threads=3, max_threads=3)
    server = Server(app, config=base, bind="127.0.0.1:0")
    assert server.config.threads == 3
    assert server.config.bind == ("127.0.0.1:0",)
    assert Server(app, threads=7).config.threads == 7


def test_server_unknown_option_names_it():
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'thread'"):
        Server(app, thread=4)


def test_server_bad_option_value():
    with pytest.raises(ValueError, match=r"^threads: "):
        Server(app, threads=0)


@pytest.mark.parametrize(
    "spec,expected",
    [
        (app, [("", app)]),
        ([("/", app), ("/blog/", other)], [("", app), ("/blog", other)]),
        ({"": app, "/a/b//": other}, [("", app), ("/a/b", other)]),
        ([("/my app", other)], [("/my app", other)]),
    ],
)
def test_server_mounts_are_normalized(spec, expected):
    assert Server(spec).mounts == expected


def test_server_app_and_mounts_combine():
    assert Server(app, mounts={"/x": other}).mounts == [("", app), ("/x", other)]


@pytest.mark.parametrize(
    "spec,error,match",
    [
        ([("/x", app), ("/x/", other)], ValueError, "duplicate mount prefix '/x'"),
        ([("/", app), ("", other)], ValueError, "duplicate mount prefix '/'"),
        ([("x", app)], ValueError, "must start with '/'"),
        ([("/a?b", app)], ValueError, "must be a URL path"),
        ([("//a", app)], ValueError, "must be a URL path"),
        ([("/x", "not callable")], TypeError, "not callable"),
        ([("/x",)], TypeError, r"\(prefix, app\) pair"),
        (42, TypeError, "expected a WSGI application"),
    ],
)
def test_server_bad_mounts(spec, error, match):
    with pytest.raises(error, match=match):
        Server(spec)


def test_server_needs_an_app():
    with pytest.raises(TypeError, match="needs an application"):
        Server()


def test_server_not_started():
    server = Server(app)
    assert server.running is False
    assert server.stop() is True
    with pytest.raises(RuntimeError):
        _ = server.addresses
    with pytest.raises(RuntimeError):
        server.stats()
    assert repr(server) == "<morello.Server (not started)>"


@pytest.mark.parametrize(
    "address,url",
    [
        (("127.0.0.1", 8080), "http://127.0.0.1:8080"),
        (("::1", 8080), "http://[::1]:8080"),
        ("/run/app.sock", "/run/app.sock"),
    ],
)
def test_format_url(address, url):
    assert format_url(address) == url


@pytest.mark.parametrize(
    "prefix,normalized",
    [("", ""), ("/", ""), ("/a", "/a"), ("/a/", "/a"), ("/a/b///", "/a/b"), ("/é", "/é")],
)
def test_normalize_prefix(prefix, normalized):
    assert normalize_prefix(prefix) == normalized


# --------------------------------------------------------------------------- loader


@pytest.mark.parametrize(
    "text,module,attribute,call",
    [
        ("pkg.mod:app", "pkg.mod", "app", False),
        ("mod:make_app()", "mod", "make_app", True),
        ("mod", "mod", "application", False),
        ("mod:site.wsgi", "mod", "site.wsgi", False),
    ],
)
def test_app_spec_forms(text, module, attribute, call):
    spec = AppSpec.parse(text)
    assert (spec.module, spec.attribute, spec.call) == (module, attribute, call)
    assert AppSpec.parse(str(spec)) == spec


@pytest.mark.parametrize("text", ["", ":app", "mod:", "a:b:c", "mod:app(1)", "mod:1app", "my-mod:app"])
def test_app_spec_errors(text):
    with pytest.raises(ValueError, match=r"must be MODULE:APP, MODULE:FACTORY\(\) or MODULE"):
        AppSpec.parse(text)


@pytest.fixture
def app_module(tmp_path, monkeypatch):
    """Factory: writes a uniquely named module into tmp_path (on sys.path) and returns its name."""
    monkeypatch.syspath_prepend(str(tmp_path))

    def write(source):
        name = f"morello_test_app_{uuid.uuid4().hex}"
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        monkeypatch.delitem(sys.modules, name, raising=False)
        return name

    return write


APP_SOURCE = """
    def app(environ, start_response):
        return []
    application = app
    calls = []
    def make_app():
        calls.append(1)
        return app
    def broken_factory():
        raise RuntimeError("no database")
    not_callable = 42
    """


def test_load_forms(app_module):
    name = app_module(APP_SOURCE)
    module_app = load_app(AppSpec.parse(f"{name}:app"))
    assert module_app.__name__ == "app"
    assert load_app(AppSpec.parse(name)) is module_app
    assert load_app(AppSpec.parse(f"{name}:make_app()")) is module_app
    assert sys.modules[name].calls == [1]


@pytest.mark.parametrize(
    "suffix,message",
    [
        (":nope", "module '{name}' has no attribute 'nope'"),
        (":not_callable", "{name}:not_callable is not a WSGI application: int object is not callable"),
        (":not_callable()", "{name}:not_callable is not callable, so cannot be a factory"),
        (":broken_factory()", "{name}:broken_factory() failed: RuntimeError: no database"),
    ],
)
def test_load_errors(app_module, suffix, message):
    name = app_module(APP_SOURCE)
    with pytest.raises(AppLoadError) as info:
        load_app(AppSpec.parse(name + suffix))
    assert str(info.value) == message.format(name=name)


def test_import_errors(app_module):
    with pytest.raises(AppLoadError) as info:
        load_app(AppSpec.parse("morello_no_such_module:app"))
    assert (
        str(info.value) == "cannot import 'morello_no_such_module': No module named 'morello_no_such_module'"
    )
    name = app_module("def app(:\n")
    with pytest.raises(AppLoadError, match=rf"^cannot import '{name}': SyntaxError: "):
        load_app(AppSpec.parse(f"{name}:app"))
    name = app_module("raise RuntimeError('boom')\n")
    with pytest.raises(AppLoadError, match=rf"^cannot import '{name}': RuntimeError: boom$"):
        load_app(AppSpec.parse(f"{name}:app"))


# --------------------------------------------------------------------------- command line (in process)


def test_parse_command_line():
    invocation = parse_command_line(
        [
            "mod:app",
            "-b",
            "127.0.0.1:0",
            "--bind=unix:/tmp/m.sock",
            "--threads",
            "4",
            "--keep-alive",
            "0",
            "--unix-socket-mode",
            "660",
            "--keep-quoted-slash",
            "--mount",
            "/api/=api:make()",
            "--log-level",
            "debug",
            "--chdir",
            "/srv",
        ]
    )
    config = invocation.config
    assert config.bind == ("127.0.0.1:0", "unix:/tmp/m.sock")
    assert (config.threads, config.max_threads, config.keepalive) == (4, 128, 0.0)
    assert config.unix_socket_mode == 0o660
    assert config.keep_quoted_slash is True
    assert invocation.mounts == (("", AppSpec("mod", "app", False)), ("/api", AppSpec("api", "make", True)))
    assert (invocation.log_level, invocation.chdir) == ("debug", "/srv")


def test_parse_command_line_defaults():
    invocation = parse_command_line(["mod"])
    assert invocation.config == Config()
    assert invocation.log_level == "info"
    assert invocation.chdir is None


def test_mounts_only():
    invocation = parse_command_line(["--mount", "/a=x:app", "--mount", "/b=y:app"])
    assert [prefix for prefix, _ in invocation.mounts] == ["/a", "/b"]


def test_usage_error_is_raised_not_exited():
    with pytest.raises(UsageError, match=r"^--threads: must be an integer >= 1, got 'many'$"):
        parse_command_line(["mod:app", "--threads", "many"])


def test_chdir_puts_the_directory_on_sys_path(tmp_path, monkeypatch):
    monkeypatch.chdir(os.getcwd())  # restored at teardown
    monkeypatch.setattr(sys, "path", list(sys.path))
    name = f"morello_test_chdir_{uuid.uuid4().hex}"
    (tmp_path / f"{name}.py").write_text("def app(environ, start_response):\n    return []\n")
    monkeypatch.delitem(sys.modules, name, raising=False)
    invocation = parse_command_line([f"{name}:app", "--chdir", str(tmp_path)])
    [(prefix, loaded)] = load_applications(invocation)
    assert prefix == ""
    assert loaded.__module__ == name
    assert os.getcwd() == str(tmp_path)
    assert sys.path[0] == str(tmp_path)


# --------------------------------------------------------------------------- command line (subprocess)


def run_cli(*args, cwd):
    proc = subprocess.run(
        [sys.executable, "-m", "morello", *args], capture_output=True, text=True, timeout=60, cwd=cwd
    )
    return proc.returncode, proc.stdout, proc.stderr


def test_cli_import_error(tmp_path):
    status, out, err = run_cli("nosuch", cwd=tmp_path)
    assert (status, out) == (2, "")
    assert err == "morello: error: cannot import 'nosuch': No module named 'nosuch'\n"


def test_cli_bad_chdir(tmp_path):
    missing = tmp_path / "missing"
    status, _, err = run_cli("mod:app", "--chdir", str(missing), cwd=tmp_path)
    assert status == 2
    assert err == f"morello: error: --chdir: cannot change to '{missing}': No such file or directory\n"


def test_cli_chdir_and_cwd_on_path(tmp_path):
    # The module is found only in the --chdir directory; it has no 'app', so loading stops there.
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "webmod.py").write_text("application = None\n")
    status, _, err = run_cli("webmod:app", "--chdir", "site", cwd=tmp_path)
    assert status == 2
    assert err == "morello: error: module 'webmod' has no attribute 'app'\n"
    status, _, err = run_cli("webmod", cwd=tmp_path / "site")
    assert status == 2
    assert (
        err
        == "morello: error: webmod:application is not a WSGI application: NoneType object is not callable\n"
    )


# --------------------------------------------------------------------------- wsgiserver mapping


def test_wsgiserver_defaults_map_onto_config():
    server = wsgiserver.CherryPyWSGIServer(("127.0.0.1", 8070), app)
    config = server.to_config()
    assert config.bind == ("127.0.0.1:8070",)
    assert (config.threads, config.max_threads) == (10, 10)
    assert config.max_queued == 0
    assert config.backlog == 5
    assert (config.header_timeout, config.read_timeout) == (10.0, 10.0)
    assert config.server_name == socket.gethostname()
    assert config.protocol == "HTTP/1.1"
    assert config.keep_quoted_slash is True
    assert server.ready is False
    assert str(server) == "morello.wsgiserver.CherryPyWSGIServer(('127.0.0.1', 8070))"


def test_wsgiserver_arguments_and_later_attributes():
    server = wsgiserver.CherryPyWSGIServer(
        ("::1", 0),
        app,
        numthreads=4,
        server_name="example.org",
        max=7,
        request_queue_size=64,
        timeout=3,
        protocol="HTTP/1.0",
    )
    config = server.to_config()
    assert config.bind == ("[::1]:0",)
    assert (config.threads, config.max_threads, config.max_queued, config.backlog) == (4, 4, 7, 64)
    assert (config.header_timeout, config.read_timeout) == (3.0, 3.0)
    assert (config.server_name, config.protocol) == ("example.org", "HTTP/1.0")
    server.numthreads = 20
    server.timeout = 5
    server.keep_quoted_slash = False
    server.bind_addr = "/tmp/seed.sock"
    config = server.to_config()
    assert (config.threads, config.max_threads, config.header_timeout) == (20, 20, 5.0)
    assert config.keep_quoted_slash is False
    assert config.bind == ("unix:/tmp/seed.sock",)


def test_wsgiserver_host_name_is_resolved():
    server = wsgiserver.CherryPyWSGIServer(("localhost", 8070), app)
    host = server.to_config().bind[0].rpartition(":")[0]
    assert host in ("127.0.0.1", "[::1]")


def test_wsgiserver_empty_host_is_refused():
    with pytest.raises(ValueError, match="0.0.0.0"):
        wsgiserver.CherryPyWSGIServer(("", 8070), app).to_config()


@pytest.mark.parametrize("attribute", ["ssl_certificate", "ssl_private_key"])
def test_wsgiserver_ssl_is_refused_before_binding(attribute):
    server = wsgiserver.CherryPyWSGIServer(("127.0.0.1", 0), app)
    setattr(server, attribute, "server.pem")
    with pytest.raises(wsgiserver.SSLNotAvailable, match="does not implement TLS"):
        server.start()
    assert server.ready is False
    assert issubclass(wsgiserver.SSLNotAvailable, NotImplementedError)


def test_path_info_dispatcher_as_an_application():
    seen = []

    def recorder(name):
        def recording_app(environ, start_response):
            seen.append((name, environ["SCRIPT_NAME"], environ["PATH_INFO"]))
            start_response("200 OK", [])
            return [name.encode()]

        return recording_app

    dispatcher = wsgiserver.WSGIPathInfoDispatcher({"/": recorder("root"), "/blog/": recorder("blog")})
    assert [prefix for prefix, _ in dispatcher.apps] == ["/blog", ""]

    def get(path, script_name=""):
        statuses = []
        environ = {"PATH_INFO": path, "SCRIPT_NAME": script_name}
        body = b"".join(dispatcher(environ, lambda status, headers: statuses.append(status)))
        return statuses[0], body

    assert get("/blog/x") == ("200 OK", b"blog")
    assert get("/blog") == ("200 OK", b"blog")
    assert get("/blogx", "/site") == ("200 OK", b"root")
    assert seen == [("blog", "/blog", "/x"), ("blog", "/blog", ""), ("root", "/site", "/blogx")]
    only_blog = wsgiserver.WSGIPathInfoDispatcher([("/blog", recorder("blog"))])
    statuses = []
    assert b"".join(only_blog({"PATH_INFO": "/other"}, lambda s, h: statuses.append(s))) == b""
    assert statuses == ["404 Not Found"]
