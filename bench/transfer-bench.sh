#!/usr/bin/env bash
# One seeder to one leecher over 127.0.0.1, side by side in one run:
# Shoal→Shoal, libtorrent→libtorrent, Transmission→Transmission, and Shoal
# with libtorrent on the other end (both directions). A single-file torrent
# (default 1 GiB, 1 MiB pieces), the seeder's data warm in the page cache,
# each seeder settled (done checking, idle) before its leecher starts, and
# no dirty data of earlier steps left to write back.
# Prints, for each pair, MB/s (from the downloader's own clock where it has
# one), the downloader's CPU seconds per GiB (user+sys) and peak RSS (both
# from GNU time), and Shoal's ratios to libtorrent.
#
# Transmission 3.00 never dials 127.x peers and both Transmissions only
# accept, so tests/scripts/bt_bridge.py dials both and joins them.
#
# usage: bench/transfer-bench.sh [SIZE_MiB=1024]
#   SHOAL_BIN=path  use a prebuilt shoal (else cargo build --release)
#   TIMEOUT=secs    per transfer (default 300)
#   PAIRS="shoal-shoal lt-lt tr-tr shoal-lt lt-shoal"  which pairs to run
#   ROUNDS=n        interleaved rounds of every pair (default 3); medians
#                   are printed, with each round's MB/s
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib=${1:-1024}
limit=${TIMEOUT:-300}
pairs=${PAIRS:-"shoal-shoal lt-lt tr-tr shoal-lt lt-shoal"}
rounds=${ROUNDS:-3}
scripts/install-test-deps.sh
command -v /usr/bin/time >/dev/null || { apt-get install -y -qq time >/dev/null; }
if [ -z "${SHOAL_BIN:-}" ]; then
    cargo build --release -p shoal --locked >&2
fi
shoal=${SHOAL_BIN:-$PWD/target/release/shoal}
py=/usr/bin/python3
scripts=$PWD/crates/shoal/tests/scripts
work=$(mktemp -d /tmp/shoal-transfer-bench.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

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

# Wait (bounded) until file $1 contains the text $2.
wait_for() {
    for _ in $(seq 600); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "timed out waiting for '$2' in $1:" >&2
    tail -5 "$1" >&2
    return 1
}

# A transmission-daemon config dir: tr_config DIR DOWNLOAD_DIR PEER_PORT RPC_PORT
tr_config() {
    mkdir -p "$1"
    printf '#!/bin/sh\ndate +%%s.%%N > %s/done\n' "$1" > "$1/done.sh"
    chmod +x "$1/done.sh"
    cat > "$1/settings.json" <<EOF
{"dht-enabled": false, "lpd-enabled": false, "utp-enabled": false, "pex-enabled": false,
 "port-forwarding-enabled": false, "peer-port": $3, "peer-port-random-on-start": false,
 "rpc-port": $4, "rpc-bind-address": "127.0.0.1", "rpc-authentication-required": false,
 "bind-address-ipv4": "127.0.0.1", "bind-address-ipv6": "::1", "encryption": 0,
 "download-dir": "$2", "incomplete-dir-enabled": false, "ratio-limit-enabled": false,
 "idle-seeding-limit-enabled": false, "blocklist-enabled": false, "message-level": 1,
 "speed-limit-up-enabled": false, "speed-limit-down-enabled": false,
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
"$shoal" create "$data" -o "$work/t.torrent" --piece-length 1M --json > "$work/create.json"
hash=$(sed 's/.*"info_hash":"\([0-9a-f]*\)".*/\1/' "$work/create.json")
orig_sum=$(sha1sum < "$data")
sync   # no writeback of the test data during the first transfer

# start_seeder KIND PORT: starts it in the background, sets $seeder_pid,
# returns once it has settled.
start_seeder() {
    local log=$work/seeder.log
    case $1 in
    shoal)
        "$shoal" seed "$work/t.torrent" --dir "$work/seed" --listen "127.0.0.1:$2" >"$log" 2>&1 &
        seeder_pid=$!
        wait_for "$log" "listening on" ;;
    lt)
        $py "$scripts/lt_node.py" "$work/t.torrent" "$work/seed" "$2" --seed --timeout 3600 >"$log" 2>&1 &
        seeder_pid=$!
        wait_for "$log" "seeding" ;;
    tr)
        tr_config "$work/tr-seed" "$work/seed" "$2" "$(port)"
        transmission-daemon -f -g "$work/tr-seed" >"$log" 2>&1 &
        seeder_pid=$!
        local rpc
        rpc=$(sed -n 's/.*"rpc-port": \([0-9]*\).*/\1/p' "$work/tr-seed/settings.json")
        tr_add "$rpc" "$work/t.torrent"
        for _ in $(seq 600); do
            transmission-remote "127.0.0.1:$rpc" -t 1 -i 2>/dev/null | grep -q "Percent Done: 100%" && break
            sleep 0.2
        done ;;
    esac
    pids+=("$seeder_pid")
    cat "$data" >/dev/null
    settle "$seeder_pid"
}

