#!/usr/bin/env bash
# Side-by-side WSGI server benchmark on 127.0.0.1 (server pinned to one CPU, wrk to another).
#
# Usage: ./run.sh [options] APPS [SERVER...]
#   APPS      comma-separated apps from apps.py (hello,big,echo,sleep,stream,file,flask,
#             pipelined,mixed) or "all"
#   SERVER    server names (see -l); default: every known server that is installed
#
# Options:
#   -r N        rounds (default 2); odd rounds run the servers in the given order,
#               even rounds in reverse order, so drift over time shows up as r1 != r2
#   -d SECS     measured wrk duration (default 8)
#   -w SECS     warm-up wrk duration, discarded (default 2)
#   -c N        wrk connections (default 64)
#   -o FILE     markdown output (default ./bench-results.md); raw rows go to FILE
#               with .md replaced by .tsv and accumulate across invocations
#   -n          start FILE's .tsv afresh instead of adding to it
#   -S 'NAME=CMD'   add a server from a command line; placeholders {app} (e.g. apps:hello;
#               flask_app:app for the flask app),
#               {host} {port} {bench} {venv} {threads}. Stop signal defaults to TERM;
#               write 'NAME:INT=CMD' for another one. Example:
#                 -S 'mysrv=mysrv {app} --bind {host}:{port} --threads {threads}'
#   -l          list known servers (and whether they are installed) and exit
#
# Environment: VENV (default ~/.cache/morello-bench/venv, made by setup.sh), LIMIT_BIN, HOST (127.0.0.1), PORT_BASE (18100),
#   MORELLO (default: this repository's .venv/bin/morello, built by `make setup`),
#   SERVER_CPU (1), CLIENT_CPU (0), THREADS (8), STOP_TIMEOUT (10), READY_TIMEOUT (20),
#   SETTLE (1: seconds of idle between warm-up and measured run, so that requests the
#   warm-up left queued in a slow server are drained before measuring),
#   MIXED_SLOW_CONNS (6: the mixed app's /slow connections; /fast gets the other -c ones),
#   PIPELINE_DEPTH (16: requests per write in the pipelined app),
#   PIPELINE_ALL (0; 1: run the pipelined app on every server, even those PIPELINE_SKIP lists),
#   MORELLO_BENCH_FILE (the file app's 1 MiB file; default ~/.cache/morello-bench/file-1MiB.bin).
# Servers run from this folder with PYTHONPATH=this folder, so "apps:NAME" (and "flask_app:app") imports.
#
# Per run: start server (setsid, taskset -c SERVER_CPU) -> wait until it answers ->
#   check the app's response with curl (pipelined: and pipeline_check.py) -> warm-up wrk -> SETTLE ->
#   measured wrk --latency (mixed: two wrk at once, /fast and /slow) ->
#   check the server is still alive -> stop it with its stop signal (SIGKILL after
#   STOP_TIMEOUT, noted) -> verify the port is free.

set -u -o pipefail

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/morello-bench"
VENV="${VENV:-$CACHE/venv}"
LIMIT_BIN="${LIMIT_BIN:-$CACHE/limit-target/release/limit}"
PY="$VENV/bin/python"
MORELLO="${MORELLO:-$BENCH/../.venv/bin/morello}"
HOST="${HOST:-127.0.0.1}"
PORT_BASE="${PORT_BASE:-18100}"
SERVER_CPU="${SERVER_CPU:-1}"
CLIENT_CPU="${CLIENT_CPU:-0}"
THREADS="${THREADS:-8}"
STOP_TIMEOUT="${STOP_TIMEOUT:-10}"
READY_TIMEOUT="${READY_TIMEOUT:-20}"
SETTLE="${SETTLE:-1}"
MIXED_SLOW_CONNS="${MIXED_SLOW_CONNS:-6}"
PIPELINE_ALL="${PIPELINE_ALL:-0}"
export PIPELINE_DEPTH="${PIPELINE_DEPTH:-16}"
export MORELLO_BENCH_FILE="${MORELLO_BENCH_FILE:-$CACHE/file-1MiB.bin}"
export PYTHONPATH="$BENCH${PYTHONPATH:+:$PYTHONPATH}"
ROUNDS=2
DURATION=8
WARMUP=2
CONNS=64
OUT="$PWD/bench-results.md"
FRESH=0

ALL_APPS=(hello big echo sleep stream file flask pipelined mixed)

