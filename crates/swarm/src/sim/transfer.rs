//! Moving bytes: a connection's write loop (outbox and uploads taken as
//! the engine's writer takes them), the uplink that serialises them, the
//! downlink and read loop at the other end (decode, `on_messages`), and
//! the storage stand-in (store, hash check, verified / failed).

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use shoal_wire::{encode_piece_header, PIECE_HEADER_LEN};

use super::driver::{Event, Simulation};
use super::link::transmit_time;
use super::node::Writer;
use super::scenario::Role;
use crate::peer::Effect;
use crate::picker::BlockRequest;

impl Simulation {
    /// One turn of the engine's write loop for connection end `e`: record
    /// the payload of the previous write as uploaded, take the peer's next
    /// uploads and its outbox, and hand them to the uplink.
    pub(super) fn write(&mut self, e: usize) {
        let now = self.q.now_instant();
        let batch = self.scenario.upload_batch;
        let end = &mut self.ends[e];
        end.writer = Writer::Idle;
        if !end.open {
            return;
        }
        let (n, key) = (end.node, end.key);
        let sent = std::mem::take(&mut end.sent_payload);
        let node = &mut self.nodes[n];
        let st = &mut node.state;
        if sent > 0 {
            st.uploaded += sent;
            st.up_rate.record(now, sent);
        }
        let Some(slot) = st.peers.get_mut(&key) else {
            return;
        };
        if sent > 0 {
            slot.state.on_uploaded(now, sent);
        }
        let mut uploads = Vec::new();
        slot.state.next_uploads(batch, &mut uploads);
        st.on_uploads_taken(key, &uploads, now);
        let outbox = st
            .peers
            .get_mut(&key)
            .map(|s| s.state.take_outbox())
            .unwrap_or_default();
        let mut bufs = Vec::with_capacity(1 + 2 * uploads.len());
        if !outbox.is_empty() {
            bufs.push((outbox, None));
        }
        let payload = self.encode_blocks(n, &uploads, &mut bufs);
        self.ends[e].sent_payload = payload;
        self.apply_actions(n);
        if bufs.is_empty() || !self.ends[e].open {
            return;
        }
        let end = &mut self.ends[e];
        end.tx.extend(bufs);
        end.writer = Writer::Busy;
        if !end.in_uplink {
            end.in_uplink = true;
            self.nodes[n].uplink.enqueue(e);
        }
        if !self.nodes[n].uplink.busy {
            self.send_next(n);
        }
    }

    /// `piece` messages for `uploads` from node `n` (wrong data for the
    /// pieces it corrupts); returns the payload bytes.
    fn encode_blocks(
        &mut self,
        n: usize,
        uploads: &[BlockRequest],
        bufs: &mut Vec<(Bytes, Option<u32>)>,
    ) -> u64 {
        let mut hdr = BytesMut::with_capacity(uploads.len() * PIECE_HEADER_LEN);
        let mut payload = 0u64;
        for r in uploads {
            let corrupt = self.nodes[n]
                .corrupt
                .get(r.piece as usize)
                .copied()
                .unwrap_or(false);
            let data = if corrupt {
                self.content.corrupt_block(r.piece, r.begin, r.length)
            } else {
                self.content.block(r.piece, r.begin, r.length)
            };
            // The peer state checks requests against the piece geometry,
            // so every block lies within the content.
            let Some(data) = data else { continue };
            encode_piece_header(r.piece, r.begin, r.length, &mut hdr);
            bufs.push((hdr.split().freeze(), None));
            bufs.push((data, Some(r.piece)));
            payload += u64::from(r.length);
        }
        self.nodes[n].uploaded += payload;
        payload
    }

    /// Transmit the next chunk on node `n`'s uplink: up to `chunk` bytes,
    /// taken from the connections with bytes waiting in turn (several
    /// short messages share one chunk's turn).
    pub(super) fn send_next(&mut self, n: usize) {
        let now = self.q.now();
        let chunk = self.scenario.chunk.max(1);
        let rate = self.nodes[n].uplink.rate;
        let count_pieces = self.nodes[n].spec.role == Role::Seeder && self.full_copy_at.is_none();
        let mut sent = 0usize;
        let mut elapsed = Duration::ZERO;
        while sent < chunk {
            let Some(e) = self.nodes[n].uplink.next_waiting() else {
                break;
            };
            let end = &mut self.ends[e];
            if !end.open {
                end.in_uplink = false;
                continue;
            }
            let mut parts = Vec::new();
            let mut len = 0usize;
            while sent + len < chunk {
                let Some((front, piece)) = end.tx.front_mut() else {
                    break;
                };
                let take = front.len().min(chunk - sent - len);
                len += take;
                if let (true, Some(p)) = (count_pieces, *piece) {
                    if let Some(b) = self.seeder_piece_bytes.get_mut(p as usize) {
                        *b += take as u64;
                    }
                }
                if take == front.len() {
                    parts.extend(end.tx.pop_front().map(|(b, _)| b));
                } else {
                    parts.push(front.split_to(take));
                }
            }
            sent += len;
            elapsed += transmit_time(len, rate);
            let left = now + elapsed;
            let remote = end.remote_node;
            let loss = self.scenario.loss.delay(&mut self.rng);
            let latency = self.latency(n, remote);
            let end = &mut self.ends[e];
            let arrive = (left + latency + loss).max(end.last_delivery);
            end.last_delivery = arrive;
            let remote_end = end.remote_end;
            if end.tx.is_empty() {
                // The write is through: the writer loops.
                end.in_uplink = false;
                end.writer = Writer::Scheduled;
                self.q.schedule(left, Event::Write(e));
            } else {
                self.nodes[n].uplink.enqueue(e);
            }
            self.q.schedule(arrive, Event::Arrive(remote_end, parts));
        }
        if sent > 0 {
            self.nodes[n].uplink.busy = true;
            self.q.schedule(now + elapsed, Event::UplinkFree(n));
        }
    }

