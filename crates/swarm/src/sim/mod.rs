//! A deterministic swarm simulator on the pure core.
//!
//! Every node — seeders and leechers — runs its own
//! [`TorrentState`](crate::torrent::TorrentState), driven exactly as the
//! engine drives it, minus sockets and disk:
//!
//! * **Connections.** Each leecher is given up to `numwant` random nodes
//!   when it joins (a tracker's answer) as candidates; its housekeeping
//!   tick (every 500 ms: `tick`, `make_room`, `take_candidates` within
//!   `max_peers` and `max_half_open`) dials them. A dial completes
//!   1.5 round trips later (TCP connect, crossing handshakes), when both
//!   ends `register` it (target first) with a [`PeerState`](crate::peer::PeerState)
//!   that has `start`ed, as the engine's accept and dial paths do.
//! * **Write loop.** On `Action::Wake`, or when its previous write is
//!   through, a connection's writer records the previous write's payload
//!   (`on_uploaded`), takes `next_uploads` (up to `upload_batch`),
//!   calls `on_uploads_taken`, takes the outbox and encodes the `piece`
//!   messages; the bytes go to the node's uplink.
//! * **Links.** An uplink of `upload` bytes/s serves the connections with
//!   bytes waiting in turn, `chunk` bytes at a time; a chunk arrives
//!   `latency(a) + latency(b)` after it left (plus a retransmission delay
//!   if lost; a stream never reorders), passes the receiver's downlink if
//!   it has one, and is read.
//! * **Read loop.** Received bytes are decoded with
//!   [`MessageDecoder`](shoal_wire::MessageDecoder) and applied in one
//!   `on_messages` batch; `Store` effects go to storage.
//! * **Storage.** The content is virtual (generated from the seed), so a
//!   stored block is simply compared with the true bytes; when a piece's
//!   last block is stored it is "hashed" (at once, or after
//!   `piece_size / hash_rate`) and `on_piece_verified` or
//!   `on_piece_failed` is called. A node can be told to send wrong data
//!   for some pieces, which exercises smart-ban.
//! * **Closing.** An `Action::Close` closes the end at once; the other
//!   end's read loop sees the close one latency later and calls
//!   `remove_peer`.
//!
//! Time is virtual: an [`EventQueue`](clock::EventQueue) ordered by
//! `start + offset`, ties broken by scheduling order. There are no
//! threads, sleeps or sockets, and every random choice comes from the
//! scenario's seed.
//!
//! **Determinism.** The simulator itself makes every choice from the
//! seed, in a fixed order, and digests every event it processes into
//! [`Report::trace_hash`]. The core's maps hash with a fixed key
//! ([`crate::fixed_hash`]), so the order in which `tick`, `refill_all`,
//! `rechoke` and the picker walk them is the same in every run: the same
//! scenario and seed give the same trace, in any swarm size.
//!
//! The [`Report`] gives each node's completion time, T (the time until
//! every leecher holds every piece), T* (the minimum distribution time,
//! see [`min_distribution_time`]: `max(F/u_s, N·F/(u_s + Σu_i), F/d_min)`),
//! T/T*, the bytes the seeders sent per piece before the leechers held a
//! full copy among them, the bytes each leecher got from seeders and from
//! leechers, and the number of events processed.
//!
//! ```
//! use shoal_swarm::sim::{Scenario, Simulation};
//! let scenario = Scenario::new(1 << 20, 1 << 16, 7)
//!     .seeders(1, 1 << 20)
//!     .leechers(4, 1 << 20);
//! let report = Simulation::new(scenario).run();
//! assert!(report.all_complete());
//! println!("{report}");
//! ```

pub mod clock;
pub mod content;
mod driver;
pub mod link;
pub mod node;
pub mod report;
pub mod scenario;
mod transfer;

pub use driver::Simulation;
pub use link::Loss;
pub use report::{min_distribution_time, NodeReport, Report};
pub use scenario::{NodeSpec, Role, Scenario};
