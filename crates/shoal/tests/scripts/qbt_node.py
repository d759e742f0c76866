"""A qBittorrent peer (qbittorrent-nox, seeder or leecher) on loopback, for
the engine interop tests, driven through its Web API.

usage: qbt_node.py TORRENT SAVE_DIR PORT [--seed] [--peer HOST:PORT]...
                   [--enc default|required] [--timeout SECS]

Starts qbittorrent-nox with a fresh profile in a temporary directory (under
$TMPDIR, which the tests point at their own work directory, so a profile
left by a killed script goes with it):
listening on 127.0.0.1:PORT over TCP only (DHT, LSD, PEX, UPnP off; no
queueing), its Web UI on another loopback port without authentication.
Prints `listening on 127.0.0.1:PORT` on stderr once the Web API answers.
--enc required: encryption required both ways (Session\\Encryption=1,
qBittorrent's "Require encryption"; checked through app/preferences).
The torrent is added with SAVE_DIR as its save path, and every --peer is
added to it (again every 2 s until done, in case it was not up yet).
--seed: the data in SAVE_DIR is complete (hash check skipped); prints
`seeding` on stdout and serves until killed or --timeout.
Otherwise it downloads; once qBittorrent reports every piece verified it
prints one JSON line on stdout {"seconds", "bytes", "clients"} (payload
bytes downloaded, the client names qBittorrent showed for its peers) and
exits 0. Exits 2 if --timeout passes first. qbittorrent-nox runs in this
script's process group and is stopped when the script ends; a test kills
the group by PID. Run with Debian's /usr/bin/python3.
"""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

CONFIG = """[LegalNotice]
Accepted=true

[BitTorrent]
Session\\DHTEnabled=false
Session\\LSDEnabled=false
Session\\PeXEnabled=false
Session\\Port={port}
Session\\InterfaceAddress=127.0.0.1
Session\\BTProtocol=TCP
Session\\QueueingSystemEnabled=false
Session\\IgnoreLimitsOnLAN=false
Session\\Encryption={encryption}

[Preferences]
Connection\\UPnP=false
General\\Locale=en
WebUI\\Port={web}
WebUI\\Address=127.0.0.1
WebUI\\LocalHostAuth=false
WebUI\\CSRFProtection=false
WebUI\\HostHeaderValidation=false
"""

