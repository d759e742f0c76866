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

fn on_disk(t: &Torrent) -> Vec<String> {
    t.layout.files.iter().map(|f| f.display_path()).collect()
}

#[test]
fn hostile_names_are_sanitized_not_refused() {
    let long = format!("{}.txt", "\u{6f22}".repeat(100)); // 304 bytes
    for (paths, expected, reason) in [
        (
            vec![vec!["..", "etc", "passwd"]],
            vec!["etc/passwd"],
            "'.' or '..'",
        ),
        (vec![vec!["a", "..", "b"]], vec!["a/b"], "'.' or '..'"),
        (vec![vec!["/etc/passwd"]], vec!["_etc_passwd"], "separator"),
        (vec![vec!["a/../../b"]], vec!["a_.._.._b"], "separator"),
        (vec![vec!["a\\..\\b"]], vec!["a_.._b"], "separator"),
        (vec![vec!["", "b"]], vec!["b"], "empty component"),
        (vec![vec!["."]], vec!["_"], "'.' or '..'"),
        (vec![vec!["a\0b"]], vec!["a_b"], "NUL"),
        (vec![vec![]], vec!["_"], "empty path"),
        (vec![vec!["x"], vec!["x"]], vec!["x", "x.1"], "same path"),
        (
            vec![vec!["x"], vec!["x", "y"]],
            vec!["x.1", "x/y"],
            "same path",
        ),
        (
            vec![vec!["x", "y"], vec!["x"]],
            vec!["x/y", "x.1"],
            "same path",
        ),
        (
            vec![vec!["a.txt"], vec!["a.txt"], vec!["a.txt"]],
            vec!["a.txt", "a.1.txt", "a.2.txt"],
            "same path",
        ),
    ] {
        let t = Torrent::from_bytes(&multi(paths.clone()))
            .unwrap_or_else(|e| panic!("{paths:?} refused: {e}"));
        assert_eq!(on_disk(&t), expected, "{paths:?}");
        // The original names are kept and every change is listed.
        for (f, p) in t.layout.files.iter().zip(&paths) {
            assert_eq!(&f.torrent_path, p);
        }
        assert!(!t.layout.renames.is_empty(), "{paths:?}");
        assert!(
            t.layout.renames.iter().any(|r| r.reason.contains(reason)),
            "{paths:?}: {:?}",
            t.layout.renames
        );
        for f in &t.layout.files {
            for c in &f.path {
                assert!(!c.is_empty() && c != "." && c != "..");
                assert!(!c.contains('/') && !c.contains('\\') && !c.contains('\0'));
            }
        }
    }
    // Long names are shortened on a character boundary keeping the extension.
    let t = Torrent::from_bytes(&multi(vec![vec![&long]])).unwrap();
    let name = &t.layout.files[0].path[0];
    assert!(name.len() <= 255 && name.ends_with(".txt"), "{name}");
    assert!(name.starts_with('\u{6f22}'));
    // Unsafe torrent names.
    for (raw, expected) in [("..", "_"), ("/tmp", "_tmp"), ("", "_")] {
        let bytes = d(vec![(
            "info",
            d(vec![
                ("name", s(raw)),
                ("piece length", OwnedValue::Int(16384)),
                ("length", OwnedValue::Int(1)),
                ("pieces", OwnedValue::Bytes(vec![0u8; 20])),
            ]),
        )])
        .to_bencode();
        let t = Torrent::from_bytes(&bytes).unwrap();
        assert_eq!(t.name, expected);
        assert_eq!(t.layout.files[0].path, vec![expected]);
        assert_eq!(t.layout.renames[0].file, None);
    }
    // Unchanged names list no renames.
    let t = Torrent::from_bytes(&multi(vec![vec!["a"], vec!["b", "c"]])).unwrap();
    assert!(t.layout.renames.is_empty());
    // Depth stays bounded: that protects memory, so it is still refused.
    let deep: Vec<&str> = std::iter::repeat_n("d", 100).collect();
    assert!(err(&multi(vec![deep])).contains("nested too deep"));
}

fn file(path: Vec<&str>, length: Option<i64>, extra: Vec<(&str, OwnedValue)>) -> OwnedValue {
    let mut pairs = extra;
    if let Some(n) = length {
        pairs.push(("length", OwnedValue::Int(n)));
    }
    if !path.is_empty() {
        pairs.push(("path", l(path.into_iter().map(s).collect())));
    }
    d(pairs)
}