# Known servers, in default order. Add a name here and a case in server_cmd below.
KNOWN_SERVERS=(
  morello morello-t8 gunicorn-sync gunicorn-gthread waitress cheroot granian granian-bt8
  bjoern fastwsgi pyruvate wsgiserver uwsgi uwsgi-http11 rust-limit
)
declare -A EXTRA_CMD=() EXTRA_SIG=()

# ---------------------------------------------------------------------------
# server_cmd NAME APP PORT
#   sets CMD (array: the command line), STOP_SIG (signal name) and CONF (short note).
#   Returns 1 if NAME is unknown.
# ---------------------------------------------------------------------------
server_cmd() {
  local name=$1 app=$2 port=$3 spec="apps:$2"
  # the flask app is its own module, loaded as a Flask app is (module:app), so servers that
  # look the callable up in the module's dict (uWSGI) find it too
  [[ "$app" == flask ]] && spec="flask_app:app"
  STOP_SIG=TERM
  CONF=""
  case "$name" in
    morello)
      CMD=("$MORELLO" "$spec" --bind "$HOST:$port" --threads "$THREADS")
      CONF="--threads $THREADS (grows up to the default --max-threads 128 while threads block)" ;;
    morello-t8)
      CMD=("$MORELLO" "$spec" --bind "$HOST:$port" --threads "$THREADS" --max-threads "$THREADS")
      CONF="--threads $THREADS --max-threads $THREADS (fixed pool)" ;;
    gunicorn-sync)
      CMD=("$VENV/bin/gunicorn" -w 1 -k sync -b "$HOST:$port" "$spec")
      CONF="-w 1 -k sync" ;;
    gunicorn-gthread)
      CMD=("$VENV/bin/gunicorn" -w 1 -k gthread --threads "$THREADS" -b "$HOST:$port" "$spec")
      CONF="-w 1 -k gthread --threads $THREADS" ;;
    waitress)
      CMD=("$VENV/bin/waitress-serve" "--listen=$HOST:$port" "--threads=$THREADS" "$spec")
      CONF="threads=$THREADS" ;;
    cheroot)
      CMD=("$VENV/bin/cheroot" --bind "$HOST:$port" --threads "$THREADS" "$spec")
      CONF="--threads $THREADS" ;;
    granian)
      CMD=("$VENV/bin/granian" --interface wsgi --workers 1 --host "$HOST" --port "$port" "$spec")
      CONF="--interface wsgi --workers 1 (defaults)" ;;
    granian-bt8)
      CMD=("$VENV/bin/granian" --interface wsgi --workers 1 --blocking-threads "$THREADS" --host "$HOST" --port "$port" "$spec")
      CONF="--interface wsgi --workers 1 --blocking-threads $THREADS" ;;
    bjoern)
      CMD=("$PY" "$BENCH/serve.py" bjoern "$spec" "$HOST" "$port")
      STOP_SIG=INT; CONF="single-threaded" ;;
    fastwsgi)
      CMD=("$PY" "$BENCH/serve.py" fastwsgi "$spec" "$HOST" "$port")
      STOP_SIG=INT; CONF="single-threaded" ;;
    pyruvate)
      CMD=("$PY" "$BENCH/serve.py" pyruvate "$spec" "$HOST" "$port" "$THREADS")
      STOP_SIG=INT; CONF="$THREADS workers (threads)" ;;
    wsgiserver)
      CMD=("$PY" "$BENCH/serve.py" wsgiserver "$spec" "$HOST" "$port" "$THREADS")
      STOP_SIG=INT; CONF="numthreads=$THREADS" ;;
    uwsgi)
      CMD=("$VENV/bin/uwsgi" --http-socket "$HOST:$port" --module "$spec" --processes 1
           --threads "$THREADS" --disable-logging --chdir "$BENCH")
      STOP_SIG=INT; CONF="--http-socket --processes 1 --threads $THREADS, no master (no keep-alive)" ;;
    uwsgi-http11)
      CMD=("$VENV/bin/uwsgi" --http11-socket "$HOST:$port" --module "$spec" --processes 1
           --threads "$THREADS" --disable-logging --chdir "$BENCH")
      STOP_SIG=INT; CONF="--http11-socket --processes 1 --threads $THREADS, no master (keep-alive)" ;;
    rust-limit)
      CMD=("$LIMIT_BIN" "$HOST:$port")
      CONF="hyper 1 + tokio current_thread (answers hello to every request)" ;;
    *)
      if [[ -n "${EXTRA_CMD[$name]:-}" ]]; then
        local t=${EXTRA_CMD[$name]}
        t=${t//\{app\}/$spec}; t=${t//\{host\}/$HOST}; t=${t//\{port\}/$port}
        t=${t//\{bench\}/$BENCH}; t=${t//\{venv\}/$VENV}; t=${t//\{threads\}/$THREADS}
        eval "CMD=($t)"
        STOP_SIG=${EXTRA_SIG[$name]:-TERM}
        CONF="-S: ${EXTRA_CMD[$name]}"
      else
        return 1
      fi ;;
  esac
  return 0
}

# Servers that do not answer HTTP/1.1 pipelined requests correctly (pipeline_check.py, which
# run.sh also runs before each pipelined row: PIPELINE_ALL=1 ./run.sh -r 1 -d 1 -w 1 pipelined
# re-checks every server). The pipelined app skips them; the reason is printed.
# Checked 2026-11-25 with the versions of requirements-bench.txt (see README.md).
declare -A PIPELINE_SKIP=(
  [gunicorn-sync]="no keep-alive: answers the first request with Connection: close, drops the other 15"
  [bjoern]="answers only the last request of a pipelined batch and drops the others (the client waits forever)"
  [pyruvate]="answers the first request with Connection: close and drops the other 15"
  [uwsgi]="--http-socket has no keep-alive: closes after the first response"
  [uwsgi-http11]="closes the connection after the first response of a pipelined batch (no Connection: close)"
)

# server_supports NAME APP: rust-limit only implements hello (and pipelined's query echo); the
# pipelined app skips PIPELINE_SKIP.
server_supports() {
  case "$1" in
    rust-limit) [[ "$2" == hello || "$2" == pipelined ]] ;;
    *) [[ "$2" != pipelined || "$PIPELINE_ALL" == 1 || -z "${PIPELINE_SKIP[$1]:-}" ]] ;;
  esac
}

