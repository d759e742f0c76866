"""Join two BitTorrent peers that both only accept connections.

usage: bt_bridge.py INFO_HASH_HEX PORT_A PORT_B

Transmission 3.00 never dials a 127.x peer, so two Transmissions on loopback
never meet. This dials both 127.0.0.1:PORT_A and 127.0.0.1:PORT_B (retrying
until they listen), sends each a handshake for INFO_HASH with the reserved
(extension) bits that A itself sends, so two peers of the same client each
see exactly their own extensions on the other side; reads each one's
handshake (retrying for 30 s), then copies bytes both ways until one side
closes. Prints `bridged` on stdout once both handshakes are done. (With no
reserved bits at all two Transmissions stalled at the last pieces.)
"""
import os
import socket
import sys
import threading
import time


def handshake(port, info_hash, reserved):
    """Dial 127.0.0.1:port and swap handshakes; None if that failed."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        peer_id = b"-BR0001-" + os.urandom(12)
        s.sendall(b"\x13BitTorrent protocol" + reserved + info_hash + peer_id)
        reply = b""
        while len(reply) < 68:
            chunk = s.recv(68 - len(reply))
            if not chunk:
                return None
            reply += chunk
    except OSError:
        return None
    if reply[28:48] != info_hash:
        return None
    s.settimeout(None)
    return s, reply[20:28]


def connect(port, info_hash, reserved):
    """Retry for 30 s: the peer may not listen yet, or still be checking.
    Returns the socket and the peer's reserved bits."""
    deadline = time.time() + 30
    while time.time() < deadline:
        s = handshake(port, info_hash, reserved)
        if s:
            return s
        time.sleep(0.2)
    raise SystemExit("no handshake from 127.0.0.1:%d" % port)


def pump(src, dst):
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    try:
        while True:
            n = src.recv_into(buf)
            if n == 0:
                break
            dst.sendall(view[:n])
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def main():
    info_hash = bytes.fromhex(sys.argv[1])
    # Learn A's extension bits first, then offer exactly those to both.
    probe, reserved = connect(int(sys.argv[2]), info_hash, bytes(8))
    probe.close()
    a, _ = connect(int(sys.argv[2]), info_hash, reserved)
    b, _ = connect(int(sys.argv[3]), info_hash, reserved)
    print("bridged", flush=True)
    t = threading.Thread(target=pump, args=(a, b), daemon=True)
    t.start()
    pump(b, a)
    t.join()


main()
