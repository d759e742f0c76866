//! The check shared by the `bencode_decode` fuzz target and the
//! corpus-replay test: decoding never panics, and anything accepted
//! re-encodes to something that decodes again.

/// Panics if the decoder misbehaves on `data`.
pub fn run(data: &[u8]) {
    if let Ok(v) = shoal_bencode::decode(data) {
        let again = v.to_bencode();
        assert!(shoal_bencode::decode(&again).is_ok());
    }
    if let Ok((_, used)) = shoal_bencode::decode_prefix(data) {
        assert!(used <= data.len());
    }
}