# server_available NAME: is it installed / built?
server_available() {
  local name=$1
  server_cmd "$name" hello 1 || return 1
  case "$name" in
    bjoern|fastwsgi|pyruvate|wsgiserver)
      "$PY" -W ignore -c "import $name" >/dev/null 2>&1 ;;
    morello*) [[ -x "$MORELLO" ]] ;;
    *) [[ -x "${CMD[0]}" ]] || command -v "${CMD[0]}" >/dev/null 2>&1 ;;
  esac
}

# ---------------------------------------------------------------------------
die() { echo "run.sh: $*" >&2; exit 2; }
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }

while getopts "r:d:w:c:o:nS:lh" opt; do
  case $opt in
    r) ROUNDS=$OPTARG ;;
    d) DURATION=$OPTARG ;;
    w) WARMUP=$OPTARG ;;
    c) CONNS=$OPTARG ;;
    o) OUT=$OPTARG ;;
    n) FRESH=1 ;;
    S) def=${OPTARG%%=*}; cmdt=${OPTARG#*=}
       [[ "$def" == "$OPTARG" ]] && die "-S wants NAME=CMD"
       n=${def%%:*}; sig=TERM; [[ "$def" == *:* ]] && sig=${def#*:}
       EXTRA_CMD[$n]=$cmdt; EXTRA_SIG[$n]=$sig; KNOWN_SERVERS+=("$n") ;;
    l) for s in "${KNOWN_SERVERS[@]}"; do
         if server_available "$s"; then echo "$s	installed"; else echo "$s	MISSING"; fi
       done; exit 0 ;;
    h|*) usage; exit 0 ;;
  esac
