#!/usr/bin/env bash
# A quick regression check (under 2 minutes): hello and sleep, one short round, morello against
# fastwsgi and granian --blocking-threads 8, then morello's ratios. Not a substitute for
# `make bench`, whose rounds and medians are the record; this tells whether a change helped.
#
# Usage: bench/quick.sh [extra run.sh options]      (make bench-quick)
set -euo pipefail
BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$(mktemp -d)/quick.md"
"$BENCH/run.sh" -n -r 1 -d 4 -w 1 "$@" -o "$out" hello morello fastwsgi granian-bt8 >/dev/null
"$BENCH/run.sh" -r 1 -d 4 -w 1 "$@" -o "$out" sleep morello-t8 fastwsgi granian-bt8 >/dev/null
python3 "$BENCH/summary.py" --ratios "${out%.md}.tsv"