# run_leecher KIND SEEDER_PORT DIR: downloads into DIR under GNU time;
# prints "SECONDS USER SYS MAXRSS_KB" (SECONDS from its own clock where it has one).
run_leecher() {
    local t=$work/time.txt out=$work/leecher.out log=$work/leecher.log start end
    rm -f "$t" "$out"
    start=$(date +%s.%N)
    case $1 in
    shoal)
        /usr/bin/time -f "%U %S %M" -o "$t" timeout "$limit" \
            "$shoal" download "$work/t.torrent" --dir "$3" --listen 127.0.0.1:0 \
            --peer "127.0.0.1:$2" --json >"$out" 2>"$log" || true ;;
    lt)
        /usr/bin/time -f "%U %S %M" -o "$t" timeout "$limit" \
            $py "$scripts/lt_node.py" "$work/t.torrent" "$3" "$(port)" \
            --peer "127.0.0.1:$2" --timeout "$limit" >"$out" 2>"$log" || true ;;
    tr)
        local p rpc time_pid daemon
        p=$(port)
        rpc=$(port)
        tr_config "$work/tr-leech" "$3" "$p" "$rpc"
        /usr/bin/time -f "%U %S %M" -o "$t" \
            transmission-daemon -f -g "$work/tr-leech" >"$log" 2>&1 &
        time_pid=$!
        pids+=("$time_pid")
        tr_add "$rpc" "$work/t.torrent"
        daemon=$(pgrep -P "$time_pid")
        pids+=("$daemon")
        start=$(date +%s.%N)
        timeout "$limit" $py "$scripts/bt_bridge.py" "$hash" "$2" "$p" >/dev/null 2>&1 &
        pids+=("$!")
        for _ in $(seq $((limit * 10))); do
            [ -f "$work/tr-leech/done" ] && break
            sleep 0.1
        done
        end=$(cat "$work/tr-leech/done" 2>/dev/null || date +%s.%N)
        kill -TERM "$daemon" 2>/dev/null || true
        wait "$time_pid" || true
        echo "{\"seconds\": $(echo "$start $end" | awk '{print $2 - $1}')}" >"$out" ;;
    esac
    end=${end:-$(date +%s.%N)}
    local secs
    secs=$(grep -o '"seconds": *[0-9.e+-]*' "$out" 2>/dev/null | head -1 | sed 's/.*: *//')
    [ -n "$secs" ] || secs=$(echo "$start $end" | awk '{print $2 - $1}')
    echo "$secs $(tail -1 "$t" 2>/dev/null || echo "0 0 0")"
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
    line=$(run_leecher "$leech_kind" "$sp" "$dir")
    kill -9 "$seeder_pid" 2>/dev/null || true
    wait "$seeder_pid" 2>/dev/null || true
    ok=FAILED
    [ -f "$dir/data.bin" ] && [ "$(sha1sum < "$dir/data.bin")" = "$orig_sum" ] && ok=ok
    if [ $ok != ok ]; then
        echo "$pair: download incomplete or wrong; leecher log:" >&2
        tail -5 "$work/leecher.log" >&2 || true
    fi
    echo "$pair $line $ok" >>"$results"
    echo "round $round $pair: $line $ok" >&2
    rm -rf "$dir" "$work/tr-seed" "$work/tr-leech" "$work/seed/.shoal"* 2>/dev/null || true
done
done

echo
echo "transfer: ${size_mib} MiB single file, 1 MiB pieces, one seeder -> one leecher over 127.0.0.1, $(nproc) cores, $rounds rounds (medians)"
python3 - "$results" "$size_mib" "$pairs" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
mib = float(sys.argv[2])
names = {"shoal": "Shoal", "lt": "libtorrent", "tr": "Transmission"}
med = {}
print(f"{'seeder -> leecher':<30} {'seconds':>9} {'MB/s':>9} {'CPU s/GiB':>10} {'RSS MiB':>8} {'data':>6}  MB/s by round")
for pair in sys.argv[3].split():
    rs = [r for r in rows if r[0] == pair]
    if not rs:
        continue
    secs = statistics.median(float(r[1]) for r in rs)
    cpu = statistics.median((float(r[2]) + float(r[3])) / (mib / 1024) for r in rs)
    rss = max(float(r[4]) for r in rs) / 1024
    ok = "ok" if all(r[5] == "ok" for r in rs) else "FAILED"
    each = ", ".join(f"{mib * 1.048576 / float(r[1]):.0f}" for r in rs)
    med[pair] = (secs, cpu, rss)
    a, b = pair.split("-")
    print(f"{names[a] + ' -> ' + names[b]:<30} {secs:>9.2f} {mib * 1.048576 / secs:>9.1f} {cpu:>10.2f} {rss:>8.1f} {ok:>6}  {each}")
if "shoal-shoal" in med and "lt-lt" in med:
    s, l = med["shoal-shoal"], med["lt-lt"]
    print(f"Shoal->Shoal vs libtorrent->libtorrent: throughput x{l[0] / s[0]:.2f}, CPU/GiB x{s[1] / l[1]:.2f}, RSS x{s[2] / l[2]:.2f}")
PY
