"""A libtorrent peer that speaks uTP only, for the shoal-utp interop tests.

usage: lt_utp_peer.py seed DIR [--size BYTES] [--piece-length BYTES] [--timeout SECS]
       lt_utp_peer.py leech DIR --peer HOST:PORT [--size ...] [--piece-length ...] [--timeout SECS]

Both modes make deterministic content (DIR/src/data.bin) and a v1 torrent
of it, and run a session on 127.0.0.1 (random port) with TCP off both ways,
uTP on, DHT/LSD/UPnP/NAT-PMP off and encryption disabled.
The first stdout line is JSON: {"port", "info_hash", "piece_length",
"total_length", "pieces": [sha1 hex...], "data": path of the content}.
seed: serves DIR/src/data.bin.
leech: adds the torrent with an empty save path and dials --peer (again
every 2 s until a peer is connected).
Then, as they happen, JSON lines {"peer": "ip:port", "utp": bool, "client"}
(once per peer, after its handshake) and {"piece": index} for each piece
verified (leech).
Leech exits 0 after every piece is finished, printing {"done": true}.
Exits 2 when --timeout passes. Run with Debian's /usr/bin/python3.
"""
import argparse
import hashlib
import json
import os
import random
import sys
import time

import libtorrent as lt

UTP_SOCKET = 1 << 17  # peer_info::utp_socket (not exported to Python)


def emit(obj):
    print(json.dumps(obj), flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["seed", "leech"])
    p.add_argument("dir")
    p.add_argument("--peer")
    p.add_argument("--size", type=int, default=1 << 20)
    p.add_argument("--piece-length", type=int, default=64 * 1024)
    p.add_argument("--timeout", type=float, default=60)
    a = p.parse_args()

    src = os.path.join(a.dir, "src")
    os.makedirs(src, exist_ok=True)
    data_path = os.path.join(src, "data.bin")
    data = random.Random(1234).randbytes(a.size)
    with open(data_path, "wb") as f:
        f.write(data)
    fs = lt.file_storage()
    lt.add_files(fs, data_path)
    ct = lt.create_torrent(fs, a.piece_length, flags=lt.create_torrent.v1_only)
    lt.set_piece_hashes(ct, src)
    ti = lt.torrent_info(lt.bencode(ct.generate()))

    s = lt.session({
        "listen_interfaces": "127.0.0.1:0",
        "enable_dht": False, "enable_lsd": False,
        "enable_upnp": False, "enable_natpmp": False,
        "enable_outgoing_tcp": False, "enable_incoming_tcp": False,
        "enable_outgoing_utp": True, "enable_incoming_utp": True,
        "out_enc_policy": 2, "in_enc_policy": 2,
        "allow_multiple_connections_per_ip": True,
        "alert_mask": lt.alert.category_t.error_notification,
    })
    deadline = time.time() + a.timeout
    while s.listen_port() == 0 and time.time() < deadline:
        time.sleep(0.02)

    params = lt.add_torrent_params()
    params.ti = ti
    if a.mode == "seed":
        params.save_path = src
        params.flags |= lt.torrent_flags.seed_mode
    else:
        dest = os.path.join(a.dir, "dest")
        os.makedirs(dest, exist_ok=True)
        params.save_path = dest
    # Not paused or auto-managed: libtorrent refuses incoming connections
    # while every torrent is paused, which a new auto-managed one is until
    # the next auto-manage tick (about a second).
    params.flags &= ~(lt.torrent_flags.paused | lt.torrent_flags.auto_managed)
    h = s.add_torrent(params)

    # Announce ourselves only once the torrent is up.
    want = lt.torrent_status.seeding if a.mode == "seed" else lt.torrent_status.downloading
    while (h.status().state != want or h.status().paused) and time.time() < deadline:
        s.pop_alerts()
        time.sleep(0.02)

    pieces = [ti.hash_for_piece(i).hex() for i in range(ti.num_pieces())]
    assert all(hashlib.sha1(data[i * a.piece_length:(i + 1) * a.piece_length]).hexdigest() == pieces[i]
               for i in range(len(pieces)))
    emit({"port": s.listen_port(), "info_hash": str(ti.info_hash()),
          "piece_length": a.piece_length, "total_length": a.size,
          "pieces": pieces, "data": data_path})

    def dial():
        host, port = a.peer.rsplit(":", 1)
        h.connect_peer((host, int(port)))

    if a.mode == "leech":
        dial()
    seen = set()
    finished = set()
    complete_at = None
    next_dial = time.time() + 2
    while time.time() < deadline:
        s.pop_alerts()
        if a.mode == "leech":
            for i, have in enumerate(h.status(lt.status_flags_t.query_pieces).pieces):
                if have and i not in finished:
                    finished.add(i)
                    emit({"piece": i})
        peers = h.get_peer_info()
        for pi in peers:
            key = "%s:%d" % (pi.ip[0], pi.ip[1])
            if key not in seen and pi.flags & lt.peer_info.handshake == 0:
                seen.add(key)
                emit({"peer": key, "utp": bool(pi.flags & UTP_SOCKET),
                      "client": pi.client.decode("utf-8", "replace") if isinstance(pi.client, bytes) else str(pi.client)})
        if a.mode == "leech":
            # A fast transfer can end before a poll sees the peer past its
            # handshake: give the peer line up to 5 s more before "done".
            if len(finished) == ti.num_pieces():
                if complete_at is None:
                    complete_at = time.time()
                if seen or time.time() - complete_at > 5:
                    emit({"done": True})
                    return 0
            if not peers and time.time() >= next_dial:
                dial()
                next_dial = time.time() + 2
        time.sleep(0.05)
    print("timed out", file=sys.stderr, flush=True)
    return 2


if __name__ == "__main__":
    sys.exit(main())