done
shift $((OPTIND - 1))
[[ $# -ge 1 ]] || { usage; exit 2; }

if [[ "$1" == all ]]; then APPS=("${ALL_APPS[@]}"); else IFS=, read -ra APPS <<< "$1"; fi
shift
for a in "${APPS[@]}"; do
  [[ " ${ALL_APPS[*]} " == *" $a "* ]] || die "unknown app '$a' (known: ${ALL_APPS[*]})"
done

if [[ " ${APPS[*]} " == *" mixed "* ]] && (( CONNS <= MIXED_SLOW_CONNS )); then
  die "mixed needs -c above MIXED_SLOW_CONNS ($MIXED_SLOW_CONNS): /fast gets the rest"
fi

if [[ $# -gt 0 ]]; then SERVERS=("$@"); else SERVERS=("${KNOWN_SERVERS[@]}"); fi
for s in "${SERVERS[@]}"; do server_cmd "$s" hello 1 || die "unknown server '$s' (see -l)"; done

command -v wrk >/dev/null || die "wrk not found (apt-get install -y wrk)"
command -v taskset >/dev/null || die "taskset not found"
command -v curl >/dev/null || die "curl not found"
[[ "$HOST" == 127.* || "$HOST" == localhost ]] || die "HOST must be a loopback address"

[[ "$OUT" == /* ]] || OUT="$PWD/$OUT"
TSV="${OUT%.md}.tsv"
LOGDIR="${OUT%.md}.logs"
mkdir -p "$LOGDIR"
if [[ $FRESH -eq 1 || ! -s "$TSV" ]]; then
  printf 'time\tapp\tserver\tround\tpos\trps\tp50_ms\tp99_ms\tavg_ms\trequests\tnon2xx\terr_connect\terr_read\terr_write\terr_timeout\tsrv_cpu_pct\twrk_cpu_pct\tprobe_s\tcheck\tstop\tport_free\tconns\tduration\tconf\tnotes\n' > "$TSV"
fi

POST_BODY="$LOGDIR/post16k.bin"
head -c 16384 /dev/zero | tr '\0' 'a' > "$POST_BODY"

# ---------------------------------------------------------------------------
port_listening() { [[ -n "$(ss -Htln "sport = :$1" 2>/dev/null)" ]]; }

proc_alive() {  # alive and not a zombie
  local st
  st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  [[ -n "$st" && "$st" != Z* ]]
}

group_cpu_ticks() {  # sum of utime+stime over processes of process group $1
  local p sum=0 t
  for p in $(pgrep -g "$1" 2>/dev/null); do
    t=$(awk '{sub(/.*\) /, ""); print $12 + $13}' "/proc/$p/stat" 2>/dev/null) || continue
    sum=$((sum + ${t:-0}))
  done
  echo "$sum"
}

to_ms() {  # wrk latency value (e.g. 812.00us, 1.23ms, 2.01s) -> ms
  awk -v v="$1" 'BEGIN {
    if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
    else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
    else if (v ~ /m$/) { sub(/m$/, "", v); printf "%.1f", v * 60000 }
    else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
    else printf "NA" }'
}

wrk_args() {  # APP -> extra wrk args
  [[ "$1" == echo ]] && printf '%s\n' -s "$BENCH/post16k.lua"
  [[ "$1" == pipelined ]] && printf '%s\n' -s "$BENCH/pipeline.lua"
  return 0
}

app_path() {  # APP -> the path wrk measures (mixed: the fast endpoint; its /slow load runs alongside)
  case "$1" in
    mixed) echo /fast ;;
    *) echo / ;;
  esac
}

wrk_summary() {  # wrk output FILE -> "rps p50_ms p99_ms non2xx connect read write timeout"
  local w=$1 rps non2xx ec=0 er=0 ew=0 et=0
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$w"); rps=${rps:-NA}
  non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$w"); non2xx=${non2xx:-0}
  if grep -q 'Socket errors' "$w"; then
    read -r ec er ew et < <(sed -n 's/.*Socket errors: connect \([0-9]*\), read \([0-9]*\), write \([0-9]*\), timeout \([0-9]*\).*/\1 \2 \3 \4/p' "$w")
  fi
  echo "$rps $(to_ms "$(awk '$1 == "50%" {print $2}' "$w")") $(to_ms "$(awk '$1 == "99%" {print $2}' "$w")") $non2xx $ec $er $ew $et"
}

PROBE_MAX="${PROBE_MAX:-3}"
probe_request() {  # APP URL -> prints seconds to a complete response, or "timeout>Ns", or "fail:CODE"
  local app=$1 url=$2 out rc
  if [[ "$app" == echo ]]; then
    out=$(taskset -c "$CLIENT_CPU" curl -s -o /dev/null -w '%{http_code} %{time_total}' --max-time "$PROBE_MAX" \
            -H 'Content-Type: application/octet-stream' --data-binary @"$POST_BODY" "$url")
  else
    out=$(taskset -c "$CLIENT_CPU" curl -s -o /dev/null -w '%{http_code} %{time_total}' --max-time "$PROBE_MAX" "$url")
  fi
  rc=$?
  if [[ $rc -eq 28 ]]; then echo "timeout>${PROBE_MAX}s"
  elif [[ $rc -ne 0 || "${out%% *}" != 200 ]]; then echo "fail:rc=$rc,http=${out%% *}"
  else printf '%.3f\n' "${out##* }"; fi
}

check_app() {  # APP PORT -> prints "ok" or a reason
  local app=$1 port=$2 url="http://$HOST:$2/" body="$LOGDIR/check.body" res code size secs rc
  case "$app" in
    echo) res=$(curl -s -o "$body" -w '%{http_code} %{size_download} %{time_total}' --max-time 5 \
                  -H 'Content-Type: application/octet-stream' --data-binary @"$POST_BODY" "$url") ;;
    file) res=$(curl -s -o "$body" -D "$LOGDIR/check.headers" -w '%{http_code} %{size_download} %{time_total}' \
                  --max-time 5 "$url") ;;
    mixed) res=$(curl -s -o "$body" -w '%{http_code} %{size_download} %{time_total}' --max-time 5 "${url}slow") ;;
    *)    res=$(curl -s -o "$body" -w '%{http_code} %{size_download} %{time_total}' --max-time 5 "$url") ;;
  esac
  rc=$?
  read -r code size secs <<< "$res"
  [[ "$code" == 200 ]] || { echo "status=$code"; return; }
  # curl exit 28 = the response never ended (e.g. no framing on a kept-alive connection)
  [[ $rc -eq 0 ]] || { echo "curl-exit=$rc(size=$size)"; return; }
  # a lone request on an idle server taking > 1 s: the response end was probably only
  # found when the server closed the connection (no Content-Length, no chunking)
  if awk -v t="${secs:-0}" 'BEGIN { exit !(t > 1) }'; then echo "slow(${secs}s,size=$size)"; return; fi
  case "$app" in
    hello|sleep) [[ "$(cat "$body")" == "Hello, World!" ]] || { echo "body(size=$size)"; return; } ;;
    big)         [[ "$size" == 65536 ]] || { echo "size=$size"; return; } ;;
    echo)        [[ "$(cat "$body")" == 16384 ]] || { echo "echo=$(head -c 20 "$body")"; return; } ;;
    stream)      [[ "$size" == 102400 ]] || { echo "size=$size"; return; } ;;
    pipelined)   [[ "$(cat "$body")" == "Hello, World!" ]] || { echo "body(size=$size)"; return; } ;;
    file)        [[ "$size" == 1048576 ]] || { echo "size=$size"; return; }
                 cmp -s "$body" "$MORELLO_BENCH_FILE" || { echo "content"; return; } ;;
    flask)       # the template route: 20 rows from the loop, the heading, the footer
                 [[ "$(grep -c '^<tr class="\(odd\|even\)"><td>' "$body")" == 20 ]] \
                   && grep -q '^<h1>Hello, World!</h1>$' "$body" && grep -q '^<p>20 items, total 320.00</p>$' "$body" \
                   || { echo "template(size=$size)"; return; }
                 # the JSON route
                 res=$(curl -s -o "$body" -w '%{http_code}' --max-time 5 "${url}api/items/3")
                 [[ "$res" == 200 ]] && grep -q '"count": *3' "$body" && grep -q '"name": *"item 3"' "$body" \
                   || { echo "json(status=$res)"; return; } ;;
    mixed)       # that was /slow (>= 50 ms); now /fast
                 [[ "$(cat "$body")" == "Hello, World!" ]] || { echo "slow-body(size=$size)"; return; }
                 awk -v t="${secs:-0}" 'BEGIN { exit !(t >= 0.05) }' || { echo "slow-too-fast(${secs}s)"; return; }
                 res=$(curl -s -o "$body" -w '%{http_code}' --max-time 5 "${url}fast")
                 [[ "$res" == 200 && "$(cat "$body")" == "Hello, World!" ]] || { echo "fast(status=$res)"; return; } ;;
  esac
  echo ok
}

