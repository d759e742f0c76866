#!/usr/bin/env bash
# One seeder to one leecher over 127.0.0.1, side by side in one run:
# Shoal→Shoal, libtorrent→libtorrent, Transmission→Transmission, and Shoal
# with libtorrent on the other end (both directions). A single-file torrent
# (default 1 GiB, 1 MiB pieces), the seeder's data warm in the page cache
# and no dirty data of earlier steps left to write back.
#
# The same rules for every client:
# - Every seeder has checked all its data and is idle before its leecher
#   starts: Shoal (`shoal seed` prints `seeding` after its check), libtorrent
#   (added without seed_mode, so it checks every piece first, as it does for
#   a user who adds existing data; seed_mode would hash each piece on its
#   first request, inside the measured transfer), Transmission (verified to
#   100%). None of their hashing falls inside a measured window.
# - One clock, this script's (bench/timed_run.py, time.monotonic()): from
#   the moment the leecher process is spawned to the moment it reports
#   every piece verified (Shoal's `download complete`, libtorrent's
#   torrent_finished_alert, Transmission's torrent-done script). No
#   client's own timer is used.
# - CPU (user+sys, all threads) at that moment, per GiB; memory as peak
#   total RSS and peak anonymous RSS (RssAnon, sampled every 20 ms): the
#   total counts file-backed pages, e.g. libtorrent's mmap of the torrent's
#   files, the anonymous figure does not.
# - Each client configured as its users run it: Shoal at its defaults;
#   libtorrent at its defaults except what loopback needs (see
#   bench/lt_bench_node.py: loopback listen address, DHT/LSD/UPnP/NAT-PMP
#   off, TCP only); Transmission at its defaults except the same
#   (bind to loopback, DHT/LPD/PEX/uTP/port forwarding off) and a
#   torrent-done script to time it by.
# - Any failed round (leecher exits early, times out, or its file has the
#   wrong size or SHA-256) aborts the whole benchmark: no medians over
#   failed rounds.
#
# Transmission 3.00 never dials 127.x peers and both Transmissions only
# accept, so tests/scripts/bt_bridge.py dials both and joins them.
#
# usage: bench/transfer-bench.sh [SIZE_MiB=1024]
#   SHOAL_BIN=path  use a prebuilt shoal (else cargo build --release)
#   TIMEOUT=secs    per transfer (default 300)
#   PAIRS="shoal-shoal lt-lt tr-tr shoal-lt lt-shoal"  which pairs to run;
#                   a kind with the suffix rc4 (shoalrc4, ltrc4) runs with
#                   encryption required, RC4 only (Shoal --encryption
#                   require, libtorrent --enc forced): bench/mse-bench.sh
#   META=--v1|--v2|--hybrid  the torrent's version (default: shoal create's)
#   ROUNDS=n        interleaved rounds of every pair (default 3); medians
#                   are printed, with each round's MB/s
set -euo pipefail
# Loopback only: Shoal's DHT gets no well-known routers to contact.
export SHOAL_DHT_ROUTERS=""
cd "$(dirname "$0")/.."
size_mib=${1:-1024}
limit=${TIMEOUT:-300}
pairs=${PAIRS:-"shoal-shoal lt-lt tr-tr shoal-lt lt-shoal"}
rounds=${ROUNDS:-3}
scripts/install-test-deps.sh
if [ -z "${SHOAL_BIN:-}" ]; then
    cargo build --release -p shoal --locked >&2
