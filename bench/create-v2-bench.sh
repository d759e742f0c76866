#!/usr/bin/env bash
# BitTorrent v2 / hybrid torrent creation, one run each on the same file
# with 1 MiB pieces and a warm page cache: shoal create --v2 and --hybrid,
# libtorrent's create_torrent (v2-only and hybrid) and mktorrent (v1, one
# thread per core). Every output is checked: it must load (libtorrent for
# the v2/hybrid ones, shoal info for all) and carry the expected hash type.
# Any failure aborts. Prints each time and the ceiling: hashing every byte
# once with SHA-256 (v2) and, for hybrid, once more with SHA-1, at
# openssl's single-thread rates × cores.
#
# Then a v2 transfer of the same size over loopback, Shoal→Shoal against
# libtorrent→libtorrent (bench/transfer-bench.sh with META=--v2), and the
# ratio (goal: Shoal at least 2× libtorrent).
#
# usage: bench/create-v2-bench.sh [SIZE_MiB=1024]   (SHOAL_BIN=path skips the build)
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib=${1:-1024}
scripts/install-test-deps.sh
if [ -z "${SHOAL_BIN:-}" ]; then
    cargo build --release -p shoal --locked >&2
fi
shoal=${SHOAL_BIN:-$PWD/target/release/shoal}
work=$(mktemp -d /tmp/shoal-create-v2-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
cores=$(nproc)
file=$work/data.bin
head -c $((size_mib << 20)) /dev/urandom > "$file"
cat "$file" > /dev/null   # warm the page cache

cat > "$work/lt.py" <<'PY'
import sys, libtorrent as lt
cmd = sys.argv[1]
if cmd == "create":
    kind, src, parent, out = sys.argv[2:6]
    fs = lt.file_storage()
    lt.add_files(fs, src)
    flags = lt.create_torrent.v2_only if kind == "v2" else 0
    t = lt.create_torrent(fs, 1 << 20, flags=flags)
    lt.set_piece_hashes(t, parent)
    open(out, "wb").write(lt.bencode(t.generate()))
else:  # check KIND TORRENT: loads, and has exactly the expected hashes
    kind, path = sys.argv[2:4]
    ih = lt.torrent_info(path).info_hashes()
    want = {"v2": (False, True), "hybrid": (True, True), "v1": (True, False)}[kind]
    if (ih.has_v1(), ih.has_v2()) != want:
        sys.exit("%s: has_v1=%s has_v2=%s, expected %s" % (path, ih.has_v1(), ih.has_v2(), want))
PY

now() { date +%s.%N; }
timed() { # run a command once, print its wall time in seconds; abort on failure
    local s e
    s=$(now)
    "$@" >/dev/null
    e=$(now)
    awk -v s="$s" -v e="$e" 'BEGIN{ print e-s }'
}
check_shoal() { # torrent expected-meta-version
    local v
    v=$("$shoal" info "$1" --json | sed 's/.*"meta_version":"\([^"]*\)".*/\1/')
    [ "$v" = "$2" ] || { echo "$1: shoal reads meta_version=$v, expected $2" >&2; exit 1; }
}

t_v2=$(timed "$shoal" create "$file" --v2 --piece-length 1M --no-date -o "$work/s2.torrent")
t_hy=$(timed "$shoal" create "$file" --hybrid --piece-length 1M --no-date -o "$work/sh.torrent")
t_lt2=$(timed /usr/bin/python3 "$work/lt.py" create v2 "$file" "$work" "$work/l2.torrent")
t_lth=$(timed /usr/bin/python3 "$work/lt.py" create hybrid "$file" "$work" "$work/lh.torrent")
t_mk=$(timed mktorrent -t "$cores" -l 20 -o "$work/m.torrent" "$file")

/usr/bin/python3 "$work/lt.py" check v2 "$work/s2.torrent"
/usr/bin/python3 "$work/lt.py" check hybrid "$work/sh.torrent"
/usr/bin/python3 "$work/lt.py" check v2 "$work/l2.torrent"
/usr/bin/python3 "$work/lt.py" check hybrid "$work/lh.torrent"
/usr/bin/python3 "$work/lt.py" check v1 "$work/m.torrent"
check_shoal "$work/s2.torrent" 2
check_shoal "$work/sh.torrent" hybrid
check_shoal "$work/l2.torrent" 2
check_shoal "$work/lh.torrent" hybrid
check_shoal "$work/m.torrent" 1
# Same v2 hash from Shoal and libtorrent for the same file and pieces.
h_s=$("$shoal" info "$work/s2.torrent" --json | sed 's/.*"info_hash_v2":"\([0-9a-f]*\)".*/\1/')
h_l=$("$shoal" info "$work/l2.torrent" --json | sed 's/.*"info_hash_v2":"\([0-9a-f]*\)".*/\1/')

# Ceiling: openssl's single-thread rates on 1 MiB blocks, × cores.
rate() { openssl speed -evp "$1" -bytes 1048576 -seconds 2 2>/dev/null | awk -v a="$1" 'tolower($1)==a {print $2}' | tr -d k; }
sha1_kb=$(rate sha1)
sha256_kb=$(rate sha256)
[ -n "$sha1_kb" ] && [ -n "$sha256_kb" ] || { echo "openssl speed gave no rate" >&2; exit 1; }
c_v2=$(awk -v r="$sha256_kb" -v c="$cores" -v m="$size_mib" 'BEGIN{ print (m*1048576)/(r*1000*c) }')
c_v1=$(awk -v r="$sha1_kb" -v c="$cores" -v m="$size_mib" 'BEGIN{ print (m*1048576)/(r*1000*c) }')
c_hy=$(awk -v a="$c_v2" -v b="$c_v1" 'BEGIN{ print a+b }')

mbps() { awk -v t="$1" -v m="$size_mib" 'BEGIN{ printf "%.0f", m*1.048576/t }'; }
echo
echo "v2/hybrid torrent creation: ${size_mib} MiB, 1 MiB pieces, ${cores} cores, warm cache, one run"
printf '%-34s %8s %10s\n' tool seconds MB/s
printf '%-34s %8.3f %10s\n' "shoal create --v2" "$t_v2" "$(mbps "$t_v2")"
printf '%-34s %8.3f %10s\n' "libtorrent create_torrent v2" "$t_lt2" "$(mbps "$t_lt2")"
printf '%-34s %8.3f %10s\n' "ceiling v2 (sha256 x $cores)" "$c_v2" "$(mbps "$c_v2")"
printf '%-34s %8.3f %10s\n' "shoal create --hybrid" "$t_hy" "$(mbps "$t_hy")"
printf '%-34s %8.3f %10s\n' "libtorrent create_torrent hybrid" "$t_lth" "$(mbps "$t_lth")"
printf '%-34s %8.3f %10s\n' "ceiling hybrid (sha256+sha1 x $cores)" "$c_hy" "$(mbps "$c_hy")"
printf '%-34s %8.3f %10s\n' "mktorrent -t $cores (v1)" "$t_mk" "$(mbps "$t_mk")"
printf '%-34s %8.3f %10s\n' "ceiling v1 (sha1 x $cores)" "$c_v1" "$(mbps "$c_v1")"
echo "openssl single-thread: sha1 ${sha1_kb} kB/s, sha256 ${sha256_kb} kB/s"
echo "v2 info-hash shoal=$h_s libtorrent=$h_l $([ "$h_s" = "$h_l" ] && echo same || echo DIFFERENT)"

echo
echo "v2 loopback transfer (${size_mib} MiB, 1 MiB pieces): Shoal->Shoal vs libtorrent->libtorrent"
SHOAL_BIN=$shoal META=--v2 PAIRS="shoal-shoal lt-lt" bench/transfer-bench.sh "$size_mib"
