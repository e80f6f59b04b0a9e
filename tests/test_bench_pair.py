"""bench/pair.py's arithmetic and parsing: what a paired A/B run counts and how it is costed."""

import pathlib

import pytest

from conftest import load_bench_script

PAIR = pathlib.Path(__file__).resolve().parent.parent / "bench" / "pair.py"

WRK_CLEAN = """Running 5s test @ http://127.0.0.1:18180/
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   532.10us  120.00us   3.00ms   90.00%
    Req/Sec   110.00k     5.00k  120.00k    80.00%
  551234 requests in 5.00s, 70.00MB read
Requests/sec: 110246.80
Transfer/sec:     14.00MB
"""


@pytest.fixture(scope="module")
def pair():
    return load_bench_script("pair.py")


def test_cpu_ticks_sums_user_and_system_past_a_command_name_with_parentheses(pair):
    # Fields after the name: state ppid pgrp session tty tpgid flags minflt cminflt majflt
    # cmajflt utime stime ...
    line = "4242 (morello (io) x) S 1 4242 4242 0 -1 4194304 10 0 0 0 1234 567 0 0 20 0 11 0"
    assert pair.cpu_ticks(line) == 1234 + 567


def test_a_clean_wrk_report_gives_its_request_count(pair):
    assert pair.parse_wrk(WRK_CLEAN) == (551234, True)


@pytest.mark.parametrize("extra", [
    "  Non-2xx or 3xx responses: 12\n",
    "  Socket errors: connect 0, read 3, write 0, timeout 0\n",
])
def test_errors_make_a_report_unclean(pair, extra):
    requests, clean = pair.parse_wrk(WRK_CLEAN.replace("Requests/sec", extra + "Requests/sec"))
    assert requests == 551234
    assert clean is False


def test_a_failed_wrk_gives_none(pair):
    assert pair.parse_wrk("unable to connect to 127.0.0.1:18180 Connection refused\n") is None


def test_the_ratio_is_b_cost_over_a_cost_per_round(pair):
    # A: 1000 requests in 2 CPU-s (500/s); B: 900 in 1.5 (600/s): B is 1.2x as cheap.
    ratios = pair.cost_ratios([((1000, 2.0, True), (900, 1.5, True))])
    assert ratios == [pytest.approx(1.2)]


def test_rounds_with_errors_or_no_cpu_do_not_count(pair):
    rounds = [
        ((1000, 1.0, True), (1000, 1.0, False)),  # B had errors
        ((1000, 1.0, False), (1000, 1.0, True)),  # A had errors
        ((1000, 0.0, True), (1000, 1.0, True)),   # no CPU measured for A
        ((1000, 1.0, True), (1100, 1.0, True)),   # counts
    ]
    assert pair.cost_ratios(rounds) == [pytest.approx(1.1)]


def test_server_commands(pair, tmp_path):
    command, env = pair.server_command("morello", "apps:hello", "127.0.0.1", 18180, 8)
    assert command[1:5] == ["-m", "morello", "apps:hello", "--bind"]
    assert command[5:] == ["127.0.0.1:18180", "--threads", "8"]
    assert env["PYTHONPATH"] == str(PAIR.parent)

    command, env = pair.server_command("fastwsgi", "apps:big", "127.0.0.1", 18181, 4)
    assert command[1].endswith("serve.py")
    assert command[2:] == ["fastwsgi", "apps:big", "127.0.0.1", "18181", "4"]
    assert env == {}

    (tmp_path / "morello").mkdir()
    (tmp_path / "morello" / "__init__.py").write_text("")
    command, env = pair.server_command(str(tmp_path), "apps:hello", "127.0.0.1", 18180, 8)
    assert "morello" in command
    assert env["PYTHONPATH"].split(":")[0] == str(tmp_path.resolve())

    with pytest.raises(ValueError, match="not 'morello'"):
        pair.server_command(str(tmp_path / "nothing-here"), "apps:hello", "127.0.0.1", 18180, 8)


def test_a_browser_head_becomes_one_wrk_header_option_per_field(pair):
    args = pair.wrk_header_args(pair.HEADS["browser"])
    assert args[0::2] == ["-H"] * len(pair.BROWSER_FIELDS)
    assert args[1] == f"User-Agent: {pair.BROWSER_FIELDS[0][1]}"
    assert len(args) == 2 * 12
    assert pair.wrk_header_args(pair.HEADS["minimal"]) == []