fi
shoal=${SHOAL_BIN:-${CARGO_TARGET_DIR:-$PWD/target}/release/shoal}
py=/usr/bin/python3
bench=$PWD/bench
bridge=$PWD/crates/shoal/tests/scripts/bt_bridge.py
work=$(mktemp -d /tmp/shoal-transfer-bench.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

# Abort the whole benchmark.
fail() {
    echo "transfer-bench: ABORTED: $*" >&2
    exit 1
}

port() { $py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Wait until process $1 has used at most 2 clock ticks of CPU in 0.5 s.
settle() {
    local prev="" now
    for _ in $(seq 240); do
        now=$(awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null) || return 0
        if [ -n "$prev" ] && [ $((now - prev)) -le 2 ]; then return 0; fi
        prev=$now
        sleep 0.5
    done
}

# wait_for FILE TEXT PID: until FILE has a line starting with TEXT; fails if
# PID exits first or after $limit seconds.
wait_for() {
    local end=$((SECONDS + limit))
    while [ $SECONDS -lt $end ]; do
        grep -q "^$2" "$1" 2>/dev/null && return 0
        kill -0 "$3" 2>/dev/null || { echo "exited before '$2':" >&2; tail -5 "$1" >&2; return 1; }
        sleep 0.1
    done
    echo "timed out waiting for '$2' in $1:" >&2
    tail -5 "$1" >&2
    return 1
}

# A transmission-daemon config dir: tr_config DIR DOWNLOAD_DIR PEER_PORT RPC_PORT
tr_config() {
    mkdir -p "$1"
    printf '#!/bin/sh\ndate +%%s.%%N > %s/done.tmp && mv %s/done.tmp %s/done\n' "$1" "$1" "$1" > "$1/done.sh"
    chmod +x "$1/done.sh"
    cat > "$1/settings.json" <<EOF
{"dht-enabled": false, "lpd-enabled": false, "utp-enabled": false, "pex-enabled": false,
 "port-forwarding-enabled": false, "peer-port": $3, "peer-port-random-on-start": false,
 "rpc-port": $4, "rpc-bind-address": "127.0.0.1", "rpc-authentication-required": false,
 "bind-address-ipv4": "127.0.0.1", "bind-address-ipv6": "::1",
 "download-dir": "$2", "incomplete-dir-enabled": false, "message-level": 1,
 "script-torrent-done-enabled": true, "script-torrent-done-filename": "$1/done.sh"}
EOF
}

tr_add() { # RPC_PORT TORRENT
    for _ in $(seq 100); do
        transmission-remote "127.0.0.1:$1" -a "$2" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 1
}

data=$work/seed/data.bin
mkdir -p "$work/seed"
head -c $((size_mib << 20)) /dev/urandom > "$data"
"$shoal" create "$data" -o "$work/t.torrent" --piece-length 1M ${META:-} --json > "$work/create.json"
hash=$(sed 's/.*"info_hash":"\([0-9a-f]*\)".*/\1/' "$work/create.json")
orig_sum=$(sha256sum < "$data")
orig_size=$(stat -c %s "$data")
sync   # no writeback of the test data during the first transfer

# start_seeder KIND PORT: starts it in the background, sets $seeder_pid,
# returns once it has checked its data, seeds, and has settled.
# enc_args KIND: sets $kind (KIND without an rc4 suffix) and the arrays
# $shoal_enc and $lt_enc (the encryption options the suffix asks for).
enc_args() {
    kind=${1%rc4}
    shoal_enc=()
    lt_enc=()
    if [ "$kind" != "$1" ]; then
        shoal_enc=(--encryption require)
        lt_enc=(--enc forced)
    fi
}

start_seeder() {
    local log=$work/seeder.log
    enc_args "$1"
    case $kind in
    shoal)
        "$shoal" seed "$work/t.torrent" --dir "$work/seed" --listen "127.0.0.1:$2" "${shoal_enc[@]}" >"$log" 2>&1 &
        seeder_pid=$!
        pids+=("$seeder_pid")
        wait_for "$log" "seeding " "$seeder_pid" || fail "the Shoal seeder did not start" ;;
    lt)
        $py "$bench/lt_bench_node.py" "$work/t.torrent" "$work/seed" "$2" --seed --timeout 3600 "${lt_enc[@]}" >"$log" 2>&1 &
        seeder_pid=$!
        pids+=("$seeder_pid")
        wait_for "$log" "seeding" "$seeder_pid" || fail "the libtorrent seeder did not start" ;;
    tr)
        local rpc ok=""
        rpc=$(port)
        tr_config "$work/tr-seed" "$work/seed" "$2" "$rpc"
        transmission-daemon -f -g "$work/tr-seed" >"$log" 2>&1 &
        seeder_pid=$!
        pids+=("$seeder_pid")
        tr_add "$rpc" "$work/t.torrent" || fail "could not add the torrent to the Transmission seeder"
        for _ in $(seq $((limit * 5))); do
            transmission-remote "127.0.0.1:$rpc" -t 1 -i 2>/dev/null | grep -q "Percent Done: 100%" && { ok=1; break; }
            sleep 0.2
        done
        [ -n "$ok" ] || fail "the Transmission seeder did not verify its data" ;;
    esac
    cat "$data" >/dev/null
    settle "$seeder_pid"
}

