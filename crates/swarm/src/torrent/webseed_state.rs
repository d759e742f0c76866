//! The torrent's side of web seeds (BEP 19; see [`crate::webseed`]): a web
//! seed joins the picker as a peer with every piece, takes blocks from it,
//! hands back what it fetched, and is backed off or dropped when it fails
//! or when smart-ban proves it sent bad data.

use std::net::IpAddr;
use std::time::Instant;

use tracing::{debug, warn};

use super::{Action, TorrentState};
use crate::picker::{BlockRequest, BLOCK_SIZE};
use crate::webseed::{Failure, NextFetch, WebSeedConfig, WebSeedInfo, MAX_WEB_SEEDS};
use crate::PeerKey;

/// Who sent a block, for smart-ban: a peer (by address) or a web seed (by
/// key), so a web seed and a peer on one address are told apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum Sender {
    /// A peer connection from this address.
    Peer(IpAddr),
    /// The web seed with this key.
    WebSeed(PeerKey),
}

/// What the driver does with a block a web seed sent
/// ([`TorrentState::on_web_seed_block`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebSeedBlock {
    /// Store it; `completes` when it is the last block of its piece (the
    /// piece is then hashed).
    Store {
        /// The piece has every block now.
        completes: bool,
    },
    /// Not needed (already received, or the piece is verified): drop it.
    Discard,
    /// The web seed was dropped or the torrent is done: drop it and stop
    /// fetching.
    Stop,
}

impl TorrentState {
    /// Set the web seeds' tunables (before adding any).
    pub fn set_web_seed_config(&mut self, config: WebSeedConfig) {
        self.web_seeds.config = config;
    }

    /// Add a web seed named `url` (a label for reports; the driver keeps
    /// the real address): it gets a key and joins the picker with every
    /// piece. `None` when [`MAX_WEB_SEEDS`] are there or the torrent is
    /// shutting down.
    pub fn add_web_seed(&mut self, url: String, now: Instant) -> Option<PeerKey> {
        if self.shutting_down || self.web_seeds.active() >= MAX_WEB_SEEDS {
            return None;
        }
        let key = PeerKey(self.next_key);
        self.next_key += 1;
        self.picker.add_peer(key);
        self.picker.peer_have_all(key);
        self.web_seeds.insert(key, url, now);
        Some(key)
    }

    /// What web seed `key` should do now: fetch blocks (reserved for it in
    /// the picker), wait, or stop.
    pub fn web_seed_next(&mut self, key: PeerKey, now: Instant) -> NextFetch {
        if self.shutting_down {
            return NextFetch::Dropped;
        }
        if self.is_complete() {
            return NextFetch::Finished;
        }
        if let Err(next) = self.web_seeds.ready(key, now) {
            return next;
        }
        let piece = self.picker.piece_length();
        let bytes = self.web_seeds.config.request_bytes.max(piece);
        let max = bytes.div_ceil(BLOCK_SIZE) as usize;
        let blocks = self.picker.pick_blocks(key, max);
        if blocks.is_empty() {
            return NextFetch::WaitUntil(now + self.web_seeds.config.idle_recheck);
        }
        NextFetch::Fetch(blocks)
    }

    /// Web seed `key` sent `block` with `data` (its whole length). Smart-ban
    /// records it under the web seed; peers that had the same block
    /// requested (endgame) are sent a `cancel`.
    pub fn on_web_seed_block(
        &mut self,
        key: PeerKey,
        block: BlockRequest,
        data: &[u8],
        now: Instant,
    ) -> WebSeedBlock {
        if self.shutting_down || self.is_complete() || self.web_seeds.is_dropped(key) {
            return WebSeedBlock::Stop;
        }
        if data.len() != block.length as usize {
            return WebSeedBlock::Discard;
        }
        let outcome = self.picker.on_block_received(key, block);
        for other in &outcome.cancel {
            if let Some(slot) = self.peers.get_mut(other) {
                slot.state.cancel_request(block, now);
                self.actions.push(Action::Wake(*other));
            }
        }
        if !outcome.should_store() {
            return WebSeedBlock::Discard;
        }
        let blocks = self.picker.blocks_in_piece(block.piece);
        let fingerprint = self.peers.len() + self.web_seeds.active() > 1;
        self.smartban.record(
            block.piece,
            block.begin / BLOCK_SIZE,
            blocks,
            Sender::WebSeed(key),
            fingerprint.then_some(data),
        );
        let bytes = u64::from(block.length);
        self.downloaded += bytes;
        self.down_rate.record(now, bytes);
        self.web_seeds.record_bytes(key, bytes);
        WebSeedBlock::Store {
            completes: outcome.piece_complete,
        }
    }

