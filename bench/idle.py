"""The `idle` workload: what 10,000 idle keep-alive connections cost a server.

    python bench/idle.py [--connections 10000] [--seconds 5] [--rounds 4] [--out FILE]

Starts morello (`python -m morello apps:hello`, keep-alive 300 s) pinned to SERVER_CPU (1),
measures hello with wrk pinned to CLIENT_CPU (0), then opens CONNECTIONS connections that each
complete one request and stay open, idle, and measures hello again; ROUNDS times, closing the
idle connections after each round. Prints the server's RSS before and after and both request
rates, per round and as medians; `--out` also writes the medians as a markdown section, which
`bench/summary.py` includes in docs/benchmarks.md. Idle connections should cost memory only: no thread
each, no buffer each (read buffers are lent only while a connection is active).

Needs wrk, and an open-files limit above CONNECTIONS (the script raises its own soft limit to
the hard limit; `ulimit -Hn` shows it).
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import socket
import statistics
import subprocess
import sys
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
SERVER_CPU = os.environ.get("SERVER_CPU", "1")
CLIENT_CPU = os.environ.get("CLIENT_CPU", "0")
MORELLO = os.environ.get("MORELLO", os.path.join(BENCH, "..", ".venv", "bin", "morello"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def request(sock: socket.socket) -> None:
    sock.sendall(b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
    data = b""
    while not data.endswith(b"Hello, World!"):
        chunk = sock.recv(4096)
        if not chunk:
            raise RuntimeError("connection closed")
        data += chunk


def wrk(port: int, seconds: int) -> float:
    out = subprocess.run(
        ["taskset", "-c", CLIENT_CPU, "wrk", "-t1", "-c64", f"-d{seconds}s", f"http://127.0.0.1:{port}/"],
        capture_output=True, text=True, check=True,
    ).stdout
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not m or "Socket errors" in out or "Non-2xx" in out:
        raise RuntimeError("wrk reported errors:\n" + out)
    return float(m.group(1))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--out", help="also write the medians here, as markdown")
    args = parser.parse_args(argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < args.connections + 200:
        print(f"idle: the open-files limit ({hard}) is below {args.connections + 200}", file=sys.stderr)
        return 1
    port = free_port()
    server = subprocess.Popen(
        ["taskset", "-c", SERVER_CPU, MORELLO, "apps:hello", "--bind", f"127.0.0.1:{port}",
         "--keep-alive", "300", "--log-level", "warning"],
        cwd=BENCH,
    )
    conns: list[socket.socket] = []
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        wrk(port, 2)  # warm-up
        results = []
        for n in range(1, args.rounds + 1):
            without = wrk(port, args.seconds)
            time.sleep(1)
            before = rss_mib(server.pid)
            for _ in range(args.connections):
                sock = socket.create_connection(("127.0.0.1", port))
                request(sock)
                conns.append(sock)
            time.sleep(1)
            after = rss_mib(server.pid)
            with_idle = wrk(port, args.seconds)
            for sock in conns:
                sock.close()
            conns.clear()
            time.sleep(1)
            results.append((before, after, without, with_idle))
            print(f"idle round {n}: RSS {before:.1f} -> {after:.1f} MiB; hello {without:,.0f} rps "
                  f"without, {with_idle:,.0f} rps with them", flush=True)
    finally:
        for sock in conns:
            sock.close()
        server.terminate()
        server.wait(15)
    growth = statistics.median(after - before for before, after, _, _ in results)
    before = statistics.median(r[0] for r in results)
    without = statistics.median(r[2] for r in results)
    with_idle = statistics.median(r[3] for r in results)
    lines = [
        f"idle: {args.connections:,} idle keep-alive connections: RSS {before:.1f} MiB, "
        f"+{growth:.1f} MiB with them (median of {len(results)} rounds)",
        f"idle: hello {without:,.0f} rps without them, {with_idle:,.0f} rps with them "
        f"(x{with_idle / without:.2f})",
    ]
    print("\n".join(lines))
    if args.out:
        with open(args.out, "w") as f:
            f.write(
                "## idle\n\n"
                f"{args.connections:,} keep-alive connections, each after one request, held open idle "
                "while hello is measured (`bench/idle.py`: morello only; medians of "
                f"{len(results)} rounds, {time.strftime('%Y-%m-%d')}).\n\n"
                "| RSS before | RSS added by the idle connections | hello rps without | hello rps with | ratio |\n"
                "|---:|---:|---:|---:|---:|\n"
                f"| {before:.1f} MiB | +{growth:.1f} MiB | {without:,.0f} | {with_idle:,.0f} "
                f"| {with_idle / without:.2f} |\n"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
