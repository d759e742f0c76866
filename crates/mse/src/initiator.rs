//! The initiating side (A) of the MSE handshake.
//!
//! ```text
//! A->B: Ya, PadA
//! B->A: Yb, PadB
//! A->B: HASH('req1', S), HASH('req2', SKEY) xor HASH('req3', S),
//!       ENCRYPT(VC, crypto_provide, len(PadC), PadC, len(IA)), ENCRYPT(IA)
//! B->A: ENCRYPT(VC, crypto_select, len(PadD), PadD), ENCRYPT2(payload)
//! ```
//! A sends step 3 as soon as Yb's 96 bytes are in, then looks for the
//! encrypted VC within the 512 + 8 bytes that follow Yb.

use rand::{CryptoRng, RngCore};

use crate::dh::{DhBytes, PrivateKey, KEY_LEN};
use crate::error::MseError;
use crate::handshake::{
    random_bytes, Established, Handshake, Padding, PayloadCipher, MAX_INITIAL_PAYLOAD, MAX_PAD, VC,
};
use crate::keys::{key_a, key_b, obfuscated_req2, req1, Hash20};
use crate::policy::{CryptoMethod, Policy, CRYPTO_RC4};
use crate::rc4_stream::Rc4Stream;

/// Bytes after Yb within which the encrypted VC must end.
pub const VC_SEARCH_LIMIT: usize = MAX_PAD + VC.len();

#[derive(Debug)]
enum State {
    /// Collecting Yb.
    PeerKey,
    /// Looking for ENCRYPT(VC) in PadB and what follows.
    SyncVc,
    /// Reading crypto_select and len(PadD).
    Select,
    /// Skipping PadD.
    PadD {
        left: usize,
    },
    Done,
}

/// The initiator's state machine (sans-I/O).
#[derive(Debug)]
pub struct Initiator {
    state: State,
    info_hash: Hash20,
    provide: u32,
    key: PrivateKey,
    pad_c: Vec<u8>,
    initial_payload: Vec<u8>,
    buf: Vec<u8>,
    out: Vec<u8>,
    /// The first 8 keystream bytes of keyB: ENCRYPT(VC) as B sends it.
    vc_pattern: [u8; 8],
    outgoing: Option<Rc4Stream>,
    incoming: Option<Rc4Stream>,
    method: Option<CryptoMethod>,
}

impl Initiator {
    /// Start a handshake for `info_hash` with random padding. Ya and PadA
    /// are ready in [`Handshake::take_output`] at once.
    ///
    /// `initial_payload` (IA, at most 68 bytes: normally the BitTorrent
    /// handshake) goes encrypted in step 3.
    pub fn new<R: RngCore + CryptoRng + ?Sized>(
        info_hash: Hash20,
        policy: Policy,
        initial_payload: &[u8],
        rng: &mut R,
    ) -> Result<Initiator, MseError> {
        let padding = Padding::random(rng);
        Self::with_padding(info_hash, policy, initial_payload, padding, rng)
    }

    /// As [`Initiator::new`] with the given padding lengths (capped at 512).
    pub fn with_padding<R: RngCore + CryptoRng + ?Sized>(
        info_hash: Hash20,
        policy: Policy,
        initial_payload: &[u8],
        padding: Padding,
        rng: &mut R,
    ) -> Result<Initiator, MseError> {
        let provide = policy.crypto_provide()?;
        if initial_payload.len() > MAX_INITIAL_PAYLOAD {
            return Err(MseError::InitialPayloadTooLong(initial_payload.len()));
        }
        let padding = padding.capped();
        let key = PrivateKey::generate(rng);
        let mut out = Vec::with_capacity(KEY_LEN + padding.after_key);
        out.extend_from_slice(&key.public_key());
        out.extend_from_slice(&random_bytes(rng, padding.after_key));
        Ok(Initiator {
            state: State::PeerKey,
            info_hash,
            provide,
            key,
            pad_c: random_bytes(rng, padding.encrypted),
            initial_payload: initial_payload.to_vec(),
            buf: Vec::with_capacity(KEY_LEN),
            out,
            vc_pattern: [0; 8],
            outgoing: None,
            incoming: None,
            method: None,
        })
    }

