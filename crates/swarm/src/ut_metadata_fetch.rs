//! Assembling a torrent's info dictionary from `ut_metadata` pieces sent
//! by several peers (BEP 9), for a magnet link. Pure: the driver connects
//! to peers and feeds their messages in.
//!
//! The buffer is allocated once, when the first peer states a plausible
//! `metadata_size`; a peer that states another size waits aside while that
//! size stands. It stands until the dictionary fails its hash, or until
//! every peer that stated it has left with nothing received (so a peer
//! that lies about the size and sends nothing holds it only until the
//! driver drops it for stalling); then the size of the longest-waiting
//! peer is taken. Each peer
//! has at most [`MAX_REQUESTS_PER_PEER`] requests out, pieces go to
//! whichever peer asks next, and a piece that a peer rejects or that was
//! asked of a peer that left is asked again elsewhere. When every piece is
//! in, the SHA-1 decides: a match ends the fetch, a mismatch drops every
//! piece and names the peers that sent them, so the driver can drop them.

use crate::fixed_hash::HashSet;

use sha1::{Digest, Sha1};

use crate::ut_metadata::{MetadataError, MAX_METADATA_SIZE, METADATA_PIECE_LEN};
use crate::PeerKey;

/// Most requests out to one peer at a time.
pub const MAX_REQUESTS_PER_PEER: usize = 2;

/// One metadata piece's state.
#[derive(Debug, Clone)]
enum Piece {
    Missing,
    Requested(PeerKey),
    Have(PeerKey),
}

/// What a peer's `ut_metadata` data did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Stored (or ignored as a duplicate); more pieces are needed.
    More,
    /// The dictionary is complete and matches the info-hash.
    Complete(Vec<u8>),
    /// Complete but wrong: every piece was dropped; these peers sent them.
    Corrupt(Vec<PeerKey>),
}

/// The info dictionary being assembled; see the [module
/// documentation](self).
#[derive(Debug)]
pub struct MetadataAssembler {
    info_hash: [u8; 20],
    buf: Vec<u8>,
    pieces: Vec<Piece>,
    /// Connected peers that stated the current size.
    sized_by: HashSet<PeerKey>,
    /// Connected peers that stated another size, oldest first.
    waiting: Vec<(PeerKey, u64)>,
}

impl MetadataAssembler {
    /// An empty assembler for the dictionary whose SHA-1 is `info_hash`
    /// (or, for a v2 swarm, whose SHA-256 starts with it).
    pub fn new(info_hash: [u8; 20]) -> MetadataAssembler {
        MetadataAssembler {
            info_hash,
            buf: Vec::new(),
            pieces: Vec::new(),
            sized_by: HashSet::default(),
            waiting: Vec::new(),
        }
    }

    /// The dictionary's size, once a peer stated one.
    pub fn size(&self) -> Option<usize> {
        (!self.buf.is_empty()).then_some(self.buf.len())
    }

    /// `peer` stated `metadata_size` in its extension handshake. The first
    /// plausible size allocates the buffer; a peer that states another one
    /// waits aside (see the [module documentation](self)). An implausible
    /// size is an error.
    pub fn offer_size(&mut self, peer: PeerKey, size: u64) -> Result<(), MetadataError> {
        if size == 0 || size > MAX_METADATA_SIZE {
            return Err(MetadataError::Malformed);
        }
        if self.buf.is_empty() {
            self.adopt(size);
        } else if self.buf.len() as u64 != size {
            self.waiting.push((peer, size));
            return Ok(());
        }
        self.sized_by.insert(peer);
        Ok(())
    }

    /// Whether `peer` stated the size being assembled (else it waits).
    pub fn is_active(&self, peer: PeerKey) -> bool {
        self.sized_by.contains(&peer)
    }

    fn adopt(&mut self, size: u64) {
        self.buf = vec![0; size as usize];
        self.pieces = vec![Piece::Missing; (size as usize).div_ceil(METADATA_PIECE_LEN)];
    }

    /// Forget the size and every piece (the buffer is freed), and take the
    /// size of the longest-waiting peer, if any.
    fn reset(&mut self) {
        self.buf = Vec::new();
        self.pieces = Vec::new();
        self.sized_by.clear();
        if let Some(&(_, size)) = self.waiting.first() {
            self.adopt(size);
            let (now, later): (Vec<_>, Vec<_>) =
                self.waiting.drain(..).partition(|(_, s)| *s == size);
            self.sized_by.extend(now.into_iter().map(|(p, _)| p));
            self.waiting = later;
        }
    }

