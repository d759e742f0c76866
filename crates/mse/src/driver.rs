//! The tokio layer: drive a handshake over an `AsyncRead + AsyncWrite`.
//!
//! Memory is bounded (a 4 KiB read buffer plus the state machines' own
//! bounds); time is not: wrap these calls in `tokio::time::timeout`.

use std::pin::Pin;
use std::task::Poll;

use rand::rngs::StdRng;
use rand::{CryptoRng, RngCore, SeedableRng};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

use crate::detect::{detect, Incoming};
use crate::error::MseError;
use crate::handshake::{Handshake, MAX_INITIAL_PAYLOAD};
use crate::initiator::Initiator;
use crate::keys::{Hash20, InfoHashLookup};
use crate::policy::Policy;
use crate::responder::Responder;
use crate::stream::EncryptedStream;

/// Bytes read from the socket at a time during the handshake.
const READ_CHUNK: usize = 4096;

/// An accepted incoming connection.
#[derive(Debug)]
pub struct Accepted<S> {
    /// The payload stream (RC4, or plaintext: see [`EncryptedStream::method`]).
    pub stream: EncryptedStream<S>,
    /// The torrent an MSE initiator asked for; `None` for a plaintext
    /// connection (its BitTorrent handshake names the torrent).
    pub info_hash: Option<Hash20>,
    /// The start of the peer's BitTorrent stream, already received and
    /// decrypted (MSE: IA and anything after; plaintext: the bytes read to
    /// tell it apart). Process it before reading from `stream`.
    pub initial_payload: Vec<u8>,
}

/// Run `hs` over `stream` to the end, `already` being bytes read before;
/// returns the payload bytes read past the handshake (as received).
///
/// Reads and writes at the same time: both sides write their padding
/// before reading, so a pipe with a small buffer would otherwise deadlock.
/// Nothing is read once the handshake has finished, so at most one read
/// chunk of payload comes back.
async fn drive<H: Handshake, S: AsyncRead + AsyncWrite + Unpin>(
    hs: &mut H,
    stream: &mut S,
    already: &[u8],
) -> Result<Vec<u8>, MseError> {
    let mut leftover = Vec::new();
    let used = hs.feed(already)?;
    leftover.extend_from_slice(&already[used..]);
    let mut chunk = vec![0u8; READ_CHUNK];
    let mut out: Vec<u8> = Vec::new();
    let mut sent = 0;
    std::future::poll_fn(|cx| loop {
        if sent == out.len() {
            out = hs.take_output();
            sent = 0;
        }
        let mut progressed = false;
        if sent < out.len() {
            match Pin::new(&mut *stream).poll_write(cx, &out[sent..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(MseError::Closed)),
                Poll::Ready(Ok(n)) => {
                    sent += n;
                    progressed = true;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e.into())),
                Poll::Pending => {}
            }
        }
        if hs.is_finished() {
            if sent < out.len() {
                if progressed {
                    continue;
                }
                return Poll::Pending;
            }
            return match Pin::new(&mut *stream).poll_flush(cx) {
                Poll::Ready(Ok(())) => Poll::Ready(Ok(std::mem::take(&mut leftover))),
                Poll::Ready(Err(e)) => Poll::Ready(Err(e.into())),
                Poll::Pending => Poll::Pending,
            };
        }
        let mut rb = ReadBuf::new(&mut chunk);
        match Pin::new(&mut *stream).poll_read(cx, &mut rb) {
            Poll::Ready(Ok(())) => {
                let got = rb.filled();
                if got.is_empty() {
                    return Poll::Ready(Err(MseError::Closed));
                }
                let used = match hs.feed(got) {
                    Ok(used) => used,
                    Err(e) => return Poll::Ready(Err(e)),
                };
                leftover.extend_from_slice(&got[used..]);
                progressed = true;
            }
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e.into())),
            Poll::Pending => {}
        }
        if !progressed {
            return Poll::Pending;
        }
    })
    .await
}

