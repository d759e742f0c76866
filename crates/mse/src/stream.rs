//! [`EncryptedStream`]: the payload stream after the handshake, RC4
//! applied in place, or a plain pass-through.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::handshake::Established;
use crate::policy::CryptoMethod;
use crate::rc4_stream::Rc4Stream;

/// Most plaintext bytes taken per write call: the write buffer's bound.
pub const WRITE_CHUNK: usize = 64 * 1024;

/// A stream carrying the BitTorrent payload after the MSE handshake (or
/// plain BitTorrent), as `AsyncRead + AsyncWrite`.
///
/// With RC4, reads are decrypted in place in the caller's buffer (no
/// copy); writes are encrypted while copied into a buffer of at most
/// [`WRITE_CHUNK`] bytes (the one copy an `&[u8]` write needs), which
/// `poll_flush` and `poll_shutdown` drain;
/// [`EncryptedStream::write_all_in_place`] avoids that copy for a caller
/// that owns a mutable buffer. Without RC4 every call goes straight to
/// the inner stream.
#[derive(Debug)]
pub struct EncryptedStream<S> {
    inner: S,
    method: CryptoMethod,
    mse: bool,
    incoming: Option<Rc4Stream>,
    outgoing: Option<Rc4Stream>,
    /// Decrypted payload that arrived with the handshake, served first.
    pending: Vec<u8>,
    pending_pos: usize,
    /// Encrypted bytes accepted but not yet written.
    wbuf: Vec<u8>,
    wpos: usize,
}

impl<S> EncryptedStream<S> {
    /// Plain BitTorrent over `inner`, no MSE at all.
    pub fn plaintext(inner: S) -> EncryptedStream<S> {
        EncryptedStream {
            inner,
            method: CryptoMethod::Plaintext,
            mse: false,
            incoming: None,
            outgoing: None,
            pending: Vec::new(),
            pending_pos: 0,
            wbuf: Vec::new(),
            wpos: 0,
        }
    }

    /// The payload stream of a finished handshake over `inner`.
    /// `received` are payload bytes already read from `inner` past the
    /// handshake (still encrypted if RC4): they are decrypted and served
    /// before anything else.
    pub fn from_established(
        inner: S,
        established: Established,
        mut received: Vec<u8>,
    ) -> EncryptedStream<S> {
        let (mut incoming, outgoing) = match established.cipher {
            Some(c) => (Some(c.incoming), Some(c.outgoing)),
            None => (None, None),
        };
        if let Some(c) = incoming.as_mut() {
            c.apply(&mut received);
        }
        EncryptedStream {
            inner,
            method: established.method,
            mse: true,
            incoming,
            outgoing,
            pending: received,
            pending_pos: 0,
            wbuf: Vec::new(),
            wpos: 0,
        }
    }

    /// Move the decrypted bytes not yet read onto the end of `out`.
    pub(crate) fn take_pending(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.pending[self.pending_pos..]);
        self.pending = Vec::new();
        self.pending_pos = 0;
    }

    /// How the payload is carried.
    pub fn method(&self) -> CryptoMethod {
        self.method
    }

    /// Whether an MSE handshake was made (even if the payload is plaintext).
    pub fn is_mse(&self) -> bool {
        self.mse
    }

    /// The inner stream (for addresses, socket options; reading or writing
    /// it directly would break the RC4 stream).
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner stream, mutably (same caveat as [`EncryptedStream::get_ref`]).
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }
}

impl<S: AsyncWrite + Unpin> EncryptedStream<S> {
    /// Write out the encrypted buffer.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.wpos < self.wbuf.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.wbuf[self.wpos..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.wpos += n;
        }
        self.wbuf.clear();
        self.wpos = 0;
        Poll::Ready(Ok(()))
    }

    /// Write all of `buf` without copying it: with RC4 it is encrypted in
    /// place (the caller's buffer holds ciphertext afterwards), then
    /// written after anything still buffered. For callers that own the
    /// bytes they send (a freshly read block, say).
    ///
    /// Like `write_all`, if this future is dropped before it completes,
    /// an unknown prefix of `buf` has been sent and the stream is no
    /// longer usable.
    pub async fn write_all_in_place(&mut self, buf: &mut [u8]) -> io::Result<()> {
        use tokio::io::AsyncWriteExt;
        std::future::poll_fn(|cx| self.poll_drain(cx)).await?;
        if let Some(c) = self.outgoing.as_mut() {
            c.apply(buf);
        }
        self.inner.write_all(buf).await
    }

    /// Encrypt what was just appended to the (drained) buffer and start
    /// sending it; the bytes count as written either way.
    fn poll_send_buffer(&mut self, cx: &mut Context<'_>, n: usize) -> Poll<io::Result<usize>> {
        if let Some(c) = self.outgoing.as_mut() {
            c.apply(&mut self.wbuf);
        }
        if let Poll::Ready(Err(e)) = self.poll_drain(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(n))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for EncryptedStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.pending_pos < this.pending.len() {
            let n = buf.remaining().min(this.pending.len() - this.pending_pos);
            buf.put_slice(&this.pending[this.pending_pos..this.pending_pos + n]);
            this.pending_pos += n;
            if this.pending_pos == this.pending.len() {
                this.pending = Vec::new();
                this.pending_pos = 0;
            }
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        if let Some(c) = this.incoming.as_mut() {
            c.apply(&mut buf.filled_mut()[before..]);
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for EncryptedStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.outgoing.is_none() {
            return Pin::new(&mut this.inner).poll_write(cx, data);
        }
        ready!(this.poll_drain(cx))?;
        let n = data.len().min(WRITE_CHUNK);
        this.wbuf.extend_from_slice(&data[..n]);
        this.poll_send_buffer(cx, n)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.outgoing.is_none() {
            return Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        }
        ready!(this.poll_drain(cx))?;
        let mut n = 0;
        for b in bufs {
            let take = b.len().min(WRITE_CHUNK - n);
            this.wbuf.extend_from_slice(&b[..take]);
            n += take;
            if n == WRITE_CHUNK {
                break;
            }
        }
        this.poll_send_buffer(cx, n)
    }

    fn is_write_vectored(&self) -> bool {
        self.outgoing.is_some() || self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}
