//! Piece picker (WIP).
