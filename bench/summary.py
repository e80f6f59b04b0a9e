"""Summarise run.sh's raw rows (a .tsv) as the table of docs/benchmarks.md.

    python bench/summary.py bench/results/latest.tsv > docs/benchmarks.md

A row counts only with zero non-2xx responses, zero socket errors and a passing check; the
figure for a server is the median of its counted rounds. A probe that got no answer while the run
lasted (a new client left waiting, see probe_unanswered) is a socket timeout that wrk does not
record: that row does not count either. Requests per server CPU-second
(rps / (srv CPU % / 100)) ranks servers fairly when the client, not the server, is the limit.
The mixed app's table also shows its fast endpoint's p50/p99 and the slow endpoint's rps, and
--ratios tells whether morello's fast p99 is below every threaded peer's (the issue's criterion).
"""

import csv
import os
import re
import statistics
import sys

APP_ORDER = ["hello", "big", "echo", "sleep", "stream", "file", "flask", "pipelined", "mixed"]
# One line under an app's heading, for the apps whose load is not plain "64 connections, GET /".
APP_NOTES = {
    "file": "A 1 MiB file through `wsgi.file_wrapper` (64 KiB blocks; iterated by the app where the server "
            "has none), with Content-Length.",
    "flask": "A small Flask app (`bench/flask_app.py`): `/` renders a Jinja template with a 20-row loop.",
    "pipelined": "hello, 16 requests pipelined per write (wrk `pipeline.lua`, as TechEmpower's plaintext); only "
                 "the servers that answer pipelined requests correctly run it (`bench/README.md`).",
    "mixed": "Two wrk at once: 58 connections on `/fast` (hello) and 6 on `/slow` (`time.sleep(0.05)`); rps, "
             "p50 and p99 are `/fast`'s, *slow rps* is `/slow`'s. Lower fast p99 is better.",
}
# Servers that run requests on a pool of threads (the mixed app's criterion compares these).
THREADED = {
    "morello", "morello-t8", "gunicorn-gthread", "waitress", "cheroot", "granian", "granian-bt8",
    "pyruvate", "wsgiserver", "uwsgi", "uwsgi-http11",
}
LATENCY_APPS = {"mixed"}
ERRORS = ("err_connect", "err_read", "err_write", "err_timeout")


