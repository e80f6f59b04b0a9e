"""Listening sockets: IPv4, IPv6, UNIX, several at once."""

import os
import socket
import stat

import pytest

from conftest import Recorder
from httpclient import Conn, http_request

REQ = b"GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


def ipv6_loopback_available():
    if not socket.has_ipv6:
        return False
    try:
        sk = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        try:
            sk.bind(("::1", 0))
        finally:
            sk.close()
        return True
    except OSError:
        return False


def test_ipv4_port_zero_reports_real_port(serve):
    rec = Recorder()
    s = serve(rec, bind="127.0.0.1:0")
    assert len(s.addresses) == 1
    host, port = s.addresses[0]
    assert host == "127.0.0.1"
    assert isinstance(port, int) and port > 0
    r = http_request((host, port), REQ)
    assert r.status == 200
    assert rec.environs[0]["SERVER_PORT"] == str(port)


def test_ipv6_loopback(serve):
    if not ipv6_loopback_available():
        pytest.skip("this machine has no IPv6 loopback (::1 cannot be bound)")
    rec = Recorder()
    s = serve(rec, bind="[::1]:0")
    assert len(s.addresses) == 1
    host, port = s.addresses[0][:2]
    assert host == "::1"
    assert port > 0
    sk = socket.create_connection(("::1", port), timeout=5)
    sk.sendall(REQ)
    data = b""
    while True:
        d = sk.recv(65536)
        if not d:
            break
        data += d
    sk.close()
    assert data.startswith(b"HTTP/1.1 200")
    env = rec.environs[0]
    assert env["REMOTE_ADDR"] == "::1"
    assert env["SERVER_PORT"] == str(port)


def test_unix_socket_with_mode(serve, tmp_path):
    path = str(tmp_path / "morello.sock")
    rec = Recorder()
    s = serve(rec, bind="unix:" + path, unix_socket_mode=0o600)
    assert s.addresses == [path]
    st = os.stat(path)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600
    r = http_request(path, REQ)
    assert r.status == 200
    assert r.body == b"ok"
    env = rec.environs[0]
    assert env["PATH_INFO"] == "/x"
    assert isinstance(env.get("REMOTE_ADDR", ""), str)


def test_unix_socket_default_mode(serve, tmp_path):
    path = str(tmp_path / "default.sock")
    s = serve(Recorder(), bind="unix:" + path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o666


def test_unix_socket_removed_on_stop(serve, tmp_path):
    from morello import Server

    path = str(tmp_path / "gone.sock")
    s = Server(Recorder(), bind="unix:" + path)
    s.start()
    try:
        assert os.path.exists(path)
        assert http_request(path, REQ).status == 200
    finally:
        assert s.stop(timeout=5) is True
    assert not os.path.exists(path)


def test_unix_socket_stale_file_replaced(serve, tmp_path):
    path = str(tmp_path / "stale.sock")
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(path)
    stale.close()  # leaves a stale socket file behind
    assert os.path.exists(path)
    s = serve(Recorder(), bind="unix:" + path)
    assert http_request(path, REQ).status == 200


def test_several_binds_at_once(serve, tmp_path):
    path = str(tmp_path / "multi.sock")
    rec = Recorder()
    binds = ["127.0.0.1:0", "127.0.0.1:0", "unix:" + path]
    if ipv6_loopback_available():
        binds.append("[::1]:0")
    s = serve(rec, bind=binds)
    assert len(s.addresses) == len(binds)
    tcp = [a for a in s.addresses if not isinstance(a, str)]
    unix = [a for a in s.addresses if isinstance(a, str)]
    assert unix == [path]
    ports = {a[1] for a in tcp}
    assert len(ports) == len(tcp), "each port-0 bind gets its own port"
    for a in tcp:
        host, port = a[0], a[1]
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        sk = socket.socket(fam, socket.SOCK_STREAM)
        sk.settimeout(5)
        sk.connect((host, port))
        sk.sendall(REQ)
        data = b""
        while True:
            d = sk.recv(65536)
            if not d:
                break
            data += d
        sk.close()
        assert data.startswith(b"HTTP/1.1 200"), (a, data[:100])
    assert http_request(path, REQ).status == 200
    assert rec.calls == len(binds)


def test_bind_address_in_use_fails(serve):
    from morello import Server

    s = serve(Recorder())
    port = s.addresses[0][1]
    other = Server(Recorder(), bind="127.0.0.1:%d" % port)
    with pytest.raises(Exception):
        other.start()
    try:
        other.stop(timeout=1)
    except Exception:
        pass
    # the first server is unaffected
    assert http_request(s.addresses[0], REQ).status == 200


def test_bad_bind_string_rejected():
    from morello import Server

    for bad in ("nonsense", "127.0.0.1:notaport", "127.0.0.1:70000"):
        with pytest.raises(Exception):
            s = Server(Recorder(), bind=bad)
            try:
                s.start()
            finally:
                try:
                    s.stop(timeout=1)
                except Exception:
                    pass
