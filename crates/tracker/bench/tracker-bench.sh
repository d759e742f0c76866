#!/usr/bin/env bash
# Side-by-side tracker benchmark on one machine, in one run:
#   shoal tracker vs opentracker, over UDP and HTTP, driven by
#   shoal-tracker-load (100,000 peers in 10,000 torrents, then a timed mix);
#   and, when aquatic_udp and aquatic_udp_load_test are installed, shoal
#   tracker vs aquatic_udp under aquatic's own UDP load tester.
# Each tracker is pinned to one core (TRACKER_CPU) and the load generator to
# another (LOAD_CPU). Everything binds 127.0.0.0/8 only; every run is
# bounded in time; every process started here is stopped by its PID.
#
# Usage: crates/tracker/bench/tracker-bench.sh
# Knobs (environment): PEERS TORRENTS DURATION INFLIGHT_UDP INFLIGHT_HTTP
#   SOURCES TRACKER_CPU LOAD_CPU AQUATIC_BIN (dir with aquatic_udp,
#   aquatic_udp_load_test; default: PATH, then ~/.cargo/bin, /tmp/aquatic/bin)
#   AQUATIC_DURATION ROUNDS (interleaved rounds; medians are reported)
#   PRIORITY (nice value for trackers and load generators; default -10 as
#   root so other work on the machine disturbs the figures less, same for
#   every tracker)
#   NO_BUILD=1 (use existing release binaries)
#   PARTS="opentracker aquatic" (which comparisons to run)
# Other work on the machine skews absolute numbers: runs are interleaved,
# medians reported, and the tracker's CPU time per announce is printed too
# (it is far less sensitive to a busy machine than announces/s).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
PEERS=${PEERS:-100000}
TORRENTS=${TORRENTS:-10000}
DURATION=${DURATION:-10}
INFLIGHT_UDP=${INFLIGHT_UDP:-256}
INFLIGHT_HTTP=${INFLIGHT_HTTP:-64}
SOURCES=${SOURCES:-64}
TRACKER_CPU=${TRACKER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
AQUATIC_DURATION=${AQUATIC_DURATION:-20}
ROUNDS=${ROUNDS:-3}
PARTS=${PARTS:-"opentracker aquatic"}
OT_ROUNDS=$ROUNDS
[[ " $PARTS " == *" opentracker "* ]] || OT_ROUNDS=0
if [ "$(id -u)" = 0 ]; then PRIORITY=${PRIORITY:--10}; else PRIORITY=${PRIORITY:-0}; fi

command -v opentracker >/dev/null || { echo "opentracker is not installed (apt-get install opentracker)"; exit 1; }
command -v taskset >/dev/null || { echo "taskset (util-linux) is needed"; exit 1; }

if [ "${NO_BUILD:-0}" != 1 ]; then
  (cd "$ROOT" && cargo build --release -q -p shoal --bin shoal -p shoal-tracker --bin shoal-tracker-load)
fi
BIN="$ROOT/target/release"
SHOAL="$BIN/shoal"
LOAD="$BIN/shoal-tracker-load"

WORK=$(mktemp -d /tmp/tracker-bench.XXXXXX)
# opentracker drops privileges (to nobody) before it reads its whitelist.
chmod 755 "$WORK"
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do
    [ -n "$p" ] && kill "$p" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_tcp() { # port
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listening on $1" >&2
  return 1
}

stop() { # pid
  kill "$1" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$1" 2>/dev/null || true
}

"$LOAD" --write-hashes "$WORK/whitelist" --torrents "$TORRENTS"
chmod 644 "$WORK/whitelist"
RESULTS="$WORK/results.jsonl"
: > "$RESULTS"

start_tracker() { # name port -> sets TPID
  case "$1" in
    shoal)
      nice -n "$PRIORITY" taskset -c "$TRACKER_CPU" "$SHOAL" tracker --http "127.0.0.1:$2" --udp "127.0.0.1:$2" \
        --whitelist "$WORK/whitelist" 2>"$WORK/shoal.log" &
      ;;
    opentracker)
      (cd "$WORK" && exec nice -n "$PRIORITY" taskset -c "$TRACKER_CPU" opentracker -i 127.0.0.1 -p "$2" -P "$2" \
        -w "$WORK/whitelist") >"$WORK/opentracker.log" 2>&1 &
      ;;
  esac
  TPID=$!
  PIDS+=("$TPID")
  wait_tcp "$2"
  # opentracker loads its whitelist in the background: wait until it
  # accepts the first info-hash (a `stopped` announce adds nobody).
  local h e
  h=$(head -1 "$WORK/whitelist")
  e=$(echo "$h" | sed 's/../%&/g')
  for _ in $(seq 1 50); do
    if ! curl -s "http://127.0.0.1:$2/announce?info_hash=$e&peer_id=-PROBE0-000000000000&port=1&left=0&event=stopped" | grep -q 'failure'; then
      return 0
    fi
    sleep 0.1
  done
  echo "$1 refuses the whitelisted info-hashes" >&2
  return 1
}

