#!/usr/bin/env bash
# Seedbox: N small torrents (default 10,000 of 16 KiB, one piece each) with
# their data present, added one RPC/Web API call each to `shoal daemon`,
# `transmission-daemon` and `qbittorrent-nox`, one after the other in the
# same run, each on loopback with DHT/LSD/PEX/UPnP/uTP off, no queueing,
# no rate limits. Printed for each: seconds from launch to every torrent
# seeding (adds included), RSS once settled, CPU over IDLE seconds of
# idling (% of one core), the median latency of one `torrent-get` of every
# torrent with `transmission-remote -l`'s fields (Shoal and Transmission,
# same RPC), and seconds from a restart (SIGTERM, launch) to every torrent
# seeding again; then the ratios to Shoal. Any failure aborts.
#
# usage: bench/seedbox-bench.sh [N] [IDLE_SECONDS] [CLIENTS]
#   CLIENTS: comma-separated subset of shoal,transmission,qbittorrent
set -euo pipefail
N=${1:-10000}
IDLE=${2:-60}
CLIENTS=${3:-shoal,transmission,qbittorrent}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
cargo build --release -p shoal --manifest-path "$ROOT/Cargo.toml" >&2
for tool in transmission-daemon qbittorrent-nox; do
  command -v "$tool" >/dev/null || { echo "missing $tool (scripts/install-test-deps.sh)" >&2; exit 1; }
done
WORK=$(mktemp -d "${TMPDIR:-/tmp}/seedbox-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
/usr/bin/python3 "$ROOT/bench/seedbox_bench.py" --shoal "$CARGO_TARGET_DIR/release/shoal" \
  --work "$WORK" -n "$N" --idle "$IDLE" --clients "$CLIENTS"
