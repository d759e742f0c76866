//! The tokio edge of an established peer connection: the read loop
//! feeding [`super::PeerState`] through the torrent's state, and the write
//! loop sending queued messages and blocks with vectored writes.

use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut as _, Bytes, BytesMut};
use shoal_wire::{encode_piece_header, Handshake, MessageDecoder};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tracing::{debug, trace};

use super::connect::our_handshake;
use super::{Effect, PeerState};
use crate::picker::BlockRequest;
use crate::storage::Storage;
use crate::torrent::{PeerSignal, Refusal, TorrentShared};
use crate::PeerKey;

/// Largest socket read, and so the most a connection's receive buffer
/// grows to.
const READ_CHUNK: usize = 256 * 1024;
/// A connection's receive buffer at first: it doubles each time a read
/// fills it, up to [`READ_CHUNK`], so idle and slow peers cost little.
const FIRST_READ_CHUNK: usize = 16 * 1024;
/// Most block bytes read from storage and written in one batch.
const UPLOAD_BATCH: u64 = 1 << 20;
/// Longest a batch may take to write before the peer is dropped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest contiguous read from storage (its `max_read_len`).
const MAX_RUN: u32 = 128 * 1024;

/// An established connection, with the bytes already read past the
/// peer's handshake.
pub(crate) enum Transport {
    /// Plaintext BitTorrent over TCP.
    Plain(TcpStream, Vec<u8>),
    /// MSE/PE: RC4 (or plaintext selected through MSE) over TCP.
    Encrypted(shoal_mse::EncryptedStream<TcpStream>, Vec<u8>),
}

impl Transport {
    /// Our end of the connection.
    fn local_addr(&self) -> Option<SocketAddr> {
        match self {
            Transport::Plain(s, _) => s.local_addr().ok(),
            Transport::Encrypted(s, _) => s.get_ref().local_addr().ok(),
        }
    }
}

/// Register a handshaken connection with its torrent and run it until it
/// closes. Returns false if the torrent refused it.
pub(crate) async fn run(
    t: Arc<TorrentShared>,
    stream: Transport,
    addr: SocketAddr,
    theirs: Handshake,
    outgoing: bool,
) -> bool {
    let ours = our_handshake(&t, t.info_hash);
    let fast = theirs.supports_fast();
    let extended = theirs.supports_extension_protocol();
    let piece_count = t.torrent.layout.piece_count;
    let signal = Arc::new(PeerSignal::default());
    let now = Instant::now();
    let peer_cfg = t.session.config.peer.clone();
    let ext = super::ext_addrs::for_connection(&t.ext, addr, stream.local_addr());
    // A dialed connection already holds a session slot; an accepted one
    // takes one here, or is refused when the session is full.
    let _slot = if outgoing {
        None
    } else {
        let Some(slot) = t.session.reserve_connection() else {
            debug!(%addr, "session connection limit reached: connection refused");
            return false;
        };
        Some(slot)
    };
    let registered = {
        let mut st = t.lock();
        // A super-seed hides its pieces and offers them one by one.
        let have = if st.super_seeding() {
            crate::bitfield::Bitfield::new(piece_count as usize)
        } else {
            st.picker.have().clone()
        };
        let r = st.register(
            addr,
            theirs.peer_id,
            outgoing,
            t.peer_id(),
            t.session.config.max_peers,
            |key| {
                let mut s = PeerState::new(key, piece_count, fast, extended, peer_cfg, now);
                s.start(&have, Some(&ext), now);
                s
            },
            now,
        );
        if let Ok(key) = r {
            st.attach(key, signal.clone());
        }
        r
    };
    let key = match registered {
        Ok(k) => k,
        Err(Refusal::Banned) => {
            debug!(%addr, "refused a banned peer");
            return false;
        }
        Err(r) => {
            debug!(%addr, reason = ?r, "connection refused");
            return false;
        }
    };
    debug!(%addr, peer_id = %theirs.peer_id, ?key, outgoing, "peer connected");
    let decoder =
        MessageDecoder::new(Some(piece_count)).with_negotiated(&ours.reserved, &theirs.reserved);
    let reason = match stream {
        Transport::Plain(stream, initial) => {
            let (reader, writer) = stream.into_split();
            exchange(&t, key, &signal, reader, writer, decoder, initial).await
        }
        Transport::Encrypted(stream, initial) => {
            let (reader, writer) = tokio::io::split(stream);
            exchange(&t, key, &signal, reader, writer, decoder, initial).await
        }
    };
    debug!(%addr, ?key, %reason, "peer disconnected");
    true
}

