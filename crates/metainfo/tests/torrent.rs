use shoal_bencode::{Encoder, OwnedValue};
use shoal_metainfo::{
    verify_dir, CreateOptions, CreateProgress, Creator, MetainfoError, PieceStatus, Torrent,
};
use std::collections::BTreeMap;

fn d(pairs: Vec<(&str, OwnedValue)>) -> OwnedValue {
    OwnedValue::Dict(
        pairs
            .into_iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v))
            .collect::<BTreeMap<_, _>>(),
    )
}

fn l(items: Vec<OwnedValue>) -> OwnedValue {
    OwnedValue::List(items)
}

fn s(x: &str) -> OwnedValue {
    OwnedValue::bytes(x)
}

fn single(piece_length: i64, length: i64, pieces: usize) -> Vec<u8> {
    d(vec![
        ("announce", s("http://127.0.0.1:6969/announce")),
        (
            "info",
            d(vec![
                ("name", s("file.bin")),
                ("piece length", OwnedValue::Int(piece_length)),
                ("length", OwnedValue::Int(length)),
                ("pieces", OwnedValue::Bytes(vec![7u8; pieces * 20])),
            ]),
        ),
    ])
    .to_bencode()
}

fn multi(paths: Vec<Vec<&str>>) -> Vec<u8> {
    let files = paths
        .into_iter()
        .map(|p| {
            d(vec![
                ("length", OwnedValue::Int(10)),
                ("path", l(p.into_iter().map(s).collect())),
            ])
        })
        .collect::<Vec<_>>();
    let n = files.len();
    d(vec![(
        "info",
        d(vec![
            ("name", s("dir")),
            ("piece length", OwnedValue::Int(16384)),
            ("files", l(files)),
            (
                "pieces",
                OwnedValue::Bytes(vec![1u8; 20 * (n * 10).div_ceil(16384)]),
            ),
        ]),
    )])
    .to_bencode()
}

fn err(bytes: &[u8]) -> String {
    let e = Torrent::from_bytes(bytes).expect_err("must be rejected");
    let msg = e.to_string();
    assert!(!msg.contains('\n'), "one line: {msg}");
    msg
}

#[test]
fn parses_single_file() {
    let t = Torrent::from_bytes(&single(16384, 40000, 3)).unwrap();
    assert_eq!(t.name, "file.bin");
    assert_eq!(t.piece_count(), 3);
    assert_eq!(t.total_length(), 40000);
    assert_eq!(
        t.trackers,
        vec![vec!["http://127.0.0.1:6969/announce".to_string()]]
    );
    assert!(!t.private);
}

#[test]
fn info_hash_is_over_raw_bytes_even_with_unsorted_keys() {
    // Keys deliberately out of order inside info.
    let info =
        b"d6:lengthi5e4:name1:x12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaa7:privatei1ee";
    let mut e = Encoder::new();
    e.begin_dict().key("info").raw(info).end();
    let t = Torrent::from_bytes(e.as_bytes()).unwrap();
    assert_eq!(t.info_hash, shoal_metainfo::InfoHash::of(info));
    assert_eq!(t.info_bytes, info);
    assert!(t.private);
    let reordered =
        b"d4:name1:x6:lengthi5e12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaa7:privatei1ee";
    let mut e = Encoder::new();
    e.begin_dict().key("info").raw(reordered).end();
    assert_ne!(
        Torrent::from_bytes(e.as_bytes()).unwrap().info_hash,
        t.info_hash
    );
}

