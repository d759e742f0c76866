//! The protocol state of one peer connection (sans-I/O).
//!
//! [`PeerState`] takes decoded [`Message`]s and timer ticks, updates the
//! torrent's [`PiecePicker`], and produces:
//!
//! * bytes to send, encoded into its outbox ([`PeerState::take_outbox`]);
//! * blocks the peer asked for, in its upload queue
//!   ([`PeerState::next_uploads`]);
//! * [`Effect`]s for the rest of the torrent: blocks to store, endgame
//!   cancels to send to other peers, a request to rechoke.
//!
//! Every protocol violation is a [`PeerError`]: the caller drops this peer
//! (and only this one). Nothing here touches a socket or reads a clock.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use shoal_wire::{ExtensionHandshake, Message, EXTENSION_HANDSHAKE_ID};
use thiserror::Error;

use crate::bitfield::Bitfield;
use crate::pex::{PexConfig, PexError, PexPeer, PexPeerState, UT_PEX, UT_PEX_ID};
use crate::picker::{BlockRequest, BlockStatus, PiecePicker, BLOCK_SIZE};
use crate::rate::RateEstimator;
use crate::ut_metadata::{MetadataMessage, UT_METADATA, UT_METADATA_ID};
use crate::PeerKey;

/// Why a peer was dropped.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PeerError {
    /// The message stream is malformed (length, id, bitfield size...).
    #[error("protocol error: {0}")]
    Wire(#[from] shoal_wire::WireError),
    /// A `bitfield`, `have all` or `have none` that was not the first
    /// message, or a second one.
    #[error("{0} not sent as the first message")]
    LateBitfield(&'static str),
    /// A `bitfield` of the wrong size or with spare bits set.
    #[error("invalid bitfield")]
    BadBitfield,
    /// A block we never requested from this peer.
    #[error("unrequested block: piece {piece} offset {begin} length {length}")]
    UnrequestedPiece {
        /// Piece index.
        piece: u32,
        /// Offset within the piece.
        begin: u32,
        /// Length of the block.
        length: u32,
    },
    /// A request that does not lie within its piece, or is empty.
    #[error("request out of bounds: piece {piece} offset {begin} length {length}")]
    RequestOutOfBounds {
        /// Piece index.
        piece: u32,
        /// Offset within the piece.
        begin: u32,
        /// Length of the block.
        length: u32,
    },
    /// Too many requests for pieces we do not have, or while choked
    /// without the fast extension.
    #[error("too many invalid requests")]
    TooManyBadRequests,
    /// Far more `have` messages than the torrent has pieces.
    #[error("flood of redundant have messages")]
    HaveFlood,
    /// The peer queued far more requests than we allow.
    #[error("request flood ({0} queued)")]
    RequestFlood(usize),
    /// Nothing received for too long.
    #[error("timed out: nothing received for {0:?}")]
    Inactive(Duration),
    /// The peer keeps asking but does not read our answers: more than the
    /// outbox may hold is waiting to be sent to it.
    #[error("peer is not reading: {0} bytes waiting to be sent")]
    NotReading(usize),
    /// Too many peer exchange (`ut_pex`) messages.
    #[error("{0}")]
    PexFlood(PexError),
}

/// Tunables of a [`PeerState`].
#[derive(Debug, Clone)]
pub struct PeerConfig {
    /// Fewest requests kept in flight to an unchoking peer.
    pub min_pipeline: u32,
    /// Most requests kept in flight to one peer (also capped by the
    /// peer's `reqq`).
    pub max_pipeline: u32,
    /// Requests in flight at first, before the peer's rate is known.
    pub initial_pipeline: u32,
    /// How many seconds of the peer's rate to keep requested.
    pub pipeline_time: Duration,
    /// A peer with requests outstanding that sends no block for this long is
    /// snubbing us: its requests go to other peers.
    pub snub_timeout: Duration,
    /// Drop a peer that sends nothing at all (not even a keep-alive) for
    /// this long.
    pub inactivity_timeout: Duration,
    /// Send a keep-alive after this long without sending anything.
    pub keepalive_interval: Duration,
    /// Most of the peer's requests we queue (advertised as `reqq`).
    pub max_upload_queue: usize,
}

impl Default for PeerConfig {
    fn default() -> Self {
        PeerConfig {
            min_pipeline: 2,
            max_pipeline: 500,
            initial_pipeline: 32,
            pipeline_time: Duration::from_millis(1500),
            snub_timeout: Duration::from_secs(30),
            inactivity_timeout: Duration::from_secs(180),
            keepalive_interval: Duration::from_secs(110),
            max_upload_queue: 500,
        }
    }
}

/// Something the torrent has to do after a message or tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Write this block to storage. `completes` is true when the picker
    /// now has every block of the piece (it should be hashed).
    Store {
        /// The block.
        block: BlockRequest,
        /// Its data.
        data: Bytes,
        /// The picker has every block of the piece.
        completes: bool,
    },
    /// Send `cancel` for `block` to another peer (endgame duplicate); the
    /// picker has already forgotten that peer's request.
    Cancel {
        /// The other peer.
        peer: PeerKey,
        /// The block.
        block: BlockRequest,
    },
    /// The peer's interest in us changed: the choker may want to act now.
    InterestChanged,
    /// The peer asks for a piece of the info dictionary (BEP 9); answer
    /// with [`PeerState::send_metadata`].
    MetadataRequest {
        /// Metadata piece index.
        piece: u32,
    },
    /// Peers the peer told us about (BEP 11), already within this
    /// connection's bounds: candidates to dial.
    PexPeers(Vec<PexPeer>),
}

