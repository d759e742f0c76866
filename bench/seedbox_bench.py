"""Seedbox benchmark driver (see seedbox-bench.sh).

N small torrents with their data present are added, one API call each, to
`shoal daemon`, `transmission-daemon` and `qbittorrent-nox` in turn, each on
loopback with DHT/LSD/PEX/UPnP off, no queueing and no rate limits. For
each it prints: seconds from launch to every torrent seeding, RSS once
settled, CPU used over IDLE seconds of idling, the latency of one
`torrent-get` of every torrent (Shoal and Transmission, the same RPC and
fields as `transmission-remote -l`), and seconds from a restart (SIGTERM,
launch again) to every torrent seeding. Any failure aborts.
"""
import argparse
import base64
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid

LIST_FIELDS = ["id", "name", "status", "error", "errorString", "eta", "isFinished",
               "leftUntilDone", "peersGettingFromUs", "peersSendingToUs", "rateDownload",
               "rateUpload", "sizeWhenDone", "uploadRatio"]
TICK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bstr(b):
    return str(len(b)).encode() + b":" + b


def make_torrents(work, n, size):
    data = os.path.join(work, "data")
    tdir = os.path.join(work, "torrents")
    os.makedirs(data, exist_ok=True)
    os.makedirs(tdir, exist_ok=True)
    out = []
    for i in range(n):
        name = "f%05d.bin" % i
        content = hashlib.sha256(b"seedbox%d" % i).digest() * (size // 32)
        with open(os.path.join(data, name), "wb") as f:
            f.write(content)
        pieces = b"".join(hashlib.sha1(content[o:o + 16384]).digest()
                          for o in range(0, len(content), 16384))
        info = (b"d6:lengthi%de4:name" % len(content) + bstr(name.encode())
                + b"12:piece lengthi16384e6:pieces" + bstr(pieces) + b"e")
        t = b"d4:info" + info + b"e"
        path = os.path.join(tdir, name + ".torrent")
        with open(path, "wb") as f:
            f.write(t)
        out.append(path)
    return data, out


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return int(parts[11]) + int(parts[12])


class TransmissionRpc:
    """The legacy Transmission RPC with the session-id handshake."""

    def __init__(self, port):
        self.url = "http://127.0.0.1:%d/transmission/rpc" % port
        self.sid = ""

    def call(self, method, arguments):
        body = json.dumps({"method": method, "arguments": arguments}).encode()
        for _ in range(3):
            req = urllib.request.Request(self.url, data=body, method="POST")
            req.add_header("X-Transmission-Session-Id", self.sid)
            req.add_header("Content-Type", "application/json")
            try:
                with urllib.request.urlopen(req, timeout=120) as r:
                    reply = json.loads(r.read())
            except urllib.error.HTTPError as e:
                if e.code == 409:
                    self.sid = e.headers.get("X-Transmission-Session-Id", "")
                    continue
                raise
            if reply.get("result") != "success":
                raise RuntimeError("%s: %s" % (method, reply.get("result")))
            return reply["arguments"]
        raise RuntimeError("409 loop")

    def ready(self):
        try:
            self.call("session-get", {})
            return True
        except (OSError, urllib.error.URLError):
            return False

    def add(self, torrent, data):
        with open(torrent, "rb") as f:
            meta = base64.b64encode(f.read()).decode()
        self.call("torrent-add", {"metainfo": meta, "download-dir": data})

    def seeding(self):
        ts = self.call("torrent-get", {"fields": ["status"]})["torrents"]
        return sum(1 for t in ts if t["status"] == 6)

    def list_latency(self):
        best = []
        for _ in range(5):
            t0 = time.perf_counter()
            n = len(self.call("torrent-get", {"fields": LIST_FIELDS})["torrents"])
            best.append(time.perf_counter() - t0)
        return sorted(best)[2], n


class QbtApi:
    def __init__(self, port):
        self.base = "http://127.0.0.1:%d/api/v2/" % port

    def ready(self):
        try:
            with urllib.request.urlopen(self.base + "app/version", timeout=5) as r:
                return r.status == 200
        except (OSError, urllib.error.URLError):
            return False

    def add(self, torrent, data):
        boundary = uuid.uuid4().hex
        parts = []
        for k, v in {"savepath": data, "paused": "false", "contentLayout": "Original"}.items():
            parts.append(("--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n"
                          % (boundary, k, v)).encode())
        with open(torrent, "rb") as f:
            blob = f.read()
        parts.append(("--%s\r\nContent-Disposition: form-data; name=\"torrents\"; "
                      "filename=\"t.torrent\"\r\nContent-Type: application/x-bittorrent\r\n\r\n"
                      % boundary).encode() + blob + b"\r\n")
        parts.append(("--%s--\r\n" % boundary).encode())
        req = urllib.request.Request(self.base + "torrents/add", data=b"".join(parts), method="POST")
        req.add_header("Content-Type", "multipart/form-data; boundary=%s" % boundary)
        with urllib.request.urlopen(req, timeout=60) as r:
            if r.read().strip() != b"Ok.":
                raise RuntimeError("qbittorrent refused a torrent")

    def seeding(self):
        with urllib.request.urlopen(self.base + "torrents/info", timeout=120) as r:
            ts = json.loads(r.read())
        return sum(1 for t in ts if t["state"] in ("uploading", "stalledUP", "forcedUP", "queuedUP"))


class Client:
    def __init__(self, name, work, shoal):
        self.name = name
        self.work = os.path.join(work, name)
        os.makedirs(self.work, exist_ok=True)
        self.shoal = shoal
        self.api_port = free_port()
        self.peer_port = free_port()
        self.proc = None
        self.log = open(os.path.join(self.work, "log.txt"), "a")

    def launch(self, data):
        if self.name == "shoal":
            cmd = [self.shoal, "daemon", "--api", "127.0.0.1:%d" % self.api_port,
                   "--state-dir", os.path.join(self.work, "state"), "--download-root", data,
                   "--listen", "127.0.0.1:%d" % self.peer_port, "--no-dht"]
            self.api = TransmissionRpc(self.api_port)
        elif self.name == "transmission":
            conf = os.path.join(self.work, "conf")
            os.makedirs(conf, exist_ok=True)
            settings = {
                "rpc-port": self.api_port, "rpc-bind-address": "127.0.0.1",
                "rpc-authentication-required": False, "rpc-whitelist-enabled": False,
                "rpc-host-whitelist-enabled": False, "dht-enabled": False, "lpd-enabled": False,
                "utp-enabled": False, "pex-enabled": False, "port-forwarding-enabled": False,
                "peer-port": self.peer_port, "bind-address-ipv4": "127.0.0.1",
                "download-dir": data, "download-queue-enabled": False,
                "seed-queue-enabled": False, "queue-stalled-enabled": False,
                "ratio-limit-enabled": False, "idle-seeding-limit-enabled": False,
                "start-added-torrents": True, "message-level": 1,
            }
            path = os.path.join(conf, "settings.json")
            if not os.path.exists(path):
                with open(path, "w") as f:
                    json.dump(settings, f)
            cmd = ["transmission-daemon", "-f", "-g", conf]
            self.api = TransmissionRpc(self.api_port)
        else:
            profile = os.path.join(self.work, "profile")
            conf = os.path.join(profile, "qBittorrent", "config")
            os.makedirs(conf, exist_ok=True)
            path = os.path.join(conf, "qBittorrent.conf")
            if not os.path.exists(path):
                with open(path, "w") as f:
                    f.write("[LegalNotice]\nAccepted=true\n\n[BitTorrent]\n"
                            "Session\\DHTEnabled=false\nSession\\LSDEnabled=false\n"
                            "Session\\PeXEnabled=false\nSession\\Port=%d\n"
                            "Session\\InterfaceAddress=127.0.0.1\nSession\\BTProtocol=TCP\n"
                            "Session\\QueueingSystemEnabled=false\n\n[Preferences]\n"
                            "Connection\\UPnP=false\nWebUI\\Port=%d\nWebUI\\Address=127.0.0.1\n"
                            "WebUI\\LocalHostAuth=false\nWebUI\\CSRFProtection=false\n"
                            "WebUI\\HostHeaderValidation=false\n" % (self.peer_port, self.api_port))
            cmd = ["qbittorrent-nox", "--profile=" + profile]
            self.api = QbtApi(self.api_port)
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=self.log,
                                     env=dict(os.environ, SHOAL_DHT_ROUTERS=""))
        deadline = time.time() + 60
        while not self.api.ready():
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("%s did not start (see %s)" % (self.name, self.log.name))
            time.sleep(0.05)

    def wait_seeding(self, n, limit):
        deadline = time.time() + limit
        while True:
            got = self.api.seeding()
            if got >= n:
                return
            if time.time() > deadline or self.proc.poll() is not None:
                raise RuntimeError("%s: %d of %d seeding after %ds" % (self.name, got, n, limit))
            time.sleep(0.5)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError("%s did not stop within 120 s of SIGTERM" % self.name)


