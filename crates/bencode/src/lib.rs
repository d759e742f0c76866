//! Zero-copy bencode decoder and encoder.