    /// Web seed `key` finished a fetch round in full: its failure streak
    /// ends; blocks it still held (none, normally) go back to the picker.
    pub fn on_web_seed_done(&mut self, key: PeerKey, now: Instant) {
        self.web_seeds.on_success(key);
        if !self.picker.release_peer_requests(key).is_empty() {
            self.refill_all(now);
        }
    }

    /// A fetch by web seed `key` failed (`reason`: an HTTP error, a short
    /// body, a timeout): the blocks it held go back to the picker and it
    /// backs off, or is dropped after too many failures in a row. Returns
    /// whether it is dropped.
    pub fn on_web_seed_error(&mut self, key: PeerKey, reason: &str, now: Instant) -> bool {
        self.web_seed_failed(key, false, reason, now)
    }

    /// Reports on every web seed.
    pub fn web_seeds(&self, now: Instant) -> Vec<WebSeedInfo> {
        self.web_seeds.infos(now)
    }

    /// Payload bytes received from web seeds and stored.
    pub fn web_seed_downloaded(&self) -> u64 {
        self.web_seeds.downloaded()
    }

    /// Smart-ban proved `sender` sent bad data for `piece`.
    pub(super) fn blame(&mut self, sender: Sender, piece: u32, now: Instant) {
        match sender {
            Sender::Peer(ip) => self.ban(ip, now),
            Sender::WebSeed(key) => {
                let reason = format!("piece {piece} failed its hash check");
                self.web_seed_failed(key, true, &reason, now);
            }
        }
    }

    fn web_seed_failed(
        &mut self,
        key: PeerKey,
        bad_piece: bool,
        reason: &str,
        now: Instant,
    ) -> bool {
        let released = self.picker.release_peer_requests(key);
        let failure = self.web_seeds.on_failure(key, bad_piece, reason, now);
        match failure {
            Failure::Dropped => {
                warn!(?key, %reason, "web seed dropped");
                self.picker.on_peer_gone(key);
            }
            Failure::BackedOff => debug!(?key, %reason, "web seed backing off"),
            Failure::Ignored => {}
        }
        if !released.is_empty() || failure == Failure::Dropped {
            self.refill_all(now);
        }
        failure != Failure::BackedOff
    }