echo "== shoal-tracker-load: $PEERS peers in $TORRENTS torrents, then ${DURATION}s of announces;"
echo "   tracker on CPU $TRACKER_CPU, load generator on CPU $LOAD_CPU, $SOURCES source addresses, $ROUNDS interleaved rounds"
echo "   load average at start: $(cut -d' ' -f1-3 /proc/loadavg); nice $PRIORITY for the measured processes"
for round in $(seq 1 "$OT_ROUNDS"); do
for proto in udp http; do
  for t in shoal opentracker; do
    port=$(free_port)
    start_tracker "$t" "$port"
    inflight=$INFLIGHT_UDP
    [ "$proto" = http ] && inflight=$INFLIGHT_HTTP
    nice -n "$PRIORITY" taskset -c "$LOAD_CPU" timeout $((DURATION + 120)) "$LOAD" "--$proto" "127.0.0.1:$port" \
      --peers "$PEERS" --torrents "$TORRENTS" --duration "$DURATION" --inflight "$inflight" \
      --sources "$SOURCES" --pid "$TPID" --label "$t" >>"$RESULTS"
    stop "$TPID"
  done
done
done
echo "   load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$RESULTS" <<'PY'
import json, sys, statistics
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
keys = ['rate', 'p50_us', 'p99_us', 'rss_start_kb', 'rss_filled_kb', 'anon_filled_kb', 'bytes_per_peer', 'errors', 'lost', 'fill_rate', 'cpu_us_per_announce']
med = {}
for proto in ('udp', 'http'):
    for t in ('shoal', 'opentracker'):
        rs = [r for r in rows if r['proto'] == proto and r['label'] == t]
        if rs:
            med[(proto, t)] = {k: statistics.median(r[k] for r in rs) for k in keys} | {'n': len(rs), 'peers': rs[0]['peers'], 'all': [r['rate'] for r in rs]}
print()
print("medians of the rounds (every round's announces/s in brackets)")
print("(RSS and anonymous memory after the fill; B/peer = growth of anonymous memory over the fill / peers)")
print(f"{'proto':<5} {'tracker':<12} {'announces/s':>12} {'p50 us':>7} {'p99 us':>7} {'CPU us/ann':>10} {'RSS kB':>7} {'anon kB':>7} {'B/peer':>7} {'err':>4} {'lost':>5}  rounds")
for (proto, t), m in med.items():
    print(f"{proto:<5} {t:<12} {m['rate']:>12,.0f} {m['p50_us']:>7.0f} {m['p99_us']:>7.0f} {m['cpu_us_per_announce']:>10.2f} {m['rss_filled_kb']:>7.0f} {m['anon_filled_kb']:>7.0f} {m['bytes_per_peer']:>7.1f} {m['errors']:>4.0f} {m['lost']:>5.0f}  {[int(x) for x in m['all']]}")
print()
def ratio(a, b):
    return f"{a / b:.2f}x" if b else "n/a"
for proto in ('udp', 'http'):
    s, o = med.get((proto, 'shoal')), med.get((proto, 'opentracker'))
    if s and o:
        print(f"{proto}: shoal/opentracker  announces/s {ratio(s['rate'], o['rate'])}, p99 {ratio(s['p99_us'], o['p99_us'])}, "
              f"CPU per announce {ratio(s['cpu_us_per_announce'], o['cpu_us_per_announce'])}, "
              f"RSS after {s['peers']:,} peers {ratio(s['rss_filled_kb'], o['rss_filled_kb'])} "
              f"(anonymous {ratio(s['anon_filled_kb'], o['anon_filled_kb'])}), "
              f"bytes/peer {ratio(s['bytes_per_peer'], o['bytes_per_peer'])}")
PY

# aquatic_udp under its own load tester (optional).
AQ=""
for d in "${AQUATIC_BIN:-}" "$(dirname "$(command -v aquatic_udp 2>/dev/null || echo /nonexistent/x)")" "$HOME/.cargo/bin" /tmp/aquatic/bin; do
  if [ -n "$d" ] && [ -x "$d/aquatic_udp" ] && [ -x "$d/aquatic_udp_load_test" ]; then AQ=$d; break; fi