# run_leecher KIND SEEDER_PORT DIR RESULT: downloads into DIR under
# bench/timed_run.py, which writes its JSON result to RESULT; fails (with
# the leecher's log) if the leecher did not complete.
run_leecher() {
    local log=$work/leecher.log
    local timed=("$py" "$bench/timed_run.py" --result "$4" --log "$log" --timeout "$limit")
    rm -f "$4" "$log"
    enc_args "$1"
    case $kind in
    shoal)
        "${timed[@]}" --done-line "download complete" --ready-line "listening on" -- \
            "$shoal" download "$work/t.torrent" --dir "$3" --listen 127.0.0.1:0 \
            --peer "127.0.0.1:$2" --seed "${shoal_enc[@]}" ;;
    lt)
        "${timed[@]}" --done-line "download complete" --ready-line "listening on" -- \
            $py "$bench/lt_bench_node.py" "$work/t.torrent" "$3" "$(port)" \
            --peer "127.0.0.1:$2" --timeout "$limit" "${lt_enc[@]}" ;;
    tr)
        local p rpc timed_pid rc=0
        p=$(port)
        rpc=$(port)
        tr_config "$work/tr-leech" "$3" "$p" "$rpc"
        "${timed[@]}" --done-file "$work/tr-leech/done" -- \
            transmission-daemon -f -g "$work/tr-leech" &
        timed_pid=$!
        pids+=("$timed_pid")
        if ! tr_add "$rpc" "$work/t.torrent"; then
            echo "could not add the torrent to the Transmission leecher" >&2
            kill "$timed_pid" 2>/dev/null || true
            wait "$timed_pid" 2>/dev/null || true
            return 1
        fi
        timeout "$limit" $py "$bridge" "$hash" "$2" "$p" >/dev/null 2>&1 &
        pids+=("$!")
        wait "$timed_pid" || rc=$?
        return $rc ;;
    esac
}

