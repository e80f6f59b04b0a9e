"""Render the raw rows written by run.sh (a .tsv) as a markdown report.

    python report.py results-baseline.tsv > results-baseline.md

For each (app, server, round) the latest row wins, so re-running a subset of
servers or apps replaces just those rows.
"""

import csv
import os
import platform
import subprocess
import sys
from importlib import metadata

APP_ORDER = ["hello", "big", "echo", "sleep", "stream", "file", "flask", "pipelined", "mixed"]
PACKAGES = [
    "morello", "gunicorn", "waitress", "cheroot", "granian", "bjoern", "fastwsgi",
    "pyruvate", "WSGIserver", "uWSGI", "meinheld", "Flask",
]


def fnum(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def fmt_rps(v):
    x = fnum(v)
    return "—" if x is None else f"{x:,.0f}"


def fmt_ms(v):
    x = fnum(v)
    if x is None:
        return "—"
    return f"{x:.2f}" if x < 100 else f"{x:.0f}"


def conc(r):
    """Little's law: connections actually in service = rps x mean latency."""
    rps, avg = fnum(r.get("rps")), fnum(r.get("avg_ms"))
    if rps is None or avg is None:
        return "—"
    return f"{rps * avg / 1000:.0f}"


def machine():
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
        wrk = wrk.split(" Copyright")[0]
    except Exception:
        wrk = "wrk ?"
    return f"{os.cpu_count()} CPUs ({model}), Linux {platform.release()}, Python {platform.python_version()}, {wrk}"


def versions():
    out = []
    for p in PACKAGES:
        try:
            out.append(f"{p} {metadata.version(p)}")
        except metadata.PackageNotFoundError:
            pass
    return ", ".join(out)


def main(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    latest = {}
    server_order = []
    for r in rows:
        latest[(r["app"], r["server"], r["round"])] = r
        if r["server"] not in server_order:
            server_order.append(r["server"])
    apps = sorted({k[0] for k in latest}, key=lambda a: (APP_ORDER.index(a) if a in APP_ORDER else 99, a))
    rounds = sorted({int(k[2]) for k in latest})
    params = sorted({(r["conns"], r["duration"]) for r in latest.values()})

    print("# WSGI server benchmark")
    print()
    print(f"- machine: {machine()}")
    print(f"- servers: {versions()}")
    print("- load: " + "; ".join(f"wrk -t1 -c{c} -d{d}s --latency" for c, d in params)
          + " (after a discarded warm-up run), wrk on CPU 0, server on CPU 1 (taskset), 127.0.0.1 only")
    print("- rounds alternate the server order (r1 forward, r2 reverse), so r1 vs r2 shows drift")
    print("- rps = wrk Requests/sec; p50/p99 from wrk --latency (per round: r1 / r2); "
          "wrk 4.1 applies its coordinated-omission correction (stats_correct) to these, and counts a timeout only for a "
          "response that arrives after 2 s, never for one that does not arrive; "
          "probe s = time for one extra curl request on a fresh connection, sent halfway through the measured run "
          "(timeout>3s: a new client could not get in; NA: not probed); errors = wrk socket errors connect/read/write/timeout; "
          "srv CPU = server process-group CPU time / wall time during the measured run; "
          "wrk CPU = wrk user+sys / wall (near 100: the client may be the limit; NA: not measured)")
    print()

    for app in apps:
        servers = [s for s in server_order if any((app, s, str(rd)) in latest for rd in rounds)]

        def mean_rps(s):
            vals = [fnum(latest[(app, s, str(rd))]["rps"]) for rd in rounds if (app, s, str(rd)) in latest]
            vals = [v for v in vals if v is not None]
            return sum(vals) / len(vals) if vals else -1

        servers.sort(key=mean_rps, reverse=True)
        print(f"## {app}")
        print()
        head = ["server", "app"] + [f"rps r{rd}" for rd in rounds]
        if len(rounds) >= 2:
            head.append(f"r{rounds[-1]}/r{rounds[0]}")
        head += ["p50 ms", "p99 ms", "probe s", "non-2xx", "errors c/r/w/t", "srv CPU %", "wrk CPU %", "check", "stop / port free", "notes"]
        print("| " + " | ".join(head) + " |")
        print("|" + "|".join("---" for _ in head) + "|")
        for s in servers:
            rs = [latest.get((app, s, str(rd))) for rd in rounds]
            cells = [s, app] + [fmt_rps(r["rps"]) if r else "—" for r in rs]
            if len(rounds) >= 2:
                a, b = (fnum(rs[0]["rps"]) if rs[0] else None), (fnum(rs[-1]["rps"]) if rs[-1] else None)
                cells.append(f"{b / a:.2f}" if a and b else "—")

            def per_round(fn):
                return " / ".join(fn(r) if r else "—" for r in rs)

            cells.append(per_round(lambda r: fmt_ms(r["p50_ms"])))
            cells.append(per_round(lambda r: fmt_ms(r["p99_ms"])))
            cells.append(per_round(lambda r: r.get("probe_s") or "—"))
            cells.append(per_round(lambda r: r["non2xx"]))
            cells.append(per_round(lambda r: "0" if all(r[k] in ("0", "") for k in
                                   ("err_connect", "err_read", "err_write", "err_timeout"))
                                   else f'{r["err_connect"]}/{r["err_read"]}/{r["err_write"]}/{r["err_timeout"]}'))
            cells.append(per_round(lambda r: r["srv_cpu_pct"]))
            cells.append(per_round(lambda r: r.get("wrk_cpu_pct") or "NA"))
            checks = sorted({r["check"] for r in rs if r})
            cells.append(", ".join(checks))
            stops = sorted({f'{r["stop"]} / {r["port_free"]}' for r in rs if r})
            cells.append(", ".join(stops))
            notes = sorted({f'r{r["round"]}: {r["notes"]}' for r in rs if r and r["notes"]})
            cells.append("; ".join(notes))
            print("| " + " | ".join(cells) + " |")
        print()

    print("## Server configurations")
    print()
    confs = {}
    for r in latest.values():
        confs.setdefault(r["server"], r["conf"])
    for s in server_order:
        print(f"- **{s}**: {confs.get(s, '')}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "results-baseline.tsv")
