"""Soak test: many requests through one server process, checking that nothing accumulates.

    .venv/bin/python tools/soak.py [--requests 1000000] [--connections 100000]

Starts `python -m morello` on 127.0.0.1 (app: bench/apps.py hello), warms it up with a tenth of
the load, then sends
REQUESTS keep-alive requests (wrk, 64 connections) and CONNECTIONS requests on fresh connections
(wrk with `Connection: close`), reading the server's resident memory and open file descriptors
from /proc before and after. Passes when:

* RSS after the run is within 5% (or 2 MiB, whichever is larger) of RSS after the warm-up;
* open descriptors are back to their count after the warm-up;
* no request failed (wrk reports no socket errors and no non-2xx responses).

Prints the figures and exits 0 on success, 1 on failure. Needs wrk (`apt-get install wrk`).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def wait_listening(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("the server did not start listening")


def settle(pid: int, seconds: float = 1.5) -> None:
    """Lets the keep-alive and linger timers close what the load left open."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.1)


class Wrk:
    """Runs wrk until about `count` requests completed (wrk only knows durations)."""

    def __init__(self, url: str, connections: int, close: bool) -> None:
        self.url, self.connections, self.close = url, connections, close

    def run(self, seconds: float) -> tuple[int, str]:
        argv = ["wrk", "-t1", f"-c{self.connections}", f"-d{max(1, round(seconds))}s"]
        if self.close:
            argv += ["-H", "Connection: close"]
        out = subprocess.run(argv + [self.url], capture_output=True, text=True, check=True).stdout
        m = re.search(r"(\d+) requests in", out)
        if not m:
            raise RuntimeError("cannot read wrk's output:\n" + out)
        problems = [line.strip() for line in out.splitlines() if "Socket errors" in line or "Non-2xx" in line]
        return int(m.group(1)), "; ".join(problems)

    def until(self, count: int, rate_guess: float) -> tuple[int, list[str]]:
        done, problems = 0, []
        while done < count:
            seconds = min(30.0, max(1.0, (count - done) / rate_guess))
            n, problem = self.run(seconds)
            done += n
            rate_guess = max(100.0, n / seconds)
            if problem:
                problems.append(problem)
        return done, problems


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1_000_000, help="keep-alive requests")
    parser.add_argument("--connections", type=int, default=100_000, help="requests on new connections")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("soak: wrk is needed (apt-get install wrk)", file=sys.stderr)
        return 1
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    server = subprocess.Popen(
        [sys.executable, "-m", "morello", "apps:hello", "--bind", f"127.0.0.1:{port}", "--log-level", "warning"],
        cwd=os.path.join(ROOT, "bench"),
    )
    try:
        wait_listening(port)
        pid = server.pid
        keepalive, fresh = Wrk(url, 64, close=False), Wrk(url, 16, close=True)
        # Warm-up with a tenth of the load in both patterns: thread states, the spare read
        # buffers, malloc's arenas and the interned header keys reach their working size.
        keepalive.until(max(100_000, args.requests // 10), 20_000)
        fresh.until(max(10_000, args.connections // 10), 5_000)
        settle(pid)
        rss0, fds0 = rss_kib(pid), open_fds(pid)
        t0 = time.monotonic()
        n_keep, problems = keepalive.until(args.requests, 20_000)
        n_new, more = fresh.until(args.connections, 5_000)
        problems += more
        elapsed = time.monotonic() - t0
        settle(pid)
        rss1, fds1 = rss_kib(pid), open_fds(pid)
        alive = server.poll() is None
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
    growth = (rss1 - rss0) / rss0 * 100
    print(f"soak: {n_keep:,} keep-alive requests and {n_new:,} requests on new connections in {elapsed:.0f} s")
    print(f"soak: RSS {rss0 / 1024:.1f} MiB after warm-up -> {rss1 / 1024:.1f} MiB after ({growth:+.1f}%)")
    print(f"soak: open fds {fds0} after warm-up -> {fds1} after")
    failures = []
    if not alive:
        failures.append("the server died")
    if rss1 - rss0 > max(rss0 * 0.05, 2048):
        failures.append(f"RSS grew by {growth:.1f}%")
    if fds1 != fds0:
        failures.append(f"{fds1 - fds0:+d} open descriptors")
    if problems:
        failures.append("wrk reported: " + " | ".join(problems))
    if n_keep < args.requests or n_new < args.connections:
        failures.append("fewer requests than asked for")
    for failure in failures:
        print(f"soak: FAIL: {failure}")
    if not failures:
        print("soak: ok")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
