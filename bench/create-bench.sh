#!/usr/bin/env bash
# Torrent creation, side by side in one run: shoal create, mktorrent (one
# thread per core), transmission-create and libtorrent's create_torrent, on
# the same file with 1 MiB pieces and a warm page cache. Prints each time,
# the SHA-1 ceiling (single-thread SHA-NI rate × cores) and Shoal's ratios.
#
# Every timed run is checked, and any failure aborts the benchmark: the tool
# must exit 0, and the torrent it wrote must load (libtorrent reads it,
# bench/torrent_summary.py) with 1 MiB pieces, the right piece count and
# total size, and the same piece hashes as every other tool's. Where the
# settings match (Shoal, mktorrent and libtorrent v1-only all write a v1
# single-file torrent with no trackers), the info-hash must match too.
#
# libtorrent 2.0's create_torrent makes a v1+v2 hybrid by default, which
# hashes the data twice (SHA-1 and SHA-256 trees); the compared row uses
# its v1_only flag so it writes what the others write. Its default is
# timed too and shown for reference, outside the comparison.
#
# usage: bench/create-bench.sh [SIZE_MiB=1024] [ROUNDS=3]   (SHOAL_BIN=path skips the build)
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib=${1:-1024}
rounds=${2:-3}
scripts/install-test-deps.sh
if [ -z "${SHOAL_BIN:-}" ]; then
    cargo build --release -p shoal --locked >&2
