#!/usr/bin/env bash
# Swarm harness: a tracker (`shoal tracker`), one seeder and N leechers, each
# a separate process on 127.0.0.1 with its upload limited to RATE (download
# unlimited unless DOWN is set), run to completion; then the same with
# libtorrent peers (python3-libtorrent, same limits, limits applied to
# loopback peers too). Leechers stay after completing, as in the model.
#
# The same rules for both swarms:
# - The seeder has checked all its data and is idle before the leechers
#   start (libtorrent without seed_mode, which would hash each piece on its
#   first request, inside the measured time).
# - One clock, this script's: T runs from spawning the first leecher to the
#   moment the script sees the last one's "every piece verified" line
#   (Shoal's and bench/lt_bench_node.py's `download complete`), looked for
#   every 0.1 s for both.
# - libtorrent at its defaults except what a loopback swarm needs (see
#   bench/lt_bench_node.py --swarm: loopback listen address, no
#   DHT/LSD/UPnP/NAT-PMP/uTP, several connections per IP since every peer
#   is 127.0.0.1, rate limits applied to loopback peers); Shoal at its
#   defaults with the same limits.
# - A leecher that does not finish in time, or whose copy has the wrong
#   size or SHA-256, aborts the benchmark: no T from a failed swarm.
# Prints T, the minimum
# distribution time (Kumar & Ross 2006)
#   T* = max(F/u_s, F/min d_i, N·F/(u_s + Σu_i))
# and T/T* for both swarms, and checks every leecher's copy.
#
# usage: bench/swarm-bench.sh [N=20] [SIZE_MiB=64] [RATE=2M]
#   SHOAL_BIN=path  use a prebuilt shoal (else cargo build --release)
#   DOWN=rate       download limit of every leecher (default unlimited)
#   SWARMS="shoal shoal-ss lt"  which swarms to run (shoal-ss: the Shoal
#                  swarm with its seeder super-seeding, BEP 16; shoal-direct,
#                  shoal-cache: every Shoal peer writing with --write-mode
#                  direct or cache instead of the default, auto)
#
# Also printed per swarm: the bytes every peer read from the block device
# (/proc/PID/io read_bytes, sampled just before the peers are stopped),
# beside the N*F bytes the leechers received in all. A piece a leecher
# serves to another from the page cache costs no read.
set -euo pipefail
# Loopback only: Shoal's DHT gets no well-known routers to contact.
export SHOAL_DHT_ROUTERS=""
cd "$(dirname "$0")/.."
n=${1:-20}
size_mib=${2:-64}
rate=${3:-2M}
swarms=${SWARMS:-"shoal shoal-ss lt"}
scripts/install-test-deps.sh
if [ -z "${SHOAL_BIN:-}" ]; then
    cargo build --release -p shoal --locked >&2
fi
shoal=${SHOAL_BIN:-${CARGO_TARGET_DIR:-$PWD/target}/release/shoal}
py=/usr/bin/python3
lt_node=$PWD/bench/lt_bench_node.py
work=$(mktemp -d /tmp/shoal-swarm-bench.XXXXXX)
pids=()
stop_all() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    pids=()
}
trap 'stop_all; rm -rf "$work"' EXIT

# Abort the whole benchmark (run_swarm runs in a subshell, whose processes
# the EXIT trap does not see: stop them here).
fail() {
    echo "swarm-bench: ABORTED: $*" >&2
    stop_all
    exit 1
}

# wait_for FILE PATTERN PID: until FILE has a line matching PATTERN (grep);
# fails if PID exits first or after 300 s.
wait_for() {
    local end=$((SECONDS + 300))
    while [ $SECONDS -lt $end ]; do
        grep -q "$2" "$1" 2>/dev/null && return 0
        kill -0 "$3" 2>/dev/null || { tail -5 "$1" >&2; return 1; }
        sleep 0.1
    done
    tail -5 "$1" >&2
    return 1
}

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

