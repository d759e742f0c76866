//! The responding side (B) of the MSE handshake.
//!
//! B answers Ya with Yb and PadB at once, then looks for `HASH('req1', S)`
//! within the 512 + 20 bytes that follow Ya, unmasks `HASH('req2', SKEY)`
//! to find which of its torrents A wants, checks the VC, picks the payload
//! method from A's `crypto_provide` and its policy, and reads PadC and the
//! initial payload (IA).

use rand::{CryptoRng, RngCore};

use crate::dh::{DhBytes, PrivateKey, KEY_LEN};
use crate::error::MseError;
use crate::handshake::{random_bytes, Established, Handshake, Padding, PayloadCipher, MAX_PAD, VC};
use crate::keys::{key_a, key_b, req1, req3, xor, Hash20, InfoHashLookup};
use crate::policy::{CryptoMethod, Policy};
use crate::rc4_stream::Rc4Stream;

/// Bytes after Ya within which `HASH('req1', S)` must end.
pub const REQ1_SEARCH_LIMIT: usize = MAX_PAD + 20;

/// ENCRYPT(VC, crypto_provide, len(PadC)).
const VC_FIELD_LEN: usize = 8 + 4 + 2;

#[derive(Debug)]
enum State {
    /// Collecting Ya.
    PeerKey,
    /// Looking for HASH('req1', S) in PadA and what follows.
    SyncReq1,
    /// Reading HASH('req2', SKEY) xor HASH('req3', S).
    Req2,
    /// Reading ENCRYPT(VC, crypto_provide, len(PadC)).
    VcField,
    /// Skipping PadC.
    PadC {
        left: usize,
    },
    /// Reading len(IA).
    IaLen,
    /// Reading IA.
    Ia {
        len: usize,
    },
    Done,
}

/// Secrets known once Ya is in.
#[derive(Debug)]
struct Secrets {
    secret: DhBytes,
    req1: Hash20,
    req3: Hash20,
}

/// The responder's state machine (sans-I/O), serving every torrent `L`
/// knows.
#[derive(Debug)]
pub struct Responder<L> {
    state: State,
    policy: Policy,
    lookup: L,
    key: PrivateKey,
    pad_b: Vec<u8>,
    pad_d: Vec<u8>,
    secrets: Option<Secrets>,
    buf: Vec<u8>,
    out: Vec<u8>,
    info_hash: Option<Hash20>,
    outgoing: Option<Rc4Stream>,
    incoming: Option<Rc4Stream>,
    method: Option<CryptoMethod>,
    initial_payload: Vec<u8>,
}

impl<L: InfoHashLookup> Responder<L> {
    /// Wait for an initiator's Ya, with random padding. [`Policy::Off`]
    /// is refused ([`MseError::EncryptionRefused`]).
    pub fn new<R: RngCore + CryptoRng + ?Sized>(
        lookup: L,
        policy: Policy,
        rng: &mut R,
    ) -> Result<Responder<L>, MseError> {
        let padding = Padding::random(rng);
        Self::with_padding(lookup, policy, padding, rng)
    }

    /// As [`Responder::new`] with the given padding lengths (capped at 512).
    pub fn with_padding<R: RngCore + CryptoRng + ?Sized>(
        lookup: L,
        policy: Policy,
        padding: Padding,
        rng: &mut R,
    ) -> Result<Responder<L>, MseError> {
        if !policy.allows_mse() {
            return Err(MseError::EncryptionRefused);
        }
        let padding = padding.capped();
        Ok(Responder {
            state: State::PeerKey,
            policy,
            lookup,
            key: PrivateKey::generate(rng),
            pad_b: random_bytes(rng, padding.after_key),
            pad_d: random_bytes(rng, padding.encrypted),
            secrets: None,
            buf: Vec::with_capacity(KEY_LEN),
            out: Vec::new(),
            info_hash: None,
            outgoing: None,
            incoming: None,
            method: None,
            initial_payload: Vec::new(),
        })
    }

    /// The torrent the initiator asked for, once known.
    pub fn info_hash(&self) -> Option<Hash20> {
        self.info_hash
    }

    fn secrets(&self) -> Result<&Secrets, MseError> {
        self.secrets.as_ref().ok_or(MseError::NotFinished)
    }

    fn incoming(&mut self) -> Result<&mut Rc4Stream, MseError> {
        self.incoming.as_mut().ok_or(MseError::NotFinished)
    }

    fn fill(&mut self, input: &[u8], want: usize) -> usize {
        let n = want.saturating_sub(self.buf.len()).min(input.len());
        self.buf.extend_from_slice(&input[..n]);
        n
    }

    /// Step 2 once Ya is in.
    fn on_peer_key(&mut self) -> Result<(), MseError> {
        let mut ya: DhBytes = [0; KEY_LEN];
        ya.copy_from_slice(&self.buf);
        let secret = self.key.shared_secret(&ya)?;
        self.out.extend_from_slice(&self.key.public_key());
        self.out.extend_from_slice(&self.pad_b);
        self.secrets = Some(Secrets {
            req1: req1(&secret),
            req3: req3(&secret),
            secret,
        });
        Ok(())
    }