/// A request we sent and have not seen answered.
#[derive(Debug, Clone, Copy)]
struct Pending {
    block: BlockRequest,
    sent: Instant,
    /// Sent while the peer choked us (an allowed-fast request).
    while_choked: bool,
}

/// Most recently cancelled or timed-out requests remembered, so a block
/// already in flight when we gave up on it is not a protocol violation.
const MAX_RECENTLY_CANCELLED: usize = 2048;
/// Requests an unchoking peer may reject, with no block in between,
/// before it counts as snubbing us.
const MAX_REJECTS_UNCHOKED: u32 = 64;
/// Invalid requests tolerated before dropping the peer.
const MAX_BAD_REQUESTS: u32 = 64;

/// Allowed-fast pieces (BEP 6) remembered per peer; more are ignored
/// (clients send about 10).
const MAX_ALLOWED_FAST: usize = 32;

/// Most bytes of encoded messages waiting for one peer (besides our
/// bitfield, which may be larger for huge torrents). Control messages
/// never come near it; a peer that keeps asking for replies (rejects,
/// metadata) without reading them reaches it and is dropped
/// ([`PeerError::NotReading`]). Block payloads are not in the outbox:
/// they are read from storage as the writer sends them.
pub const MAX_OUTBOX: usize = 256 * 1024;

/// Metadata replies (16 KiB each) are only queued while the outbox holds
/// less than this; requests beyond it are rejected (BEP 9 allows it), so
/// at most a few replies are in flight per peer.
pub const METADATA_OUTBOX_BUDGET: usize = 64 * 1024;

/// Metadata requests answered (with data or a reject) per connection;
/// later ones are ignored.
const MAX_METADATA_REQUESTS: u32 = 4096;

/// The state of one peer connection; see the [module documentation](self).
#[derive(Debug)]
pub struct PeerState {
    key: PeerKey,
    config: PeerConfig,
    piece_count: u32,
    fast: bool,
    extended: bool,

    am_choking: bool,
    am_interested: bool,
    peer_choking: bool,
    peer_interested: bool,
    /// A message other than `extended`/keep-alive/`port` has arrived: no
    /// bitfield may follow.
    past_first: bool,

    requests: VecDeque<Pending>,
    recently_cancelled: VecDeque<BlockRequest>,
    their_reqq: Option<u32>,
    pipeline: u32,
    snubbed: bool,

    upload_queue: VecDeque<BlockRequest>,
    outbox: BytesMut,

    download_rate: RateEstimator,
    upload_rate: RateEstimator,
    downloaded: u64,
    uploaded: u64,
    connected_at: Instant,
    last_received: Instant,
    last_sent: Instant,
    last_block: Option<Instant>,
    redundant_haves: u64,
    bad_requests: u32,
    overflow_requests: u64,
    /// Our requests it rejected while unchoking us, since its last block.
    rejects_unchoked: u32,
    /// Pieces it lets us request even while it chokes us (BEP 6).
    allowed_fast: Vec<u32>,