# Torrent states in which qBittorrent has every piece verified.
DONE = {"uploading", "stalledUP", "pausedUP", "queuedUP", "forcedUP"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Api:
    def __init__(self, port):
        self.base = "http://127.0.0.1:%d/api/v2/" % port

    def get(self, path, **query):
        url = self.base + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.read()

    def post(self, path, body, content_type="application/x-www-form-urlencoded"):
        req = urllib.request.Request(self.base + path, data=body, method="POST")
        req.add_header("Content-Type", content_type)
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.read()

    def form(self, path, **fields):
        return self.post(path, urllib.parse.urlencode(fields).encode())

    def add_torrent(self, torrent_path, save, seed):
        boundary = uuid.uuid4().hex
        parts = []
        fields = {"savepath": save, "paused": "false", "root_folder": "false",
                  "contentLayout": "Original"}
        if seed:
            fields["skip_checking"] = "true"
        for k, v in fields.items():
            parts.append(("--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n"
                          % (boundary, k, v)).encode())
        with open(torrent_path, "rb") as f:
            data = f.read()
        parts.append(("--%s\r\nContent-Disposition: form-data; name=\"torrents\"; "
                      "filename=\"t.torrent\"\r\nContent-Type: application/x-bittorrent\r\n\r\n"
                      % boundary).encode() + data + b"\r\n")
        parts.append(("--%s--\r\n" % boundary).encode())
        reply = self.post("torrents/add", b"".join(parts),
                          "multipart/form-data; boundary=%s" % boundary)
        if reply.strip() != b"Ok.":
            raise RuntimeError("torrents/add refused: %r" % reply)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("torrent")
    p.add_argument("save")
    p.add_argument("port", type=int)
    p.add_argument("--seed", action="store_true")
    p.add_argument("--peer", action="append", default=[])
    p.add_argument("--timeout", type=float, default=120)
    # default: qBittorrent's own (0, encryption allowed); required: 1.
    p.add_argument("--enc", choices=["default", "required"], default="default")
    a = p.parse_args()
    deadline = time.time() + a.timeout

    profile = tempfile.mkdtemp(prefix="qbt-profile-")
    web = free_port()
    conf = os.path.join(profile, "qBittorrent", "config")
    os.makedirs(conf)
    with open(os.path.join(conf, "qBittorrent.conf"), "w") as f:
        f.write(CONFIG.format(port=a.port, web=web,
                              encryption=1 if a.enc == "required" else 0))
    log = open(os.path.join(profile, "qbittorrent.log"), "w")
    qbt = subprocess.Popen(["qbittorrent-nox", "--profile=" + profile],
                           stdout=log, stderr=subprocess.STDOUT)
    code = 2
    try:
        code = run(a, Api(web), qbt, deadline)
    finally:
        qbt.terminate()
        try:
            qbt.wait(timeout=5)
        except subprocess.TimeoutExpired:
            qbt.kill()
            qbt.wait()
        log.close()
        if code != 0:
            with open(os.path.join(profile, "qbittorrent.log")) as f:
                sys.stderr.write(f.read())
        shutil.rmtree(profile, ignore_errors=True)
    sys.exit(code)


def run(a, api, qbt, deadline):
    while True:
        if qbt.poll() is not None:
            print("qbittorrent-nox exited with %s" % qbt.returncode, file=sys.stderr)
            return 2
        try:
            version = api.get("app/version").decode()
            break
        except (urllib.error.URLError, ConnectionError, OSError):
            if time.time() > deadline:
                print("qBittorrent Web API never answered", file=sys.stderr)
                return 2
            time.sleep(0.1)
    want = 1 if a.enc == "required" else 0
    got = json.loads(api.get("app/preferences")).get("encryption")
    if got != want:
        print("qBittorrent encryption setting is %r, wanted %d" % (got, want), file=sys.stderr)
        return 2
    print("qBittorrent %s listening on 127.0.0.1:%d" % (version, a.port),
          file=sys.stderr, flush=True)

    start = time.time()
    api.add_torrent(a.torrent, os.path.abspath(a.save), a.seed)
    info_hash = None
    while info_hash is None:
        listed = json.loads(api.get("torrents/info"))
        if listed:
            info_hash = listed[0]["hash"]
        elif time.time() > deadline:
            print("torrent never listed", file=sys.stderr)
            return 2
        else:
            time.sleep(0.1)

    announced_seeding = False
    next_dial = 0.0
    clients = set()
    while time.time() < deadline:
        now = time.time()
        try:
            if a.peer and now >= next_dial:
                api.form("torrents/addPeers", hashes=info_hash, peers="|".join(a.peer))
                next_dial = now + 2
            t = json.loads(api.get("torrents/info", hashes=info_hash))[0]
            peers = json.loads(api.get("sync/torrentPeers", hash=info_hash, rid=0))
        except (OSError, ValueError, IndexError) as e:
            # A slow answer on a loaded machine: ask again.
            print("qBittorrent Web API: %s" % e, file=sys.stderr, flush=True)
            time.sleep(0.2)
            continue
        clients.update(p.get("client", "") for p in peers.get("peers", {}).values())
        if t["state"] in ("error", "missingFiles"):
            print("qBittorrent torrent state %s" % t["state"], file=sys.stderr)
            return 2
        if a.seed:
            if not announced_seeding and t["state"] in DONE and t["progress"] >= 1:
                print("seeding", flush=True)
                announced_seeding = True
        elif t["progress"] >= 1 and t["state"] in DONE:
            # The transfer counters are refreshed on their own schedule:
            # give them a moment to catch up with the verified pieces.
            settle = time.time() + 10
            while t["downloaded"] < t["total_size"] and time.time() < settle:
                time.sleep(0.2)
                try:
                    t = json.loads(api.get("torrents/info", hashes=info_hash))[0]
                except (OSError, ValueError, IndexError):
                    pass
            print(json.dumps({
                "seconds": time.time() - start,
                "bytes": t["downloaded"],
                "clients": sorted(clients),
            }), flush=True)
            return 0
        time.sleep(0.1)
    if a.seed:
        return 0
    print("timed out", file=sys.stderr)
    return 2


if __name__ == "__main__":
    main()