    /// The next piece to ask `peer` for, if it may have another request
    /// out and a piece is missing; marked requested from it.
    pub fn next_request(&mut self, peer: PeerKey) -> Option<u32> {
        if !self.sized_by.contains(&peer) {
            return None;
        }
        let out = self
            .pieces
            .iter()
            .filter(|p| matches!(p, Piece::Requested(k) if *k == peer))
            .count();
        if out >= MAX_REQUESTS_PER_PEER {
            return None;
        }
        let i = self
            .pieces
            .iter()
            .position(|p| matches!(p, Piece::Missing))?;
        self.pieces[i] = Piece::Requested(peer);
        u32::try_from(i).ok()
    }

    /// `peer` rejected the request for `piece`: ask someone else.
    pub fn on_reject(&mut self, peer: PeerKey, piece: u32) {
        if let Some(p) = self.pieces.get_mut(piece as usize) {
            if matches!(p, Piece::Requested(k) if *k == peer) {
                *p = Piece::Missing;
            }
        }
    }

    /// `peer` left: its requests go back to the pool. When the last peer
    /// that stated the size leaves and nothing was received, the size is
    /// forgotten (it may have been a lie).
    pub fn on_peer_gone(&mut self, peer: PeerKey) {
        for p in &mut self.pieces {
            if matches!(p, Piece::Requested(k) if *k == peer) {
                *p = Piece::Missing;
            }
        }
        self.sized_by.remove(&peer);
        self.waiting.retain(|(p, _)| *p != peer);
        if self.sized_by.is_empty() && !self.pieces.iter().any(|p| matches!(p, Piece::Have(_))) {
            self.reset();
        }
    }

