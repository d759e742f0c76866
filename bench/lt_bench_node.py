"""A libtorrent peer for the benchmarks, configured as its users run it.

usage: lt_bench_node.py TORRENT SAVE_DIR PORT [--seed] [--peer HOST:PORT]...
                        [--swarm] [--up BYTES/S] [--down BYTES/S] [--stay]
                        [--timeout SECS]

libtorrent's default settings, except what a benchmark on 127.0.0.1 needs;
each change and why:
- listen_interfaces 127.0.0.1:PORT: the benchmark runs on loopback only.
- DHT, local peer discovery, UPnP and NAT-PMP off: nothing to find on
  loopback, and no traffic may leave the machine.
- uTP off (incoming and outgoing): every client in the benchmarks speaks
  TCP; with uTP on, libtorrent tries uTP first to each peer, so a
  libtorrent pair would run over a different transport than the others.
- alert_mask error + status + storage: to be told at once when the
  torrent is checked, when it finishes and when its cache is flushed
  (alerts change nothing in the transfer).
- --swarm only (every peer of a swarm is 127.0.0.1):
  allow_multiple_connections_per_ip on, or libtorrent would keep one peer
  of the whole swarm; ignore_limits_on_local_network off, so --up/--down
  limit loopback peers as the benchmark's model asks (the Shoal peers get
  the same limits).
- --up/--down: upload_rate_limit/download_rate_limit, when given.
- --enc forced: encryption forced both ways, RC4 only (out_enc_policy and
  in_enc_policy pe_forced, allowed_enc_level pe_rc4), for bench/mse-bench.sh.

--seed: the data in SAVE_DIR is complete. It is added as a user adds
existing data: libtorrent checks every piece first (no seed_mode, which
would defer the hashing to the first request of each piece, into the
measured transfer). Prints `seeding` on stdout once checked, seeding and
not paused, and serves until killed or --timeout.
Otherwise it downloads. libtorrent reports the torrent finished
(torrent_finished_alert) once every piece is hash-checked, which it does
from memory, before its writes have reached the files; so it then flushes
(flush_cache) and, the moment libtorrent reports the data written
(cache_flushed_alert), prints one line `download complete {"bytes": N}` on
stdout: every piece verified and in the files, as Shoal's `download
complete` means. Then it exits 0, or with --stay goes on seeding. Exits 2
if --timeout passes first.
Prints `listening on 127.0.0.1:PORT` on stderr once it listens. Dials every
--peer, again every 2 s until done (in case it was not up yet).
Run with Debian's /usr/bin/python3 (python3-libtorrent).
"""
import argparse
import json
import sys
import time

import libtorrent as lt


def dial(h, peers):
    for peer in peers:
        host, port = peer.rsplit(":", 1)
        h.connect_peer((host, int(port)))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("torrent")
    p.add_argument("save")
    p.add_argument("port", type=int)
    p.add_argument("--seed", action="store_true")
    p.add_argument("--peer", action="append", default=[])
    p.add_argument("--swarm", action="store_true")
    p.add_argument("--up", type=int, default=0)
    p.add_argument("--down", type=int, default=0)
    p.add_argument("--stay", action="store_true")
    p.add_argument("--timeout", type=float, default=300)
    p.add_argument("--enc", choices=["default", "forced"], default="default")
    a = p.parse_args()

    settings = {
        "listen_interfaces": "127.0.0.1:%d" % a.port,
        "enable_dht": False, "enable_lsd": False,
        "enable_upnp": False, "enable_natpmp": False,
        "enable_incoming_utp": False, "enable_outgoing_utp": False,
        "alert_mask": (lt.alert.category_t.error_notification
                       | lt.alert.category_t.status_notification
                       | lt.alert.category_t.storage_notification),
    }
    if a.swarm:
        settings["allow_multiple_connections_per_ip"] = True
        settings["ignore_limits_on_local_network"] = False
    if a.up:
        settings["upload_rate_limit"] = a.up
    if a.down:
        settings["download_rate_limit"] = a.down
    if a.enc == "forced":
        settings["out_enc_policy"] = 0
        settings["in_enc_policy"] = 0
        settings["allowed_enc_level"] = 2
    s = lt.session(settings)
    deadline = time.time() + a.timeout
    while s.listen_port() == 0 and time.time() < deadline:
        time.sleep(0.01)
    print("listening on 127.0.0.1:%d" % s.listen_port(), file=sys.stderr, flush=True)

    params = lt.add_torrent_params()
    params.ti = lt.torrent_info(a.torrent)
    params.save_path = a.save
    h = s.add_torrent(params)
    dial(h, a.peer)

    done = False
    flushing = False
    flushed = False
    redial = time.time() + 2
    while time.time() < deadline:
        for al in s.pop_alerts():
            if isinstance(al, lt.cache_flushed_alert):
                flushed = True
            elif al.category() & lt.alert.category_t.error_notification:
                print("libtorrent: %s" % al.message(), file=sys.stderr, flush=True)
        if not done:
            st = h.status()
            if a.seed:
                # A new torrent stays paused for a moment, resetting incoming
                # connections: a seeder is ready once checked, seeding and
                # not paused.
                if st.is_seeding and not st.paused and st.state == lt.torrent_status.seeding:
                    done = True
                    print("seeding", flush=True)
            elif st.is_finished and not flushing:
                flushing = True
                h.flush_cache()
            elif flushed:
                done = True
                print("download complete %s" % json.dumps({"bytes": st.total_payload_download}),
                      flush=True)
                if not a.stay:
                    return 0
            if not done and time.time() > redial:
                redial = time.time() + 2
                dial(h, a.peer)
        # Woken at once by the next alert (finished, checked, error).
        s.wait_for_alert(50 if not done else 1000)
    if a.seed or done:
        return 0
    st = h.status()
    print("timeout: state=%s progress=%.3f peers=%d" % (st.state, st.progress, st.num_peers),
          file=sys.stderr, flush=True)
    return 2


sys.exit(main())
