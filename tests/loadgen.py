"""A tiny, bounded load generator run as a subprocess (so its GIL is not the server's).

Usage: python loadgen.py HOST PORT CONNECTIONS DURATION_SECONDS PATH

Each connection sends keep-alive GETs back to back for DURATION seconds (hard-bounded),
reading each Content-Length response. Prints "go" once every connection is open, then at
the end "done OK=<n> ERR=<n> STATUS=<comma separated unexpected statuses>".
"""

import socket
import sys
import threading
import time


def main():
    host, port, nconn, duration, path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
    duration = min(duration, 30.0)
    socks = []
    for _ in range(nconn):
        s = socket.create_connection((host, port), timeout=10)
        socks.append(s)
    ok = [0]
    err = [0]
    bad = []
    lock = threading.Lock()
    start = threading.Event()
    req = ("GET %s HTTP/1.1\r\nHost: load\r\n\r\n" % path).encode()

    def worker(s):
        start.wait()
        deadline = time.monotonic() + duration
        buf = b""
        try:
            while time.monotonic() < deadline:
                s.sendall(req)
                while b"\r\n\r\n" not in buf:
                    d = s.recv(65536)
                    if not d:
                        raise EOFError
                    buf += d
                head, _, buf = buf.partition(b"\r\n\r\n")
                status = int(head.split(b" ", 2)[1])
                cl = 0
                for line in head.split(b"\r\n")[1:]:
                    k, _, v = line.partition(b":")
                    if k.strip().lower() == b"content-length":
                        cl = int(v)
                while len(buf) < cl:
                    d = s.recv(65536)
                    if not d:
                        raise EOFError
                    buf += d
                buf = buf[cl:]
                with lock:
                    if status == 200:
                        ok[0] += 1
                    else:
                        bad.append(status)
        except Exception:
            with lock:
                err[0] += 1
        finally:
            s.close()

    threads = [threading.Thread(target=worker, args=(s,), daemon=True) for s in socks]
    for t in threads:
        t.start()
    print("go", flush=True)
    start.set()
    for t in threads:
        t.join(duration + 15)
    print("done OK=%d ERR=%d STATUS=%s" % (ok[0], err[0], ",".join(map(str, sorted(set(bad))))), flush=True)


if __name__ == "__main__":
    main()