results=$work/results.txt
: >"$results"
for round in $(seq "$rounds"); do
for pair in $pairs; do
    seed_kind=${pair%-*}
    leech_kind=${pair#*-}
    sp=$(port)
    start_seeder "$seed_kind" "$sp"
    dir=$work/leech
    rm -rf "$dir" && mkdir -p "$dir"
    sync   # nor of the previous leecher's
    result=$work/result.json
    if ! run_leecher "$leech_kind" "$sp" "$dir" "$result"; then
        tail -5 "$work/leecher.log" >&2 || true
        fail "round $round, $pair: the leecher did not complete"
    fi
    kill -9 "$seeder_pid" 2>/dev/null || true
    wait "$seeder_pid" 2>/dev/null || true
    [ -f "$dir/data.bin" ] || fail "round $round, $pair: no data.bin in the leecher's directory"
    size=$(stat -c %s "$dir/data.bin")
    [ "$size" = "$orig_size" ] || fail "round $round, $pair: data.bin has $size bytes, want $orig_size"
    [ "$(sha256sum < "$dir/data.bin")" = "$orig_sum" ] || fail "round $round, $pair: data.bin has the wrong SHA-256"
    line=$($py -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["seconds"], r["cpu_user"], r["cpu_sys"], r["rss_peak_kib"], r["rss_anon_peak_kib"], r["ready_seconds"] if r["ready_seconds"] is not None else "-")' "$result")
    echo "$pair $line" >>"$results"
    echo "round $round $pair: seconds cpu_user cpu_sys rss_kib anon_kib startup_s = $line" >&2
    rm -rf "$dir" "$work/tr-seed" "$work/tr-leech" "$work/seed/.shoal"* 2>/dev/null || true
done
done

echo
echo "transfer: ${size_mib} MiB single file, 1 MiB pieces, one seeder -> one leecher over 127.0.0.1, $(nproc) cores, $rounds rounds (medians)"
echo "seconds: the script's clock from spawning the leecher to its 'every piece verified'; CPU at that moment; RSS peak total / anonymous"
python3 - "$results" "$size_mib" "$pairs" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
mib = float(sys.argv[2])
names = {"shoal": "Shoal", "lt": "libtorrent", "tr": "Transmission",
         "shoalrc4": "Shoal RC4", "ltrc4": "libtorrent RC4"}
med = {}
print(f"{'seeder -> leecher':<30} {'seconds':>8} {'MB/s':>7} {'CPU s/GiB':>10} {'RSS MiB':>8} {'anon MiB':>9} {'startup s':>9}  MB/s by round")
for pair in sys.argv[3].split():
    rs = [r for r in rows if r[0] == pair]
    if not rs:
        continue
    secs = statistics.median(float(r[1]) for r in rs)
    cpu = statistics.median((float(r[2]) + float(r[3])) / (mib / 1024) for r in rs)
    rss = max(float(r[4]) for r in rs) / 1024
    anon = max(float(r[5]) for r in rs) / 1024
    ready = [float(r[6]) for r in rs if r[6] != "-"]
    start = f"{statistics.median(ready):.2f}" if ready else "-"
    each = ", ".join(f"{mib * 1.048576 / float(r[1]):.0f}" for r in rs)
    med[pair] = (secs, cpu, rss, anon, statistics.median(ready) if ready else None)
    a, b = pair.split("-")
    print(f"{names[a] + ' -> ' + names[b]:<30} {secs:>8.2f} {mib * 1.048576 / secs:>7.1f} {cpu:>10.2f} {rss:>8.1f} {anon:>9.1f} {start:>9}  {each}")
print("startup s: spawn to the leecher's 'listening on' line (inside 'seconds'; libtorrent's includes starting Python)")
if "shoal-shoal" in med and "lt-lt" in med:
    s, l = med["shoal-shoal"], med["lt-lt"]
    print(f"Shoal->Shoal vs libtorrent->libtorrent: throughput x{l[0] / s[0]:.2f}, CPU/GiB x{s[1] / l[1]:.2f}, "
          f"RSS x{s[2] / l[2]:.2f}, anonymous RSS x{s[3] / l[3]:.2f}")
    if s[4] is not None and l[4] is not None:
        print(f"  the same without start-up (from 'listening on' to complete): throughput x{(l[0] - l[4]) / (s[0] - s[4]):.2f}")
if "shoalrc4-shoalrc4" in med and "ltrc4-ltrc4" in med:
    s, l = med["shoalrc4-shoalrc4"], med["ltrc4-ltrc4"]
    print(f"Shoal RC4->Shoal RC4 vs libtorrent RC4->libtorrent RC4: throughput x{l[0] / s[0]:.2f}, "
          f"CPU/GiB x{s[1] / l[1]:.2f}")
if "shoalrc4-shoalrc4" in med and "shoal-shoal" in med:
    s, p = med["shoalrc4-shoalrc4"], med["shoal-shoal"]
    print(f"Shoal RC4 vs Shoal plaintext: throughput x{p[0] / s[0]:.2f}, CPU/GiB x{s[1] / p[1]:.2f}")
PY