def number(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def probe_unanswered(row):
    """The probe (one new client on a fresh connection, halfway through the measured run) got no
    answer while the run lasted: it timed out, the server refused it, or the answer came only once
    wrk had closed its connections. wrk 4.1 never records a request that does not complete, so a
    server that leaves clients waiting unserved (a thread per connection, every thread taken)
    shows no socket errors, and its latencies cover only the connections it serves. The probe's
    wait is the socket error wrk misses."""
    probe = row.get("probe_s") or ""
    if probe.startswith(("timeout", "fail")):
        return True
    waited, duration = number(probe), number(row.get("duration"))
    if waited is None or duration is None:
        return False
    # run.sh starts the probe after duration // 2 seconds (bash integer division).
    return waited >= duration - duration // 2


def why_not_counted(row):
    """The validity rule: the first condition the round breaks, or None if it counts. It counts
    with a result, a passing response check, no non-2xx, no socket error, and an answered probe
    (the socket error that wrk misses, see probe_unanswered)."""
    if number(row["rps"]) is None:
        return "no result"
    if row["check"] != "ok":
        return "check failed"
    if row["non2xx"] not in ("0", ""):
        return "non-2xx responses"
    if any(row[k] not in ("0", "") for k in ERRORS):
        return "socket errors"
    if probe_unanswered(row):
        return "probe unanswered"
    return None


def counts(row):
    return why_not_counted(row) is None


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def slow_rps(row):
    """The mixed app's /slow requests per second, which run.sh writes in the notes."""
    m = re.search(r"slow_rps=([0-9.]+)", row.get("notes") or "")
    return float(m.group(1)) if m else None


def latest_rows(rows):
    """{app: {server: [rows, the latest per round]}}."""
    latest = {}
    for r in rows:
        latest[(r["app"], r["server"], r["round"])] = r
    table = {}
    for (app, server, _), r in latest.items():
        table.setdefault(app, {}).setdefault(server, []).append(r)
    return table


def in_service(row):
    """Little's law: connections actually being served = rps x mean latency. Below the connections
    wrk opened, some wait unserved (e.g. a thread per connection, all threads taken), and wrk's
    percentiles leave those out: they cover the served connections only."""
    rps, avg = number(row["rps"]), number(row["avg_ms"])
    return rps * avg / 1000 if rps is not None and avg is not None else None


def fast_conns(row):
    """The mixed app's /fast connections: run.sh writes its conns as FAST+SLOW."""
    return number((row.get("conns") or "").split("+")[0])


def latencies(rows):
    """{app: {server: (median p50 ms, median p99 ms, median slow rps, median connections in service,
    connections)}} over the counted rounds."""
    out = {}
    for app, servers in latest_rows(rows).items():
        for server, rs in servers.items():
            good = [r for r in rs if counts(r)]
            out.setdefault(app, {})[server] = (
                median([number(r["p50_ms"]) for r in good]),
                median([number(r["p99_ms"]) for r in good]),
                median([slow_rps(r) for r in good]),
                median([in_service(r) for r in good]),
                median([fast_conns(r) for r in good]),
            )
    return out


def starved(entry):
    """Serves fewer than 90% of its /fast connections (its p99 covers only those)."""
    served, conns = entry[3], entry[4]
    return served is not None and conns is not None and served < 0.9 * conns


def not_counted(rows, app):
    """["server N (reason, ...; their median rps)", ...] for the app's rounds that do not count."""
    out = []
    for server, rs in sorted(latest_rows(rows).get(app, {}).items()):
        missed = [r for r in rs if not counts(r)]
        if missed:
            reasons = [why_not_counted(r) for r in missed]
            kinds = ", ".join(sorted(set(reasons), key=reasons.index))
            rps = median([number(r["rps"]) for r in missed])
            tail = "" if rps is None else f"; {fmt(rps)} rps"
            out.append(f"{server} {len(missed)} ({kinds}{tail})")
    return out


def summarise(rows):
    """{app: {server: (median rps, median rps per CPU-second, counted rounds, all rounds)}}."""
    table = latest_rows(rows)
    out = {}
    for app, servers in table.items():
        for server, rs in servers.items():
            good = [r for r in rs if counts(r)]
            rps = [number(r["rps"]) for r in good]
            per_cpu = [number(r["rps"]) / (number(r["srv_cpu_pct"]) / 100)
                       for r in good if number(r["srv_cpu_pct"])]
            out.setdefault(app, {})[server] = (
                statistics.median(rps) if rps else None,
                statistics.median(per_cpu) if per_cpu else None,
                len(good),
                len(rs),
            )
    return out


def fmt(value):
    return "—" if value is None else f"{value:,.0f}"


def fmt_ms(value):
    if value is None:
        return "—"
    return f"{value:.2f}" if value < 100 else f"{value:,.0f}"


def render(rows, source):
    data = summarise(rows)
    when = max((r["time"] for r in rows), default="?")
    lines = [
        "# Benchmarks",
        "",
        f"Generated by `bench/summary.py` from `{source}` (last run {when}); do not edit by hand.",
        "Regenerate with `make bench`. Method: `bench/README.md`: each server is one process pinned to one",
        "core, wrk on the other core, 64 connections, 127.0.0.1; rounds alternate the server order.",
        "",
        "A row counts only with zero non-2xx responses, zero socket errors and a passing response check;",
        "a probe request on a new connection, sent halfway through the run, that gets no answer before the run",
        "ends is a socket error too (wrk never records a request that does not complete). Figures are",
        "medians of the counted rounds. *rps/CPU-s* is requests per second of server CPU time: it ranks",
        "servers fairly when wrk itself is the limit. *vs morello* is the server's rps divided by",
        "morello's in the same run.",
        "",
        "![Medians per app: requests per server CPU-second; sleep in requests per second; mixed in fast "
        "p99](benchmarks.png)",
        "",
        "The plot (`bench/plot.py`, drawn by `make bench` from the same rows) shows the tables' medians.",
        "",
    ]
    lat = latencies(rows)
    apps = sorted(data, key=lambda a: (APP_ORDER.index(a) if a in APP_ORDER else 99, a))
    for app in apps:
        servers = data[app]
        ours = servers.get("morello", (None,))[0]
        lines += [f"## {app}", ""]
        if app in APP_NOTES:
            lines += [APP_NOTES[app], ""]
        if app in LATENCY_APPS:
            lines += ["*fast conns served*: rps x mean latency (Little's law), against the /fast connections "
                      "opened; where it is lower, the other connections waited unserved and wrk's percentiles "
                      "leave them out (below 90%: listed last).", "",
                      "| server | rps | rps/CPU-s | vs morello | fast p50 ms | fast p99 ms | fast conns served | slow rps "
                      "| rounds counted |",
                      "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        else:
            lines += ["| server | rps | rps/CPU-s | vs morello | rounds counted |", "|---|---:|---:|---:|---:|"]
        ranked = sorted(servers.items(), key=lambda kv: -(kv[1][0] or -1))
        if app in LATENCY_APPS:  # lowest fast p99 first; those that leave connections unserved last
            ranked = sorted(servers.items(), key=lambda kv: (lat[app][kv[0]][1] is None, starved(lat[app][kv[0]]),
                                                             lat[app][kv[0]][1] or 0))
        for server, (rps, per_cpu, good, total) in ranked:
            ratio = f"{rps / ours:.2f}" if rps and ours else "—"
            if app in LATENCY_APPS:
                p50, p99, slow, served, conns = lat[app][server]
                served_cell = "—" if served is None else f"{served:.0f}" + (f" of {conns:.0f}" if conns else "")
                lines.append(f"| {server} | {fmt(rps)} | {fmt(per_cpu)} | {ratio} | {fmt_ms(p50)} | {fmt_ms(p99)} "
                             f"| {served_cell} | {fmt(slow)} | {good}/{total} |")
            else:
                lines.append(f"| {server} | {fmt(rps)} | {fmt(per_cpu)} | {ratio} | {good}/{total} |")
        lines.append("")
        missed = not_counted(rows, app)
        if missed:
            lines += ["Rounds not counted: " + "; ".join(missed) + ".", ""]
    # bench/idle.py --out writes its section next to the TSV (morello only).
    idle = os.path.join(os.path.dirname(source), "idle.md")
    if os.path.exists(idle):
        with open(idle) as f:
            lines += [f.read().rstrip("\n"), ""]
    return "\n".join(lines)


def ratios(rows):
    """One line per app: morello's rps and rps/CPU-s, and their ratio to each peer's."""
    lines = []
    for app, servers in sorted(summarise(rows).items()):
        ours = servers.get("morello") or servers.get("morello-t8")
        if not ours or ours[0] is None:
            lines.append(f"{app}: morello has no counted run")
            continue
        rps, per_cpu = ours[0], ours[1]
        parts = [f"{app}: morello {fmt(rps)} rps, {fmt(per_cpu)} rps/CPU-s"]
        for server, (peer_rps, peer_cpu, _, _) in sorted(servers.items()):
            if server.startswith("morello") or not peer_rps:
                continue
            cpu_ratio = f"{per_cpu / peer_cpu:.2f}" if per_cpu and peer_cpu else "—"
            parts.append(f"x{rps / peer_rps:.2f} {server} (CPU-s x{cpu_ratio})")
        lines.append("; ".join(parts))
    lines += mixed_criterion(rows)
    return "\n".join(lines)


def mixed_criterion(rows):
    """mixed: is morello's fast p99 lower than every threaded peer's?"""
    servers = latencies(rows).get("mixed")
    if not servers:
        return []
    ours = servers.get("morello") or servers.get("morello-t8")
    if not ours or ours[1] is None:
        return ["mixed p99: morello has no counted run"]
    peers = {s: v[1] for s, v in servers.items() if s in THREADED and not s.startswith("morello")}
    counted = {s: p99 for s, p99 in peers.items() if p99 is not None}
    beaten = [s for s, p99 in counted.items() if ours[1] < p99]
    parts = [f"{s} {fmt_ms(p99)}" for s, p99 in sorted(counted.items(), key=lambda kv: kv[1])]
    missing = sorted(s for s in peers if peers[s] is None)
    verdict = "yes" if counted and len(beaten) == len(counted) else "no"
    line = (f"mixed p99 (fast, ms): morello {fmt_ms(ours[1])}; threaded peers: {', '.join(parts) or 'none counted'}"
            f" -> lower than every threaded peer's: {verdict}")
    if missing:
        line += f" (no counted run: {', '.join(missing)})"
    lines = [line]
    hungry = sorted(s for s in counted if starved(servers[s]))
    if hungry:
        lines.append("mixed p99 caveat: " + ", ".join(
            f"{s} serves only about {servers[s][3]:.0f} of its {servers[s][4]:.0f} /fast connections" for s in hungry)
            + " (the rest wait unserved; its p99 covers the served ones only)")
    return lines


def main(argv):
    args = [a for a in argv[1:] if a != "--ratios"]
    path = args[0] if args else "bench/results/latest.tsv"
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    print(ratios(rows) if "--ratios" in argv else render(rows, path))


if __name__ == "__main__":
    main(sys.argv)
