//! Super-seeding (BEP 16): a seed that hides what it has and offers each
//! peer a few pieces at a time with `have` messages, always those least
//! present in the swarm. A seed with a thin upload pipe then sends every
//! piece out once before it sends any piece twice, and the leechers, each
//! holding pieces the others lack, trade among themselves.
//!
//! Unlike BEP 16's strictest form (one piece per peer until another peer
//! is seen with it), a peer holds up to `per_peer` offers, so its pipeline
//! never runs dry while it verifies the last piece; the rarity rule alone
//! keeps offers apart.

use crate::fixed_hash::{HashMap, HashSet};

use rand::Rng;

use crate::bitfield::Bitfield;
use crate::picker::{BlockRequest, PiecePicker, BLOCK_SIZE};
use crate::PeerKey;

/// An offered piece and which of its blocks we have sent the peer.
#[derive(Debug)]
struct Offer {
    piece: u32,
    sent: Bitfield,
}

/// The offers of one super-seeded peer.
#[derive(Debug, Default)]
struct PeerOffers {
    /// Offered pieces not yet sent in full.
    open: Vec<Offer>,
    /// Offered pieces we sent the peer in full.
    delivered: HashSet<u32>,
}

/// Take one from `counts[piece]` (never below zero).
fn release(counts: &mut [u32], piece: u32) {
    if let Some(n) = counts.get_mut(piece as usize) {
        *n = n.saturating_sub(1);
    }
}

/// Pieces offered to each peer under super-seeding; see the
/// [module documentation](self).
#[derive(Debug)]
pub(crate) struct SuperSeed {
    per_peer: usize,
    /// Open offers of each piece.
    pending: Vec<u32>,
    /// Connected peers each piece was delivered to (they may never say
    /// so: a client need not send `have` to a peer it thinks has it).
    delivered: Vec<u32>,
    /// Every offer ever made of each piece.
    offered_total: Vec<u32>,
    peers: HashMap<PeerKey, PeerOffers>,
}

impl SuperSeed {
    /// Offers kept open per peer by default.
    pub const DEFAULT_PER_PEER: usize = 2;

    /// Super-seeding for a torrent of `piece_count` pieces, keeping up to
    /// `per_peer` offers open per peer.
    pub fn new(piece_count: u32, per_peer: usize) -> SuperSeed {
        let n = piece_count as usize;
        SuperSeed {
            per_peer: per_peer.max(1),
            pending: vec![0; n],
            delivered: vec![0; n],
            offered_total: vec![0; n],
            peers: HashMap::default(),
        }
    }

    /// Start managing `peer`: it was sent no bitfield, only offers.
    pub fn add_peer(&mut self, peer: PeerKey) {
        self.peers.entry(peer).or_default();
    }

    /// Whether `peer` is managed (connected while we super-seeded).
    pub fn manages(&self, peer: PeerKey) -> bool {
        self.peers.contains_key(&peer)
    }

    /// Whether `peer` has fewer open offers than it may hold.
    pub fn wants_more(&self, peer: PeerKey) -> bool {
        self.peers
            .get(&peer)
            .is_some_and(|p| p.open.len() < self.per_peer)
    }

    /// We are sending `block` to `peer` (a request we accepted, not one we
    /// rejected). Once every block of an offered piece went out, the offer
    /// counts as delivered and frees its place; a block sent twice counts
    /// once. Returns whether an offer was freed.
    pub fn on_block_sent(&mut self, peer: PeerKey, block: BlockRequest, piece_size: u32) -> bool {
        let Some(offers) = self.peers.get_mut(&peer) else {
            return false;
        };
        let Some(i) = offers.open.iter().position(|o| o.piece == block.piece) else {
            return false;
        };
        // The blocks of the piece that the range covers whole (the last
        // block of a piece may be short).
        let end = block.begin.saturating_add(block.length).min(piece_size);
        let first = block.begin.div_ceil(BLOCK_SIZE);
        let last = if end == piece_size {
            piece_size.div_ceil(BLOCK_SIZE)
        } else {
            end / BLOCK_SIZE
        };
        let sent = &mut offers.open[i].sent;
        for b in first..last {
            let _ = sent.set(b as usize, true);
        }
        if !sent.all() {
            return false;
        }
        offers.open.swap_remove(i);
        offers.delivered.insert(block.piece);
        release(&mut self.pending, block.piece);
        if let Some(n) = self.delivered.get_mut(block.piece as usize) {
            *n += 1;
        }
        true
    }

