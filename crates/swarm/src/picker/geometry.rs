//! Piece geometry: piece and block sizes of one torrent, and the validation
//! of block requests against them.
//!
//! Every piece is `piece_length` bytes except the last, which may be
//! shorter; every block is [`BLOCK_SIZE`] bytes except the last of each
//! piece.

use super::PickerError;

/// Size of a block (request unit), 16 KiB, the de facto standard.
pub const BLOCK_SIZE: u32 = 16 * 1024;

/// One block request: the payload of a BEP 3 `request`, `cancel` or (minus
/// the data) `piece` message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlockRequest {
    /// Piece index.
    pub piece: u32,
    /// Byte offset within the piece (a multiple of [`BLOCK_SIZE`]).
    pub begin: u32,
    /// Length in bytes ([`BLOCK_SIZE`], or less for the last block of a
    /// piece).
    pub length: u32,
}

impl BlockRequest {
    /// Index of the block within its piece.
    pub fn block_index(&self) -> u32 {
        self.begin / BLOCK_SIZE
    }
}

/// The validated sizes of a torrent.
#[derive(Debug, Clone, Copy)]
pub(super) struct Geometry {
    pub(super) piece_count: u32,
    pub(super) piece_length: u32,
    pub(super) total_length: u64,
}

impl Geometry {
    /// Checks that the three sizes are consistent (and that the piece count
    /// leaves `u32::MAX` free as a "no piece" marker).
    pub(super) fn new(
        piece_count: u32,
        piece_length: u32,
        total_length: u64,
    ) -> Result<Self, PickerError> {
        if piece_count == 0 || piece_count == u32::MAX {
            return Err(PickerError::InvalidGeometry("piece count"));
        }
        if piece_length == 0 {
            return Err(PickerError::InvalidGeometry("zero piece length"));
        }
        let plen = u64::from(piece_length);
        let n = u64::from(piece_count);
        if total_length <= (n - 1) * plen || total_length > n * plen {
            return Err(PickerError::InvalidGeometry(
                "total length does not match piece count and length",
            ));
        }
        Ok(Geometry {
            piece_count,
            piece_length,
            total_length,
        })
    }

    /// Length of piece `index` (0 if out of range).
    pub(super) fn piece_size(&self, index: u32) -> u32 {
        if index >= self.piece_count {
            return 0;
        }
        if index + 1 == self.piece_count {
            let before = u64::from(self.piece_count - 1) * u64::from(self.piece_length);
            // Validated in `new`: 0 < total - before <= piece_length.
            (self.total_length - before) as u32
        } else {
            self.piece_length
        }
    }

    /// Number of blocks of piece `index` (0 if out of range).
    pub(super) fn blocks_in_piece(&self, index: u32) -> u32 {
        self.piece_size(index).div_ceil(BLOCK_SIZE)
    }

    /// The request for block `block` of piece `piece`, if it exists.
    pub(super) fn block_request(&self, piece: u32, block: u32) -> Option<BlockRequest> {
        let size = self.piece_size(piece);
        let begin = block.checked_mul(BLOCK_SIZE)?;
        if begin >= size {
            return None;
        }
        Some(BlockRequest {
            piece,
            begin,
            length: (size - begin).min(BLOCK_SIZE),
        })
    }

    /// Block index of `r` if it is exactly one block of this torrent.
    pub(super) fn block_index(&self, r: &BlockRequest) -> Option<u32> {
        if r.begin & (BLOCK_SIZE - 1) != 0 {
            return None;
        }
        let b = r.block_index();
        (self.block_request(r.piece, b)? == *r).then_some(b)
    }

    /// An error unless `index` is a piece of this torrent.
    pub(super) fn check_index(&self, index: u32) -> Result<(), PickerError> {
        if index >= self.piece_count {
            return Err(PickerError::PieceOutOfRange {
                index,
                count: self.piece_count,
            });
        }
        Ok(())
    }
}