/// Run a registered connection over either transport's halves: the write
/// loop in a task of its own, the read loop here; returns why it ended once
/// both are done and the peer is removed.
async fn exchange(
    t: &Arc<TorrentShared>,
    key: PeerKey,
    signal: &Arc<PeerSignal>,
    reader: impl AsyncRead + Unpin,
    writer: impl AsyncWrite + Unpin + Send + 'static,
    decoder: MessageDecoder,
    initial: Vec<u8>,
) -> String {
    let writer_task = tokio::spawn(write_loop(t.clone(), key, signal.clone(), writer));
    let reason = read_loop(t, key, signal, reader, decoder, initial).await;
    t.lock().remove_peer(key, &reason, Instant::now());
    signal.close();
    let _ = writer_task.await;
    reason
}

/// Read, decode and apply messages until the connection ends; returns why.
async fn read_loop(
    t: &Arc<TorrentShared>,
    key: PeerKey,
    signal: &PeerSignal,
    mut reader: impl AsyncRead + Unpin,
    mut decoder: MessageDecoder,
    initial: Vec<u8>,
) -> String {
    let mut chunk = FIRST_READ_CHUNK;
    let mut buf = BytesMut::with_capacity(chunk.max(initial.len()));
    // Bytes that came with the handshake: decoded before anything is read.
    buf.extend_from_slice(&initial);
    let mut pending = !buf.is_empty();
    let mut msgs = Vec::with_capacity(64);
    let mut effects = Vec::with_capacity(64);
    let limiter = t.download_throttle();
    loop {
        if signal.is_closed() {
            return "closed".into();
        }
        if buf.capacity() - buf.len() < chunk / 4 {
            buf.reserve(chunk);
        }
        let want = if limiter.is_unlimited() {
            chunk
        } else {
            let n = tokio::select! {
                n = limiter.available(chunk as u64) => n,
                _ = signal.closed() => return "closed".into(),
            };
            n as usize
        };
        let read = if std::mem::take(&mut pending) {
            Ok(buf.len())
        } else {
            let mut limited = (&mut buf).limit(want.max(1));
            tokio::select! {
                r = reader.read_buf(&mut limited) => r,
                _ = signal.closed() => return "closed".into(),
            }
        };
        let n = match read {
            Ok(0) => return "connection closed by peer".into(),
            Ok(n) => n,
            Err(e) => return format!("read error: {e}"),
        };
        limiter.consume(n as u64);
        if n >= want && chunk < READ_CHUNK {
            // The peer fills whatever we offer: read more at a time.
            chunk = (chunk * 2).min(READ_CHUNK);
        }
        let mut violation = None;
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(m)) => msgs.push(m),
                Ok(None) => break,
                Err(e) => {
                    violation = Some(format!("protocol error: {e}"));
                    break;
                }
            }
        }
        match crate::hash_exchange::serve(t, key, &mut msgs) {
            Ok(true) => signal.wake.notify_one(),
            Ok(false) => {}
            Err(e) => violation = Some(format!("protocol error: {e}")),
        }
        if msgs.is_empty() {
            match violation {
                Some(v) => return v,
                None => continue,
            }
        }
        let now = Instant::now();
        let result = t.lock().on_messages(key, &mut msgs, now, &mut effects);
        for e in effects.drain(..) {
            if let Effect::Store {
                block,
                data,
                completes,
            } = e
            {
                t.store(block, data, completes).await;
            }
        }
        if let Err(e) = result {
            return e.to_string();
        }
        if let Some(v) = violation {
            return v;
        }
    }
}

/// Blocks read from storage for one upload batch.
type ReadBatch = (
    Vec<BlockRequest>,
    Result<Vec<Bytes>, crate::storage::StorageError>,
);