# run_one APP SERVER ROUND POS PORT -> appends one row to $TSV
run_one() {
  local app=$1 name=$2 round=$3 pos=$4 port=$5
  local log="$LOGDIR/$app.$name.r$round" notes="" check="-" stop="-" free="-"
  local rps=NA p50=NA p99=NA avg=NA reqs=NA non2xx=0 ec=0 er=0 ew=0 et=0 cpu=NA wcpu=NA probe=NA
  server_cmd "$name" "$app" "$port"
  local url="http://$HOST:$port/"
  # murl: what wrk and the probe hit (url, except for mixed: /fast); conns: the TSV's conns
  local murl="http://$HOST:$port$(app_path "$app")" conns=$CONNS

  if port_listening "$port"; then
    notes="port $port busy before start; skipped"
    emit; return
  fi

  ( cd "$BENCH" && exec setsid taskset -c "$SERVER_CPU" "${CMD[@]}" ) > "$log.server.log" 2>&1 < /dev/null &
  local pid=$!
  local pgid
  pgid=$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ')
  [[ "$pgid" == "$pid" ]] || { sleep 0.2; pgid=$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' '); }
  [[ -n "$pgid" ]] || pgid=$pid

  # wait until it answers (any HTTP status)
  local t0=$SECONDS ready=0 code
  while (( SECONDS - t0 < READY_TIMEOUT )); do
    proc_alive "$pid" || break
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url" 2>/dev/null)
    if [[ "$code" =~ ^[1-5][0-9][0-9]$ ]]; then ready=1; break; fi
    sleep 0.1
  done
  if [[ $ready -ne 1 ]]; then
    if proc_alive "$pid"; then notes="did not answer within ${READY_TIMEOUT}s"
    else notes="exited before answering"; fi
    notes="$notes (see $(basename "$log").server.log)"
    stop_server "$pid" "$pgid"; stop=$STOP_RESULT
    check_port_free "$port"; free=$PORT_FREE
    emit; return
  fi

  check=$(check_app "$app" "$port")
  if [[ "$app" == pipelined && "$check" == ok ]]; then
    # 16 pipelined requests by hand, answers checked in order (pipeline_check.py): a row counts only if so
    local pc
    pc=$(taskset -c "$CLIENT_CPU" "$PY" "$BENCH/pipeline_check.py" --depth "$PIPELINE_DEPTH" "$HOST" "$port" 2>&1 | tail -n 1)
    [[ "$pc" == ok ]] || check="pipeline: ${pc//[$'\t|']/ }"
  fi
  if [[ "$app" == file ]]; then
    case "$(awk 'tolower($1) == "x-bench-file-wrapper:" { print $2 }' "$LOGDIR/check.headers" 2>/dev/null | tr -d '\r')" in
      1) notes="served through the server's wsgi.file_wrapper" ;;
      0) notes="no wsgi.file_wrapper: the app iterates the file in 64 KiB blocks" ;;
    esac
  fi
  local -a extra
  mapfile -t extra < <(wrk_args "$app")

  # mixed: fast = -c minus MIXED_SLOW_CONNS connections on /fast, slow = MIXED_SLOW_CONNS on /slow, at once
  local fast=$CONNS slow=0
  if [[ "$app" == mixed ]]; then
    slow=$MIXED_SLOW_CONNS; fast=$((CONNS - slow)); conns="$fast+$slow"
    timeout $((WARMUP + 15)) taskset -c "$CLIENT_CPU" wrk -t1 -c"$slow" -d"${WARMUP}s" "${url}slow" > "$log.slow.warmup.txt" 2>&1 &
    local swarm=$!
    timeout $((WARMUP + 15)) taskset -c "$CLIENT_CPU" wrk -t1 -c"$fast" -d"${WARMUP}s" "$murl" > "$log.warmup.txt" 2>&1
    wait "$swarm"
  else
    timeout $((WARMUP + 15)) taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"${WARMUP}s" "${extra[@]}" "$url" > "$log.warmup.txt" 2>&1
  fi
  if ! proc_alive "$pid"; then notes="${notes:+$notes; }died during warm-up"; fi
  sleep "$SETTLE"

  # probe: halfway through the measured run, one extra client on a fresh connection
  # times its request (PROBE_MAX s at most): can a new client get in while the server is loaded?
  local probe_pid
  ( sleep $((DURATION / 2)); probe_request "$app" "$murl" ) > "$log.probe.txt" 2>/dev/null &
  probe_pid=$!

  local c0 c1 w0 w1
  c0=$(group_cpu_ticks "$pgid"); w0=$(date +%s.%N)
  local TIMEFORMAT='%3U %3S %3R'
  local wrc src=0 spid
  if [[ "$app" == mixed ]]; then
    # both wrk under one `time`: wrk CPU is the two processes' together
    { time { timeout $((DURATION + 15)) taskset -c "$CLIENT_CPU" wrk -t1 -c"$slow" -d"${DURATION}s" --latency "${url}slow" > "$log.slow.txt" 2>&1 &
             spid=$!
             timeout $((DURATION + 15)) taskset -c "$CLIENT_CPU" wrk -t1 -c"$fast" -d"${DURATION}s" --latency "$murl" > "$log.wrk.txt" 2>&1
             wrc=$?
             wait "$spid"; src=$?; }; } 2> "$log.wrk.time"
  else
    { time timeout $((DURATION + 15)) taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "${extra[@]}" "$url" > "$log.wrk.txt" 2>&1; } 2> "$log.wrk.time"
    wrc=$?
  fi
  c1=$(group_cpu_ticks "$pgid"); w1=$(date +%s.%N)
  # client CPU: wrk's user+sys over wall; ~100 means the client, not the server, may be the limit
  wcpu=$(awk 'NF == 3 && $3 > 0 { printf "%.0f", ($1 + $2) / $3 * 100 }' "$log.wrk.time"); wcpu=${wcpu:-NA}
  [[ $wrc -eq 0 ]] || notes="${notes:+$notes; }wrk exit $wrc"
  wait "$probe_pid" 2>/dev/null
  probe=$(cat "$log.probe.txt" 2>/dev/null); probe=${probe:-NA}
  cpu=$(awk -v a="$c0" -v b="$c1" -v s="$w0" -v e="$w1" -v hz="$(getconf CLK_TCK)" \
        'BEGIN { printf "%.0f", (b - a) / hz / (e - s) * 100 }')

  local w="$log.wrk.txt"
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$w"); rps=${rps:-NA}
  reqs=$(awk '/requests in/ {print $1}' "$w"); reqs=${reqs:-NA}
  p50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$w")")
  p99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$w")")
  avg=$(to_ms "$(awk '$1 == "Latency" && NF >= 4 {print $2; exit}' "$w")")
  non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$w"); non2xx=${non2xx:-0}
  if grep -q 'Socket errors' "$w"; then
    read -r ec er ew et < <(sed -n 's/.*Socket errors: connect \([0-9]*\), read \([0-9]*\), write \([0-9]*\), timeout \([0-9]*\).*/\1 \2 \3 \4/p' "$w")
  fi
  if [[ "$app" == pipelined ]]; then
    # wrk 4.1 records one latency sample per batch, and its coordinated-omission correction then
    # adds counts below the minimum that its percentile walk never reaches: p50/p99 come out as 0
    p50=NA; p99=NA; avg=NA
  fi
  if [[ "$app" == mixed ]]; then
    # rps/p50/p99/avg/requests are /fast's; non-2xx and socket errors add up both (a row counts only if
    # both ran clean); /slow's figures go to the notes, where summary.py finds slow_rps=
    local s_rps s_p50 s_p99 s_non s_ec s_er s_ew s_et
    read -r s_rps s_p50 s_p99 s_non s_ec s_er s_ew s_et < <(wrk_summary "$log.slow.txt")
    notes="${notes:+$notes; }slow_rps=$s_rps slow_p50=$s_p50 slow_p99=$s_p99 (/slow: $slow conns, sleep 50 ms)"
    [[ $src -eq 0 ]] || notes="$notes; slow wrk exit $src"
    if [[ "$s_non" != 0 || "$s_ec$s_er$s_ew$s_et" != 0000 ]]; then
      notes="$notes; slow non2xx=$s_non err=$s_ec/$s_er/$s_ew/$s_et"
    fi
    non2xx=$((non2xx + s_non)); ec=$((ec + s_ec)); er=$((er + s_er)); ew=$((ew + s_ew)); et=$((et + s_et))
  fi

  if ! proc_alive "$pid"; then notes="${notes:+$notes; }died during measured run"; fi
  stop_server "$pid" "$pgid"; stop=$STOP_RESULT
  check_port_free "$port"; free=$PORT_FREE
  emit
}