    /// `peer` sent `piece` (of a dictionary of `total_size` bytes). A
    /// piece of the wrong size, or one we never asked that peer for, is an
    /// error: the driver drops the peer.
    pub fn on_data(
        &mut self,
        peer: PeerKey,
        piece: u32,
        total_size: u64,
        data: &[u8],
    ) -> Result<Progress, MetadataError> {
        let i = piece as usize;
        if self.buf.is_empty() || total_size != self.buf.len() as u64 || i >= self.pieces.len() {
            return Err(MetadataError::Malformed);
        }
        let start = i * METADATA_PIECE_LEN;
        let len = METADATA_PIECE_LEN.min(self.buf.len() - start);
        if data.len() != len {
            return Err(MetadataError::Malformed);
        }
        match self.pieces[i] {
            Piece::Requested(k) if k == peer => {}
            // Asked again elsewhere after a reject or a departure: the
            // first copy in wins.
            Piece::Have(_) => return Ok(Progress::More),
            _ => return Err(MetadataError::Malformed),
        }
        self.buf[start..start + len].copy_from_slice(data);
        self.pieces[i] = Piece::Have(peer);
        if self.pieces.iter().any(|p| !matches!(p, Piece::Have(_))) {
            return Ok(Progress::More);
        }
        let digest: [u8; 20] = Sha1::digest(&self.buf).into();
        // A v2 swarm is named by the SHA-256 truncated to 20 bytes (BEP 52).
        let v2 = shoal_metainfo::InfoHashV2::of(&self.buf).truncated().0;
        if digest == self.info_hash || v2 == self.info_hash {
            return Ok(Progress::Complete(std::mem::take(&mut self.buf)));
        }
        let mut senders: Vec<PeerKey> = self
            .pieces
            .iter()
            .filter_map(|p| match p {
                Piece::Have(k) => Some(*k),
                _ => None,
            })
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        senders.sort_unstable();
        self.reset();
        Ok(Progress::Corrupt(senders))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dict(len: usize) -> (Vec<u8>, [u8; 20]) {
        let d: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        let h = Sha1::digest(&d).into();
        (d, h)
    }

    fn piece(d: &[u8], i: u32) -> &[u8] {
        let s = i as usize * METADATA_PIECE_LEN;
        &d[s..(s + METADATA_PIECE_LEN).min(d.len())]
    }

    #[test]
    fn pieces_from_several_peers_make_the_dictionary() {
        let (d, h) = dict(40_000);
        let mut a = MetadataAssembler::new(h);
        a.offer_size(PeerKey(1), 40_000).unwrap();
        a.offer_size(PeerKey(2), 40_000).unwrap();
        let (p1, p2) = (PeerKey(1), PeerKey(2));
        assert_eq!(a.next_request(p1), Some(0));
        assert_eq!(a.next_request(p2), Some(1));
        assert_eq!(a.next_request(p2), Some(2));
        assert_eq!(a.next_request(p2), None, "two requests per peer");
        assert_eq!(a.on_data(p1, 0, 40_000, piece(&d, 0)), Ok(Progress::More));
        assert_eq!(a.on_data(p2, 2, 40_000, piece(&d, 2)), Ok(Progress::More));
        assert_eq!(
            a.on_data(p2, 1, 40_000, piece(&d, 1)),
            Ok(Progress::Complete(d))
        );
    }

    #[test]
    fn sizes_must_agree_and_stay_bounded() {
        let mut a = MetadataAssembler::new([0; 20]);
        assert!(a.offer_size(PeerKey(1), 0).is_err());
        assert!(a.offer_size(PeerKey(1), MAX_METADATA_SIZE + 1).is_err());
        assert!(a.size().is_none(), "nothing allocated for a bad size");
        a.offer_size(PeerKey(1), 1000).unwrap();
        a.offer_size(PeerKey(2), 30 << 20).unwrap();
        assert!(!a.is_active(PeerKey(2)), "a second, larger claim waits");
        assert_eq!(a.size(), Some(1000));
    }

    #[test]
    fn wrong_sizes_and_unasked_pieces_are_errors() {
        let (d, h) = dict(20_000);
        let mut a = MetadataAssembler::new(h);
        a.offer_size(PeerKey(1), 20_000).unwrap();
        let p = PeerKey(1);
        assert!(
            a.on_data(p, 0, 20_000, piece(&d, 0)).is_err(),
            "never asked"
        );
        assert_eq!(a.next_request(p), Some(0));
        assert!(a.on_data(p, 0, 20_001, piece(&d, 0)).is_err());
        assert!(a.on_data(p, 0, 20_000, &d[..100]).is_err());
        assert!(a.on_data(p, 9, 20_000, piece(&d, 0)).is_err());
    }

    #[test]
    fn rejects_and_departures_release_pieces() {
        let (_, h) = dict(40_000);
        let mut a = MetadataAssembler::new(h);
        a.offer_size(PeerKey(1), 40_000).unwrap();
        a.offer_size(PeerKey(2), 40_000).unwrap();
        assert_eq!(a.next_request(PeerKey(1)), Some(0));
        assert_eq!(a.next_request(PeerKey(1)), Some(1));
        a.on_reject(PeerKey(1), 0);
        assert_eq!(a.next_request(PeerKey(2)), Some(0));
        a.on_peer_gone(PeerKey(1));
        assert_eq!(a.next_request(PeerKey(2)), Some(1));
    }

    #[test]
    fn a_corrupt_dictionary_names_its_senders_and_starts_over() {
        let (d, h) = dict(20_000);
        let mut a = MetadataAssembler::new(h);
        a.offer_size(PeerKey(1), 20_000).unwrap();
        a.offer_size(PeerKey(2), 20_000).unwrap();
        assert_eq!(a.next_request(PeerKey(1)), Some(0));
        assert_eq!(a.next_request(PeerKey(2)), Some(1));
        a.on_data(PeerKey(1), 0, 20_000, piece(&d, 0)).unwrap();
        let bad = vec![0u8; piece(&d, 1).len()];
        assert_eq!(
            a.on_data(PeerKey(2), 1, 20_000, &bad),
            Ok(Progress::Corrupt(vec![PeerKey(1), PeerKey(2)]))
        );
        assert!(a.size().is_none(), "the size is forgotten with the pieces");
        a.offer_size(PeerKey(3), 20_000).unwrap();
        assert_eq!(
            a.next_request(PeerKey(3)),
            Some(0),
            "every piece is asked again"
        );
    }

    #[test]
    fn a_size_stated_by_peers_that_left_with_nothing_sent_is_forgotten() {
        let (d, h) = dict(20_000);
        let mut a = MetadataAssembler::new(h);
        // A liar states 32 MiB and sends nothing; an honest peer waits.
        a.offer_size(PeerKey(9), 32 << 20).unwrap();
        a.offer_size(PeerKey(1), 20_000).unwrap();
        assert!(!a.is_active(PeerKey(1)));
        assert_eq!(a.next_request(PeerKey(1)), None);
        assert_eq!(a.next_request(PeerKey(9)), Some(0));
        a.on_peer_gone(PeerKey(9));
        assert_eq!(
            a.size(),
            Some(20_000),
            "the 32 MiB buffer is freed for the waiting size"
        );
        assert!(a.is_active(PeerKey(1)));
        assert_eq!(a.next_request(PeerKey(1)), Some(0));
        assert_eq!(a.next_request(PeerKey(1)), Some(1));
        a.on_data(PeerKey(1), 0, 20_000, piece(&d, 0)).unwrap();
        assert_eq!(
            a.on_data(PeerKey(1), 1, 20_000, piece(&d, 1)),
            Ok(Progress::Complete(d))
        );
    }
}