    /// The torrent behind the obfuscated req2; the RC4 streams.
    fn on_req2(&mut self) -> Result<(), MseError> {
        let mut masked = [0u8; 20];
        masked.copy_from_slice(&self.buf);
        let secrets = self.secrets()?;
        let req2 = xor(&masked, &secrets.req3);
        let info_hash = self
            .lookup
            .info_hash_for_req2(&req2)
            .ok_or(MseError::UnknownInfoHash)?;
        let secret = secrets.secret;
        self.incoming = Some(Rc4Stream::new(&key_a(&secret, &info_hash)));
        self.outgoing = Some(Rc4Stream::new(&key_b(&secret, &info_hash)));
        self.info_hash = Some(info_hash);
        Ok(())
    }

    /// Check the VC, choose the method, write step 4; the PadC length.
    fn on_vc_field(&mut self) -> Result<usize, MseError> {
        let mut field = [0u8; VC_FIELD_LEN];
        field.copy_from_slice(&self.buf);
        self.incoming()?.apply(&mut field);
        if field[..8] != VC {
            return Err(MseError::BadVc);
        }
        let provided = u32::from_be_bytes([field[8], field[9], field[10], field[11]]);
        let pad_c = u16::from_be_bytes([field[12], field[13]]);
        if usize::from(pad_c) > MAX_PAD {
            return Err(MseError::PadTooLong(pad_c));
        }
        let method = self.policy.crypto_select(provided)?;
        self.method = Some(method);

        let start = self.out.len();
        self.out.extend_from_slice(&VC);
        self.out.extend_from_slice(&method.bit().to_be_bytes());
        self.out
            .extend_from_slice(&(self.pad_d.len() as u16).to_be_bytes());
        self.out.extend_from_slice(&self.pad_d);
        let outgoing = self.outgoing.as_mut().ok_or(MseError::NotFinished)?;
        outgoing.apply(&mut self.out[start..]);
        Ok(usize::from(pad_c))
    }
}

impl<L: InfoHashLookup> Handshake for Responder<L> {
    fn feed(&mut self, input: &[u8]) -> Result<usize, MseError> {
        let mut used = 0;
        loop {
            let rest = &input[used..];
            match self.state {
                State::Done => return Ok(used),
                State::Ia { len: 0 } => {
                    self.state = State::Done;
                }
                _ if rest.is_empty() => return Ok(used),
                State::PeerKey => {
                    used += self.fill(rest, KEY_LEN);
                    if self.buf.len() == KEY_LEN {
                        self.on_peer_key()?;
                        self.buf.clear();
                        self.state = State::SyncReq1;
                    }
                }
                State::SyncReq1 => {
                    // One byte at a time, never past the hash: what follows
                    // is read field by field.
                    self.buf.push(rest[0]);
                    used += 1;
                    if self.buf.ends_with(&self.secrets()?.req1) {
                        self.buf.clear();
                        self.state = State::Req2;
                    } else if self.buf.len() >= REQ1_SEARCH_LIMIT {
                        return Err(MseError::Req1NotFound);
                    }
                }
                State::Req2 => {
                    used += self.fill(rest, 20);
                    if self.buf.len() == 20 {
                        self.on_req2()?;
                        self.buf.clear();
                        self.state = State::VcField;
                    }
                }
                State::VcField => {
                    used += self.fill(rest, VC_FIELD_LEN);
                    if self.buf.len() == VC_FIELD_LEN {
                        let pad_c = self.on_vc_field()?;
                        self.buf.clear();
                        self.state = State::PadC { left: pad_c };
                    }
                }
                State::PadC { left } => {
                    let n = left.min(rest.len());
                    self.incoming()?.skip(n);
                    used += n;
                    self.state = if n == left {
                        State::IaLen
                    } else {
                        State::PadC { left: left - n }
                    };
                }
                State::IaLen => {
                    used += self.fill(rest, 2);
                    if self.buf.len() == 2 {
                        let mut field = [self.buf[0], self.buf[1]];
                        self.incoming()?.apply(&mut field);
                        self.buf.clear();
                        // At most 64 KiB - 1 by construction.
                        self.state = State::Ia {
                            len: usize::from(u16::from_be_bytes(field)),
                        };
                    }
                }
                State::Ia { len } => {
                    used += self.fill(rest, len);
                    if self.buf.len() == len {
                        let mut ia = std::mem::take(&mut self.buf);
                        self.incoming()?.apply(&mut ia);
                        self.initial_payload = ia;
                        self.state = State::Done;
                    }
                }
            }
        }
    }

    fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    fn is_finished(&self) -> bool {
        matches!(self.state, State::Done)
    }

    fn finish(self) -> Result<Established, MseError> {
        let (State::Done, Some(method), Some(outgoing), Some(incoming), Some(info_hash)) = (
            self.state,
            self.method,
            self.outgoing,
            self.incoming,
            self.info_hash,
        ) else {
            return Err(MseError::NotFinished);
        };
        Ok(Established {
            method,
            cipher: (method == CryptoMethod::Rc4).then_some(PayloadCipher { outgoing, incoming }),
            info_hash,
            initial_payload: self.initial_payload,
        })
    }
}
