//! BitTorrent message stream encryption (MSE/PE): a sans-I/O handshake and the RC4 stream.
#![warn(missing_docs)]