#[test]
fn announce_list_tiers() {
    let bytes = d(vec![
        ("announce", s("http://a/announce")),
        (
            "announce-list",
            l(vec![
                l(vec![s("http://b/1"), s("udp://c:1")]),
                l(vec![]),
                l(vec![s("http://d/")]),
            ]),
        ),
        ("url-list", l(vec![s("http://web/seed")])),
        ("comment", s("hi")),
        ("creation date", OwnedValue::Int(1700000000)),
        (
            "info",
            d(vec![
                ("name", s("f")),
                ("piece length", OwnedValue::Int(16384)),
                ("length", OwnedValue::Int(1)),
                ("pieces", OwnedValue::Bytes(vec![0u8; 20])),
            ]),
        ),
    ])
    .to_bencode();
    let t = Torrent::from_bytes(&bytes).unwrap();
    assert_eq!(
        t.trackers,
        vec![
            vec!["http://b/1".to_string(), "udp://c:1".to_string()],
            vec!["http://d/".to_string()]
        ]
    );
    assert_eq!(t.web_seeds, vec!["http://web/seed"]);
    assert_eq!(t.comment.as_deref(), Some("hi"));
    assert_eq!(t.creation_date, Some(1700000000));
}

#[test]
fn rejects_path_attacks() {
    for (paths, what) in [
        (vec![vec!["..", "etc", "passwd"]], "'.' or '..'"),
        (vec![vec!["a", "..", "b"]], "'.' or '..'"),
        (vec![vec!["/etc/passwd"]], "separator"),
        (vec![vec!["a/../../b"]], "separator"),
        (vec![vec!["a\\..\\b"]], "separator"),
        (vec![vec!["", "b"]], "empty"),
        (vec![vec!["."]], "'.' or '..'"),
        (vec![vec!["a\0b"]], "NUL"),
        (vec![vec![]], "empty path"),
        (vec![vec!["x"], vec!["x"]], "conflicting"),
        (vec![vec!["x"], vec!["x", "y"]], "conflicting"),
        (vec![vec!["x", "y"], vec!["x"]], "conflicting"),
    ] {
        let msg = err(&multi(paths.clone()));
        assert!(msg.contains(what), "{paths:?}: {msg}");
    }
    // Unsafe torrent name.
    let bytes = d(vec![(
        "info",
        d(vec![
            ("name", s("..")),
            ("piece length", OwnedValue::Int(16384)),
            ("length", OwnedValue::Int(1)),
            ("pieces", OwnedValue::Bytes(vec![0u8; 20])),
        ]),
    )])
    .to_bencode();
    assert!(err(&bytes).contains("'.' or '..'"));
}

#[test]
fn rejects_bad_sizes() {
    assert!(err(&single(16384, 40000, 2)).contains("'pieces' is 40 bytes but 3 pieces need 60"));
    assert!(err(&single(16384, 40000, 4)).contains("pieces"));
    assert!(err(&single(0, 10, 1)).contains("invalid piece length 0"));
    assert!(err(&single(1 << 40, 10, 1)).contains("invalid piece length 1099511627776"));
    assert!(err(&single(30000, 10, 1)).contains("power of two"));
    assert!(err(&single(16384, -1, 1)).contains("invalid file length -1"));
    assert!(err(&single(16384, i64::MAX, 1)).contains("invalid file length"));
    assert!(err(&single(16384, 0, 0)).contains("no data"));
    // 2^63 does not even fit a bencode integer.
    let huge = b"d4:infod6:lengthi9223372036854775808e4:name1:x12:piece lengthi16384e6:pieces0:ee";
    assert!(err(huge).contains("out of 64-bit range"));
}

#[test]
fn rejects_structural_garbage() {
    assert!(err(b"i1e").contains("not a bencoded dictionary"));
    assert!(err(b"de").contains("missing required key 'info'"));
    assert!(err(b"d4:infoi1ee").contains("'info' should be a dictionary"));
    // 100,000 levels of nesting.
    let mut deep = b"d4:info".to_vec();
    deep.extend(std::iter::repeat_n(b'l', 100_000));
    assert!(err(&deep).contains("nesting deeper"));
    // A 4 GiB string length declared in a 1 KiB file.
    let mut bomb = b"d4:infod6:pieces4294967296:".to_vec();
    bomb.resize(1024, b'x');
    assert!(err(&bomb).contains("declares 4294967296 bytes"));
}

