"""What a .torrent holds, as libtorrent reads it, for the benchmarks' checks.

usage: torrent_summary.py TORRENT
Prints one JSON line: info_hash (v1, hex), piece_length, num_pieces,
total_size, files (count, pad files left out), v2 (whether it has v2
hashes), pieces_digest (SHA-1 of all v1 piece hashes in order: two torrents
with the same digest hashed the same data the same way). Exits 1 with a
message if libtorrent cannot load it. Run with /usr/bin/python3.
"""
import hashlib
import json
import sys

import libtorrent as lt


def main():
    try:
        ti = lt.torrent_info(sys.argv[1])
    except RuntimeError as e:
        print("cannot load %s: %s" % (sys.argv[1], e), file=sys.stderr)
        return 1
    fs = ti.files()
    digest = hashlib.sha1()
    for i in range(ti.num_pieces()):
        digest.update(bytes(ti.hash_for_piece(i)))
    print(json.dumps({
        "info_hash": str(ti.info_hashes().v1),
        "piece_length": ti.piece_length(),
        "num_pieces": ti.num_pieces(),
        "total_size": ti.total_size(),
        "files": sum(1 for i in range(fs.num_files())
                     if not fs.file_flags(i) & lt.file_storage.flag_pad_file),
        "v2": ti.info_hashes().has_v2(),
        "pieces_digest": digest.hexdigest(),
    }))
    return 0


sys.exit(main())