    client: Option<String>,
    listen_port: Option<u16>,
    their_ut_metadata: Option<u8>,
    metadata_requests: u32,
    /// Our peer exchange settings, when we speak `ut_pex` on this torrent.
    pex_config: Option<PexConfig>,
    /// Peer exchange with this peer, once it spoke of it.
    pex: Option<PexPeerState>,
    /// The outbox bound: [`MAX_OUTBOX`] plus our bitfield's size.
    max_outbox: usize,
}

impl PeerState {
    /// A connection that has just completed the handshake. `fast` and
    /// `extended` are the extensions both sides advertised.
    pub fn new(
        key: PeerKey,
        piece_count: u32,
        fast: bool,
        extended: bool,
        config: PeerConfig,
        now: Instant,
    ) -> PeerState {
        let pipeline = config.initial_pipeline;
        PeerState {
            key,
            config,
            piece_count,
            fast,
            extended,
            am_choking: true,
            am_interested: false,
            peer_choking: true,
            peer_interested: false,
            past_first: false,
            requests: VecDeque::new(),
            recently_cancelled: VecDeque::new(),
            their_reqq: None,
            pipeline,
            snubbed: false,
            allowed_fast: Vec::new(),
            upload_queue: VecDeque::new(),
            outbox: BytesMut::new(),
            download_rate: RateEstimator::new(now),
            upload_rate: RateEstimator::new(now),
            downloaded: 0,
            uploaded: 0,
            connected_at: now,
            last_received: now,
            last_sent: now,
            last_block: None,
            redundant_haves: 0,
            bad_requests: 0,
            overflow_requests: 0,
            rejects_unchoked: 0,
            client: None,
            listen_port: None,
            their_ut_metadata: None,
            metadata_requests: 0,
            pex_config: None,
            pex: None,
            max_outbox: MAX_OUTBOX + piece_count.div_ceil(8) as usize,
        }
    }

    /// The peer's key.
    pub fn key(&self) -> PeerKey {
        self.key
    }

    /// Whether we choke the peer.
    pub fn am_choking(&self) -> bool {
        self.am_choking
    }

    /// Whether we are interested in the peer.
    pub fn am_interested(&self) -> bool {
        self.am_interested
    }

    /// Whether the peer chokes us.
    pub fn peer_choking(&self) -> bool {
        self.peer_choking
    }

    /// Whether the peer is interested in us.
    pub fn peer_interested(&self) -> bool {
        self.peer_interested
    }

    /// Whether the fast extension was negotiated.
    pub fn fast(&self) -> bool {
        self.fast
    }

    /// Whether the extension protocol was negotiated.
    pub fn extended(&self) -> bool {
        self.extended
    }

    /// Requests in flight to the peer.
    pub fn outstanding(&self) -> usize {
        self.requests.len()
    }

    /// The current pipeline depth target.
    pub fn pipeline(&self) -> u32 {
        self.pipeline
    }

    /// The peer's requests waiting to be served.
    pub fn queued_uploads(&self) -> usize {
        self.upload_queue.len()
    }

    /// Payload bytes received from the peer (blocks we stored).
    pub fn downloaded(&self) -> u64 {
        self.downloaded
    }

    /// Payload bytes sent to the peer.
    pub fn uploaded(&self) -> u64 {
        self.uploaded
    }

    /// Download rate from the peer, bytes/s.
    pub fn download_rate(&self, now: Instant) -> u64 {
        self.download_rate.rate(now)
    }

    /// Upload rate to the peer, bytes/s.
    pub fn upload_rate(&self, now: Instant) -> u64 {
        self.upload_rate.rate(now)
    }

    /// When the connection was established.
    pub fn connected_at(&self) -> Instant {
        self.connected_at
    }

    /// When the peer last sent us a block.
    pub fn last_block(&self) -> Option<Instant> {
        self.last_block
    }

    /// Whether the peer has sent something other than its extension
    /// handshake (so its bitfield, if any, is known).
    pub fn sent_bitfield_or_more(&self) -> bool {
        self.past_first
    }

