use shoal_bencode::{decode, decode_prefix, DecodeErrorKind, Decoder, Encoder, OwnedValue, Value};

fn kind(input: &[u8]) -> DecodeErrorKind {
    decode(input).expect_err("should fail").kind
}

#[test]
fn decodes_all_four_types() {
    assert_eq!(decode(b"i42e").unwrap(), Value::Int(42));
    assert_eq!(decode(b"i-7e").unwrap(), Value::Int(-7));
    assert_eq!(decode(b"i0e").unwrap(), Value::Int(0));
    assert_eq!(decode(b"4:spam").unwrap(), Value::Bytes(b"spam"));
    assert_eq!(decode(b"0:").unwrap(), Value::Bytes(b""));
    assert_eq!(
        decode(b"l4:spami3ee").unwrap(),
        Value::List(vec![Value::Bytes(b"spam"), Value::Int(3)])
    );
    let v = decode(b"d3:bar4:spam3:fooi42ee").unwrap();
    let d = v.as_dict().unwrap();
    assert_eq!(d.get_bytes(b"bar"), Some(&b"spam"[..]));
    assert_eq!(d.get_int(b"foo"), Some(42));
    assert_eq!(d.raw(), b"d3:bar4:spam3:fooi42ee");
}

#[test]
fn integer_extremes() {
    assert_eq!(
        decode(b"i9223372036854775807e").unwrap(),
        Value::Int(i64::MAX)
    );
    assert_eq!(
        decode(b"i-9223372036854775808e").unwrap(),
        Value::Int(i64::MIN)
    );
    assert_eq!(
        kind(b"i9223372036854775808e"),
        DecodeErrorKind::IntegerOverflow
    );
    assert_eq!(
        kind(b"i-9223372036854775809e"),
        DecodeErrorKind::IntegerOverflow
    );
    assert_eq!(
        kind(b"i99999999999999999999999e"),
        DecodeErrorKind::IntegerOverflow
    );
}

#[test]
fn strict_integers() {
    assert_eq!(kind(b"i03e"), DecodeErrorKind::LeadingZero);
    assert_eq!(kind(b"i-03e"), DecodeErrorKind::LeadingZero);
    assert_eq!(kind(b"i-0e"), DecodeErrorKind::NegativeZero);
    assert_eq!(kind(b"ie"), DecodeErrorKind::EmptyInteger);
    assert_eq!(kind(b"i-e"), DecodeErrorKind::EmptyInteger);
    assert!(matches!(
        kind(b"i1x2e"),
        DecodeErrorKind::UnexpectedByte { found: b'x', .. }
    ));
    assert!(matches!(kind(b"i12"), DecodeErrorKind::UnexpectedEof(_)));
}

#[test]
fn strict_strings() {
    assert_eq!(kind(b"03:abc"), DecodeErrorKind::LeadingZero);
    assert!(matches!(
        kind(b"5:abc"),
        DecodeErrorKind::StringTooLong {
            declared: 5,
            available: 3
        }
    ));
    // A 4 GiB declared length in a tiny input: rejected without allocating.
    let e = decode(b"4294967296:abc").unwrap_err();
    assert!(matches!(
        e.kind,
        DecodeErrorKind::StringTooLong {
            declared: 4294967296,
            ..
        }
    ));
    assert_eq!(e.offset, 0);
    assert_eq!(
        kind(b"99999999999999999999999:a"),
        DecodeErrorKind::IntegerOverflow
    );
    assert!(matches!(kind(b"3"), DecodeErrorKind::UnexpectedEof(_)));
}

#[test]
fn trailing_data_and_offsets() {
    let e = decode(b"i1ei2e").unwrap_err();
    assert_eq!(e.kind, DecodeErrorKind::TrailingData);
    assert_eq!(e.offset, 3);
    let (v, used) = decode_prefix(b"d1:ai1ee\x00\x01raw").unwrap();
    assert_eq!(used, 8);
    assert_eq!(v.as_dict().unwrap().get_int(b"a"), Some(1));
    let e = decode(b"l4:spami3e").unwrap_err();
    assert_eq!(e.offset, 10);
    assert!(e.to_string().contains("byte 10"), "{e}");
}

#[test]
fn dict_rules() {
    assert_eq!(kind(b"di1ei2ee"), DecodeErrorKind::NonStringKey);
    // Tolerant by default: unsorted keys are read and raw bytes are exact.
    let input = b"d1:bi1e1:ai2ee";
    let v = decode(input).unwrap();
    let d = v.as_dict().unwrap();
    assert_eq!(d.get_int(b"a"), Some(2));
    assert_eq!(d.raw(), input);
    // Strict mode rejects them.
    let strict = Decoder::new().strict_keys(true);
    assert_eq!(
        strict.decode(input).unwrap_err().kind,
        DecodeErrorKind::UnsortedKeys
    );
    assert_eq!(
        strict.decode(b"d1:ai1e1:ai2ee").unwrap_err().kind,
        DecodeErrorKind::DuplicateKey
    );
    assert!(strict.decode(b"d1:ai1e1:bi2ee").is_ok());
}

#[test]
fn nesting_limit() {
    let deep = |n: usize| {
        let mut v = vec![b'l'; n];
        v.extend(std::iter::repeat_n(b'e', n));
        v
    };
    assert!(decode(&deep(64)).is_ok());
    assert_eq!(kind(&deep(65)), DecodeErrorKind::TooDeep(64));
    // 100,000 deep: an error, not a stack overflow.
    assert_eq!(kind(&deep(100_000)), DecodeErrorKind::TooDeep(64));
    let mut dicts = Vec::new();
    for _ in 0..100_000 {
        dicts.extend_from_slice(b"d1:a");
    }
    assert_eq!(kind(&dicts), DecodeErrorKind::TooDeep(64));
    assert!(Decoder::new().max_depth(3).decode(b"lllleeee").is_err());
}

#[test]
fn raw_span_of_nested_dict() {
    let input = b"d8:announce3:url4:infod4:name1:x6:lengthi5eee";
    let v = decode(input).unwrap();
    let info = v.as_dict().unwrap().get_dict(b"info").unwrap();
    assert_eq!(info.raw(), b"d4:name1:x6:lengthi5ee");
}

#[test]
fn encoder_round_trip() {
    let mut e = Encoder::new();
    e.begin_dict()
        .key("a")
        .int(-5)
        .key("b")
        .begin_list()
        .bytes("x")
        .bytes([0u8, 255])
        .end()
        .key("c")
        .begin_dict()
        .end()
        .end();
    let bytes = e.finish();
    assert_eq!(bytes, b"d1:ai-5e1:bl1:x2:\x00\xffe1:cdee");
    assert_eq!(decode(&bytes).unwrap().to_bencode(), bytes);
}

#[test]
fn owned_value_sorts_keys() {
    let v = decode(b"d1:bi1e1:ai2ee").unwrap();
    assert_eq!(v.to_bencode(), b"d1:ai2e1:bi1ee");
    let o: OwnedValue = "hi".into();
    assert_eq!(o.to_bencode(), b"2:hi");
}