    /// Close the offers `peer` says it has fulfilled (the picker knows it
    /// has the piece now: it got it from us or from someone else).
    pub fn prune(&mut self, peer: PeerKey, picker: &PiecePicker) {
        let Some(offers) = self.peers.get_mut(&peer) else {
            return;
        };
        let pending = &mut self.pending;
        offers.open.retain(|o| {
            let open = !picker.peer_has(peer, o.piece);
            if !open {
                release(pending, o.piece);
            }
            open
        });
    }

    /// `peer` left: its offers and deliveries no longer count.
    pub fn on_peer_gone(&mut self, peer: PeerKey) {
        let Some(offers) = self.peers.remove(&peer) else {
            return;
        };
        for offer in offers.open {
            release(&mut self.pending, offer.piece);
        }
        for piece in offers.delivered {
            release(&mut self.delivered, piece);
        }
    }

    /// Choose the pieces to offer `peer` now (to send as `have`), up to
    /// its quota: pieces it lacks, fewest copies in the swarm (peers known
    /// to have it or sent it, plus open offers) first, then fewest offers
    /// ever, then at random.
    pub fn top_up(&mut self, peer: PeerKey, picker: &PiecePicker, rng: &mut impl Rng) -> Vec<u32> {
        let Some(offers) = self.peers.get(&peer) else {
            return Vec::new();
        };
        let want = self.per_peer.saturating_sub(offers.open.len());
        let mut chosen = Vec::with_capacity(want);
        for _ in 0..want {
            let Some(piece) = self.best_for(peer, picker, rng) else {
                break;
            };
            chosen.push(piece);
            self.pending[piece as usize] += 1;
            self.offered_total[piece as usize] += 1;
            if let Some(offers) = self.peers.get_mut(&peer) {
                offers.open.push(Offer {
                    piece,
                    sent: Bitfield::new(picker.blocks_in_piece(piece) as usize),
                });
            }
        }
        chosen
    }

    /// Open offers of `piece` (for tests).
    #[cfg(test)]
    pub fn open_offers(&self, piece: u32) -> u32 {
        self.pending.get(piece as usize).copied().unwrap_or(0)
    }