done
[[ " $PARTS " == *" aquatic "* ]] || exit 0
if [ -z "$AQ" ]; then
  echo
  echo "aquatic_udp / aquatic_udp_load_test not found: skipping the aquatic comparison"
  echo "(cargo install aquatic_udp aquatic_udp_load_test; see the crate README)"
  exit 0
fi

echo
echo "== aquatic_udp_load_test (1 worker, ${AQUATIC_DURATION}s, summary of the last $((AQUATIC_DURATION - 5))s); tracker on CPU $TRACKER_CPU, tester on CPU $LOAD_CPU"
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
aq_run() { # name port pid
  cat >"$WORK/lt.toml" <<TOML
server_address = "127.0.0.1:$2"
log_level = "error"
workers = 1
duration = $AQUATIC_DURATION
summarize_last = $((AQUATIC_DURATION - 5))
extra_statistics = true
TOML
  local c0 c1 rps rss
  c0=$(cpu_ticks "$3")
  nice -n "$PRIORITY" taskset -c "$LOAD_CPU" timeout $((AQUATIC_DURATION + 30)) "$AQ/aquatic_udp_load_test" -c "$WORK/lt.toml" >"$WORK/lt-$1.txt" 2>&1 || true
  c1=$(cpu_ticks "$3")
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$3/status")
  # The final report's average (the periodic "Responses in" lines are 1 s samples).
  rps=$(grep -E 'Average responses per second' "$WORK/lt-$1.txt" | tail -1 | grep -oE '[0-9]+(\.[0-9]+)?' | head -1)
  # CPU microseconds per response (ticks are 1/100 s; the whole run's CPU
  # over the summarized average rate, so a slight overestimate).
  python3 -c "import sys; r=float(sys.argv[1] or 0); t=(int(sys.argv[3])-int(sys.argv[2]))/100; print(sys.argv[4], r, (t*1e6/(r*$AQUATIC_DURATION)) if r else 0, sys.argv[5])" \
    "${rps:-0}" "$c0" "$c1" "$1" "$rss" >>"$WORK/aq.txt"
  printf '%-12s responses/s %s (%s)\n' "$1" "${rps:-?}" "$(sed -n '/Average responses per second/,/Error responses/p' "$WORK/lt-$1.txt" | tail -4 | tr -s ' ' | tr '\n' ';')"
}
: >"$WORK/aq.txt"
for round in $(seq 1 "$ROUNDS"); do
port=$(free_port)
cat >"$WORK/aq.toml" <<TOML
socket_workers = 1
log_level = "error"
[network]
address = "127.0.0.1:$port"
TOML
nice -n "$PRIORITY" taskset -c "$TRACKER_CPU" "$AQ/aquatic_udp" -c "$WORK/aq.toml" >"$WORK/aquatic.log" 2>&1 &
APID=$!
PIDS+=("$APID")
sleep 1
aq_run aquatic_udp "$port" "$APID"
stop "$APID"

port=$(free_port)
# aquatic's tester announces up to 2,000,000 peers from 4 addresses: lift
# the per-address cap for this run.
nice -n "$PRIORITY" taskset -c "$TRACKER_CPU" "$SHOAL" tracker --udp "127.0.0.1:$port" --http "127.0.0.1:$port" \
  --max-peers-per-ip 0 2>"$WORK/shoal-aq.log" &
SPID=$!
PIDS+=("$SPID")
wait_tcp "$port"
aq_run shoal "$port" "$SPID"
stop "$SPID"
done
python3 - "$WORK/aq.txt" <<'PY'
import sys, statistics
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
med = {}
for name in ('aquatic_udp', 'shoal'):
    rs = [r for r in rows if r[0] == name]
    if rs:
        med[name] = (statistics.median(float(r[1]) for r in rs), statistics.median(float(r[2]) for r in rs), statistics.median(float(r[3]) for r in rs), [int(float(r[1])) for r in rs])
print()
print(f"{'tracker':<12} {'responses/s':>12} {'CPU us/resp':>11} {'RSS kB':>8}  rounds")
for n, (rps, cpu, rss, allr) in med.items():
    print(f"{n:<12} {rps:>12,.0f} {cpu:>11.2f} {rss:>8.0f}  {allr}")
if 'aquatic_udp' in med and 'shoal' in med and med['aquatic_udp'][0]:
    a, s = med['aquatic_udp'], med['shoal']
    print(f"udp (aquatic's tester): shoal/aquatic_udp responses/s {s[0] / a[0]:.2f}x, CPU per response {s[1] / a[1]:.2f}x")
PY
echo "   load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
