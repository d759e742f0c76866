#!/usr/bin/python3
"""A libtorrent 2.0 session with only the DHT on, on 127.0.0.1, driven by
line commands on stdin (for Shoal's DHT interop test). Every answer is one
line on stdout.

    add_node PORT          -> ok
    announce HEX           -> ok            (adds a tracker-less magnet for HEX:
                                             libtorrent announces it to the DHT
                                             with implied_port)
    reannounce HEX         -> ok            (force_dht_announce)
    get_peers HEX          -> peers A:P ... (one dht_get_peers round)
    nodes                  -> nodes P P ... (ports of routing-table nodes)
    stats                  -> stats N       (dht nodes per session_status)
    quit
"""
import sys

try:
    import libtorrent as lt
except ImportError as e:
    print("error: python3-libtorrent is not installed (import libtorrent: %s)" % e, flush=True)
    sys.exit(3)

import shutil
import tempfile
import time
import warnings

warnings.simplefilter("ignore", DeprecationWarning)


def main():
    port = int(sys.argv[1])
    s = lt.session({
        'listen_interfaces': '127.0.0.1:%d' % port,
        'enable_dht': True,
        'enable_lsd': False,
        'enable_upnp': False,
        'enable_natpmp': False,
        'dht_restrict_routing_ips': False,
        'dht_restrict_search_ips': False,
        'dht_ignore_dark_internet': False,
        'dht_block_ratelimit': 100000,
        'dht_bootstrap_nodes': '',
        'alert_mask': lt.alert.category_t.dht_notification | lt.alert.category_t.status_notification | lt.alert.category_t.dht_operation_notification,
    })
    tmp = tempfile.mkdtemp(prefix='shoal-lt-dht-')
    torrents = {}
    print("ready %d %s" % (port, lt.__version__), flush=True)
    for line in sys.stdin:
        parts = line.split()
        if not parts:
            continue
        cmd = parts[0]
        if cmd == 'add_node':
            s.add_dht_node(('127.0.0.1', int(parts[1])))
            print("ok", flush=True)
        elif cmd == 'announce':
            p = lt.parse_magnet_uri('magnet:?xt=urn:btih:' + parts[1])
            p.save_path = tmp
            torrents[parts[1].lower()] = s.add_torrent(p)
            torrents[parts[1].lower()].force_dht_announce()
            print("ok", flush=True)
        elif cmd == 'reannounce':
            torrents[parts[1].lower()].force_dht_announce()
            print("ok", flush=True)
        elif cmd == 'get_peers':
            want = parts[1].lower()
            s.dht_get_peers(lt.sha1_hash(bytes.fromhex(want)))
            found = []
            deadline = time.time() + 15
            done = False
            while time.time() < deadline and not done:
                s.wait_for_alert(500)
                for a in s.pop_alerts():
                    if isinstance(a, lt.dht_get_peers_reply_alert) and str(a.info_hash).lower() == want:
                        found = ["%s:%d" % (ip, pt) for (ip, pt) in a.peers()]
                        done = True
            print("peers " + " ".join(found), flush=True)
        elif cmd == 'nodes':
            st = s.save_state()
            dht = st.get(b'dht state', {}) if st else {}
            ports = []
            for key in (b'nodes', b'nodes6'):
                for n in dht.get(key, []):
                    if isinstance(n, bytes) and len(n) >= 6:
                        ports.append(int.from_bytes(n[-2:], 'big'))
            print("nodes " + " ".join(str(p) for p in ports), flush=True)
        elif cmd == 'stats':
            print("stats %d" % s.status().dht_nodes, flush=True)
        elif cmd == 'quit':
            break
        else:
            print("error unknown command", flush=True)
        s.pop_alerts()
    shutil.rmtree(tmp, ignore_errors=True)


main()