    /// Bytes reach end `e`'s node: through its downlink, then read.
    pub(super) fn arrive(&mut self, e: usize, parts: Vec<Bytes>) {
        if !self.ends[e].open {
            return;
        }
        let now = self.q.now();
        let n = self.ends[e].node;
        let len = parts.iter().map(Bytes::len).sum();
        let ready = self.nodes[n].downlink.accept(now, len);
        if ready > now {
            self.q.schedule(ready, Event::Receive(e, parts));
        } else {
            self.receive(e, parts);
        }
    }

    /// The engine's read loop for one read: decode every complete message,
    /// apply them in one batch, store the blocks.
    pub(super) fn receive(&mut self, e: usize, parts: Vec<Bytes>) {
        let now = self.q.now_instant();
        let end = &mut self.ends[e];
        if !end.open {
            return;
        }
        for p in &parts {
            end.rx.extend_from_slice(p);
        }
        let mut msgs = Vec::new();
        let mut violation = None;
        loop {
            match end.decoder.decode(&mut end.rx) {
                Ok(Some(m)) => msgs.push(m),
                Ok(None) => break,
                Err(err) => {
                    violation = Some(format!("protocol error: {err}"));
                    break;
                }
            }
        }
        let (n, key, from) = (end.node, end.key, end.remote_node);
        if !msgs.is_empty() {
            let mut effects = Vec::new();
            let result = self.nodes[n]
                .state
                .on_messages(key, &mut msgs, now, &mut effects);
            for effect in effects {
                if let Effect::Store {
                    block,
                    data,
                    completes,
                } = effect
                {
                    self.store(n, from, block, &data, completes);
                }
            }
            if result.is_err() {
                // The state removed the peer (a Close action follows).
                violation = None;
            }
        }
        if let Some(v) = violation {
            self.nodes[n].state.remove_peer(key, &v, now);
        }
        self.apply_actions(n);
    }

    /// Storage takes a block: note whether it is right, count who sent it,
    /// and hash a completed piece.
    fn store(&mut self, n: usize, from: usize, block: BlockRequest, data: &[u8], completes: bool) {
        let correct = self.content.is_correct(block.piece, block.begin, data);
        let from_seeder = self.nodes[from].spec.role == Role::Seeder;
        let node = &mut self.nodes[n];
        if !correct {
            if let Some(b) = node.bad.get_mut(block.piece as usize) {
                *b = true;
            }
        }
        let len = data.len() as u64;
        if from_seeder {
            node.from_seeders += len;
        } else {
            node.from_leechers += len;
        }
        if completes {
            let size = node.state.picker.piece_size(block.piece) as usize;
            let hash = self
                .scenario
                .hash_rate
                .map_or(Duration::ZERO, |r| transmit_time(size, r));
            self.q.schedule_in(hash, Event::Verify(n, block.piece));
        }
    }

    /// The hash check of `piece` at node `n` is done.
    pub(super) fn verify(&mut self, n: usize, piece: u32) {
        let now = self.q.now_instant();
        let node = &mut self.nodes[n];
        if node.departed_at.is_some() {
            return;
        }
        let Some(bad) = node.bad.get_mut(piece as usize) else {
            return;
        };
        let ok = !std::mem::replace(bad, false);
        if ok {
            let had = node.state.picker.has_piece(piece);
            let complete = node.state.on_piece_verified(piece, now);
            if complete && node.completed_at.is_none() {
                node.completed_at = Some(self.q.now());
                self.incomplete = self.incomplete.saturating_sub(1);
            }
            if !had && node.spec.role == Role::Leecher {
                self.leecher_got(piece);
            }
        } else {
            node.hash_failures += 1;
            node.state.on_piece_failed(piece, now);
        }
        self.apply_actions(n);
    }

    /// A leecher verified `piece`: once the leechers hold every piece
    /// among them, note the time and let the seeders that wait for it go.
    fn leecher_got(&mut self, piece: u32) {
        let Some(h) = self.holders.get_mut(piece as usize) else {
            return;
        };
        *h += 1;
        if *h > 1 {
            return;
        }
        self.distributed += 1;
        if self.distributed as usize == self.holders.len() && self.full_copy_at.is_none() {
            self.full_copy_at = Some(self.q.now());
            for i in 0..self.nodes.len() {
                if self.nodes[i].spec.leave_after_full_copy {
                    self.q.schedule_in(Duration::ZERO, Event::Leave(i));
                }
            }
        }
    }
}
