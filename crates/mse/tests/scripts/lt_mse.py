"""A libtorrent peer with encryption forced, for the MSE interop tests.

usage: lt_mse.py make DATA_FILE TORRENT_OUT
       lt_mse.py seed DATA_FILE [--timeout SECS] [--enc forced|default]
       lt_mse.py leech DATA_FILE SAVE_DIR PEER_PORT [--timeout SECS] [--enc ...]

Both modes make a single-file v1 torrent of DATA_FILE (32 KiB pieces;
the same file gives the same info-hash) and run a libtorrent session on
127.0.0.1 with TCP only (uTP, DHT, LSD, UPnP, NAT-PMP off), several
connections per IP allowed, and with --enc forced (the default)
encryption forced both ways (out_enc_policy = in_enc_policy = 0) at RC4
only (allowed_enc_level = 2), or with --enc default libtorrent's own
encryption defaults (enabled, RC4 or plaintext, plaintext preferred).

make: writes the torrent to TORRENT_OUT, prints {"info_hash",
"piece_length", "total", "pieces"} and exits.
seed: seeds DATA_FILE from its own folder on an ephemeral port; once ready
prints one JSON line {"port", "info_hash", "piece_length", "total",
"pieces": [hex sha1...]} and serves until killed or --timeout.
leech: prints {"info_hash"} first, then downloads into SAVE_DIR from the
peer 127.0.0.1:PEER_PORT (dialed again every 2 s until done), prints
{"finished": true, "bytes": N} once every piece is verified and exits 0;
exits 2 on --timeout. Run with Debian's /usr/bin/python3.
"""
import argparse
import json
import os
import sys
import time

import libtorrent as lt


def session(enc):
    if enc == "forced":
        crypto = {"out_enc_policy": 0, "in_enc_policy": 0, "allowed_enc_level": 2}
    else:
        # libtorrent's defaults: encryption enabled (tried first outgoing,
        # both accepted incoming), RC4 or plaintext, plaintext preferred.
        crypto = {"out_enc_policy": 1, "in_enc_policy": 1, "allowed_enc_level": 3,
                  "prefer_rc4": False}
    settings = {
        "listen_interfaces": "127.0.0.1:0",
        "enable_dht": False, "enable_lsd": False,
        "enable_upnp": False, "enable_natpmp": False,
        "enable_incoming_utp": False, "enable_outgoing_utp": False,
        "allow_multiple_connections_per_ip": True,
        "alert_mask": lt.alert.category_t.error_notification
        | lt.alert.category_t.peer_notification,
    }
    settings.update(crypto)
    return lt.session(settings)


def make_torrent(path):
    fs = lt.file_storage()
    lt.add_files(fs, path)
    # v1 only: libtorrent 2 makes hybrid torrents by default and may then
    # use the truncated v2 info-hash as SKEY.
    t = lt.create_torrent(fs, 32 * 1024, flags=lt.create_torrent.v1_only)
    lt.set_piece_hashes(t, os.path.dirname(path))
    encoded = lt.bencode(t.generate())
    return lt.torrent_info(encoded), encoded


def describe(ti):
    return {
        "info_hash": str(ti.info_hash()), "piece_length": ti.piece_length(),
        "total": ti.total_size(),
        "pieces": [hex_of(ti.hash_for_piece(i)) for i in range(ti.num_pieces())],
    }


def hex_of(h):
    return h.hex() if isinstance(h, bytes) else str(h)


def log_alerts(s):
    for al in s.pop_alerts():
        print("libtorrent: %s" % al.message(), file=sys.stderr, flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["make", "seed", "leech"])
    p.add_argument("data")
    p.add_argument("save", nargs="?", help="leech: SAVE_DIR; make: TORRENT_OUT")
    p.add_argument("peer_port", nargs="?", type=int)
    p.add_argument("--timeout", type=float, default=60)
    p.add_argument("--enc", choices=["forced", "default"], default="forced")
    a = p.parse_args()
    deadline = time.time() + a.timeout

    ti, encoded = make_torrent(os.path.abspath(a.data))
    ih = str(ti.info_hash())
    if a.mode == "make":
        with open(a.save, "wb") as f:
            f.write(encoded)
        print(json.dumps(describe(ti)), flush=True)
        return 0
    s = session(a.enc)
    while s.listen_port() == 0 and time.time() < deadline:
        time.sleep(0.02)

    params = lt.add_torrent_params()
    params.ti = ti
    if a.mode == "seed":
        params.save_path = os.path.dirname(os.path.abspath(a.data))
        params.flags |= lt.torrent_flags.seed_mode
        h = s.add_torrent(params)
        ready = False
        while time.time() < deadline:
            log_alerts(s)
            st = h.status()
            if not ready and st.is_seeding and not st.paused:
                ready = True
                info = describe(ti)
                info["port"] = s.listen_port()
                print(json.dumps(info), flush=True)
            time.sleep(0.05)
        return 0

    print(json.dumps({"info_hash": ih}), flush=True)
    params.save_path = a.save
    h = s.add_torrent(params)
    redial = 0
    while time.time() < deadline:
        log_alerts(s)
        st = h.status()
        if st.is_seeding:
            print(json.dumps({"finished": True, "bytes": st.total_payload_download}),
                  flush=True)
            return 0
        if time.time() > redial:
            redial = time.time() + 2
            h.connect_peer(("127.0.0.1", a.peer_port))
        time.sleep(0.05)
    st = h.status()
    print("timeout: state=%s progress=%.3f peers=%d" % (st.state, st.progress, st.num_peers),
          file=sys.stderr, flush=True)
    return 2


sys.exit(main())
