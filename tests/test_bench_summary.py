"""bench/summary.py's validity rule: which benchmark rounds count in docs/benchmarks.md."""

import pytest

from conftest import load_bench_script


@pytest.fixture(scope="module")
def summary():
    return load_bench_script("summary.py")


def row(server="peer", rnd="1", rps="1000.0", probe="0.002", duration="5", **extra):
    base = {
        "time": "2026-12-06T00:00:00Z", "app": "hello", "server": server, "round": rnd, "rps": rps,
        "p50_ms": "0.5", "p99_ms": "1.0", "avg_ms": "0.5", "non2xx": "0", "err_connect": "0",
        "err_read": "0", "err_write": "0", "err_timeout": "0", "srv_cpu_pct": "100", "probe_s": probe,
        "check": "ok", "conns": "64", "duration": duration, "notes": "",
    }
    base.update(extra)
    return base


@pytest.mark.parametrize(
    "probe, duration, counted",
    [
        ("0.002", "5", True),   # answered at once
        ("2.803", "5", True),   # answered late, but while wrk still ran (it starts after 2 s of 5)
        ("NA", "5", True),      # not probed
        ("timeout>3s", "5", False),
        ("fail:rc=7,http=000", "5", False),
        ("2.003", "4", False),  # answered only when wrk closed its connections (2 s of 4 left)
        ("3.100", "6", False),
    ],
)
def test_probe_must_be_answered_while_the_run_lasts(summary, probe, duration, counted):
    assert summary.counts(row(probe=probe, duration=duration)) is counted


@pytest.mark.parametrize(
    "fields, reason",
    [
        ({"non2xx": "3"}, "non-2xx responses"),
        ({"err_timeout": "1"}, "socket errors"),
        ({"check": "slow(4.0s)"}, "check failed"),
        ({"rps": "NA"}, "no result"),
        ({"probe_s": "timeout>3s"}, "probe unanswered"),
    ],
)
def test_each_rule_names_its_reason(summary, fields, reason):
    r = row(**fields)
    assert not summary.counts(r)
    assert summary.why_not_counted(r) == reason


def test_tables_use_counted_rounds_and_list_the_others(summary):
    rows = [row("morello", str(i), rps=str(100.0 * i)) for i in (1, 2, 3)]
    rows += [row("starver", str(i), rps="900.0", probe="timeout>3s") for i in (1, 2, 3)]
    rows += [row("flaky", "1", rps="50.0", err_read="2"), row("flaky", "2", rps="70.0")]
    data = summary.summarise(rows)["hello"]
    assert data["morello"] == (200.0, 200.0, 3, 3)
    assert data["starver"] == (None, None, 0, 3)
    assert data["flaky"][0] == 70.0 and data["flaky"][2:] == (1, 2)
    text = summary.render(rows, "x.tsv")
    assert "| starver | — | — | — | 0/3 |" in text
    assert "Rounds not counted: flaky 1 (socket errors; 50 rps); starver 3 (probe unanswered; 900 rps)." in text