    /// Step 3, once the secret is known.
    fn write_step3(&mut self, secret: &DhBytes) {
        let mut outgoing = Rc4Stream::new(&key_a(secret, &self.info_hash));
        let kb = key_b(secret, &self.info_hash);
        let incoming = Rc4Stream::new(&kb);
        let mut probe = Rc4Stream::new(&kb);
        let mut pattern = VC;
        probe.apply(&mut pattern);
        self.vc_pattern = pattern;

        self.out.extend_from_slice(&req1(secret));
        self.out
            .extend_from_slice(&obfuscated_req2(&self.info_hash, secret));
        let start = self.out.len();
        self.out.extend_from_slice(&VC);
        self.out.extend_from_slice(&self.provide.to_be_bytes());
        self.out
            .extend_from_slice(&(self.pad_c.len() as u16).to_be_bytes());
        self.out.extend_from_slice(&self.pad_c);
        self.out
            .extend_from_slice(&(self.initial_payload.len() as u16).to_be_bytes());
        self.out.extend_from_slice(&self.initial_payload);
        outgoing.apply(&mut self.out[start..]);
        self.outgoing = Some(outgoing);
        self.incoming = Some(incoming);
    }

    fn incoming(&mut self) -> Result<&mut Rc4Stream, MseError> {
        self.incoming.as_mut().ok_or(MseError::NotFinished)
    }

    /// Take up to `want - buf.len()` bytes of `input` into `buf`.
    fn fill(&mut self, input: &[u8], want: usize) -> usize {
        let n = want.saturating_sub(self.buf.len()).min(input.len());
        self.buf.extend_from_slice(&input[..n]);
        n
    }
}

impl Handshake for Initiator {
    fn feed(&mut self, input: &[u8]) -> Result<usize, MseError> {
        let mut used = 0;
        loop {
            let rest = &input[used..];
            match self.state {
                State::Done => return Ok(used),
                _ if rest.is_empty() => return Ok(used),
                State::PeerKey => {
                    used += self.fill(rest, KEY_LEN);
                    if self.buf.len() == KEY_LEN {
                        let mut yb: DhBytes = [0; KEY_LEN];
                        yb.copy_from_slice(&self.buf);
                        let secret = self.key.shared_secret(&yb)?;
                        self.write_step3(&secret);
                        self.buf.clear();
                        self.state = State::SyncVc;
                    }
                }
                State::SyncVc => {
                    // One byte at a time: the VC is followed by fields, and
                    // nothing past the handshake may be consumed.
                    self.buf.push(rest[0]);
                    used += 1;
                    if self.buf.ends_with(&self.vc_pattern) {
                        self.incoming()?.skip(VC.len());
                        self.buf.clear();
                        self.state = State::Select;
                    } else if self.buf.len() >= VC_SEARCH_LIMIT {
                        return Err(MseError::VcNotFound);
                    }
                }
                State::Select => {
                    used += self.fill(rest, 6);
                    if self.buf.len() == 6 {
                        let mut field = [0u8; 6];
                        field.copy_from_slice(&self.buf);
                        self.incoming()?.apply(&mut field);
                        self.buf.clear();
                        let selected = u32::from_be_bytes([field[0], field[1], field[2], field[3]]);
                        // Exactly one of the methods we offered.
                        if selected.count_ones() != 1 || selected & self.provide != selected {
                            return Err(MseError::BadCryptoSelect {
                                selected,
                                provided: self.provide,
                            });
                        }
                        let method = if selected == CRYPTO_RC4 {
                            CryptoMethod::Rc4
                        } else {
                            CryptoMethod::Plaintext
                        };
                        self.method = Some(method);
                        let pad = u16::from_be_bytes([field[4], field[5]]);
                        if usize::from(pad) > MAX_PAD {
                            return Err(MseError::PadTooLong(pad));
                        }
                        self.state = if pad == 0 {
                            State::Done
                        } else {
                            State::PadD {
                                left: usize::from(pad),
                            }
                        };
                    }
                }
                State::PadD { left } => {
                    let n = left.min(rest.len());
                    self.incoming()?.skip(n);
                    used += n;
                    self.state = if n == left {
                        State::Done
                    } else {
                        State::PadD { left: left - n }
                    };
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
        let (State::Done, Some(method), Some(outgoing), Some(incoming)) =
            (self.state, self.method, self.outgoing, self.incoming)
        else {
            return Err(MseError::NotFinished);
        };
        Ok(Established {
            method,
            cipher: (method == CryptoMethod::Rc4).then_some(PayloadCipher { outgoing, incoming }),
            info_hash: self.info_hash,
            initial_payload: Vec::new(),
        })
    }
}
