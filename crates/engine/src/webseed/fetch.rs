//! The tokio driver of one web seed: ask the torrent's state what to
//! fetch, fetch it with HTTP range requests, hand each block back, and
//! report how the round went (see [`shoal_swarm::webseed`] for the rules).

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use reqwest::header::{CONTENT_RANGE, RANGE};
use reqwest::{StatusCode, Url};
use thiserror::Error;
use tracing::debug;

use super::plan::{segments, BlockAssembler, Segment};
use super::url::file_url;
use crate::picker::BlockRequest;
use crate::torrent::TorrentShared;
use crate::PeerKey;
use shoal_swarm::torrent::WebSeedBlock;
use shoal_swarm::webseed::{coalesce, NextFetch};

/// Why a fetch round failed.
#[derive(Debug, Error)]
pub enum FetchError {
    /// The request failed: connection, TLS, timeout, redirect loop.
    #[error("HTTP request failed: {0}")]
    Http(#[from] reqwest::Error),
    /// The server answered with an error status.
    #[error("HTTP status {0}")]
    Status(u16),
    /// The server sent the whole file for a part of it (no range support).
    #[error("the server ignored the range request")]
    NoRange,
    /// The server sent a range other than the one asked for.
    #[error("the server sent range {got:?}, not bytes {want}-")]
    WrongRange {
        /// Its `Content-Range` header.
        got: String,
        /// The first byte asked for.
        want: u64,
    },
    /// The body ended early.
    #[error("the body ended after {got} of {want} bytes")]
    ShortBody {
        /// Bytes received.
        got: u64,
        /// Bytes asked for.
        want: u64,
    },
}

/// How a fetch round ended without error.
enum Outcome {
    /// Every block was fetched.
    Done,
    /// The torrent said to stop (web seed dropped, torrent complete or
    /// stopping).
    Stop,
}

/// Padding bytes, fed to the assembler a slice at a time.
static ZEROS: [u8; 16384] = [0; 16384];

/// Run web seed `key` at `base` until it is dropped, the torrent
/// completes or the torrent stops.
pub(crate) async fn run(t: Arc<TorrentShared>, key: PeerKey, base: Url, client: reqwest::Client) {
    let mut stopping = t.stopping.subscribe();
    let mut complete = t.complete.subscribe();
    loop {
        if t.is_stopping() {
            break;
        }
        let next = t.lock().web_seed_next(key, Instant::now());
        match next {
            NextFetch::Fetch(blocks) => {
                let r = tokio::select! {
                    r = fetch_blocks(&t, key, &base, &client, blocks) => r,
                    _ = stopping.changed() => break,
                };
                let now = Instant::now();
                match r {
                    Ok(Outcome::Done) => t.lock().on_web_seed_done(key, now),
                    Ok(Outcome::Stop) => {}
                    Err(e) => {
                        debug!(url = %base, error = %e, "web seed fetch failed");
                        t.lock().on_web_seed_error(key, &e.to_string(), now);
                    }
                }
            }
            NextFetch::WaitUntil(at) => {
                tokio::select! {
                    _ = tokio::time::sleep_until(at.into()) => {}
                    _ = stopping.changed() => {}
                    _ = complete.changed() => {}
                }
            }
            NextFetch::Finished | NextFetch::Dropped => break,
        }
    }
    debug!(url = %base, "web seed task ends");
}

/// Fetch `blocks` (reserved for `key`) and hand them to the torrent.
async fn fetch_blocks(
    t: &Arc<TorrentShared>,
    key: PeerKey,
    base: &Url,
    client: &reqwest::Client,
    blocks: Vec<BlockRequest>,
) -> Result<Outcome, FetchError> {
    let layout = &t.torrent.layout;
    let piece_length = u32::try_from(layout.piece_length).unwrap_or(u32::MAX);
    let mut ready = Vec::new();
    for run in coalesce(blocks, piece_length) {
        let mut asm = BlockAssembler::new(run.blocks);
        for seg in segments(layout, run.offset, run.len) {
            match seg {
                Segment::Zeros { len } => {
                    let mut left = len;
                    while left > 0 {
                        let n = left.min(ZEROS.len() as u64) as usize;
                        asm.push(&ZEROS[..n], &mut ready);
                        left -= n as u64;
                    }
                    if let Outcome::Stop = deliver(t, key, &mut ready).await {
                        return Ok(Outcome::Stop);
                    }
                }
                Segment::File { file, start, len } => {
                    let Some(url) = file_url(base, &t.torrent, file) else {
                        continue;
                    };
                    let file_len = layout.files.get(file).map_or(0, |f| f.length);
                    let out =
                        fetch_range(t, key, client, url, start, len, file_len, &mut asm).await?;
                    if let Outcome::Stop = out {
                        return Ok(Outcome::Stop);
                    }
                }
            }
        }
    }
    Ok(Outcome::Done)
}

/// GET bytes `start..start + len` of a file `file_len` long, feeding
/// them to `asm` as they arrive and handing each block over. Reads no
/// more than `len` bytes of the body.
#[allow(clippy::too_many_arguments)]
async fn fetch_range(
    t: &Arc<TorrentShared>,
    key: PeerKey,
    client: &reqwest::Client,
    url: Url,
    start: u64,
    len: u64,
    file_len: u64,
    asm: &mut BlockAssembler,
) -> Result<Outcome, FetchError> {
    if len == 0 {
        return Ok(Outcome::Done);
    }
    let range = format!("bytes={}-{}", start, start + len - 1);
    let mut resp = client.get(url).header(RANGE, range).send().await?;
    check_response(&resp, start, len, file_len)?;
    let limiter = t.download_throttle();
    let mut ready = Vec::new();
    let mut got = 0u64;
    while got < len {
        let Some(chunk) = resp.chunk().await? else {
            return Err(FetchError::ShortBody { got, want: len });
        };
        let take = (len - got).min(chunk.len() as u64) as usize;
        asm.push(&chunk[..take], &mut ready);
        got += take as u64;
        if !limiter.is_unlimited() {
            limiter.consume(take as u64);
            limiter.available(1).await;
        }
        if let Outcome::Stop = deliver(t, key, &mut ready).await {
            return Ok(Outcome::Stop);
        }
    }
    Ok(Outcome::Done)
}

/// Whether `resp` carries the range asked for.
fn check_response(
    resp: &reqwest::Response,
    start: u64,
    len: u64,
    file_len: u64,
) -> Result<(), FetchError> {
    match resp.status() {
        StatusCode::PARTIAL_CONTENT => {
            let got = resp
                .headers()
                .get(CONTENT_RANGE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            let want = format!("bytes {start}-");
            if got.starts_with(&want) {
                Ok(())
            } else {
                Err(FetchError::WrongRange { got, want: start })
            }
        }
        // The whole file is what was asked for.
        StatusCode::OK if start == 0 && len == file_len => Ok(()),
        StatusCode::OK => Err(FetchError::NoRange),
        s => Err(FetchError::Status(s.as_u16())),
    }
}

/// Hand the completed blocks in `ready` to the torrent, storing those it
/// wants.
async fn deliver(
    t: &Arc<TorrentShared>,
    key: PeerKey,
    ready: &mut Vec<(BlockRequest, Bytes)>,
) -> Outcome {
    for (block, data) in ready.drain(..) {
        let r = t
            .lock()
            .on_web_seed_block(key, block, &data, Instant::now());
        match r {
            WebSeedBlock::Store { completes } => t.store(block, data, completes).await,
            WebSeedBlock::Discard => {}
            WebSeedBlock::Stop => return Outcome::Stop,
        }
    }
    Outcome::Done
}