bytes() { # 2M -> 2097152
    awk -v s="$1" 'BEGIN{ m = 1; u = toupper(substr(s, length(s)));
        if (u == "K") m = 1024; else if (u == "M") m = 1048576; else if (u == "G") m = 1073741824;
        if (m > 1) s = substr(s, 1, length(s) - 1); printf "%d", s * m }'
}
port() { $py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }

u=$(bytes "$rate")
d=$([ -n "${DOWN:-}" ] && bytes "$DOWN" || echo 0)
file_bytes=$((size_mib << 20))
mkdir -p "$work/seed"
head -c "$file_bytes" /dev/urandom > "$work/seed/data.bin"
sum=$(sha256sum < "$work/seed/data.bin")
limit=$(awk -v f="$file_bytes" -v u="$u" 'BEGIN{ t = 10 * f / u; print (t < 120 ? 120 : t) }')

# T* with u_s = u_i = u and d_i = d (0: unlimited).
tstar=$(awk -v f="$file_bytes" -v u="$u" -v d="$d" -v n="$n" 'BEGIN{
    a = f / u; b = (d > 0) ? f / d : 0; c = n * f / (u + n * u);
    t = a; if (b > t) t = b; if (c > t) t = c; print t }')

# run_swarm KIND: prints "T verified_count"; aborts the benchmark if a
# leecher fails.
run_swarm() {
    local kind=$1 tport tracker_pid seeder_pid
    tport=$(port)
    "$shoal" tracker --http "127.0.0.1:$tport" --announce-interval 10 >/dev/null 2>"$work/tracker.log" &
    tracker_pid=$!
    pids+=("$tracker_pid")
    wait_for "$work/tracker.log" "listening http" "$tracker_pid" || fail "the tracker did not start"
    "$shoal" create "$work/seed/data.bin" -o "$work/t.torrent" -t "http://127.0.0.1:$tport/announce" \
        --piece-length 256K >/dev/null
    rm -rf "$work/seed/.shoal"

    # The seeder, done checking its data and settled before the leechers start.
    local mode=()
    [ "$kind" = shoal-direct ] && mode=(--write-mode direct)
    [ "$kind" = shoal-cache ] && mode=(--write-mode cache)
    if [ "$kind" != lt ]; then
        local ss=()
        [ "$kind" = shoal-ss ] && ss=(--super-seed)
        "$shoal" seed "$work/t.torrent" --dir "$work/seed" --listen 127.0.0.1:0 \
            --upload-limit "$u" "${ss[@]}" "${mode[@]}" 2>"$work/seeder.log" &
        seeder_pid=$!
        pids+=("$seeder_pid")
        wait_for "$work/seeder.log" "^seeding " "$seeder_pid" || fail "the $kind seeder did not start"
    else
        $py "$lt_node" "$work/t.torrent" "$work/seed" "$(port)" --seed --swarm --up "$u" \
            --timeout 3600 >"$work/seeder.log" 2>&1 &
        seeder_pid=$!
        pids+=("$seeder_pid")
        wait_for "$work/seeder.log" "^seeding" "$seeder_pid" || fail "the libtorrent seeder did not start"
    fi
    cat "$work/seed/data.bin" >/dev/null
    settle "$seeder_pid"

    local start i lpids=()
    start=$(now)
    for i in $(seq "$n"); do
        mkdir -p "$work/l$i"
        if [ "$kind" != lt ]; then
            local down=()
            [ "$d" -gt 0 ] && down=(--download-limit "$d")
            "$shoal" download "$work/t.torrent" --dir "$work/l$i" --listen 127.0.0.1:0 \
                --upload-limit "$u" "${down[@]}" "${mode[@]}" --seed >"$work/l$i.out" 2>"$work/l$i.log" &
        else
            $py "$lt_node" "$work/t.torrent" "$work/l$i" "$(port)" --swarm --up "$u" --down "$d" \
                --stay --timeout 3600 >"$work/l$i.out" 2>"$work/l$i.log" &
        fi
        pids+=("$!")
        lpids+=("$!")
    done

    # Record when each leecher reports completion.
    local -a done_at=()
    local left=$n deadline
    deadline=$(awk -v s="$start" -v l="$limit" 'BEGIN{ printf "%.3f", s + l }')
    while [ "$left" -gt 0 ] && awk -v t="$(now)" -v d="$deadline" 'BEGIN{ exit !(t < d) }'; do
        for i in $(seq "$n"); do
            [ -n "${done_at[$i]:-}" ] && continue
            if grep -q "download complete" "$work/l$i.log" "$work/l$i.out" 2>/dev/null; then
                done_at[$i]=$(now)
                left=$((left - 1))
            fi
        done
        sleep 0.1
    done
    local io_field seed_read leech_read=0 p r
    io_field() { awk -v f="$1:" '$1 == f { print $2 }' "/proc/$2/io" 2>/dev/null || echo 0; }
    seed_read=$(io_field read_bytes "$seeder_pid")
    for p in "${lpids[@]}"; do
        r=$(io_field read_bytes "$p")
        leech_read=$((leech_read + ${r:-0}))
    done
    stop_all

    local ok=0 last=$start size
    for i in $(seq "$n"); do
        if [ -z "${done_at[$i]:-}" ]; then
            tail -3 "$work/l$i.log" >&2
            fail "$kind: leecher $i did not finish within $limit s"
        fi
        last=$(printf '%s\n%s\n' "$last" "${done_at[$i]}" | sort -g | tail -1)
        size=$(stat -c %s "$work/l$i/data.bin" 2>/dev/null || echo 0)
        [ "$size" = "$file_bytes" ] || fail "$kind: leecher $i has $size bytes, want $file_bytes"
        [ "$(sha256sum < "$work/l$i/data.bin")" = "$sum" ] || fail "$kind: leecher $i's copy has the wrong SHA-256"
        ok=$((ok + 1))
    done
    rm -rf "$work"/l*
    echo "$(awk -v s="$start" -v e="$last" 'BEGIN{ print e - s }') $ok ${seed_read:-0} $leech_read"
}