/// Dial side: the MSE handshake for `info_hash` over `stream` (already
/// connected), sending `initial_payload` (normally the BitTorrent
/// handshake) first in the peer's payload stream.
///
/// Up to 68 bytes of `initial_payload` go as MSE's IA, the rest through
/// the returned stream. Under [`Policy::Off`] no MSE is made and
/// `initial_payload` is sent in the clear. Falling back to plaintext after
/// a failed MSE attempt is the caller's choice (a new connection).
pub async fn connect_encrypted<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    info_hash: Hash20,
    policy: Policy,
    initial_payload: &[u8],
) -> Result<EncryptedStream<S>, MseError> {
    let mut rng = StdRng::from_entropy();
    connect_encrypted_with_rng(stream, info_hash, policy, initial_payload, &mut rng).await
}

/// [`connect_encrypted`] with the caller's RNG.
pub async fn connect_encrypted_with_rng<S, R>(
    mut stream: S,
    info_hash: Hash20,
    policy: Policy,
    initial_payload: &[u8],
    rng: &mut R,
) -> Result<EncryptedStream<S>, MseError>
where
    S: AsyncRead + AsyncWrite + Unpin,
    R: RngCore + CryptoRng + ?Sized,
{
    if !policy.allows_mse() {
        stream.write_all(initial_payload).await?;
        stream.flush().await?;
        return Ok(EncryptedStream::plaintext(stream));
    }
    let (ia, rest) = initial_payload.split_at(initial_payload.len().min(MAX_INITIAL_PAYLOAD));
    let mut hs = Initiator::new(info_hash, policy, ia, rng)?;
    let leftover = drive(&mut hs, &mut stream, &[]).await?;
    let established = hs.finish()?;
    tracing::debug!(method = ?established.method, "MSE handshake done (outgoing)");
    let mut out = EncryptedStream::from_established(stream, established, leftover);
    if !rest.is_empty() {
        out.write_all(rest).await?;
        out.flush().await?;
    }
    Ok(out)
}

/// Accept side: tell plaintext from MSE by the first bytes, and run the
/// MSE handshake for any torrent `known` serves, within `policy`.
///
/// Pass `&KnownInfoHashes` (or a slice of info-hashes) as `known`.
pub async fn accept<S, L>(stream: S, known: L, policy: Policy) -> Result<Accepted<S>, MseError>
where
    S: AsyncRead + AsyncWrite + Unpin,
    L: InfoHashLookup,
{
    let mut rng = StdRng::from_entropy();
    accept_with_rng(stream, known, policy, &mut rng).await
}

/// [`accept`] with the caller's RNG.
pub async fn accept_with_rng<S, L, R>(
    mut stream: S,
    known: L,
    policy: Policy,
    rng: &mut R,
) -> Result<Accepted<S>, MseError>
where
    S: AsyncRead + AsyncWrite + Unpin,
    L: InfoHashLookup,
    R: RngCore + CryptoRng + ?Sized,
{
    let mut first = Vec::new();
    let mut chunk = vec![0u8; READ_CHUNK];
    let kind = loop {
        if let Some(kind) = detect(&first, policy)? {
            break kind;
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(MseError::Closed);
        }
        first.extend_from_slice(&chunk[..n]);
    };
    match kind {
        Incoming::Plaintext => Ok(Accepted {
            stream: EncryptedStream::plaintext(stream),
            info_hash: None,
            initial_payload: first,
        }),
        Incoming::Encrypted => {
            let mut hs = Responder::new(known, policy, rng)?;
            let leftover = drive(&mut hs, &mut stream, &first).await?;
            let mut established = hs.finish()?;
            tracing::debug!(method = ?established.method, "MSE handshake done (incoming)");
            let info_hash = established.info_hash;
            let mut initial_payload = std::mem::take(&mut established.initial_payload);
            let mut stream = EncryptedStream::from_established(stream, established, leftover);
            // Hand the already-received payload over with IA.
            stream.take_pending(&mut initial_payload);
            Ok(Accepted {
                stream,
                info_hash: Some(info_hash),
                initial_payload,
            })
        }
    }
}