    /// Whether the peer is snubbing us (requests unanswered too long).
    pub fn is_snubbed(&self) -> bool {
        self.snubbed
    }

    /// The client name from the extension handshake (`v`).
    pub fn client(&self) -> Option<&str> {
        self.client.as_deref()
    }

    /// The peer's listen port from the extension handshake (`p`).
    pub fn listen_port(&self) -> Option<u16> {
        self.listen_port
    }

    /// Speak peer exchange (BEP 11) with this peer: take its `ut_pex`
    /// messages (ours must advertise [`UT_PEX`] under [`UT_PEX_ID`]), and
    /// let [`Self::send_pex`] send ours.
    pub fn enable_pex(&mut self, config: PexConfig) {
        self.pex_config = Some(config);
    }

    /// Whether a `ut_pex` message is due to this peer (it advertised the
    /// extension and the interval has passed).
    pub fn pex_due(&self, now: Instant) -> bool {
        match (&self.pex, &self.pex_config) {
            (Some(p), Some(cfg)) => p.their_id() != 0 && p.due(cfg, now),
            _ => false,
        }
    }

    /// Send the peer exchange message due now, given the peers we are
    /// connected to besides this one; returns whether one was queued.
    pub fn send_pex(&mut self, current: &[PexPeer], now: Instant) -> bool {
        let (Some(p), Some(cfg)) = (self.pex.as_mut(), self.pex_config.as_ref()) else {
            return false;
        };
        if p.their_id() == 0 {
            return false;
        }
        let id = p.their_id();
        match p.build(current, cfg, now) {
            Some(msg) => {
                self.send(&msg.to_message(id), now);
                true
            }
            None => false,
        }
    }

    /// Whether there is anything to send.
    pub fn has_output(&self) -> bool {
        !self.outbox.is_empty() || (!self.am_choking && !self.upload_queue.is_empty())
    }

    /// Encoded messages waiting to be sent (empties the outbox).
    pub fn take_outbox(&mut self) -> Bytes {
        self.outbox.split().freeze()
    }

    /// Up to `max_bytes` worth of the peer's queued requests, oldest first
    /// (at least one if any is queued). Empty while we choke the peer.
    pub fn next_uploads(&mut self, max_bytes: u64, out: &mut Vec<BlockRequest>) {
        if self.am_choking {
            return;
        }
        let mut total = 0u64;
        while let Some(r) = self.upload_queue.front() {
            if total > 0 && total + u64::from(r.length) > max_bytes {
                break;
            }
            total += u64::from(r.length);
            out.push(*r);
            self.upload_queue.pop_front();
        }
    }

    /// Record that `bytes` of block payload were sent at `now`.
    pub fn on_uploaded(&mut self, now: Instant, bytes: u64) {
        self.uploaded += bytes;
        self.upload_rate.record(now, bytes);
    }

    /// Answer a metadata request with the piece of `metadata` (the info
    /// dictionary) it asked for, or with a reject while earlier replies
    /// still wait in the outbox (see [`METADATA_OUTBOX_BUDGET`]).
    pub fn send_metadata(&mut self, metadata: &Bytes, piece: u32, now: Instant) {
        if let Some(id) = self.their_ut_metadata {
            let reply = if self.outbox.len() < METADATA_OUTBOX_BUDGET {
                crate::ut_metadata::serve(metadata, piece)
            } else {
                MetadataMessage::Reject { piece }
            };
            self.send(&reply.to_message(id), now);
        }
    }

    /// Bytes of encoded messages waiting to be sent.
    pub fn outbox_len(&self) -> usize {
        self.outbox.len()
    }

    /// An estimate of the memory this peer's state holds, in bytes: the
    /// outbox and every queue, by capacity.
    pub fn memory(&self) -> usize {
        use std::mem::size_of;
        size_of::<PeerState>()
            + self.outbox.capacity()
            + self.requests.capacity() * size_of::<Pending>()
            + self.recently_cancelled.capacity() * size_of::<BlockRequest>()
            + self.upload_queue.capacity() * size_of::<BlockRequest>()
            + self.allowed_fast.capacity() * size_of::<u32>()
            + self.client.as_ref().map_or(0, String::capacity)
    }

