"""A scripted malicious seeder for ban tests: speaks the peer wire protocol,
claims every piece, and answers requests with real data except for the
pieces named with --corrupt, whose blocks it flips. Loopback only.

usage: evil_seeder.py --torrent T --data FILE --port P --corrupt 0,3,5
  [--corrupt-all] [--log FILE]
Prints "listening PORT" when ready; serves until killed. Logs one line per
connection and when a connection is closed by the peer (to tell a ban).
Only single-file torrents (tests create them).
"""
import argparse
import hashlib
import os
import socket
import struct
import sys
import threading


def bdecode(data, i=0):
    c = data[i:i + 1]
    if c == b"i":
        j = data.index(b"e", i)
        return int(data[i + 1:j]), j + 1
    if c == b"l":
        i += 1
        out = []
        while data[i:i + 1] != b"e":
            v, i = bdecode(data, i)
            out.append(v)
        return out, i + 1
    if c == b"d":
        i += 1
        out = {}
        start = i - 1
        while data[i:i + 1] != b"e":
            k, i = bdecode(data, i)
            vstart = i
            v, i = bdecode(data, i)
            out[k] = v
            if k == b"info":
                out[b"__info_raw"] = data[vstart:i]
        return out, i + 1
    n = data.index(b":", i)
    ln = int(data[i:n])
    return data[n + 1:n + 1 + ln], n + 1 + ln


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def serve(conn, addr, args, info_hash, piece_len, num_pieces, data, log):
    peer_id = b"-EV0001-" + os.urandom(6).hex().encode()[:12]
    try:
        hs = recv_exact(conn, 68)
        if hs[28:48] != info_hash:
            conn.close()
            return
        conn.sendall(bytes([19]) + b"BitTorrent protocol" + bytes(8) + info_hash + peer_id)
        nbytes = (num_pieces + 7) // 8
        bits = bytearray(b"\xff" * nbytes)
        spare = nbytes * 8 - num_pieces
        if spare:
            bits[-1] &= (0xff << spare) & 0xff
        conn.sendall(struct.pack(">IB", 1 + nbytes, 5) + bytes(bits))
        conn.sendall(struct.pack(">IB", 1, 1))  # unchoke
        log(f"connected {addr[0]}:{addr[1]}")
        while True:
            (ln,) = struct.unpack(">I", recv_exact(conn, 4))
            if ln == 0:
                continue
            body = recv_exact(conn, ln)
            if body[0] == 6 and ln == 13:  # request
                index, begin, length = struct.unpack(">III", body[1:])
                off = index * piece_len + begin
                block = bytearray(data[off:off + length])
                if args.corrupt_all or index in args.corrupt:
                    for k in range(0, len(block), 97):
                        block[k] ^= 0x5A
                conn.sendall(struct.pack(">IBII", 9 + len(block), 7, index, begin) + bytes(block))
    except (EOFError, ConnectionError, OSError):
        log(f"closed {addr[0]}:{addr[1]}")
    finally:
        conn.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--torrent", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--corrupt", default="")
    p.add_argument("--corrupt-all", action="store_true")
    p.add_argument("--log")
    args = p.parse_args()
    args.corrupt = {int(x) for x in args.corrupt.split(",") if x}
    meta, _ = bdecode(open(args.torrent, "rb").read())
    info = meta[b"info"]
    info_hash = hashlib.sha1(meta[b"__info_raw"]).digest()
    piece_len = info[b"piece length"]
    num_pieces = len(info[b"pieces"]) // 20
    data = open(args.data, "rb").read()
    lock = threading.Lock()
    logf = open(args.log, "a") if args.log else sys.stderr

    def log(msg):
        with lock:
            logf.write(msg + "\n")
            logf.flush()

    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((args.host, args.port))
    srv.listen(16)
    print(f"listening {args.port}", flush=True)
    while True:
        conn, addr = srv.accept()
        threading.Thread(target=serve, args=(conn, addr, args, info_hash, piece_len,
                                             num_pieces, data, log), daemon=True).start()


main()