def run_client(name, work, shoal, data, torrents, idle):
    c = Client(name, work, shoal)
    n = len(torrents)
    t0 = time.time()
    c.launch(data)
    for t in torrents:
        c.api.add(t, data)
    c.wait_seeding(n, 1800)
    to_seed = time.time() - t0
    time.sleep(5)
    rss = rss_kib(c.proc.pid)
    ticks = cpu_ticks(c.proc.pid)
    time.sleep(idle)
    idle_cpu = (cpu_ticks(c.proc.pid) - ticks) / TICK / idle * 100
    latency = None
    if isinstance(c.api, TransmissionRpc):
        latency, listed = c.api.list_latency()
        if listed != n:
            raise RuntimeError("%s: torrent-get listed %d of %d" % (name, listed, n))
    c.stop()
    t1 = time.time()
    c.launch(data)
    c.wait_seeding(n, 1800)
    restart = time.time() - t1
    c.stop()
    return {"client": name, "to_seeding_s": round(to_seed, 2), "rss_mib": round(rss / 1024, 1),
            "idle_cpu_pct": round(idle_cpu, 2),
            "torrent_get_ms": None if latency is None else round(latency * 1000, 1),
            "restart_s": round(restart, 2)}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--shoal", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("-n", type=int, default=10000)
    p.add_argument("--size", type=int, default=16384)
    p.add_argument("--idle", type=float, default=60)
    p.add_argument("--clients", default="shoal,transmission,qbittorrent")
    a = p.parse_args()
    data, torrents = make_torrents(a.work, a.n, a.size)
    print("%d torrents of %d bytes in %s" % (a.n, a.size, a.work), flush=True)
    rows = []
    for name in a.clients.split(","):
        r = run_client(name, a.work, a.shoal, data, torrents, a.idle)
        print(json.dumps(r), flush=True)
        rows.append(r)
    print()
    print("%-13s %10s %9s %9s %14s %10s" % ("client", "to seed s", "RSS MiB", "idle CPU%",
                                            "torrent-get ms", "restart s"))
    for r in rows:
        print("%-13s %10s %9s %9s %14s %10s" % (r["client"], r["to_seeding_s"], r["rss_mib"],
                                                r["idle_cpu_pct"], r["torrent_get_ms"],
                                                r["restart_s"]))
    shoal = next((r for r in rows if r["client"] == "shoal"), None)
    if shoal:
        for r in rows:
            if r is shoal:
                continue
            print("ratio %s/shoal: to seed %.2fx, RSS %.2fx, restart %.2fx" % (
                r["client"], r["to_seeding_s"] / max(shoal["to_seeding_s"], 1e-9),
                r["rss_mib"] / max(shoal["rss_mib"], 1e-9),
                r["restart_s"] / max(shoal["restart_s"], 1e-9)))


if __name__ == "__main__":
    main()