/// Send whatever the peer state queues, until the connection closes. The
/// next batch of blocks is read from storage while the current one is
/// being written to the socket.
async fn write_loop(
    t: Arc<TorrentShared>,
    key: PeerKey,
    signal: Arc<PeerSignal>,
    mut writer: impl AsyncWrite + Unpin,
) {
    let mut bufs: Vec<Bytes> = Vec::new();
    let mut sent_payload = 0u64;
    let limiter = t.upload_throttle();
    let storage = t.storage.storage().clone();
    // Blocks read and ready to send.
    let mut ready: Option<(Vec<BlockRequest>, Vec<Bytes>)> = None;
    loop {
        let (outbox, uploads) = {
            let mut st = t.lock();
            let now = Instant::now();
            if sent_payload > 0 {
                st.uploaded += sent_payload;
                st.up_rate.record(now, sent_payload);
            }
            let Some(slot) = st.peers.get_mut(&key) else {
                return;
            };
            if sent_payload > 0 {
                slot.state.on_uploaded(now, sent_payload);
                sent_payload = 0;
            }
            let mut uploads = Vec::new();
            slot.state
                .next_uploads(limiter.batch(UPLOAD_BATCH), &mut uploads);
            st.on_uploads_taken(key, &uploads, now);
            let Some(slot) = st.peers.get_mut(&key) else {
                return;
            };
            (slot.state.take_outbox(), uploads)
        };
        if outbox.is_empty() && uploads.is_empty() && ready.is_none() {
            if signal.is_closed() {
                return;
            }
            signal.wake.notified().await;
            if signal.is_closed() {
                let _ = writer.shutdown().await;
                return;
            }
            continue;
        }
        // Start reading the next batch now; it is written next time round.
        let reading = if uploads.is_empty() {
            None
        } else {
            let total: u64 = uploads.iter().map(|r| u64::from(r.length)).sum();
            limiter.acquire(total).await;
            let st = storage.clone();
            Some(tokio::task::spawn_blocking(move || -> ReadBatch {
                let r = read_blocks(&st, &uploads);
                (uploads, r)
            }))
        };
        bufs.clear();
        if !outbox.is_empty() {
            bufs.push(outbox);
        }
        if let Some((reqs, blocks)) = ready.take() {
            let mut hdr = BytesMut::with_capacity(reqs.len() * shoal_wire::PIECE_HEADER_LEN);
            for (r, data) in reqs.iter().zip(blocks) {
                encode_piece_header(r.piece, r.begin, r.length, &mut hdr);
                bufs.push(hdr.split().freeze());
                bufs.push(data);
                sent_payload += u64::from(r.length);
            }
        }
        if !bufs.is_empty() {
            // A peer that stops reading is dropped rather than holding the
            // writer for ever.
            let write = async {
                match tokio::time::timeout(WRITE_TIMEOUT, write_all_bufs(&mut writer, &mut bufs))
                    .await
                {
                    Ok(r) => r,
                    Err(_) => Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "peer stopped reading",
                    )),
                }
            };
            let result = tokio::select! {
                r = write => r,
                _ = signal.closed() => return,
            };
            if let Err(e) = result {
                trace!(error = %e, "write failed");
                t.lock()
                    .remove_peer(key, &format!("write error: {e}"), Instant::now());
                return;
            }
        }
        if let Some(reading) = reading {
            match reading.await {
                Ok((reqs, Ok(blocks))) => ready = Some((reqs, blocks)),
                Ok((_, Err(e))) => {
                    if !e.is_peer_error() {
                        t.fail(format!("reading for upload: {e}"));
                    }
                    t.lock()
                        .remove_peer(key, &format!("bad request: {e}"), Instant::now());
                    return;
                }
                Err(_) => return,
            }
        }
    }
}

/// Read the requested blocks, coalescing contiguous ones of the same piece
/// into one read.
fn read_blocks(
    storage: &Storage,
    reqs: &[BlockRequest],
) -> Result<Vec<Bytes>, crate::storage::StorageError> {
    let mut out = Vec::with_capacity(reqs.len());
    let mut i = 0;
    while i < reqs.len() {
        let first = reqs[i];
        let mut j = i + 1;
        let mut len = first.length;
        while j < reqs.len()
            && reqs[j].piece == first.piece
            && reqs[j].begin == first.begin + len
            && len + reqs[j].length <= MAX_RUN
        {
            len += reqs[j].length;
            j += 1;
        }
        let data = storage.read_block(first.piece, first.begin, len)?;
        let mut at = 0usize;
        for r in &reqs[i..j] {
            out.push(data.slice(at..at + r.length as usize));
            at += r.length as usize;
        }
        i = j;
    }
    Ok(out)
}

/// Write every buffer, with vectored writes.
async fn write_all_bufs(w: &mut (impl AsyncWrite + Unpin), bufs: &mut [Bytes]) -> io::Result<()> {
    let mut i = 0;
    while i < bufs.len() {
        let slices: Vec<IoSlice<'_>> = bufs[i..]
            .iter()
            .take(128)
            .map(|b| IoSlice::new(b))
            .collect();
        let mut n = w.write_vectored(&slices).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        while n > 0 && i < bufs.len() {
            let len = bufs[i].len();
            if n >= len {
                n -= len;
                i += 1;
            } else {
                bufs[i].advance(n);
                n = 0;
            }
        }
        while i < bufs.len() && bufs[i].is_empty() {
            i += 1;
        }
    }
    // An encrypted stream holds what it enciphered until flushed.
    w.flush().await
}