    /// Fails once more is waiting to be sent than the outbox may hold.
    fn check_outbox(&self) -> Result<(), PeerError> {
        if self.outbox.len() > self.max_outbox {
            return Err(PeerError::NotReading(self.outbox.len()));
        }
        Ok(())
    }

    /// Queue a message.
    pub fn send(&mut self, msg: &Message, now: Instant) {
        msg.encode(&mut self.outbox);
        self.last_sent = now;
    }

    /// The first messages after the handshake: our pieces and, if
    /// negotiated, our extension handshake.
    pub fn start(&mut self, have: &Bitfield, ext: Option<&ExtensionHandshake>, now: Instant) {
        if self.fast && have.is_complete() {
            self.send(&Message::HaveAll, now);
        } else if self.fast && have.none() {
            self.send(&Message::HaveNone, now);
        } else if !have.none() {
            self.send(
                &Message::Bitfield(Bytes::copy_from_slice(have.as_bytes())),
                now,
            );
        }
        if self.extended {
            if let Some(ext) = ext {
                self.send(&ext.to_message(), now);
            }
        }
    }

    /// Choke or unchoke the peer. Choking drops its queued requests
    /// (rejecting them under the fast extension).
    pub fn set_choking(&mut self, choke: bool, now: Instant) {
        if choke == self.am_choking {
            return;
        }
        self.am_choking = choke;
        if choke {
            self.send(&Message::Choke, now);
            let dropped = std::mem::take(&mut self.upload_queue);
            if self.fast {
                for r in dropped {
                    self.send(&reject(r), now);
                }
            }
        } else {
            self.send(&Message::Unchoke, now);
        }
    }

    /// Send `interested` / `not interested` if our interest changed.
    pub fn update_interest(&mut self, picker: &PiecePicker, now: Instant) {
        let want = picker.is_interesting(self.key);
        if want != self.am_interested {
            self.am_interested = want;
            self.send(
                if want {
                    &Message::Interested
                } else {
                    &Message::NotInterested
                },
                now,
            );
        }
    }

    /// We now have `piece`: tell the peer, even one that has it too. A
    /// super-seed (BEP 16) hides what it has and learns from these `have`s
    /// which offers reached the swarm, so they are sent to every peer, as
    /// libtorrent (`send_redundant_have`) and Transmission do.
    pub fn announce_have(&mut self, piece: u32, now: Instant) {
        self.send(&Message::Have { piece }, now);
    }

    /// Send `cancel` for a block the picker already released from this
    /// peer (endgame).
    pub fn cancel_request(&mut self, block: BlockRequest, now: Instant) {
        if let Some(i) = self.requests.iter().position(|p| p.block == block) {
            self.requests.remove(i);
            self.remember_cancelled(block);
            self.send(&cancel(block), now);
        }
    }

    fn remember_cancelled(&mut self, block: BlockRequest) {
        if self.recently_cancelled.len() >= MAX_RECENTLY_CANCELLED {
            self.recently_cancelled.pop_front();
        }
        self.recently_cancelled.push_back(block);
    }

    /// Top the pipeline up with new requests from the picker.
    /// While it chokes us, only its allowed-fast pieces (BEP 6) are asked
    /// for.
    pub fn fill_requests(&mut self, picker: &mut PiecePicker, now: Instant) {
        if self.peer_choking && !self.allowed_fast.is_empty() {
            self.allowed_fast.retain(|&p| !picker.has_piece(p));
        }
        if !self.am_interested || (self.peer_choking && self.allowed_fast.is_empty()) {
            return;
        }
        let depth = if self.snubbed { 1 } else { self.pipeline } as usize;
        if self.requests.len() >= depth {
            return;
        }
        let want = depth - self.requests.len();
        let mut picked = Vec::with_capacity(want);
        if self.peer_choking {
            picker.pick_blocks_among(self.key, &self.allowed_fast, want, &mut picked);
        } else {
            picker.pick_blocks_into(self.key, want, &mut picked);
        }
        for block in picked {
            self.send(&request(block), now);
            self.requests.push_back(Pending {
                block,
                sent: now,
                while_choked: self.peer_choking,
            });
        }
    }