emit() {
  local conf_clean=${CONF//$'\t'/ }
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
    "$(date -u +%FT%TZ)" "$app" "$name" "$round" "$pos" "$rps" "$p50" "$p99" "$avg" "$reqs" "$non2xx" \
    "$ec" "$er" "$ew" "$et" "$cpu" "$wcpu" "$probe" "$check" "$stop" "$free" "${conns:-$CONNS}" "$DURATION" "$conf_clean" "$notes" >> "$TSV"
  printf '  %-18s %-7s r%s  rps=%-10s p50=%-8s p99=%-8s non2xx=%s err=%s/%s/%s/%s cpu=%s%% wrk_cpu=%s%% probe=%s check=%s stop=%s port_free=%s %s\n' \
    "$name" "$app" "$round" "$rps" "$p50" "$p99" "$non2xx" "$ec" "$er" "$ew" "$et" "$cpu" "$wcpu" "$probe" "$check" "$stop" "$free" "$notes"
}

# stop_server PID PGID -> sets STOP_RESULT (how it stopped); must run in the main shell (wait)
stop_server() {
  local pid=$1 pgid=$2 how t0
  if ! proc_alive "$pid"; then
    how="already-exited"
  else
    kill -s "$STOP_SIG" "$pid" 2>/dev/null
    t0=$SECONDS
    while proc_alive "$pid" && (( SECONDS - t0 < STOP_TIMEOUT )); do sleep 0.1; done
    if proc_alive "$pid"; then
      kill -KILL -- "-$pgid" 2>/dev/null
      how="SIGKILL-after-${STOP_TIMEOUT}s"
    else
      how="$STOP_SIG-ok"
    fi
  fi
  wait "$pid" 2>/dev/null
  # leftovers in the server's own process group (e.g. workers)
  local left
  left=$(pgrep -g "$pgid" 2>/dev/null | tr '\n' ' ')
  if [[ -n "$left" ]]; then
    sleep 1
    left=$(pgrep -g "$pgid" 2>/dev/null | tr '\n' ' ')
    if [[ -n "$left" ]]; then
      kill -KILL -- "-$pgid" 2>/dev/null
      how="$how+killed-leftovers"
    fi
  fi
  STOP_RESULT=$how
}

check_port_free() {  # PORT -> sets PORT_FREE (yes/NO), after waiting up to 5 s
  local port=$1 t0=$SECONDS
  while port_listening "$port" && (( SECONDS - t0 < 5 )); do sleep 0.1; done
  if port_listening "$port"; then PORT_FREE=NO; else PORT_FREE=yes; fi
}

# ---------------------------------------------------------------------------
# Port per server: PORT_BASE + index in KNOWN_SERVERS.
port_of() {
  local i
  for i in "${!KNOWN_SERVERS[@]}"; do
    [[ "${KNOWN_SERVERS[$i]}" == "$1" ]] && { echo $((PORT_BASE + i)); return; }
  done
  echo $((PORT_BASE + 99))
}

AVAILABLE=()
for s in "${SERVERS[@]}"; do
  if server_available "$s"; then AVAILABLE+=("$s"); else echo "skip $s: not installed" >&2; fi
done
[[ ${#AVAILABLE[@]} -gt 0 ]] || die "no server available"

nruns=0
for app in "${APPS[@]}"; do
  for s in "${AVAILABLE[@]}"; do
    if server_supports "$s" "$app"; then nruns=$((nruns + 1))
    elif [[ "$app" == pipelined && -n "${PIPELINE_SKIP[$s]:-}" ]]; then
      echo "note: pipelined skips $s: ${PIPELINE_SKIP[$s]} (PIPELINE_ALL=1 runs it anyway)" >&2
    fi
  done
done
nruns=$((nruns * ROUNDS))
echo "== $nruns runs (~$((nruns * (WARMUP + SETTLE + DURATION + 2))) s): apps=${APPS[*]} servers=${AVAILABLE[*]}"
echo "== wrk -t1 -c$CONNS -d${DURATION}s (warm-up ${WARMUP}s) on CPU $CLIENT_CPU; servers on CPU $SERVER_CPU; results -> $TSV"

for app in "${APPS[@]}"; do
  echo "== app: $app"
  for ((round = 1; round <= ROUNDS; round++)); do
    order=()
    if (( round % 2 == 1 )); then
      order=("${AVAILABLE[@]}")
    else
      for ((i = ${#AVAILABLE[@]} - 1; i >= 0; i--)); do order+=("${AVAILABLE[$i]}"); done
    fi
    pos=0
    for s in "${order[@]}"; do
      server_supports "$s" "$app" || continue
      pos=$((pos + 1))
      run_one "$app" "$s" "$round" "$pos" "$(port_of "$s")"
    done
  done
done

"$PY" "$BENCH/report.py" "$TSV" > "$OUT"
cat "$OUT"
