"""Instructions per request, counted by callgrind: a measure this machine's noise cannot move.

    python3 bench/instructions.py [options] SERVER...

SERVER is one of (as in pair.py):
  morello     the repo's build (the .venv that `make setup` makes)
  DIR         a directory holding another `morello` package (`cp -a python/morello /tmp/base/`)
  bjoern, fastwsgi, pyruvate
              a peer, through serve.py and the benchmark venv (bench/setup.sh)

Each server runs under `valgrind --tool=callgrind` with counting off. It is warmed up, then one
keep-alive connection sends it `--requests` requests, one after the other, while callgrind
counts every instruction the process runs in user space (all threads). The count over the
number of requests is what one request cost in user space: the server's own code, the Python
interpreter running the app, and libc. The kernel's share (the socket calls, the context
switches) is not in it: `perf stat` and pair.py see that.

Why: on this kind of machine, timings move by up to a third between phases that last minutes,
and pair.py resolves about 1%. Instruction counts do not move with the machine, so two servers
running the same app can be compared for the work they add to it, and a change can be seen in
the functions it touches. Instructions are not time (cache misses, branch mispredictions and
syscalls weigh differently), so a change is kept on pair.py's word, not this one's alone.

Each server is measured `--runs` times (default 3) and the median is printed with the range.
The thread hand-offs do not interleave the same way twice, and a server that hands requests
between threads varies by a few hundred instructions per request: on hello, morello's total
moved by up to 5% between runs of the same build; on Flask, whose requests cost two million
instructions, by a few parts in ten thousand. For a small change, keep the files (`--keep`)
and compare the inclusive counts of the functions it touches (`callgrind_annotate
--inclusive=yes`): those repeat exactly.

Requests are `GET --path` with the fields `--head` names: `minimal` (Host only, as wrk sends)
or `browser` (a typical browser request: 13 fields, cookies included). Every response must be
a 2xx, or the run fails.
"""

import argparse
import http.client
import os
import pathlib
import re
import statistics
import subprocess
import sys
import tempfile

BENCH = pathlib.Path(__file__).resolve().parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

from pair import HEADS, server_command, stop, wait_until_serving  # noqa: E402


def callgrind_total(text):
    """The instruction count of a callgrind output file: its `totals:` line (or, in files
    written without one, `summary:`). None if it has neither."""
    for key in ("totals", "summary"):
        found = re.search(rf"^{key}:\s*(\d+)", text, re.MULTILINE)
        if found:
            return int(found.group(1))
    return None


def send_requests(host, port, path, fields, count):
    """`count` GET requests on one keep-alive connection; raises unless each answer is 2xx."""
    conn = http.client.HTTPConnection(host, port, timeout=120)
    try:
        for _ in range(count):
            conn.putrequest("GET", path, skip_accept_encoding=True)
            for name, value in fields:
                conn.putheader(name, value)
            conn.endheaders()
            response = conn.getresponse()
            response.read()
            if not 200 <= response.status < 300:
                raise RuntimeError(f"{host}:{port}{path} answered {response.status}")
    finally:
        conn.close()


def callgrind_control(*args):
    subprocess.run(["callgrind_control", *args], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def measure(spec, app, args, port, workdir):
    """Instructions per request of server `spec` serving `app`."""
    command, env = server_command(spec, app, args.host, port, args.threads)
    out = pathlib.Path(workdir) / f"callgrind.{port}.%p"
    proc = subprocess.Popen(
        ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
         *command],
        cwd=BENCH, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        # Under callgrind, importing an app takes tens of seconds.
        if not wait_until_serving(args.host, port, proc, timeout=args.start_timeout):
            raise RuntimeError(f"{spec} is not serving on {args.host}:{port}")
        fields = HEADS[args.head]
        send_requests(args.host, port, args.path, fields, args.warmup)
        callgrind_control("--instr=on", str(proc.pid))
        send_requests(args.host, port, args.path, fields, args.requests)
        callgrind_control("--dump", str(proc.pid))
        callgrind_control("--instr=off", str(proc.pid))
    finally:
        stop(proc)
    dumps = sorted(pathlib.Path(workdir).glob(f"callgrind.{port}.{proc.pid}.*"))
    if args.keep:
        print(f"{spec}: {', '.join(map(str, dumps))}", flush=True)
    totals = [callgrind_total(d.read_text(errors="replace")) for d in dumps]
    if not totals or totals[0] is None:
        raise RuntimeError(f"{spec}: callgrind wrote no count ({', '.join(map(str, dumps))})")
    return totals[0] / args.requests


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("servers", metavar="SERVER", nargs="+")
    parser.add_argument("--app", default="hello",
                        help="an app of bench/apps.py (hello, big, ...), 'flask', or MODULE:APP")
    parser.add_argument("--path", default="/")
    parser.add_argument("--head", choices=sorted(HEADS), default="minimal",
                        help="the request's fields (default: minimal, as wrk sends)")
    parser.add_argument("--requests", type=int, default=2000, help="requests counted")
    parser.add_argument("--warmup", type=int, default=200, help="requests sent first, not counted")
    parser.add_argument("--runs", type=int, default=3, help="measurements per server")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18190, help="the first server's port")
    parser.add_argument("--keep", metavar="DIR",
                        help="keep callgrind's files in DIR (for callgrind_annotate) instead of "
                             "a temporary directory")
    parser.add_argument("--start-timeout", type=float, default=180.0,
                        help="seconds a server may take to start under callgrind")
    args = parser.parse_args(argv)
    if args.requests < 1 or args.warmup < 0 or args.runs < 1:
        parser.error("--requests and --runs must be at least 1, --warmup at least 0")
    app = {"flask": "flask_app:app"}.get(args.app, args.app if ":" in args.app else f"apps:{args.app}")
    for spec in args.servers:
        try:
            server_command(spec, app, args.host, args.port, args.threads)
        except ValueError as e:
            parser.error(str(e))

    results = []
    with tempfile.TemporaryDirectory(prefix="morello-instructions-") as tmp:
        workdir = args.keep or tmp
        os.makedirs(workdir, exist_ok=True)
        for i, spec in enumerate(args.servers):
            counts = [measure(spec, app, args, args.port + i, workdir) for _ in range(args.runs)]
            median = statistics.median(counts)
            results.append((spec, median))
            print(f"{spec:>24}  {median:12,.0f} instructions per request "
                  f"(runs {min(counts):,.0f}-{max(counts):,.0f})"
                  f"  {median / results[0][1]:.4f} of {results[0][0]}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