    /// Periodic housekeeping: timeouts, snubbing, pipeline depth,
    /// keep-alives.
    pub fn on_tick(&mut self, picker: &mut PiecePicker, now: Instant) -> Result<(), PeerError> {
        let quiet = now.saturating_duration_since(self.last_received);
        if quiet >= self.config.inactivity_timeout {
            return Err(PeerError::Inactive(quiet));
        }
        self.check_outbox()?;
        if let Some(oldest) = self.requests.front() {
            let since = self.last_block.map_or(oldest.sent, |b| b.max(oldest.sent));
            if now.saturating_duration_since(since) >= self.config.snub_timeout {
                self.snubbed = true;
                self.release_requests(picker, now, true);
            }
        }
        self.adapt_pipeline(now);
        if now.saturating_duration_since(self.last_sent) >= self.config.keepalive_interval {
            self.send(&Message::KeepAlive, now);
        }
        self.fill_requests(picker, now);
        Ok(())
    }

    fn adapt_pipeline(&mut self, now: Instant) {
        let cap = self
            .their_reqq
            .unwrap_or(u32::MAX)
            .min(self.config.max_pipeline)
            .max(1);
        let rate = self.download_rate.rate(now) as f64;
        let want = (rate * self.config.pipeline_time.as_secs_f64() / f64::from(BLOCK_SIZE)) as u32;
        // Never shrink below what got us here while data flows; grow freely.
        let floor = if self.downloaded == 0 {
            self.config.initial_pipeline
        } else {
            self.config.min_pipeline
        };
        self.pipeline = want.max(floor).min(cap);
    }

    /// Forget every outstanding request (choked without the fast
    /// extension, or snubbed), releasing the blocks for other peers.
    fn release_requests(&mut self, picker: &mut PiecePicker, now: Instant, send_cancel: bool) {
        for p in std::mem::take(&mut self.requests) {
            picker.on_request_timeout(self.key, p.block);
            self.remember_cancelled(p.block);
            if send_cancel {
                self.send(&cancel(p.block), now);
            }
        }
    }

    /// The connection is closing: release everything in the picker.
    pub fn on_disconnect(&mut self, picker: &mut PiecePicker) {
        self.requests.clear();
        picker.on_peer_gone(self.key);
    }

    /// Handle one message from the peer.
    pub fn on_message(
        &mut self,
        msg: Message,
        picker: &mut PiecePicker,
        now: Instant,
        effects: &mut Vec<Effect>,
    ) -> Result<(), PeerError> {
        self.handle_message(msg, picker, now, effects)?;
        self.check_outbox()
    }

