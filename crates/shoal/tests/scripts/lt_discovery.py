"""A libtorrent peer for the peer-discovery tests (PEX, LSD, DHT), on
loopback or in a test's network namespace.

usage: lt_discovery.py TORRENT|MAGNET SAVE_DIR PORT [--seed] [--down BYTES/S]
                       [--peer HOST:PORT]... [--pex] [--lsd]
                       [--dht-node HOST:PORT]... [--listen-ip IP]
                       [--timeout SECS]

Listens on LISTEN_IP:PORT (default 127.0.0.1), TCP only (uTP, UPnP, NAT-PMP
off). Peer exchange (ut_pex) is off unless --pex, local service discovery
unless --lsd, the DHT unless a --dht-node is given (then it runs with the
settings a loopback DHT needs: no IP restrictions, a raised rate limit, no
routers; the nodes are added with add_dht_node). Dials every --peer (again every 2 s
until it has peers).
--seed: the data in SAVE_DIR is complete (seed mode); prints `seeding` on
stdout once it serves. --down: a download rate limit (loopback peers
included), for a peer that knows others but gets almost nothing.

On stdout, one line per peer the first time it is connected (handshakes
done):
`peer IP:PORT source=N` (libtorrent's peer_info source bits: 1 tracker,
2 DHT, 4 PEX, 8 LSD, 16 resume data, 32 incoming); `complete {json}` once
a download finishes (it goes on seeding); with the DHT on, `dht_nodes N`
whenever its routing table size changes. Runs until killed or --timeout. Run with /usr/bin/python3.
"""
import argparse
import json
import sys
import time

import libtorrent as lt


def addr(s):
    host, port = s.rsplit(":", 1)
    return host, int(port)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("torrent")
    p.add_argument("save")
    p.add_argument("port", type=int)
    p.add_argument("--seed", action="store_true")
    p.add_argument("--down", type=int, default=0)
    p.add_argument("--peer", action="append", default=[])
    p.add_argument("--pex", action="store_true")
    p.add_argument("--lsd", action="store_true")
    p.add_argument("--dht-node", action="append", default=[])
    p.add_argument("--listen-ip", default="127.0.0.1")
    p.add_argument("--timeout", type=float, default=120)
    a = p.parse_args()

    dht = bool(a.dht_node)
    settings = {
        "listen_interfaces": "%s:%d" % (a.listen_ip, a.port),
        "enable_dht": dht, "enable_lsd": a.lsd,
        "enable_upnp": False, "enable_natpmp": False,
        "enable_incoming_utp": False, "enable_outgoing_utp": False,
        "allow_multiple_connections_per_ip": True,
        "ignore_limits_on_local_network": False,
        "download_rate_limit": a.down,
        "alert_mask": lt.alert.category_t.error_notification,
    }
    if dht:
        settings.update({
            "dht_bootstrap_nodes": "",
            "dht_restrict_routing_ips": False,
            "dht_restrict_search_ips": False,
            "dht_block_ratelimit": 100000,
            "dht_upload_rate_limit": 1000000,
        })
    s = lt.session(settings)
    deadline = time.time() + a.timeout
    while s.listen_port() == 0 and time.time() < deadline:
        time.sleep(0.02)
    print("listening on %s:%d" % (a.listen_ip, s.listen_port()), file=sys.stderr, flush=True)
    for n in a.dht_node:
        s.add_dht_node(addr(n))

    if a.torrent.startswith("magnet:"):
        params = lt.parse_magnet_uri(a.torrent)
    else:
        params = lt.add_torrent_params()
        params.ti = lt.torrent_info(a.torrent)
    params.save_path = a.save
    if a.seed:
        params.flags |= lt.torrent_flags.seed_mode
    if not a.pex:
        # ut_pex is one of the session's default plugins: off per torrent.
        params.flags |= lt.torrent_flags.disable_pex
    started = time.time()
    h = s.add_torrent(params)

    def dial():
        for peer in a.peer:
            h.connect_peer(addr(peer))

    dial()
    redial = time.time() + 2

    seen = set()
    done = False
    nodes = -1
    next_dht = 0
    while time.time() < deadline:
        for al in s.pop_alerts():
            print("libtorrent: %s" % al.message(), file=sys.stderr, flush=True)
        for pi in h.get_peer_info():
            if pi.flags & (lt.peer_info.connecting | lt.peer_info.handshake):
                continue
            key = "%s:%d" % pi.ip
            if key not in seen:
                seen.add(key)
                print("peer %s source=%d" % (key, pi.source), flush=True)
        st = h.status()
        if a.peer and st.num_peers == 0 and time.time() > redial:
            redial = time.time() + 2
            dial()
        if not done and st.is_seeding and not st.paused:
            done = True
            if a.seed:
                print("seeding", flush=True)
            else:
                print("complete " + json.dumps({"seconds": time.time() - started,
                                                "bytes": st.total_payload_download}),
                      flush=True)
        if dht and time.time() >= next_dht:
            next_dht = time.time() + 0.5
            st_nodes = s.status().dht_nodes
            if st_nodes != nodes:
                nodes = st_nodes
                print("dht_nodes %d" % nodes, flush=True)
        time.sleep(0.05)
    return 0


sys.exit(main())
