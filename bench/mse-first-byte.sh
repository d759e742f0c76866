#!/usr/bin/env bash
# Which order should an outgoing connection under `--encryption prefer` try
# plaintext and MSE in? Time to the peer's BitTorrent handshake, over
# 127.0.0.1, for both orders against real clients side by side in one run:
# libtorrent at its defaults (prefers MSE, accepts both), libtorrent with
# encryption forced, libtorrent with encryption off, Transmission at its
# default ("encryption": 1, prefers MSE, accepts both) and Transmission
# requiring it ("encryption": 2). The dialer is crates/mse/examples/first_byte.rs
# (the same handshake code the engine runs), a fresh connection each round.
#
# Loopback has no round-trip time: the figures are the CPU and the peers'
# own delays (MSE's Diffie-Hellman on both sides, a reset and redial). On a
# real path every extra round trip adds its RTT: plaintext costs 2 RTTs
# (connect, handshake), MSE 3 (connect, Ya/Yb, the crypto exchange with the
# handshake as its payload), a fallback the failed attempt's RTTs on top.
#
# usage: bench/mse-first-byte.sh [ROUNDS=20]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-20}
scripts/install-test-deps.sh
cargo build --release -p shoal-mse --example first_byte >&2
fb=${CARGO_TARGET_DIR:-$PWD/target}/release/examples/first_byte
py=/usr/bin/python3
lt_node=$PWD/crates/shoal/tests/scripts/lt_node.py
work=$(mktemp -d /tmp/shoal-mse-first-byte.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
fail() {
    echo "mse-first-byte: ABORTED: $*" >&2
    exit 1
}
port() { $py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

mkdir -p "$work/seed"
head -c $((4 << 20)) /dev/urandom > "$work/seed/data.bin"
shoal_bin=${SHOAL_BIN:-}
if [ -z "$shoal_bin" ]; then
    cargo build --release -p shoal >&2
    shoal_bin=${CARGO_TARGET_DIR:-$PWD/target}/release/shoal
fi
"$shoal_bin" create "$work/seed/data.bin" -o "$work/t.torrent" --piece-length 256K --json > "$work/create.json"
hash=$(sed 's/.*"info_hash":"\([0-9a-f]*\)".*/\1/' "$work/create.json")

# wait_line FILE TEXT PID
wait_line() {
    for _ in $(seq 300); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        kill -0 "$3" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# start_lt ENC PORT
start_lt() {
    $py "$lt_node" "$work/t.torrent" "$work/seed" "$2" --seed --enc "$1" --timeout 600 \
        >"$work/lt-$1.log" 2>&1 &
    pids+=("$!")
    wait_line "$work/lt-$1.log" "^seeding" "$!" || fail "libtorrent ($1) did not seed"
}

# start_tr ENCRYPTION PORT
start_tr() {
    local cfg=$work/tr-$1 rpc
    rpc=$(port)
    mkdir -p "$cfg"
    cat > "$cfg/settings.json" <<EOF
{"dht-enabled": false, "lpd-enabled": false, "utp-enabled": false, "pex-enabled": false,
 "port-forwarding-enabled": false, "peer-port": $2, "peer-port-random-on-start": false,
 "rpc-port": $rpc, "rpc-bind-address": "127.0.0.1", "rpc-authentication-required": false,
 "bind-address-ipv4": "127.0.0.1", "bind-address-ipv6": "::1", "encryption": $1,
 "download-dir": "$work/seed", "incomplete-dir-enabled": false, "message-level": 1}
EOF
    transmission-daemon -f -g "$cfg" >"$cfg/log" 2>&1 &
    pids+=("$!")
    local ok=""
    for _ in $(seq 100); do
        transmission-remote "127.0.0.1:$rpc" -a "$work/t.torrent" >/dev/null 2>&1 && { ok=1; break; }
        sleep 0.1
    done
    [ -n "$ok" ] || fail "could not add the torrent to Transmission ($1)"
    ok=""
    for _ in $(seq 300); do
        transmission-remote "127.0.0.1:$rpc" -t 1 -i 2>/dev/null | grep -q "Percent Done: 100%" && { ok=1; break; }
        sleep 0.2
    done
    [ -n "$ok" ] || fail "Transmission ($1) did not verify its data"
}

declare -A peer_port
for enc in default forced off; do
    p=$(port); peer_port[lt-$enc]=$p; start_lt "$enc" "$p"
done
p=$(port); peer_port[tr-preferred]=$p; start_tr 1 "$p"
p=$(port); peer_port[tr-required]=$p; start_tr 2 "$p"

results=$work/results.txt
: > "$results"
for peer in lt-default tr-preferred lt-forced tr-required lt-off; do
    for order in plain-then-mse mse-then-plain; do
        # A peer that refuses the first method costs a fallback; one that
        # refuses both fails the run.
        line=$("$fb" "127.0.0.1:${peer_port[$peer]}" "$hash" "$order" "$rounds" | tail -1) \
            || fail "$order against $peer got no handshake"
        echo "$peer $line" >> "$results"
        echo "$peer $line" >&2
    done
done

echo
echo "time to the peer's handshake over 127.0.0.1, $rounds fresh connections each, $(nproc) cores (median ms)"
python3 - "$results" <<'PY'
import sys
rows = {}
for l in open(sys.argv[1]):
    peer, order, *kv = l.split()
    d = dict(x.split("=") for x in kv)
    rows[(peer, order)] = d
names = {"lt-default": "libtorrent, defaults", "tr-preferred": "Transmission, defaults (1)",
         "lt-forced": "libtorrent, forced", "tr-required": "Transmission, required (2)",
         "lt-off": "libtorrent, encryption off"}
print(f"{'peer':<30} {'plain first':>12} {'MSE first':>12} {'fallbacks p/m':>14}")
for peer, name in names.items():
    p, m = rows[(peer, "plain-then-mse")], rows[(peer, "mse-then-plain")]
    print(f"{name:<30} {float(p['median_ms']):>12.2f} {float(m['median_ms']):>12.2f} "
          f"{p['fallbacks'] + '/' + m['fallbacks']:>14}")
PY