    /// Drop every web seed (shutting down).
    pub(super) fn drop_web_seeds(&mut self) {
        for key in self.web_seeds.drop_all() {
            self.picker.on_peer_gone(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::time::Duration;

    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use shoal_wire::{Message, PeerId};

    use super::*;
    use crate::choker::{Choker, ChokerConfig};
    use crate::peer::{PeerConfig, PeerState};
    use crate::picker::{PickerConfig, PiecePicker};
    use crate::webseed::WebSeedStatus;

    const PIECES: u32 = 4;
    const PIECE: u32 = 2 * BLOCK_SIZE;

    fn state(now: Instant) -> TorrentState {
        let picker = PiecePicker::new(
            PIECES,
            PIECE,
            u64::from(PIECES * PIECE),
            PickerConfig::default(),
        )
        .unwrap();
        let mut st = TorrentState::new(
            picker,
            Choker::new(ChokerConfig::default()),
            StdRng::seed_from_u64(3),
            now,
        );
        st.set_web_seed_config(WebSeedConfig {
            request_bytes: PIECE,
            base_backoff: Duration::from_secs(1),
            max_bad_pieces: 2,
            ..WebSeedConfig::default()
        });
        st
    }

    fn content(block: BlockRequest) -> Vec<u8> {
        vec![(block.piece * 2 + block.begin / BLOCK_SIZE) as u8; block.length as usize]
    }

    /// A peer on 127.0.0.1 with every piece.
    fn peer(st: &mut TorrentState, now: Instant) -> PeerKey {
        let key = st
            .register(
                SocketAddr::from(([127, 0, 0, 1], 6881)),
                PeerId([1; 20]),
                true,
                PeerId([0; 20]),
                50,
                |key| PeerState::new(key, PIECES, true, false, PeerConfig::default(), now),
                now,
            )
            .unwrap();
        let mut effects = Vec::new();
        st.on_messages(key, &mut vec![Message::HaveAll], now, &mut effects)
            .unwrap();
        key
    }

    #[test]
    fn a_web_seed_alone_fetches_every_piece_through_the_picker() {
        let now = Instant::now();
        let mut st = state(now);
        let ws = st.add_web_seed("http://seed/".into(), now).unwrap();
        let mut rounds = 0;
        loop {
            match st.web_seed_next(ws, now) {
                NextFetch::Fetch(blocks) => {
                    rounds += 1;
                    assert!(blocks.len() <= 2, "one piece per round: {blocks:?}");
                    for b in blocks {
                        let r = st.on_web_seed_block(ws, b, &content(b), now);
                        if let WebSeedBlock::Store { completes: true } = r {
                            st.on_piece_verified(b.piece, now);
                        } else {
                            assert_eq!(r, WebSeedBlock::Store { completes: false });
                        }
                    }
                    st.on_web_seed_done(ws, now);
                }
                NextFetch::Finished => break,
                other => panic!("unexpected {other:?}"),
            }
            assert!(rounds <= PIECES, "more rounds than pieces");
        }
        assert_eq!(rounds, PIECES);
        assert_eq!(st.downloaded, u64::from(PIECES * PIECE));
        assert_eq!(st.web_seed_downloaded(), u64::from(PIECES * PIECE));
        assert_eq!(st.web_seeds(now)[0].status, WebSeedStatus::Active);
    }

    #[test]
    fn errors_release_blocks_back_off_and_finally_drop() {
        let now = Instant::now();
        let mut st = state(now);
        st.web_seeds.config.max_errors = 2;
        let ws = st.add_web_seed("http://seed/".into(), now).unwrap();
        let NextFetch::Fetch(blocks) = st.web_seed_next(ws, now) else {
            panic!("nothing to fetch");
        };
        assert_eq!(st.picker.outstanding_requests(ws), blocks.len());
        assert!(!st.on_web_seed_error(ws, "HTTP 500", now));
        assert_eq!(st.picker.outstanding_requests(ws), 0, "blocks released");
        assert_eq!(
            st.web_seed_next(ws, now),
            NextFetch::WaitUntil(now + Duration::from_secs(1))
        );
        let later = now + Duration::from_secs(1);
        assert!(matches!(st.web_seed_next(ws, later), NextFetch::Fetch(_)));
        assert!(st.on_web_seed_error(ws, "short body", later));
        assert_eq!(st.web_seed_next(ws, later), NextFetch::Dropped);
        assert_eq!(st.picker.num_peers(), 0, "gone from the picker");
        let b = st.picker.block_request(0, 0).unwrap();
        assert_eq!(
            st.on_web_seed_block(ws, b, &content(b), later),
            WebSeedBlock::Stop
        );
    }

    #[test]
    fn a_web_seed_sending_bad_pieces_is_dropped_and_the_peer_on_its_address_is_not_banned() {
        let now = Instant::now();
        let mut st = state(now);
        let p = peer(&mut st, now);
        let ws = st.add_web_seed("http://127.0.0.1/".into(), now).unwrap();
        for round in 0..2 {
            let t = now + Duration::from_secs(10 * round);
            let NextFetch::Fetch(blocks) = st.web_seed_next(ws, t) else {
                panic!("nothing to fetch in round {round}");
            };
            let piece = blocks[0].piece;
            for b in blocks {
                let mut bad = content(b);
                bad[0] ^= 0xff;
                let _ = st.on_web_seed_block(ws, b, &bad, t);
            }
            st.on_web_seed_done(ws, t);
            // Sole sender of a failing piece: guilty at once.
            st.on_piece_failed(piece, t);
        }
        let info = &st.web_seeds(now)[0];
        assert_eq!(info.status, WebSeedStatus::Dropped);
        assert_eq!(info.bad_pieces, 2);
        assert!(!st.is_banned("127.0.0.1".parse().unwrap()));
        assert!(st.peers.contains_key(&p));
    }

    #[test]
    fn a_mixed_piece_blames_the_web_seed_only_once_the_piece_passes() {
        let now = Instant::now();
        let mut st = state(now);
        let p = peer(&mut st, now);
        let ws = st.add_web_seed("http://127.0.0.1/".into(), now).unwrap();
        let ip = "127.0.0.1".parse().unwrap();
        let NextFetch::Fetch(blocks) = st.web_seed_next(ws, now) else {
            panic!("nothing to fetch");
        };
        let (b0, b1) = (blocks[0], blocks[1]);
        let piece = b0.piece;
        // Block 0 from the web seed (bad), block 1 from the peer (good).
        let mut bad = content(b0);
        bad[5] ^= 1;
        assert!(matches!(
            st.on_web_seed_block(ws, b0, &bad, now),
            WebSeedBlock::Store { .. }
        ));
        st.picker.on_block_received(p, b1);
        st.smartban
            .record(piece, 1, 2, Sender::Peer(ip), Some(&content(b1)));
        st.on_piece_failed(piece, now);
        assert_eq!(st.web_seeds(now)[0].bad_pieces, 0, "not proven yet");
        // The second attempt, all from the peer, passes.
        for b in [b0, b1] {
            st.picker.on_block_received(p, b);
            st.smartban.record(
                piece,
                b.begin / BLOCK_SIZE,
                2,
                Sender::Peer(ip),
                Some(&content(b)),
            );
        }
        st.on_piece_verified(piece, now);
        assert_eq!(st.web_seeds(now)[0].bad_pieces, 1);
        assert!(!st.is_banned(ip));
    }
}
