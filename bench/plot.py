"""Draw docs/benchmarks.png from run.sh's raw rows: one panel per app, the figures of the tables.

    python bench/plot.py bench/results/latest.tsv docs/benchmarks.png

Runs with the benchmark venv (setup.sh installs matplotlib there; `make bench` calls it). The
figures come from summary.py, so the plot and the tables cannot disagree: each bar is a server's
median over its counted rounds, in requests per server CPU-second (the fair ranking when the
client is the limit), except sleep (requests per second) and mixed (the fast requests' p99, lower
is better; servers that leave most /fast connections unserved are left out, as summary.py lists
them last). Servers with no counted round are left out of a panel.
"""

import csv
import os
import sys

import matplotlib

matplotlib.use("Agg")  # no display: write the file only
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import summary  # noqa: E402

COLUMNS = 3
# Apps whose panel shows requests per second: sleep's throughput is set by how many requests
# wait at once, not by CPU (a server that idles while its threads sleep is not the better one).
BY_RPS = {"sleep"}
OURS = "#b0173a"  # morello: the colour of the fruit
PEER = "#8c8c8c"
LIMIT = "#3a6ea5"  # rust-limit, the ceiling


def colour(server):
    if server.startswith("morello"):
        return OURS
    return LIMIT if server == "rust-limit" else PEER


def panels(rows):
    """[(app, title, [(server, value)], value label)] in the tables' order, best first."""
    data = summary.summarise(rows)
    lat = summary.latencies(rows)
    apps = sorted(data, key=lambda a: (summary.APP_ORDER.index(a) if a in summary.APP_ORDER else 99, a))
    out = []
    for app in apps:
        if app in summary.LATENCY_APPS:
            bars = [(s, v[1]) for s, v in lat[app].items() if v[1] is not None and not summary.starved(v)]
            bars.sort(key=lambda kv: -kv[1])  # drawn bottom-up: the lowest p99 ends on top
            out.append((app, f"{app}: fast requests' p99 (ms, lower is better)", bars, "ms"))
        elif app in BY_RPS:
            bars = [(s, v[0]) for s, v in data[app].items() if v[0] is not None]
            bars.sort(key=lambda kv: kv[1])
            out.append((app, f"{app}: requests per second", bars, ""))
        else:
            bars = [(s, v[1]) for s, v in data[app].items() if v[1] is not None]
            bars.sort(key=lambda kv: kv[1])
            out.append((app, f"{app}: requests per server CPU-second", bars, ""))
    return out


def draw(rows, path, source):
    items = panels(rows)
    nrows = (len(items) + COLUMNS - 1) // COLUMNS
    fig, axes = plt.subplots(nrows, COLUMNS, figsize=(5.2 * COLUMNS, 3.1 * nrows), squeeze=False)
    for ax in axes.flat[len(items):]:
        ax.axis("off")
    for ax, (app, title, bars, unit) in zip(axes.flat, items):
        names = [s for s, _ in bars]
        values = [v for _, v in bars]
        ax.barh(names, values, color=[colour(s) for s in names])
        ax.set_title(title, fontsize=10, loc="left")
        ax.tick_params(axis="both", labelsize=8)
        ax.spines[["top", "right"]].set_visible(False)
        if app in summary.LATENCY_APPS:
            ax.set_xscale("log")  # 1 ms next to 1 s
        top = max(values, default=0)
        for y, v in enumerate(values):
            label = summary.fmt_ms(v) if unit == "ms" else summary.fmt(v)
            ax.text(v, y, " " + label, va="center", fontsize=7)
        if top and app not in summary.LATENCY_APPS:
            ax.set_xlim(0, top * 1.22)  # room for the labels
    when = max((r["time"] for r in rows), default="?")
    fig.suptitle(f"morello and its peers, one pinned core each, medians of the counted rounds ({source}, {when})",
                 fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv):
    if len(argv) != 3:
        sys.exit("usage: plot.py RESULTS.tsv OUT.png")
    with open(argv[1], newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    draw(rows, argv[2], os.path.basename(argv[1]))


if __name__ == "__main__":
    main(sys.argv)