fn with_files(files: Vec<OwnedValue>, total: u64, piece: i64) -> Vec<u8> {
    d(vec![(
        "info",
        d(vec![
            ("name", s("dir")),
            ("piece length", OwnedValue::Int(piece)),
            ("files", l(files)),
            (
                "pieces",
                OwnedValue::Bytes(vec![1u8; 20 * total.div_ceil(piece as u64) as usize]),
            ),
        ]),
    )])
    .to_bencode()
}

#[test]
fn bep47_attributes() {
    let bytes = with_files(
        vec![
            file(vec!["a"], Some(10), vec![("attr", s("x"))]),
            // Padding without a path.
            file(vec![], Some(16374), vec![("attr", s("p"))]),
            // A symlink whose length field lies, and one with no length.
            file(
                vec!["link"],
                Some(5000),
                vec![("attr", s("l")), ("symlink path", l(vec![s("a")]))],
            ),
            file(
                vec!["sub", "up"],
                None,
                vec![
                    ("attr", s("lh")),
                    ("symlink path", l(vec![s("sub"), s(".."), s("a")])),
                ],
            ),
            // A symlink leading out of the torrent is kept but not created.
            file(
                vec!["evil"],
                None,
                vec![
                    ("attr", s("l")),
                    ("symlink path", l(vec![s(".."), s(".."), s("etc")])),
                ],
            ),
            file(vec!["b"], Some(1), vec![("attr", s("h"))]),
        ],
        16385,
        16384,
    );
    let t = Torrent::from_bytes(&bytes).unwrap();
    let f = &t.layout.files;
    assert_eq!(t.total_length(), 16385, "symlinks count 0, padding counts");
    assert_eq!(t.piece_count(), 2);
    assert!(f[0].attr.executable && f[0].is_regular());
    assert!(f[1].is_padding() && !f[1].is_regular());
    assert_eq!(f[1].length, 16374);
    assert_eq!(f[5].offset, 16384, "b starts after the padding");
    assert!(f[5].attr.hidden);
    assert_eq!(f[2].length, 0);
    assert_eq!(f[2].symlink_target, Some(vec!["a".to_string()]));
    assert_eq!(
        f[2].symlink_relative_target(),
        Some(std::path::PathBuf::from("a"))
    );
    assert_eq!(f[3].length, 0);
    assert!(f[3].attr.hidden && f[3].attr.symlink);
    assert_eq!(
        f[3].symlink_relative_target(),
        Some(std::path::PathBuf::from("../a"))
    );
    assert_eq!(f[4].symlink_target, None);
    assert!(t
        .layout
        .renames
        .iter()
        .any(|r| r.file == Some(4) && r.reason.contains("outside")));
    // Spans of piece 0 cover the padding (the engine reads zeros there).
    let spans = t.layout.piece_spans(0);
    assert_eq!(spans.iter().map(|s| s.len).sum::<u64>(), 16384);
    // A file without length that is not a symlink is still an error.
    assert!(err(&with_files(vec![file(vec!["a"], None, vec![])], 1, 16384)).contains("length"));
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

#[test]
fn trailing_bytes_after_the_root_are_ignored() {
    let clean = single(16384, 40000, 3);
    let mut tail = clean.clone();
    tail.extend_from_slice(b"\n\r\n garbage");
    let a = Torrent::from_bytes(&clean).unwrap();
    let b = Torrent::from_bytes(&tail).unwrap();
    assert_eq!(a.info_hash, b.info_hash);
    assert_eq!(a.info_bytes, b.info_bytes);
    // A bare info dict (BEP 9) is hashed as a whole: trailing bytes there
    // stay an error.
    let mut info = a.info_bytes.clone();
    info.push(b'\n');
    assert!(Torrent::from_info_bytes(&info).is_err());
}

#[test]
fn piece_lengths_multiple_of_16k_are_read() {
    // 48 KiB: not a power of two, but a multiple of the 16 KiB block.
    let t = Torrent::from_bytes(&single(3 * 16384, 100_000, 3)).unwrap();
    assert_eq!(t.layout.piece_length, 49152);
    assert_eq!(t.piece_count(), 3);
    // Old small powers of two stay readable; 24 KiB is neither.
    assert!(Torrent::from_bytes(&single(2048, 4096, 2)).is_ok());
    assert!(err(&single(24576, 10, 1)).contains("multiple of 16 KiB"));
    assert!(err(&single(1 << 29, 10, 1)).contains("invalid piece length"));
}

#[test]
fn bencode_and_io_errors_name_their_cause_once() {
    use std::error::Error;
    let e = Torrent::from_bytes(b"x").expect_err("garbage");
    // The message is the bencode error and there is no second copy of it
    // in the source chain.
    assert!(e.to_string().starts_with("bencode: "), "{e}");
    assert!(e.source().is_none(), "{e:?}");
    let e = Creator::scan(std::path::Path::new("/nonexistent/shoal-test")).expect_err("missing");
    assert_eq!(e.to_string(), "/nonexistent/shoal-test");
    assert!(e
        .source()
        .is_some_and(|s| s.to_string().contains("No such file")));
}

fn v2_content(dir: &std::path::Path) -> std::path::PathBuf {
    let root = dir.join("v2");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    let big: Vec<u8> = (0..200_000u32).map(|i| (i * 7 + i / 300) as u8).collect();
    std::fs::write(root.join("big.bin"), &big).unwrap();
    std::fs::write(root.join("empty"), b"").unwrap();
    std::fs::write(root.join("one"), b"x").unwrap();
    std::fs::write(root.join("sub/exact"), vec![5u8; 32768]).unwrap();
    root
}

#[test]
fn v2_and_hybrid_create_parse_and_verify() {
    use shoal_metainfo::merkle::{leaf_hash, MerkleTree};
    use shoal_metainfo::MetaVersion;
    let dir = tempfile::tempdir().unwrap();
    let root = v2_content(dir.path());
    for version in [MetaVersion::V2, MetaVersion::Hybrid] {
        let opts = CreateOptions {
            piece_length: Some(32768),
            version,
            ..Default::default()
        };
        let (bytes, t) = Creator::scan(&root)
            .unwrap()
            .create(&opts, &CreateProgress::default())
            .unwrap();
        let again = Torrent::from_bytes(&bytes).unwrap();
        assert_eq!(again.meta_version(), version);
        assert_eq!(t.info_hash_v2(), again.info_hash_v2());
        let v2 = t.info_hash_v2().unwrap();
        assert_eq!(v2, shoal_metainfo::InfoHashV2::of(&t.info_bytes));
        if version == MetaVersion::V2 {
            assert_eq!(t.info_hash, v2.truncated());
            assert!(t.piece_hashes.is_empty());
        } else {
            assert_eq!(t.info_hash, shoal_metainfo::InfoHash::of(&t.info_bytes));
        }
        let magnet = t.magnet().to_string();
        assert!(magnet.contains(&format!("xt=urn:btmh:1220{}", v2.to_hex())));
        assert_eq!(magnet.contains("urn:btih:"), version == MetaVersion::Hybrid);
        // Files (padding aside) in order, each with data on a piece boundary.
        let files: Vec<_> = t.layout.files.iter().filter(|f| !f.is_padding()).collect();
        let names: Vec<String> = files.iter().map(|f| f.display_path()).collect();
        assert_eq!(names, ["big.bin", "empty", "one", "sub/exact"]);
        for f in &files {
            if f.length > 0 {
                assert_eq!(f.offset % 32768, 0, "{}", f.display_path());
            }
        }
        // 200,000 bytes: 7 pieces of 32 KiB; then 1 piece each.
        assert_eq!(t.piece_count(), 7 + 1 + 1);
        // The roots match a tree built independently from the bytes.
        let big = std::fs::read(root.join("big.bin")).unwrap();
        let leaves: Vec<_> = big.chunks(16384).map(leaf_hash).collect();
        assert_eq!(
            files[0].pieces_root,
            Some(MerkleTree::from_leaves(&leaves).root())
        );
        assert_eq!(files[0].piece_layer.len(), 7);
        assert_eq!(files[2].pieces_root, Some(leaf_hash(b"x")));
        assert_eq!(files[1].pieces_root, None);
        let report = verify_dir(&t, dir.path(), &CreateProgress::default()).unwrap();
        assert!(report.is_complete(), "{version:?}: {:?}", report.pieces);

        // A torrent without its piece layers is still read and checked
        // file by file against the roots.
        let mut stripped = shoal_bencode::decode(&bytes).unwrap().to_owned_value();
        if let OwnedValue::Dict(m) = &mut stripped {
            assert!(m.remove(&b"piece layers".to_vec()).is_some());
        }
        let bare = Torrent::from_bytes(&stripped.to_bencode()).unwrap();
        assert!(bare.layout.files[0].piece_layer.is_empty());
        assert!(verify_dir(&bare, dir.path(), &CreateProgress::default())
            .unwrap()
            .is_complete());

        // A tampered layer is refused.
        let mut tampered = shoal_bencode::decode(&bytes).unwrap().to_owned_value();
        if let OwnedValue::Dict(m) = &mut tampered {
            if let Some(OwnedValue::Dict(layers)) = m.get_mut(&b"piece layers".to_vec()) {
                for v in layers.values_mut() {
                    if let OwnedValue::Bytes(b) = v {
                        b[5] ^= 1;
                    }
                }
            }
        }
        let msg = err(&tampered.to_bencode());
        assert!(msg.contains("piece layer"), "{msg}");

        // One corrupted byte in piece 3 of big.bin.
        let mut bad = big.clone();
        bad[3 * 32768 + 10] ^= 1;
        std::fs::write(root.join("big.bin"), &bad).unwrap();
        let report = verify_dir(&t, dir.path(), &CreateProgress::default()).unwrap();
        let not_valid: Vec<usize> = (0..report.pieces.len())
            .filter(|i| report.pieces[*i] != PieceStatus::Valid)
            .collect();
        assert_eq!(not_valid, vec![3], "{version:?}");
        let report = verify_dir(&bare, dir.path(), &CreateProgress::default()).unwrap();
        assert_eq!(
            report.count(PieceStatus::Bad),
            7,
            "whole file without layers"
        );
        std::fs::write(root.join("big.bin"), &big).unwrap();
        std::fs::remove_file(root.join("one")).unwrap();
        let report = verify_dir(&t, dir.path(), &CreateProgress::default()).unwrap();
        assert_eq!(report.count(PieceStatus::Missing), 1);
        std::fs::write(root.join("one"), b"x").unwrap();
    }
    // v2 needs power-of-two pieces.
    let opts = CreateOptions {
        piece_length: Some(16384 * 3),
        version: MetaVersion::V2,
        ..Default::default()
    };
    assert!(Creator::scan(&root)
        .unwrap()
        .create(&opts, &CreateProgress::default())
        .is_err());
}

#[test]
fn hybrid_parts_must_agree() {
    use shoal_metainfo::MetaVersion;
    let dir = tempfile::tempdir().unwrap();
    let root = v2_content(dir.path());
    let opts = CreateOptions {
        piece_length: Some(32768),
        version: MetaVersion::Hybrid,
        ..Default::default()
    };
    let (bytes, _) = Creator::scan(&root)
        .unwrap()
        .create(&opts, &CreateProgress::default())
        .unwrap();
    // Change one v1 file length: the parts disagree.
    let mut v = shoal_bencode::decode(&bytes).unwrap().to_owned_value();
    if let OwnedValue::Dict(m) = &mut v {
        if let Some(OwnedValue::Dict(info)) = m.get_mut(&b"info".to_vec()) {
            if let Some(OwnedValue::List(files)) = info.get_mut(&b"files".to_vec()) {
                if let OwnedValue::Dict(f) = files.last_mut().unwrap() {
                    f.insert(b"length".to_vec(), OwnedValue::Int(32767));
                }
            }
        }
    }
    let msg = err(&v.to_bencode());
    assert!(msg.contains("disagree") || msg.contains("pieces"), "{msg}");
    // A v2 torrent says so clearly when the tree is missing.
    let info = b"d4:infod12:meta versioni2e4:name1:x12:piece lengthi16384eee";
    assert!(err(info).contains("file tree"));
    let info = b"d4:infod12:meta versioni3e4:name1:x12:piece lengthi16384eee";
    assert!(err(info).contains("meta version"));
}