    fn best_for(&self, peer: PeerKey, picker: &PiecePicker, rng: &mut impl Rng) -> Option<u32> {
        let offers = self.peers.get(&peer)?;
        let mut best: Option<(u64, u32)> = None;
        let mut ties = 0u32;
        for piece in 0..picker.piece_count() {
            if !picker.has_piece(piece)
                || picker.peer_has(peer, piece)
                || offers.delivered.contains(&piece)
                || offers.open.iter().any(|o| o.piece == piece)
            {
                continue;
            }
            let i = piece as usize;
            let held = picker.availability(piece).max(self.delivered[i]);
            let copies = u64::from(held) + u64::from(self.pending[i]);
            let score = (copies << 32) | u64::from(self.offered_total[i]);
            match best {
                Some((s, _)) if score > s => {}
                Some((s, _)) if score == s => {
                    // Reservoir sampling: each tie equally likely.
                    ties += 1;
                    if rng.gen_range(0..=ties) == 0 {
                        best = Some((score, piece));
                    }
                }
                _ => {
                    best = Some((score, piece));
                    ties = 0;
                }
            }
        }
        best.map(|(_, p)| p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bitfield::Bitfield;
    use crate::picker::PickerConfig;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    const PIECES: u32 = 40;
    const PIECE: u32 = 2 * BLOCK_SIZE;

    fn seed_picker() -> PiecePicker {
        let mut p = PiecePicker::new(
            PIECES,
            PIECE,
            u64::from(PIECES) * u64::from(PIECE),
            PickerConfig::default(),
        )
        .unwrap();
        for i in 0..PIECES {
            p.mark_have(i).unwrap();
        }
        p
    }

    #[test]
    fn every_piece_is_offered_once_before_any_twice() {
        let mut picker = seed_picker();
        let mut ss = SuperSeed::new(PIECES, 2);
        let mut rng = StdRng::seed_from_u64(7);
        let mut offers = vec![0u32; PIECES as usize];
        for k in 1..=20 {
            let key = PeerKey(k);
            picker.add_peer(key);
            picker.peer_have_none(key);
            ss.add_peer(key);
            for piece in ss.top_up(key, &picker, &mut rng) {
                offers[piece as usize] += 1;
            }
        }
        // 20 peers × 2 offers = 40 pieces: each exactly once.
        assert!(offers.iter().all(|&n| n == 1), "{offers:?}");
        // A 21st peer gets pieces offered once already: none has 2 yet.
        let key = PeerKey(21);
        picker.add_peer(key);
        picker.peer_have_none(key);
        ss.add_peer(key);
        let got = ss.top_up(key, &picker, &mut rng);
        assert_eq!(got.len(), 2);
        assert_ne!(got[0], got[1]);
    }

    #[test]
    fn a_fulfilled_offer_frees_a_slot() {
        let mut picker = seed_picker();
        let mut ss = SuperSeed::new(PIECES, 1);
        let mut rng = StdRng::seed_from_u64(1);
        let a = PeerKey(1);
        picker.add_peer(a);
        picker.peer_have_none(a);
        ss.add_peer(a);
        let first = ss.top_up(a, &picker, &mut rng);
        assert_eq!(first.len(), 1);
        assert!(!ss.wants_more(a));
        assert!(ss.top_up(a, &picker, &mut rng).is_empty());
        // A have for some other piece frees nothing.
        let other = (first[0] + 1) % PIECES;
        picker.peer_have(a, other).unwrap();
        ss.prune(a, &picker);
        assert!(!ss.wants_more(a));
        picker.peer_have(a, first[0]).unwrap();
        ss.prune(a, &picker);
        assert!(ss.wants_more(a));
        let second = ss.top_up(a, &picker, &mut rng);
        assert_eq!(second.len(), 1);
        assert_ne!(second, first);
    }

    #[test]
    fn pieces_a_peer_has_are_never_offered_and_departures_free_offers() {
        let mut picker = seed_picker();
        let mut ss = SuperSeed::new(PIECES, 3);
        let mut rng = StdRng::seed_from_u64(3);
        let all_but_5 = || {
            let mut bf = Bitfield::full(PIECES as usize);
            bf.set(5, false).unwrap();
            bf
        };
        let a = PeerKey(1);
        picker.add_peer(a);
        picker.peer_bitfield(a, all_but_5()).unwrap();
        ss.add_peer(a);
        assert_eq!(ss.top_up(a, &picker, &mut rng), vec![5]);
        // The open offer of 5 counts as a copy, and 5 was offered before:
        // `b` gets pieces only `a` has.
        let b = PeerKey(2);
        picker.add_peer(b);
        picker.peer_have_none(b);
        ss.add_peer(b);
        let got = ss.top_up(b, &picker, &mut rng);
        assert_eq!(got.len(), 3);
        assert!(!got.contains(&5), "{got:?}");
        // Once `a` leaves, and an unmanaged peer holds every other piece,
        // piece 5 has no copy at all: offered first.
        ss.on_peer_gone(a);
        picker.on_peer_gone(a);
        assert!(!ss.manages(a));
        let d = PeerKey(4);
        picker.add_peer(d);
        picker.peer_bitfield(d, all_but_5()).unwrap();
        let c = PeerKey(3);
        picker.add_peer(c);
        picker.peer_have_none(c);
        ss.add_peer(c);
        assert_eq!(ss.top_up(c, &picker, &mut rng)[0], 5);
    }

    #[test]
    fn a_piece_requested_in_full_counts_as_delivered_without_a_have() {
        let mut picker = seed_picker();
        let mut ss = SuperSeed::new(PIECES, 1);
        let mut rng = StdRng::seed_from_u64(9);
        let a = PeerKey(1);
        picker.add_peer(a);
        picker.peer_have_none(a);
        ss.add_peer(a);
        let first = ss.top_up(a, &picker, &mut rng)[0];
        let blk = |piece, begin, length| BlockRequest {
            piece,
            begin,
            length,
        };
        // Half the piece sent, twice: still open; some other piece: ignored.
        assert!(!ss.on_block_sent(a, blk(first, 0, BLOCK_SIZE), PIECE));
        assert!(!ss.on_block_sent(a, blk(first, 0, BLOCK_SIZE), PIECE));
        assert!(!ss.on_block_sent(a, blk((first + 1) % PIECES, 0, PIECE), PIECE));
        assert!(!ss.wants_more(a));
        assert!(ss.on_block_sent(a, blk(first, BLOCK_SIZE, BLOCK_SIZE), PIECE));
        assert!(ss.wants_more(a));
        let second = ss.top_up(a, &picker, &mut rng)[0];
        assert_ne!(second, first, "a delivered piece is not offered again");
        // Every other piece has no copy; the delivered one has one: a new
        // peer is offered the delivered piece only once all others are.
        let b = PeerKey(2);
        picker.add_peer(b);
        picker.peer_have_none(b);
        ss.add_peer(b);
        for _ in 0..PIECES - 2 {
            let p = ss.top_up(b, &picker, &mut rng)[0];
            assert_ne!(p, first);
            assert_ne!(p, second);
            assert!(ss.on_block_sent(b, blk(p, 0, PIECE), PIECE));
        }
    }
}
