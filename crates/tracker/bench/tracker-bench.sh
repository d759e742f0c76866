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
#   AQUATIC_DURATION NO_BUILD=1 (use existing release binaries)
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

command -v opentracker >/dev/null || { echo "opentracker is not installed (apt-get install opentracker)"; exit 1; }
command -v taskset >/dev/null || { echo "taskset (util-linux) is needed"; exit 1; }

if [ "${NO_BUILD:-0}" != 1 ]; then
  (cd "$ROOT" && cargo build --release -q -p shoal --bin shoal -p shoal-tracker --bin shoal-tracker-load)
fi
BIN="$ROOT/target/release"
SHOAL="$BIN/shoal"
LOAD="$BIN/shoal-tracker-load"

WORK=$(mktemp -d /tmp/tracker-bench.XXXXXX)
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
RESULTS="$WORK/results.jsonl"
: > "$RESULTS"

start_tracker() { # name port -> sets TPID
  case "$1" in
    shoal)
      taskset -c "$TRACKER_CPU" "$SHOAL" tracker --http "127.0.0.1:$2" --udp "127.0.0.1:$2" \
        --whitelist "$WORK/whitelist" 2>"$WORK/shoal.log" &
      ;;
    opentracker)
      (cd "$WORK" && exec taskset -c "$TRACKER_CPU" opentracker -i 127.0.0.1 -p "$2" -P "$2" \
        -w "$WORK/whitelist") >"$WORK/opentracker.log" 2>&1 &
      ;;
  esac
  TPID=$!
  PIDS+=("$TPID")
  wait_tcp "$2"
}

echo "== shoal-tracker-load: $PEERS peers in $TORRENTS torrents, then ${DURATION}s of announces;"
echo "   tracker on CPU $TRACKER_CPU, load generator on CPU $LOAD_CPU, $SOURCES source addresses"
for proto in udp http; do
  for t in shoal opentracker; do
    port=$(free_port)
    start_tracker "$t" "$port"
    inflight=$INFLIGHT_UDP
    [ "$proto" = http ] && inflight=$INFLIGHT_HTTP
    taskset -c "$LOAD_CPU" timeout $((DURATION + 120)) "$LOAD" "--$proto" "127.0.0.1:$port" \
      --peers "$PEERS" --torrents "$TORRENTS" --duration "$DURATION" --inflight "$inflight" \
      --sources "$SOURCES" --pid "$TPID" --label "$t" >>"$RESULTS"
    stop "$TPID"
  done
done

python3 - "$RESULTS" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print()
print(f"{'proto':<5} {'tracker':<12} {'announces/s':>12} {'p50 us':>8} {'p99 us':>8} {'RSS kB':>8} {'B/peer':>7} {'errors':>7} {'lost':>6} {'fill/s':>9}")
for r in rows:
    print(f"{r['proto']:<5} {r['label']:<12} {r['rate']:>12,} {r['p50_us']:>8} {r['p99_us']:>8} {r['rss_filled_kb']:>8} {r['bytes_per_peer']:>7} {r['errors']:>7} {r['lost']:>6} {r['fill_rate']:>9,}")
print()
for proto in ("udp", "http"):
    s = next((r for r in rows if r['proto'] == proto and r['label'] == 'shoal'), None)
    o = next((r for r in rows if r['proto'] == proto and r['label'] == 'opentracker'), None)
    if not s or not o:
        continue
    def ratio(a, b):
        return f"{a / b:.2f}x" if b else "n/a"
    print(f"{proto}: shoal/opentracker  announces/s {ratio(s['rate'], o['rate'])}, p99 {ratio(s['p99_us'], o['p99_us'])}, "
          f"RSS after {s['peers']:,} peers {ratio(s['rss_filled_kb'], o['rss_filled_kb'])}, "
          f"bytes/peer {ratio(s['bytes_per_peer'], o['bytes_per_peer'])}")
PY

# aquatic_udp under its own load tester (optional).
AQ=""
for d in "${AQUATIC_BIN:-}" "$(dirname "$(command -v aquatic_udp 2>/dev/null || echo /nonexistent/x)")" "$HOME/.cargo/bin" /tmp/aquatic/bin; do
  if [ -n "$d" ] && [ -x "$d/aquatic_udp" ] && [ -x "$d/aquatic_udp_load_test" ]; then AQ=$d; break; fi
done
if [ -z "$AQ" ]; then
  echo
  echo "aquatic_udp / aquatic_udp_load_test not found: skipping the aquatic comparison"
  echo "(cargo install aquatic_udp aquatic_udp_load_test; see the crate README)"
  exit 0
fi

echo
echo "== aquatic_udp_load_test (1 worker, ${AQUATIC_DURATION}s, summary of the last $((AQUATIC_DURATION - 5))s); tracker on CPU $TRACKER_CPU, tester on CPU $LOAD_CPU"
aq_run() { # name port
  cat >"$WORK/lt.toml" <<TOML
server_address = "127.0.0.1:$2"
log_level = "error"
workers = 1
duration = $AQUATIC_DURATION
summarize_last = $((AQUATIC_DURATION - 5))
extra_statistics = true
TOML
  taskset -c "$LOAD_CPU" timeout $((AQUATIC_DURATION + 30)) "$AQ/aquatic_udp_load_test" -c "$WORK/lt.toml" >"$WORK/lt-$1.txt" 2>&1 || true
  local rps
  rps=$(grep -iE 'responses in' "$WORK/lt-$1.txt" | tail -1 | grep -oE '[0-9]+(\.[0-9]+)?' | head -1)
  echo "$1 ${rps:-0}" >>"$WORK/aq.txt"
  printf '%-12s responses/s %s\n' "$1" "${rps:-?}"
  grep -iE 'requests out|responses in|connect|announce|scrape|error' "$WORK/lt-$1.txt" | sed 's/^/    /' | head -12
}
: >"$WORK/aq.txt"
port=$(free_port)
cat >"$WORK/aq.toml" <<TOML
socket_workers = 1
log_level = "error"
[network]
address = "127.0.0.1:$port"
TOML
taskset -c "$TRACKER_CPU" "$AQ/aquatic_udp" -c "$WORK/aq.toml" >"$WORK/aquatic.log" 2>&1 &
APID=$!
PIDS+=("$APID")
sleep 1
aq_run aquatic_udp "$port"
stop "$APID"

port=$(free_port)
# aquatic's tester announces 2,000,000 peers from 4 addresses: lift the
# per-address cap for this run.
taskset -c "$TRACKER_CPU" "$SHOAL" tracker --udp "127.0.0.1:$port" --http "127.0.0.1:$port" \
  --max-peers-per-ip 0 2>"$WORK/shoal-aq.log" &
SPID=$!
PIDS+=("$SPID")
wait_tcp "$port"
aq_run shoal "$port"
echo "    shoal RSS: $(grep VmRSS /proc/$SPID/status | awk '{print $2, $3}')"
stop "$SPID"
python3 - "$WORK/aq.txt" <<'PY'
import sys
d = dict(l.split() for l in open(sys.argv[1]) if l.strip())
a, s = float(d.get('aquatic_udp', 0)), float(d.get('shoal', 0))
if a:
    print(f"udp (aquatic's tester): shoal/aquatic_udp responses/s {s / a:.2f}x")
PY
