"""A libtorrent peer (seeder or leecher) on loopback, for the engine interop
tests and the benchmarks.

usage: lt_node.py TORRENT|MAGNET SAVE_DIR PORT [--seed] [--peer HOST:PORT]...
                  [--up BYTES/S] [--down BYTES/S] [--stay] [--timeout SECS]
                  [--unchoke-slots N]

Listens on 127.0.0.1:PORT (or --host HOST:PORT, e.g. --host ::1; TCP only: DHT, LSD, UPnP, NAT-PMP and uTP off),
announces to the torrent's trackers and dials every --peer (again every 2 s
until done, in case it was not up yet). Prints `listening on 127.0.0.1:PORT`
on stderr once it listens.
--seed: the data in SAVE_DIR is complete (seed mode, no initial check);
prints `seeding` on stdout and serves until killed or --timeout.
Otherwise it downloads; once every piece is verified it prints one JSON line
on stdout {"seconds", "bytes", "peers"} (seconds since adding the torrent,
payload bytes downloaded) and exits 0, or with --stay goes on seeding.
Exits 2 if --timeout passes first. Rate limits apply to loopback peers too
(ignore_limits_on_local_network off). Run with Debian's /usr/bin/python3.
"""
import argparse
import json
import sys
import time

import libtorrent as lt


def dial(h, peers):
    for peer in peers:
        host, port = peer.rsplit(":", 1)
        h.connect_peer((host.strip("[]"), int(port)))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("torrent")
    p.add_argument("save")
    p.add_argument("port", type=int)
    p.add_argument("--seed", action="store_true")
    p.add_argument("--peer", action="append", default=[])
    p.add_argument("--up", type=int, default=0)
    p.add_argument("--down", type=int, default=0)
    p.add_argument("--stay", action="store_true")
    p.add_argument("--unchoke-slots", type=int, default=None)
    p.add_argument("--timeout", type=float, default=120)
    # default: libtorrent's own encryption settings (MSE offered first on
    # outgoing connections, both accepted); forced: RC4 MSE only, both
    # ways; off: plaintext only.
    p.add_argument("--enc", choices=["default", "forced", "off"], default="default")
    # The loopback address to listen on: 127.0.0.1, or ::1 for IPv6.
    p.add_argument("--host", default="127.0.0.1")
    a = p.parse_args()
    host = "[%s]" % a.host if ":" in a.host else a.host

    s = lt.session({
        "listen_interfaces": "%s:%d" % (host, a.port),
        "enable_dht": False, "enable_lsd": False,
        "enable_upnp": False, "enable_natpmp": False,
        "enable_incoming_utp": False, "enable_outgoing_utp": False,
        "allow_multiple_connections_per_ip": True,
        "ignore_limits_on_local_network": False,
        "upload_rate_limit": a.up, "download_rate_limit": a.down,
        "alert_mask": lt.alert.category_t.error_notification,
    })
    if a.enc == "forced":
        s.apply_settings({"out_enc_policy": 0, "in_enc_policy": 0, "allowed_enc_level": 2})
    elif a.enc == "off":
        s.apply_settings({"out_enc_policy": 2, "in_enc_policy": 2})
    if a.unchoke_slots is not None:
        # 0: it chokes every peer (which may still fetch its allowed-fast
        # pieces, BEP 6).
        s.apply_settings({"unchoke_slots_limit": a.unchoke_slots})
    deadline = time.time() + a.timeout
    while s.listen_port() == 0 and time.time() < deadline:
        time.sleep(0.02)
    print("listening on %s:%d" % (host, s.listen_port()), file=sys.stderr, flush=True)

    if a.torrent.startswith("magnet:"):
        params = lt.parse_magnet_uri(a.torrent)
    else:
        params = lt.add_torrent_params()
        params.ti = lt.torrent_info(a.torrent)
    params.save_path = a.save
    if a.seed:
        params.flags |= lt.torrent_flags.seed_mode
    started = time.time()
    h = s.add_torrent(params)
    dial(h, a.peer)

    done = False
    redial = time.time() + 2
    while time.time() < deadline:
        for al in s.pop_alerts():
            print("libtorrent: %s" % al.message(), file=sys.stderr, flush=True)
        st = h.status()
        # A new torrent stays paused for a moment, resetting incoming
        # connections: a seeder is ready once it seeds and is not paused.
        if not done and st.is_seeding and not (a.seed and st.paused):
            done = True
            if a.seed:
                print("seeding", flush=True)
            else:
                print(json.dumps({"seconds": time.time() - started,
                                  "bytes": st.total_payload_download,
                                  "peers": st.num_peers}), flush=True)
                if not a.stay:
                    return 0
        if not done and time.time() > redial:
            redial = time.time() + 2
            dial(h, a.peer)
        time.sleep(0.05)
    if a.seed or done:
        return 0
    st = h.status()
    print("timeout: state=%s progress=%.3f peers=%d" % (st.state, st.progress, st.num_peers),
          file=sys.stderr, flush=True)
    return 2


sys.exit(main())