fi
shoal=${SHOAL_BIN:-${CARGO_TARGET_DIR:-$PWD/target}/release/shoal}
py=/usr/bin/python3
summary=$PWD/bench/torrent_summary.py
work=$(mktemp -d /tmp/shoal-create-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
cores=$(nproc)
file=$work/data.bin
head -c $((size_mib << 20)) /dev/urandom > "$file"
cat "$file" > /dev/null   # warm the page cache
want_pieces=$size_mib   # 1 MiB pieces of a whole number of MiB
want_size=$((size_mib << 20))

fail() {
    echo "create-bench: ABORTED: $*" >&2
    exit 1
}

cat > "$work/lt_create.py" <<'PY'
import sys, libtorrent as lt
fs = lt.file_storage()
lt.add_files(fs, sys.argv[1])
flags = lt.create_torrent.v1_only if sys.argv[4] == "v1" else 0
t = lt.create_torrent(fs, 1 << 20, flags=flags) if flags else lt.create_torrent(fs, 1 << 20)
lt.set_piece_hashes(t, sys.argv[2])
open(sys.argv[3], "wb").write(lt.bencode(t.generate()))
PY

# check NAME TORRENT: the torrent loads and holds what it should; prints
# "INFO_HASH PIECES_DIGEST".
check() {
    local s
    [ -s "$2" ] || fail "$1 wrote no torrent"
    s=$($py "$summary" "$2") || fail "$1 wrote a torrent libtorrent cannot load"
    $py - "$1" "$s" "$want_pieces" "$want_size" <<'PY' || exit 1
import json, sys
name, s, pieces, size = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
bad = []
if s["piece_length"] != 1 << 20: bad.append("piece length %d" % s["piece_length"])
if s["num_pieces"] != pieces: bad.append("%d pieces, want %d" % (s["num_pieces"], pieces))
if s["total_size"] != size: bad.append("%d bytes, want %d" % (s["total_size"], size))
if s["files"] != 1: bad.append("%d files" % s["files"])
if bad:
    sys.exit("create-bench: ABORTED: %s wrote a wrong torrent: %s" % (name, "; ".join(bad)))
print(s["info_hash"], s["pieces_digest"])
PY
}

now() { date +%s.%N; }
# best NAME CMD...: best of $rounds runs of CMD, in seconds; each run must
# exit 0 and write $work/out.torrent, which is checked; the last one's
# "INFO_HASH PIECES_DIGEST" goes to $work/NAME.sum.
best() {
    local name=$1 b="" s e rc
    shift
    for _ in $(seq "$rounds"); do
        rm -f "$work/out.torrent"
        s=$(now)
        rc=0
        "$@" >"$work/tool.log" 2>&1 || rc=$?
        e=$(now)
        if [ "$rc" -ne 0 ]; then
            tail -5 "$work/tool.log" >&2
            fail "$name exited with status $rc"
        fi
        check "$name" "$work/out.torrent" >"$work/$name.sum"
        b=$(echo "$s $e ${b:-999999}" | awk '{t=$2-$1; print (t<$3)?t:$3}')
    done
    echo "$b"
}

t_shoal=$(best shoal "$shoal" create "$file" -o "$work/out.torrent" --piece-length 1M)
t_mk=$(best mktorrent mktorrent -t "$cores" -l 20 -o "$work/out.torrent" "$file")
t_tr=$(best transmission transmission-create -s 1024 -o "$work/out.torrent" "$file")
t_lt=$(best lt-v1 $py "$work/lt_create.py" "$file" "$work" "$work/out.torrent" v1)
t_lth=$(best lt-hybrid $py "$work/lt_create.py" "$file" "$work" "$work/out.torrent" hybrid)

# Every tool hashed the same data into the same piece hashes.
read -r h_shoal d_shoal <"$work/shoal.sum"
for name in mktorrent transmission lt-v1 lt-hybrid; do
    read -r h d <"$work/$name.sum"
    [ "$d" = "$d_shoal" ] || fail "$name's piece hashes differ from shoal's"
done
# Same settings, same info-hash.
for name in mktorrent lt-v1; do
    read -r h d <"$work/$name.sum"
    [ "$h" = "$h_shoal" ] || fail "$name's info-hash $h differs from shoal's $h_shoal"
done

# Ceiling: openssl's single-thread SHA-1 rate on 1 MiB blocks, × cores.
rate_kb=$(openssl speed -evp sha1 -bytes 1048576 -seconds 2 2>/dev/null | awk '/^sha1/ {print $2}' | tr -d k)
ceiling=$(awk -v r="$rate_kb" -v c="$cores" -v m="$size_mib" 'BEGIN{ print (m*1048576)/(r*1000*c) }')

mbps() { awk -v t="$1" -v m="$size_mib" 'BEGIN{ printf "%.0f", m*1.048576/t }'; }
echo
echo "torrent creation: ${size_mib} MiB, 1 MiB pieces, ${cores} cores, warm cache, best of ${rounds}"
echo "every run exited 0 and wrote a torrent with the same piece hashes; shoal, mktorrent and libtorrent v1 the same info-hash ($h_shoal)"
printf '%-42s %8s %10s\n' tool seconds MB/s
printf '%-42s %8.3f %10s\n' "shoal create" "$t_shoal" "$(mbps "$t_shoal")"
printf '%-42s %8.3f %10s\n' "mktorrent -t $cores" "$t_mk" "$(mbps "$t_mk")"
printf '%-42s %8.3f %10s\n' "transmission-create" "$t_tr" "$(mbps "$t_tr")"
printf '%-42s %8.3f %10s\n' "libtorrent create_torrent (v1_only)" "$t_lt" "$(mbps "$t_lt")"
printf '%-42s %8.3f %10s\n' "libtorrent default (v1+v2, not compared)" "$t_lth" "$(mbps "$t_lth")"
printf '%-42s %8.3f %10s\n' "ceiling (openssl sha1 x $cores)" "$ceiling" "$(mbps "$ceiling")"
fastest_ref=$(printf '%s\n' "$t_mk" "$t_tr" "$t_lt" | sort -g | head -1)
awk -v s="$t_shoal" -v f="$fastest_ref" -v c="$ceiling" 'BEGIN{
  printf "shoal time / fastest reference: %.2f (below 1 = shoal faster)\n", s/f
  printf "shoal throughput / ceiling:     %.0f%%\n", 100*c/s }'
