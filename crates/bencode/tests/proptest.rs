use proptest::prelude::*;
use shoal_bencode::{decode, Decoder, OwnedValue};
use std::collections::BTreeMap;

fn owned_value() -> impl Strategy<Value = OwnedValue> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(OwnedValue::Int),
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(OwnedValue::Bytes),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(OwnedValue::List),
            proptest::collection::btree_map(
                proptest::collection::vec(any::<u8>(), 0..12),
                inner,
                0..8
            )
            .prop_map(|m: BTreeMap<Vec<u8>, OwnedValue>| OwnedValue::Dict(m)),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn encode_decode_round_trip(v in owned_value()) {
        let bytes = v.to_bencode();
        let decoded = Decoder::new().strict_keys(true).decode(&bytes).unwrap();
        prop_assert_eq!(decoded.to_owned_value(), v);
        // Re-encoding canonical input reproduces it byte for byte.
        prop_assert_eq!(decoded.to_bencode(), bytes);
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(v) = decode(&bytes) {
            // Anything accepted re-encodes to something that decodes again.
            let again = v.to_bencode();
            prop_assert!(decode(&again).is_ok());
        }
    }

    #[test]
    fn decoding_mutated_valid_input_never_panics(v in owned_value(), pos in any::<usize>(), byte in any::<u8>()) {
        let mut bytes = v.to_bencode();
        let i = pos % bytes.len();
        bytes[i] = byte;
        let _ = decode(&bytes);
        // A strict prefix of a valid encoding is never a complete value.
        bytes.truncate(i);
        prop_assert!(decode(&bytes).is_err());
    }
}
