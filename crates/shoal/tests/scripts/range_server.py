"""An HTTP file server with Range support (Python's http.server has none),
for the web seed (BEP 19) interop tests.

usage: range_server.py ROOT [--corrupt] [--rate BYTES/S]

Serves the files under ROOT on 127.0.0.1 (a free port), answering
`Range: bytes=A-B` with 206 and Content-Range, one request per connection.
Prints `listening on 127.0.0.1:PORT` on stderr, then one line per request
(`GET PATH RANGE`). --corrupt flips a byte in every 16 KiB of each body;
--rate sends each body at about that many bytes per second.
"""
import argparse
import os
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main():
    p = argparse.ArgumentParser()
    p.add_argument("root")
    p.add_argument("--corrupt", action="store_true")
    p.add_argument("--rate", type=int, default=0)
    a = p.parse_args()
    root = os.path.realpath(a.root)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            pass

        def do_GET(self):
            rng = self.headers.get("Range")
            print("GET %s %s" % (self.path, rng), file=sys.stderr, flush=True)
            rel = urllib.parse.unquote(self.path.split("?", 1)[0]).lstrip("/")
            path = os.path.realpath(os.path.join(root, rel))
            if not path.startswith(root + os.sep) or not os.path.isfile(path):
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.send_header("Connection", "close")
                self.end_headers()
                return
            total = os.path.getsize(path)
            start, end, status = 0, total, 200
            if rng and rng.startswith("bytes="):
                first, _, last = rng[6:].partition("-")
                start = int(first)
                end = min(int(last) + 1, total) if last else total
                status = 206
            with open(path, "rb") as f:
                f.seek(start)
                body = bytearray(f.read(end - start))
            if a.corrupt:
                for i in range(0, len(body), 16384):
                    body[i] ^= 0xFF
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            if status == 206:
                self.send_header("Content-Range", "bytes %d-%d/%d" % (start, end - 1, total))
            self.end_headers()
            if a.rate:
                step = max(1024, a.rate // 20)
                for i in range(0, len(body), step):
                    self.wfile.write(body[i:i + step])
                    time.sleep(0.05)
            else:
                self.wfile.write(body)
            self.close_connection = True

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    print("listening on 127.0.0.1:%d" % srv.server_address[1], file=sys.stderr, flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
