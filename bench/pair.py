"""Paired A/B runs: two servers on one core at the same time, each loaded by its own wrk.

    python3 bench/pair.py [options] A B

A and B are each one of:
  morello     the repo's build (the .venv that `make setup` makes)
  DIR         a directory holding another `morello` package, e.g. a copy of python/morello
              with the build to compare against (`cp -a python/morello /tmp/base/`)
  bjoern, fastwsgi, pyruvate
              a peer, through serve.py and the benchmark venv (bench/setup.sh)

Both servers run pinned to the same CPU, and two wrk processes load them at once from the other
CPU. Each round prints each server's requests per CPU-second (requests over the CPU time its
process used, all threads) and B's ratio to A; the end prints the median ratio and its range.

Why: on this kind of machine, throughput moves by up to a third between phases that last
minutes, and a change worth 2% is lost in it when the two builds run one after the other (as
run.sh must, to give each server the core alone). Run at the same moment, both share each
phase. Run against itself (an A/A run, 6 rounds of 5 s), the ratio of their CPU costs stayed
within 0.981-1.013 per round on hello and 0.992-1.032 on big, and its median within 0.5% of 1. It
measures cost, not speed: a server that gets more of the shared core gets more requests, but
its requests per CPU-second say what each one cost. A round in which either wrk reports a
non-2xx response or a socket error does not count. Use run.sh for the record; use this to
decide whether a change is worth keeping.
"""

import argparse
import os
import pathlib
import re
import signal
import statistics
import subprocess
import sys
import time

BENCH = pathlib.Path(__file__).resolve().parent
REPO = BENCH.parent
PEERS = ("bjoern", "fastwsgi", "pyruvate")

