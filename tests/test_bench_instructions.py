"""bench/instructions.py's parsing and request loop: what a callgrind count is read from and
what the counted requests look like on the wire."""

import socket
import threading

import pytest

from conftest import load_bench_script


@pytest.fixture(scope="module")
def instructions():
    return load_bench_script("instructions.py")


# The lines of a callgrind output file that matter, around ones that must not be mistaken for them.
CALLGRIND_OUT = """# callgrind format
version: 1
creator: callgrind-3.19.0
pid: 768
cmd:  python -m morello apps:hello
part: 1

events: Ir
summary: 36559127

fl=(1) ???
fn=(1) 0x0000000000001000
0 3
totals: 36559130
"""


def test_the_totals_line_is_the_count(instructions):
    assert instructions.callgrind_total(CALLGRIND_OUT) == 36559130


def test_a_file_without_totals_falls_back_to_its_summary(instructions):
    text = CALLGRIND_OUT.replace("totals: 36559130\n", "")
    assert instructions.callgrind_total(text) == 36559127


def test_a_file_without_either_gives_none(instructions):
    assert instructions.callgrind_total("version: 1\nevents: Ir\n0 3\n") is None


def serve_heads(answers):
    """A one-connection server that records each request head and answers with the next
    status of `answers` (a body of 2 bytes, keep-alive)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    heads = []

    def run():
        conn, _ = listener.accept()
        buf = b""
        with conn:
            for status in answers:
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                head, buf = buf.split(b"\r\n\r\n", 1)
                heads.append(head.decode("latin-1"))
                conn.sendall(f"HTTP/1.1 {status} X\r\nContent-Length: 2\r\n\r\nok".encode())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return listener, thread, heads


@pytest.mark.parametrize("head", ["minimal", "browser"])
def test_each_request_carries_the_fields_of_its_head_on_one_connection(instructions, head):
    listener, thread, heads = serve_heads([200, 204, 200])
    port = listener.getsockname()[1]
    try:
        instructions.send_requests("127.0.0.1", port, "/x?y=1", instructions.HEADS[head], 3)
        thread.join(5)
    finally:
        listener.close()
    assert len(heads) == 3
    for text in heads:
        lines = text.split("\r\n")
        assert lines[0] == "GET /x?y=1 HTTP/1.1"
        names = [line.split(":", 1)[0] for line in lines[1:]]
        assert names == ["Host"] + [name for name, _ in instructions.HEADS[head]]
    if head == "browser":
        assert len(heads[0].split("\r\n")) == 14  # request line, Host and 12 more fields


def test_a_response_that_is_not_2xx_fails_the_run(instructions):
    listener, thread, heads = serve_heads([200, 503])
    port = listener.getsockname()[1]
    try:
        with pytest.raises(RuntimeError, match="answered 503"):
            instructions.send_requests("127.0.0.1", port, "/", (), 5)
        thread.join(5)
    finally:
        listener.close()
    assert len(heads) == 2
