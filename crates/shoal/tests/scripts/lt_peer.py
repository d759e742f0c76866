#!/usr/bin/python3
"""A libtorrent peer for the tracker interop tests.

Downloads (or seeds) one torrent on loopback with DHT, LSD, UPnP, NAT-PMP
and uTP off, so the only way to find peers is the tracker. Prints one JSON
line per second and exits 0 once the torrent is complete (download mode) or
when --timeout runs out (seed mode); 1 if a download did not finish in time.
"""
import argparse
import json
import sys
import time

import libtorrent as lt

p = argparse.ArgumentParser()
p.add_argument("--torrent", required=True)
p.add_argument("--save", required=True)
p.add_argument("--port", type=int, required=True)
p.add_argument("--timeout", type=float, default=45)
p.add_argument("--seed", action="store_true")
a = p.parse_args()

s = lt.session({
    "listen_interfaces": "127.0.0.1:%d" % a.port,
    "enable_dht": False,
    "enable_lsd": False,
    "enable_upnp": False,
    "enable_natpmp": False,
    "enable_outgoing_utp": False,
    "enable_incoming_utp": False,
    "allow_multiple_connections_per_ip": True,
    "announce_to_all_trackers": True,
    "announce_to_all_tiers": True,
    "alert_mask": lt.alert.category_t.error_notification
    | lt.alert.category_t.tracker_notification
    | lt.alert.category_t.status_notification,
})
params = lt.add_torrent_params()
params.ti = lt.torrent_info(a.torrent)
params.save_path = a.save
if a.seed:
    params.flags |= lt.torrent_flags.seed_mode
h = s.add_torrent(params)

start = time.time()
last_reannounce = start
while time.time() - start < a.timeout:
    for al in s.pop_alerts():
        if isinstance(al, (lt.tracker_error_alert, lt.tracker_warning_alert,
                           lt.tracker_reply_alert, lt.peer_connect_alert)) or \
                al.category() & lt.alert.category_t.error_notification:
            print(json.dumps({"alert": al.what(), "msg": al.message()}), flush=True)
    st = h.status()
    print(json.dumps({"t": round(time.time() - start, 1), "state": str(st.state),
                      "progress": st.progress, "peers": st.num_peers,
                      "seeding": st.is_seeding}), flush=True)
    if not a.seed and st.is_seeding:
        print(json.dumps({"done": True}), flush=True)
        sys.exit(0)
    # Nobody yet (the other side may not have announced): ask again soon
    # rather than after the tracker's interval.
    if st.num_peers == 0 and time.time() - last_reannounce > 3:
        try:
            h.force_reannounce(0, -1, lt.reannounce_flags_t.ignore_min_interval)
        except (AttributeError, TypeError):
            h.force_reannounce()
        last_reannounce = time.time()
    time.sleep(0.5)
sys.exit(0 if a.seed else 1)