#: The fields of a typical browser navigation (Firefox), after Host.
BROWSER_FIELDS = (
    ("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"),
    ("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
    ("Accept-Language", "en-GB,en;q=0.5"),
    ("Accept-Encoding", "gzip, deflate, br, zstd"),
    ("Connection", "keep-alive"),
    ("Cookie", "sessionid=8c3c1f6e0d2a4b7f9e5d; csrftoken=Zq4lX0b9VtR2mK7pH1sN; theme=dark"),
    ("Upgrade-Insecure-Requests", "1"),
    ("Sec-Fetch-Dest", "document"),
    ("Sec-Fetch-Mode", "navigate"),
    ("Sec-Fetch-Site", "none"),
    ("Sec-Fetch-User", "?1"),
    ("Priority", "u=0, i"),
)
HEADS = {"minimal": (), "browser": BROWSER_FIELDS}


def bench_python():
    """The benchmark venv's python (bench/setup.sh), where the peers are installed."""
    cache = pathlib.Path(os.environ.get("XDG_CACHE_HOME", pathlib.Path.home() / ".cache"))
    venv = pathlib.Path(os.environ.get("VENV", cache / "morello-bench" / "venv"))
    return str(venv / "bin" / "python")


def server_command(spec, app, host, port, threads):
    """The command and extra environment that serve `app` as `spec` (see the module help)."""
    if spec in PEERS:
        return [bench_python(), str(BENCH / "serve.py"), spec, app, host, str(port), str(threads)], {}
    command = [str(REPO / ".venv" / "bin" / "python"), "-m", "morello", app,
               "--bind", f"{host}:{port}", "--threads", str(threads)]
    if spec == "morello":
        return command, {"PYTHONPATH": str(BENCH)}
    package = pathlib.Path(spec)
    if not (package / "morello" / "__init__.py").is_file():
        raise ValueError(f"{spec}: not 'morello', a peer ({', '.join(PEERS)}) "
                         "or a directory holding a morello package")
    return command, {"PYTHONPATH": f"{package.resolve()}{os.pathsep}{BENCH}"}


def process_cpu_seconds(pid):
    """User plus system CPU time of every thread of process `pid`, in seconds."""
    ticks = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/stat") as f:
            ticks += cpu_ticks(f.read())
    return ticks / os.sysconf("SC_CLK_TCK")


def cpu_ticks(stat_line):
    """utime + stime from a /proc/PID/stat line (the command name may hold spaces and ')')."""
    fields = stat_line.rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def parse_wrk(output):
    """(requests, clean) from wrk's report; clean is False on non-2xx responses or socket
    errors. None when wrk printed no request count (it failed)."""
    found = re.search(r"^\s*(\d+) requests in", output, re.MULTILINE)
    if not found:
        return None
    clean = "Non-2xx" not in output and "Socket errors" not in output
    return int(found.group(1)), clean


def cost_ratios(rounds):
    """B's requests per CPU-second over A's, for each counted round. `rounds` holds
    ((requests, cpu_seconds, clean) for A, the same for B) per round."""
    ratios = []
    for a, b in rounds:
        if not (a[2] and b[2]) or a[1] <= 0 or b[1] <= 0:
            continue
        ratios.append((b[0] / b[1]) / (a[0] / a[1]))
    return ratios


def wait_until_serving(host, port, proc, timeout=20.0):
    """Waits until `host:port` accepts a connection; False if the server died or timed out."""
    import socket

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


def stop(proc):
    """SIGTERM, then SIGINT, then SIGKILL: peers that run a C event loop ignore some of them."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def wrk_header_args(fields):
    """wrk's `-H` options sending `fields` (name, value pairs) with every request."""
    return [arg for name, value in fields for arg in ("-H", f"{name}: {value}")]


def load(ports, args, seconds):
    """Starts one wrk per port, all at once, on the client CPU."""
    return [subprocess.Popen(
        ["taskset", "-c", str(args.client_cpu), "wrk", "-t1", f"-c{args.conns}", f"-d{seconds}",
         *wrk_header_args(HEADS[args.head]), f"http://{args.host}:{port}{args.path}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for port in ports]


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("a", metavar="A")
    parser.add_argument("b", metavar="B")
    parser.add_argument("--app", default="hello",
                        help="an app of bench/apps.py (hello, big, ...), 'flask', or MODULE:APP")
    parser.add_argument("--path", default="/")
    parser.add_argument("--head", choices=sorted(HEADS), default="minimal",
                        help="the request's fields besides Host: minimal (none, as wrk sends) "
                             "or browser (12 more, as a browser sends)")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--duration", type=int, default=5, help="seconds per round")
    parser.add_argument("--conns", type=int, default=64, help="connections per wrk")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18180, help="A's port; B's is the next")
    parser.add_argument("--server-cpu", type=int, default=1)
    parser.add_argument("--client-cpu", type=int, default=0)
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.duration < 1 or args.conns < 1:
        parser.error("--rounds, --duration and --conns must be at least 1")
    app = {"flask": "flask_app:app"}.get(args.app, args.app if ":" in args.app else f"apps:{args.app}")

    ports = (args.port, args.port + 1)
    procs = []
    try:
        for spec, port in zip((args.a, args.b), ports):
            try:
                command, env = server_command(spec, app, args.host, port, args.threads)
            except ValueError as e:
                parser.error(str(e))
            procs.append(subprocess.Popen(
                ["taskset", "-c", str(args.server_cpu), *command], cwd=BENCH,
                env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True))
        for spec, port, proc in zip((args.a, args.b), ports, procs):
            if not wait_until_serving(args.host, port, proc):
                print(f"pair.py: {spec} is not serving on {args.host}:{port}", file=sys.stderr)
                return 1
        for w in load(ports, args, 2):  # warm-up
            w.communicate()

        rounds = []
        for n in range(1, args.rounds + 1):
            before = [process_cpu_seconds(p.pid) for p in procs]
            outputs = [w.communicate()[0] for w in load(ports, args, args.duration)]
            after = [process_cpu_seconds(p.pid) for p in procs]
            measured = []
            for output, c0, c1 in zip(outputs, before, after):
                parsed = parse_wrk(output)
                if parsed is None:
                    print(f"pair.py: wrk failed:\n{output}", file=sys.stderr)
                    return 1
                measured.append((parsed[0], c1 - c0, parsed[1]))
            rounds.append(tuple(measured))
            cells = []
            for name, (requests, cpu, clean) in zip("AB", measured):
                per = requests / cpu if cpu > 0 else float("nan")
                cells.append(f"{name} {per:9.0f} req/CPU-s ({requests / args.duration:8.0f} rps, "
                             f"cpu {cpu:.2f} s){'' if clean else ' ERRORS: not counted'}")
            ratio = cost_ratios([rounds[-1]])
            tail = f"B/A {ratio[0]:.3f}" if ratio else "B/A -"
            print(f"round {n}: " + " | ".join(cells) + f" | {tail}", flush=True)
    finally:
        for proc in procs:
            stop(proc)

    ratios = cost_ratios(rounds)
    if not ratios:
        print("no round counted")
        return 1
    print(f"B/A requests per CPU-second: median {statistics.median(ratios):.3f} "
          f"(min {min(ratios):.3f}, max {max(ratios):.3f}; {len(ratios)} of {len(rounds)} rounds)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
