//! Peer wire protocol codec (sans-I/O).
