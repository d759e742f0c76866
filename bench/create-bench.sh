#!/usr/bin/env bash
# Torrent creation, side by side in one run: shoal create, mktorrent (one
# thread per core), transmission-create and libtorrent's create_torrent, on
# the same file with 1 MiB pieces and a warm page cache. Prints each time,
# the SHA-1 ceiling (single-thread SHA-NI rate × cores) and Shoal's ratios.
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
shoal=${SHOAL_BIN:-$PWD/target/release/shoal}
work=$(mktemp -d /tmp/shoal-create-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
cores=$(nproc)
file=$work/data.bin
head -c $((size_mib << 20)) /dev/urandom > "$file"
cat "$file" > /dev/null   # warm the page cache

cat > "$work/lt_create.py" <<'PY'
import sys, libtorrent as lt
fs = lt.file_storage()
lt.add_files(fs, sys.argv[1])
t = lt.create_torrent(fs, 1 << 20)
lt.set_piece_hashes(t, sys.argv[2])
open(sys.argv[3], "wb").write(lt.bencode(t.generate()))
PY

now() { date +%s.%N; }
best() { # best of $rounds runs of a command, in seconds
    local b=""
    for _ in $(seq "$rounds"); do
        rm -f "$work"/out.torrent
        local s e; s=$(now); "$@" >/dev/null 2>&1; e=$(now)
        b=$(echo "$s $e ${b:-999999}" | awk '{t=$2-$1; print (t<$3)?t:$3}')
    done
    echo "$b"
}

t_shoal=$(best "$shoal" create "$file" -o "$work/out.torrent" --piece-length 1M)
t_mk=$(best mktorrent -t "$cores" -l 20 -o "$work/out.torrent" "$file")
t_tr=$(best transmission-create -s 1024 -o "$work/out.torrent" "$file")
t_lt=$(best /usr/bin/python3 "$work/lt_create.py" "$file" "$work" "$work/out.torrent")

# Same info-hash from shoal and mktorrent (same piece length, no trackers).
"$shoal" create "$file" -o "$work/s.torrent" --piece-length 1M >/dev/null
mktorrent -t "$cores" -l 20 -o "$work/m.torrent" "$file" >/dev/null
hs=$("$shoal" info "$work/s.torrent" --json | sed 's/.*"info_hash":"\([0-9a-f]*\)".*/\1/')
hm=$("$shoal" info "$work/m.torrent" --json | sed 's/.*"info_hash":"\([0-9a-f]*\)".*/\1/')

# Ceiling: openssl's single-thread SHA-1 rate on 1 MiB blocks, × cores.
rate_kb=$(openssl speed -evp sha1 -bytes 1048576 -seconds 2 2>/dev/null | awk '/^sha1/ {print $2}' | tr -d k)
ceiling=$(awk -v r="$rate_kb" -v c="$cores" -v m="$size_mib" 'BEGIN{ print (m*1048576)/(r*1000*c) }')

mbps() { awk -v t="$1" -v m="$size_mib" 'BEGIN{ printf "%.0f", m*1.048576/t }'; }
echo
echo "torrent creation: ${size_mib} MiB, 1 MiB pieces, ${cores} cores, warm cache, best of ${rounds}"
printf '%-28s %8s %10s\n' tool seconds MB/s
printf '%-28s %8.3f %10s\n' "shoal create" "$t_shoal" "$(mbps "$t_shoal")"
printf '%-28s %8.3f %10s\n' "mktorrent -t $cores" "$t_mk" "$(mbps "$t_mk")"
printf '%-28s %8.3f %10s\n' "transmission-create" "$t_tr" "$(mbps "$t_tr")"
printf '%-28s %8.3f %10s\n' "libtorrent create_torrent" "$t_lt" "$(mbps "$t_lt")"
printf '%-28s %8.3f %10s\n' "ceiling (openssl sha1 x $cores)" "$ceiling" "$(mbps "$ceiling")"
fastest_ref=$(printf '%s\n' "$t_mk" "$t_tr" "$t_lt" | sort -g | head -1)
awk -v s="$t_shoal" -v f="$fastest_ref" -v c="$ceiling" 'BEGIN{
  printf "shoal time / fastest reference: %.2f (below 1 = shoal faster)\n", s/f
  printf "shoal throughput / ceiling:     %.0f%%\n", 100*c/s }'
echo "info-hash shoal=$hs mktorrent=$hm $([ "$hs" = "$hm" ] && echo same || echo DIFFERENT)"
