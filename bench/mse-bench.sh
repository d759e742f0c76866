#!/usr/bin/env bash
# Message stream encryption throughput, side by side in one run: 1 GiB over
# 127.0.0.1, one seeder to one leecher, Shoal RC4 -> Shoal RC4 (both with
# --encryption require, so RC4 is the only method) against libtorrent ->
# libtorrent with encryption forced both ways (RC4 only), and Shoal
# plaintext -> Shoal plaintext as the reference for what RC4 costs.
# Throughput and CPU per GiB of the leecher, with the ratios. The rules
# (warm seed, one clock, failures abort) are bench/transfer-bench.sh's,
# which runs the pairs.
#
# usage: bench/mse-bench.sh [SIZE_MiB=1024]
#   ROUNDS=n  interleaved rounds (default 1); SHOAL_BIN, TIMEOUT as
#             transfer-bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PAIRS="shoalrc4-shoalrc4 ltrc4-ltrc4 shoal-shoal"
export ROUNDS=${ROUNDS:-1}
exec bench/transfer-bench.sh "${1:-1024}"
