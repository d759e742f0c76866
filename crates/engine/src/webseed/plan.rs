//! From blocks to HTTP requests and back: a run of contiguous torrent
//! bytes becomes one range request per file it crosses (zeros for padding
//! files), and the bytes that come back are cut into the run's blocks.

use bytes::{Bytes, BytesMut};
use shoal_metainfo::Layout;

use crate::picker::BlockRequest;

/// One piece of a run: bytes of one file, or padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment {
    /// `len` bytes of file `file` from offset `start`: a range request.
    File {
        /// Index into the layout's files.
        file: usize,
        /// First byte within the file.
        start: u64,
        /// Number of bytes.
        len: u64,
    },
    /// `len` bytes of a padding file: zeros, not fetched.
    Zeros {
        /// Number of bytes.
        len: u64,
    },
}

/// The segments covering `len` bytes of the torrent's stream from
/// `offset`, in order (zero-length files are skipped).
pub fn segments(layout: &Layout, offset: u64, len: u64) -> Vec<Segment> {
    layout
        .spans(offset, len)
        .into_iter()
        .map(|s| {
            if layout.files[s.file_index].is_padding() {
                Segment::Zeros { len: s.len }
            } else {
                Segment::File {
                    file: s.file_index,
                    start: s.file_offset,
                    len: s.len,
                }
            }
        })
        .collect()
}

/// Cuts a stream of bytes into consecutive blocks. Holds at most one
/// block's bytes.
#[derive(Debug)]
pub struct BlockAssembler {
    blocks: std::vec::IntoIter<BlockRequest>,
    current: Option<BlockRequest>,
    buf: BytesMut,
}

impl BlockAssembler {
    /// An assembler for `blocks`, which lie end to end.
    pub fn new(blocks: Vec<BlockRequest>) -> BlockAssembler {
        let mut blocks = blocks.into_iter();
        let current = blocks.next();
        let cap = current.map_or(0, |b| b.length as usize);
        BlockAssembler {
            blocks,
            current,
            buf: BytesMut::with_capacity(cap),
        }
    }

    /// Feed `data`; each block it completes is appended to `out`. Bytes
    /// past the last block are ignored. Returns how many bytes were used.
    pub fn push(&mut self, mut data: &[u8], out: &mut Vec<(BlockRequest, Bytes)>) -> usize {
        let mut used = 0;
        while let Some(block) = self.current {
            if data.is_empty() {
                break;
            }
            let want = block.length as usize - self.buf.len();
            let take = want.min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            used += take;
            if self.buf.len() == block.length as usize {
                let next = self.blocks.next();
                let cap = next.map_or(0, |b| b.length as usize);
                let full = std::mem::replace(&mut self.buf, BytesMut::with_capacity(cap));
                out.push((block, full.freeze()));
                self.current = next;
            }
        }
        used
    }

    /// Whether every block is complete.
    pub fn is_done(&self) -> bool {
        self.current.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_metainfo::{FileEntry, MetaVersion};

    fn layout() -> Layout {
        let mut files = vec![
            FileEntry::plain(vec!["a".into()], 10, 0),
            FileEntry::plain(vec!["empty".into()], 0, 0),
            FileEntry::plain(vec![".pad".into(), "1".into()], 6, 0),
            FileEntry::plain(vec!["b".into()], 16, 0),
        ];
        files[2].attr.padding = true;
        Layout::from_entries(16, files, true, MetaVersion::V1).unwrap()
    }

    #[test]
    fn a_run_becomes_file_ranges_and_zeros() {
        let l = layout();
        assert_eq!(
            segments(&l, 4, 20),
            vec![
                Segment::File {
                    file: 0,
                    start: 4,
                    len: 6
                },
                Segment::Zeros { len: 6 },
                Segment::File {
                    file: 3,
                    start: 0,
                    len: 8
                },
            ]
        );
        assert_eq!(segments(&l, 30, 100).len(), 1, "clamped to the end");
    }

    #[test]
    fn bytes_are_cut_into_blocks_whatever_the_chunking() {
        let blocks = vec![
            BlockRequest {
                piece: 0,
                begin: 0,
                length: 4,
            },
            BlockRequest {
                piece: 0,
                begin: 4,
                length: 3,
            },
        ];
        let data = b"abcdefgXYZ";
        for chunk in 1..=data.len() {
            let mut a = BlockAssembler::new(blocks.clone());
            let mut out = Vec::new();
            let mut used = 0;
            for c in data.chunks(chunk) {
                used += a.push(c, &mut out);
            }
            assert!(a.is_done());
            assert_eq!(used, 7, "extra bytes are not taken");
            assert_eq!(out.len(), 2);
            assert_eq!(&out[0].1[..], b"abcd");
            assert_eq!(&out[1].1[..], b"efg");
            assert_eq!(out[1].0, blocks[1]);
        }
    }
}