declare -A result
for kind in $swarms; do
    result[$kind]=$(run_swarm "$kind") || exit 1
    echo "$kind: ${result[$kind]}" >&2
done

echo
echo "swarm: 1 seeder + $n leechers over 127.0.0.1, F = $size_mib MiB, u_s = u_i = $rate/s, d_i = ${DOWN:-unlimited}"
awk -v f="$file_bytes" -v u="$u" -v d="$d" -v n="$n" -v t="$tstar" 'BEGIN{
    printf "T* = max(F/u_s = %.1f s, F/min d_i = %s, N*F/(u_s+sum u_i) = %.1f s) = %.1f s\n",
        f/u, (d > 0) ? sprintf("%.1f s", f/d) : "0", n*f/(u+n*u), t }'
printf '%-20s %9s %7s %10s %14s %14s %16s\n' swarm "T (s)" "T/T*" verified \
    "seed read MiB" "leech read MiB" "received MiB"
for kind in $swarms; do
    read -r t ok sread lread <<<"${result[$kind]}"
    case $kind in
        shoal) name=Shoal ;;
        shoal-ss) name="Shoal (super-seed)" ;;
        shoal-direct) name="Shoal (direct)" ;;
        shoal-cache) name="Shoal (cache)" ;;
        *) name=libtorrent ;;
    esac
    awk -v k="$name" -v t="$t" -v s="$tstar" -v ok="$ok" -v n="$n" -v sr="$sread" \
        -v lr="$lread" -v f="$file_bytes" 'BEGIN{
        printf "%-20s %9.1f %7.2f %7d/%d %14.1f %14.1f %16.1f\n", k, t, t/s, ok, n,
            sr / 1048576, lr / 1048576, n * f / 1048576 }'
done