    fn handle_message(
        &mut self,
        msg: Message,
        picker: &mut PiecePicker,
        now: Instant,
        effects: &mut Vec<Effect>,
    ) -> Result<(), PeerError> {
        self.last_received = now;
        let first_allowed = !self.past_first;
        if !matches!(
            msg,
            Message::KeepAlive | Message::Extended { .. } | Message::Port(_)
        ) {
            self.past_first = true;
        }
        match msg {
            Message::KeepAlive | Message::Port(_) | Message::SuggestPiece { .. } => {}
            Message::Unknown { .. } => {}
            Message::AllowedFast { piece } => {
                if self.fast
                    && piece < self.piece_count
                    && self.allowed_fast.len() < MAX_ALLOWED_FAST
                    && !self.allowed_fast.contains(&piece)
                {
                    self.allowed_fast.push(piece);
                }
            }
            Message::Choke => {
                self.peer_choking = true;
                if !self.fast {
                    self.release_requests(picker, now, false);
                }
            }
            Message::Unchoke => {
                self.peer_choking = false;
                // A fresh unchoke ends snubbing, but not for a peer that
                // rejects everything (it could unchoke over and over).
                self.snubbed = self.rejects_unchoked > MAX_REJECTS_UNCHOKED;
            }
            Message::Interested => {
                if !self.peer_interested {
                    self.peer_interested = true;
                    effects.push(Effect::InterestChanged);
                }
            }
            Message::NotInterested => {
                if self.peer_interested {
                    self.peer_interested = false;
                    effects.push(Effect::InterestChanged);
                }
            }
            Message::Have { piece } => {
                let news = picker
                    .peer_have(self.key, piece)
                    .map_err(|_| PeerError::BadBitfield)?;
                if !news {
                    self.redundant_haves += 1;
                    if self.redundant_haves > u64::from(self.piece_count) + 1000 {
                        return Err(PeerError::HaveFlood);
                    }
                }
            }
            Message::Bitfield(bits) => {
                let bf = Bitfield::from_bytes(&bits, self.piece_count as usize)
                    .map_err(|_| PeerError::BadBitfield)?;
                if !first_allowed {
                    // aria2 re-sends its bitfield mid-connection; accept a
                    // late one only if it takes no piece back.
                    let known = picker.peer_pieces(self.key);
                    let superset =
                        known.is_some_and(|k| bf.count_and(k).ok() == Some(k.count_ones()));
                    if !superset {
                        return Err(PeerError::LateBitfield("bitfield"));
                    }
                }
                picker
                    .peer_bitfield(self.key, bf)
                    .map_err(|_| PeerError::BadBitfield)?;
            }
            Message::HaveAll => {
                if !first_allowed {
                    return Err(PeerError::LateBitfield("have all"));
                }
                picker.peer_have_all(self.key);
            }
            Message::HaveNone => {
                if !first_allowed {
                    return Err(PeerError::LateBitfield("have none"));
                }
                picker.peer_have_none(self.key);
            }
            Message::Request {
                index,
                begin,
                length,
            } => self.on_request(block(index, begin, length), picker, now)?,
            Message::Cancel {
                index,
                begin,
                length,
            } => {
                let block = block(index, begin, length);
                if let Some(i) = self.upload_queue.iter().position(|r| *r == block) {
                    self.upload_queue.remove(i);
                    if self.fast {
                        self.send(&reject(block), now);
                    }
                }
            }
            Message::RejectRequest {
                index,
                begin,
                length,
            } => {
                let block = block(index, begin, length);
                if let Some(i) = self.requests.iter().position(|p| p.block == block) {
                    let asked_while_choked = self.requests[i].while_choked;
                    self.requests.remove(i);
                    picker.on_request_rejected(self.key, block);
                    // A peer that unchokes us but rejects everything would
                    // have us re-request at network speed: treat it as
                    // snubbing (one request at a time) until it sends data.
                    if !self.peer_choking {
                        self.rejects_unchoked = self.rejects_unchoked.saturating_add(1);
                        if self.rejects_unchoked > MAX_REJECTS_UNCHOKED {
                            self.snubbed = true;
                        }
                    } else if asked_while_choked {
                        // Asked for as allowed-fast, and refused: it no
                        // longer allows this piece, so do not ask again
                        // (nor loop on its rejects). Rejects of what we
                        // asked before the choke say nothing about that.
                        self.allowed_fast.retain(|&p| p != index);
                    }
                }
            }
            Message::Piece { index, begin, data } => {
                self.on_block(index, begin, data, picker, now, effects)?;
            }
            Message::Extended { id, payload } => {
                if id == EXTENSION_HANDSHAKE_ID {
                    // A malformed handshake is ignored, not fatal: clients
                    // get details wrong and it carries nothing we need.
                    if let Ok(hs) = ExtensionHandshake::parse(&payload) {
                        self.their_ut_metadata = hs.extension_id(UT_METADATA);
                        if self.pex_config.is_some() {
                            let id = hs.extension_id(UT_PEX).unwrap_or(0);
                            self.pex
                                .get_or_insert_with(|| PexPeerState::new(id))
                                .set_their_id(id);
                        }
                        if let Some(reqq) = hs.reqq {
                            self.their_reqq = Some(reqq);
                            self.pipeline = self.pipeline.min(reqq.max(1));
                        }
                        if hs.v.is_some() {
                            self.client = hs.v;
                        }
                        if hs.p.is_some() {
                            self.listen_port = hs.p;
                        }
                    }
                } else if id == UT_PEX_ID {
                    if let Some(cfg) = &self.pex_config {
                        let pex = self.pex.get_or_insert_with(|| PexPeerState::new(0));
                        let peers = pex
                            .receive(&payload, cfg, now)
                            .map_err(PeerError::PexFlood)?;
                        if !peers.is_empty() {
                            effects.push(Effect::PexPeers(peers));
                        }
                    }
                } else if id == UT_METADATA_ID {
                    if let Ok(MetadataMessage::Request { piece }) = MetadataMessage::parse(&payload)
                    {
                        // Requests beyond a generous budget are ignored.
                        self.metadata_requests = self.metadata_requests.saturating_add(1);
                        if self.their_ut_metadata.is_some()
                            && self.metadata_requests <= MAX_METADATA_REQUESTS
                        {
                            effects.push(Effect::MetadataRequest { piece });
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn on_request(
        &mut self,
        block: BlockRequest,
        picker: &PiecePicker,
        now: Instant,
    ) -> Result<(), PeerError> {
        let out_of_bounds = PeerError::RequestOutOfBounds {
            piece: block.piece,
            begin: block.begin,
            length: block.length,
        };
        if block.piece >= self.piece_count || block.length == 0 {
            return Err(out_of_bounds);
        }
        let size = u64::from(picker.piece_size(block.piece));
        if u64::from(block.begin) + u64::from(block.length) > size {
            return Err(out_of_bounds);
        }
        if self.am_choking || !picker.has_piece(block.piece) {
            // Choked requests race with our `choke`; requests for pieces we
            // lack are wrong, but tolerated a little.
            if !picker.has_piece(block.piece) {
                self.bad_requests += 1;
                if self.bad_requests > MAX_BAD_REQUESTS {
                    return Err(PeerError::TooManyBadRequests);
                }
            }
            if self.fast {
                self.send(&reject(block), now);
            }
            return Ok(());
        }
        if self.upload_queue.len() >= self.config.max_upload_queue {
            // Beyond the `reqq` we advertised: tolerated (rejected) a
            // little, a flood is hostile.
            self.overflow_requests += 1;
            if self.overflow_requests > self.config.max_upload_queue as u64 * 4 {
                return Err(PeerError::RequestFlood(self.upload_queue.len()));
            }
            if self.fast {
                self.send(&reject(block), now);
            }
            return Ok(());
        }
        self.upload_queue.push_back(block);
        Ok(())
    }

    fn on_block(
        &mut self,
        piece: u32,
        begin: u32,
        data: Bytes,
        picker: &mut PiecePicker,
        now: Instant,
        effects: &mut Vec<Effect>,
    ) -> Result<(), PeerError> {
        let block = BlockRequest {
            piece,
            begin,
            length: data.len() as u32,
        };
        let unrequested = PeerError::UnrequestedPiece {
            piece,
            begin,
            length: block.length,
        };
        // Blocks nearly always arrive in request order.
        match self.requests.iter().position(|p| p.block == block) {
            Some(0) => {
                self.requests.pop_front();
            }
            Some(i) => {
                self.requests.remove(i);
            }
            None => {
                let Some(i) = self.recently_cancelled.iter().rposition(|b| *b == block) else {
                    return Err(unrequested);
                };
                self.recently_cancelled.remove(i);
            }
        }
        self.last_block = Some(now);
        self.snubbed = false;
        self.rejects_unchoked = 0;
        let outcome = picker.on_block_received(self.key, block);
        if outcome.status == BlockStatus::Invalid {
            return Err(unrequested);
        }
        for peer in &outcome.cancel {
            effects.push(Effect::Cancel { peer: *peer, block });
        }
        if outcome.should_store() {
            self.downloaded += u64::from(block.length);
            self.download_rate.record(now, u64::from(block.length));
            effects.push(Effect::Store {
                block,
                data,
                completes: outcome.piece_complete,
            });
        }
        Ok(())
    }
}

/// The block a `request`, `cancel` or `reject` message names.
fn block(piece: u32, begin: u32, length: u32) -> BlockRequest {
    BlockRequest {
        piece,
        begin,
        length,
    }
}

fn request(b: BlockRequest) -> Message {
    Message::Request {
        index: b.piece,
        begin: b.begin,
        length: b.length,
    }
}

fn cancel(b: BlockRequest) -> Message {
    Message::Cancel {
        index: b.piece,
        begin: b.begin,
        length: b.length,
    }
}

fn reject(b: BlockRequest) -> Message {
    Message::RejectRequest {
        index: b.piece,
        begin: b.begin,
        length: b.length,
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
