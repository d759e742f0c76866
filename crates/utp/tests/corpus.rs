//! Replays every file of the fuzz corpus through the fuzz harness, so seeds
//! and any crash artifacts copied into the corpus stay regression tests
//! under a plain `cargo test`.

use std::path::PathBuf;

#[path = "../fuzz/harness.rs"]
mod harness;

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/utp_packet")
}

fn corpus_file(name: &str) -> Vec<u8> {
    std::fs::read(corpus_dir().join(name)).unwrap()
}

#[test]
fn replay_every_corpus_file() {
    let mut files: Vec<_> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(files.len() >= 10, "corpus has only {} files", files.len());
    for path in files {
        let data = std::fs::read(&path).unwrap();
        let result = std::panic::catch_unwind(|| harness::run(&data));
        assert!(result.is_ok(), "corpus file {} failed", path.display());
    }
}

#[test]
fn seeds_exercise_what_they_say() {
    use shoal_utp::packet::PacketType;
    let p = |name: &str| {
        let data = corpus_file(name);
        harness::check_roundtrip(&data)
            .map(|p| (p.header.ty, p.sack.map(<[u8]>::len), p.payload.len()))
    };
    assert_eq!(p("syn"), Some((PacketType::Syn, None, 0)));
    assert_eq!(p("data"), Some((PacketType::Data, None, 11)));
    assert_eq!(p("state-sack"), Some((PacketType::State, Some(4), 0)));
    assert_eq!(p("unknown-ext"), Some((PacketType::State, Some(4), 1)));
    for bad in [
        "truncated-ext",
        "too-short",
        "bad-version",
        "krpc",
        "many-ext",
    ] {
        assert_eq!(p(bad), None, "{bad}");
    }

    let mut buf = vec![0u8; 1000];
    let mut c = harness::feed_connection(&corpus_file("conn-inorder-fin"));
    assert_eq!(c.read(&mut buf), 100);
    assert!(c.is_eof());
    let mut c = harness::feed_connection(&corpus_file("conn-out-of-order"));
    assert_eq!(c.read(&mut buf), 120);
    assert_eq!(&buf[..3], b"aaa");
    assert_eq!(&buf[80..83], b"ccc");
    let c = harness::feed_connection(&corpus_file("conn-reset"));
    assert_eq!(c.state(), shoal_utp::State::Reset);
    let c = harness::feed_connection(&corpus_file("conn-ack-unsent"));
    assert_eq!(c.stats().dropped, 1);
}

mod arbitrary {
    use super::harness;
    use proptest::prelude::*;
    use shoal_utp::packet::{Header, Packet, PacketType};

    fn packet_type() -> impl Strategy<Value = PacketType> {
        (0u8..5).prop_map(|c| PacketType::from_code(c).unwrap())
    }

    proptest! {
        /// Arbitrary bytes: the parser and a connection fed them never
        /// panic, and whatever parses re-encodes to the same packet.
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..400)) {
            harness::run(&data);
        }

        /// Every packet we can build encodes and parses back to itself.
        #[test]
        fn built_packets_roundtrip(
            ty in packet_type(),
            fields in (any::<u16>(), any::<u32>(), any::<u32>(), any::<u32>(), any::<u16>(), any::<u16>()),
            sack in proptest::option::of(proptest::collection::vec(any::<u8>(), 1..40)),
            max_datagram in proptest::option::of(any::<u32>()),
            payload in proptest::collection::vec(any::<u8>(), 0..100),
        ) {
            let (conn_id, timestamp_us, timestamp_diff_us, wnd_size, seq_nr, ack_nr) = fields;
            let p = Packet {
                header: Header { ty, conn_id, timestamp_us, timestamp_diff_us, wnd_size, seq_nr, ack_nr },
                sack: sack.as_deref(),
                max_datagram,
                payload: &payload,
            };
            let bytes = p.to_vec();
            prop_assert_eq!(bytes.len(), p.encoded_len());
            prop_assert!(shoal_utp::looks_like_utp(&bytes));
            prop_assert_eq!(Packet::parse(&bytes).unwrap(), p);
        }
    }
}
