"""libtorrent's view of a .torrent, and optionally a full recheck of its data.

usage: lt_torrent.py TORRENT [SAVE_PATH]
Prints one JSON object: info_hash, name, files [{path, length}], num_pieces,
and with SAVE_PATH: have_pieces after a forced full recheck.
Run with Debian's /usr/bin/python3 (python3-libtorrent). Network features off,
loopback only, bounded time.
"""
import json
import sys
import time

import libtorrent as lt


def main():
    ti = lt.torrent_info(sys.argv[1])
    fs = ti.files()
    out = {
        "info_hash": str(ti.info_hashes().v1),
        "name": ti.name(),
        "files": [{"path": fs.file_path(i), "length": fs.file_size(i)}
                  for i in range(fs.num_files()) if not (fs.file_flags(i) & lt.file_storage.flag_pad_file)],
        "num_pieces": ti.num_pieces(),
    }
    if len(sys.argv) > 2:
        s = lt.session({
            "listen_interfaces": "127.0.0.1:0",
            "enable_dht": False, "enable_lsd": False,
            "enable_upnp": False, "enable_natpmp": False,
            "enable_incoming_utp": False, "enable_outgoing_utp": False,
            "alert_mask": lt.alert.category_t.status_notification,
        })
        h = s.add_torrent({"ti": ti, "save_path": sys.argv[2],
                           "flags": lt.torrent_flags.paused})
        h.force_recheck()
        h.resume()
        deadline = time.time() + 60
        checking = (lt.torrent_status.checking_files,
                    lt.torrent_status.checking_resume_data)
        # Done once a check has finished (its alert came) and no other
        # check is running or queued for the torrent.
        checked = False
        while time.time() < deadline:
            s.wait_for_alert(100)
            for a in s.pop_alerts():
                if isinstance(a, lt.torrent_checked_alert):
                    checked = True
            st = h.status()
            if checked and st.state not in checking:
                break
        else:
            print("libtorrent's recheck did not finish", file=sys.stderr)
            sys.exit(2)
        st = h.status()
        out["have_pieces"] = st.num_pieces
        out["state"] = str(st.state)
        s.remove_torrent(h)
    print(json.dumps(out))


main()