#[test]
fn create_and_verify_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("content");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::write(root.join("a.bin"), vec![1u8; 50_000]).unwrap();
    std::fs::write(root.join("empty"), b"").unwrap();
    std::fs::write(root.join("sub/ü.txt"), vec![2u8; 12_345]).unwrap();
    let c = Creator::scan(&root).unwrap();
    assert_eq!(c.files.len(), 3);
    let opts = CreateOptions {
        piece_length: Some(16384),
        trackers: vec![vec!["http://127.0.0.1:1/announce".into()]],
        private: true,
        ..Default::default()
    };
    let (bytes, t) = c.create(&opts, &CreateProgress::default()).unwrap();
    let again = Torrent::from_bytes(&bytes).unwrap();
    assert_eq!(again.info_hash, t.info_hash);
    assert!(t.private);
    assert_eq!(t.piece_count(), (62_345u64).div_ceil(16384) as u32);
    let report = verify_dir(&t, dir.path(), &CreateProgress::default()).unwrap();
    assert!(report.is_complete());

    // Corrupt one byte in piece 1, truncate the last file.
    let mut a = std::fs::read(root.join("a.bin")).unwrap();
    a[20_000] ^= 1;
    std::fs::write(root.join("a.bin"), a).unwrap();
    std::fs::write(root.join("sub/ü.txt"), vec![2u8; 100]).unwrap();
    let report = verify_dir(&t, dir.path(), &CreateProgress::default()).unwrap();
    assert_eq!(report.pieces[0], PieceStatus::Valid);
    assert_eq!(report.pieces[1], PieceStatus::Bad);
    assert_eq!(report.pieces[3], PieceStatus::Missing);
    assert!(!report.is_complete());
}

#[test]
fn auto_piece_length_aims_at_1000_to_2000_pieces() {
    use shoal_metainfo::auto_piece_length;
    assert_eq!(auto_piece_length(1000), 16384);
    assert_eq!(auto_piece_length(1 << 30), 1 << 20);
    for total in [100u64 << 20, 700 << 20, 4 << 30, 20 << 30] {
        let n = total.div_ceil(auto_piece_length(total));
        assert!((1000..=2000).contains(&n), "{total}: {n}");
    }
    assert_eq!(auto_piece_length(1 << 50), 16 << 20);
}

#[test]
fn empty_dir_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        Creator::scan(dir.path()),
        Err(MetainfoError::NoFiles(_))
    ));
}

#[test]
fn mapped_and_copied_spans_hash_like_a_plain_stream() {
    use sha1::{Digest, Sha1};
    // Files large enough for the mmap path (>= 256 KiB spans) mixed with
    // small ones, at piece lengths that cross every kind of boundary.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("mix");
    let sizes = [700_001usize, 3, 0, 300_000, 1_048_576, 17];
    let mut stream = Vec::new();
    for (i, n) in sizes.iter().enumerate() {
        let data: Vec<u8> = (0..*n).map(|j| (j * 31 + i * 7) as u8).collect();
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join(format!("f{i}")), &data).unwrap();
        stream.extend_from_slice(&data);
    }
    for piece in [16384u64, 65536, 1 << 20] {
        let opts = CreateOptions {
            piece_length: Some(piece),
            ..Default::default()
        };
        let (_, t) = Creator::scan(&root)
            .unwrap()
            .create(&opts, &CreateProgress::default())
            .unwrap();
        let expected: Vec<[u8; 20]> = stream
            .chunks(piece as usize)
            .map(|c| Sha1::digest(c).into())
            .collect();
        assert_eq!(t.piece_hashes, expected, "piece length {piece}");
        assert!(verify_dir(&t, dir.path(), &CreateProgress::default())
            .unwrap()
            .is_complete());
    }
}
