//! Handshake drivers shared by the `mse_handshake` fuzz target, the
//! corpus-replay test and the handshake tests.
//!
//! Fuzz input layout: one mode byte, then:
//! - mode % 3 == 0: bytes fed to a responder (Prefer, one known torrent),
//!   in chunks of `1 + input[1] % 64` bytes;
//! - mode % 3 == 1: bytes fed to an initiator (Prefer) after its Ya, in
//!   chunks as above;
//! - mode % 3 == 2: 8 bytes of RNG seed, a u16 PadA length (mod 513),
//!   then (u16 offset, u8 xor) triples
//!   that corrupt the A→B (offset even) or B→A (offset odd) stream of a
//!   real handshake between an initiator and a responder.
//!
//! `run` panics if a side misbehaves: consuming more than it was given,
//! stopping early without finishing, taking more bytes than the spec's
//! bounds allow before deciding, or (for an uncorrupted exchange) ending
//! with keys or initial payload that do not match.

#![allow(dead_code)]

use rand::rngs::StdRng;
use rand::SeedableRng;
use shoal_mse::{
    Established, Handshake, Initiator, KnownInfoHashes, MseError, Padding, Policy, Responder,
};

/// The torrent the fuzzed sides know.
pub const INFO_HASH: [u8; 20] = [0x5a; 20];

/// Most bytes a responder may take before finishing or failing:
/// Ya, PadA + req1, req2, VC field, PadC, len(IA), IA.
pub const RESPONDER_MAX_INPUT: usize = 96 + 532 + 20 + 14 + 512 + 2 + 65535;

/// Most bytes an initiator may take: Yb, PadB + VC, select field, PadD.
pub const INITIATOR_MAX_INPUT: usize = 96 + 520 + 6 + 512;

/// Feed `input` to `hs` in chunks of `chunk` bytes. Returns the error, if
/// any, and how many bytes were consumed in all.
pub fn feed_all<H: Handshake>(hs: &mut H, input: &[u8], chunk: usize) -> (Option<MseError>, usize) {
    let mut consumed = 0;
    for part in input.chunks(chunk.max(1)) {
        match hs.feed(part) {
            Ok(used) => {
                assert!(used <= part.len(), "consumed more than given");
                consumed += used;
                if used < part.len() {
                    assert!(hs.is_finished(), "stopped early without finishing");
                    return (None, consumed);
                }
            }
            Err(e) => return (Some(e), consumed),
        }
    }
    (None, consumed)
}

/// Both ends of a handshake moved through in-memory pipes.
pub struct PairOutcome {
    /// The initiator's result.
    pub a: Result<Established, MseError>,
    /// The responder's result.
    pub b: Result<Established, MseError>,
}

/// Run `a` against `b`, moving at most `chunk` bytes per feed, with
/// `corrupt(direction, offset, byte)` applied to every byte in transit
/// (direction 0: A→B, 1: B→A).
pub fn run_pair<L: shoal_mse::InfoHashLookup>(
    mut a: Initiator,
    mut b: Responder<L>,
    chunk: usize,
    mut corrupt: impl FnMut(usize, usize, u8) -> u8,
) -> PairOutcome {
    let mut sent = [0usize; 2];
    let mut a_err = None;
    let mut b_err = None;
    for _round in 0..16 {
        let mut progressed = false;
        let mut to_b = a.take_output();
        for (i, x) in to_b.iter_mut().enumerate() {
            *x = corrupt(0, sent[0] + i, *x);
        }
        sent[0] += to_b.len();
        if b_err.is_none() && !to_b.is_empty() {
            progressed = true;
            let (e, used) = feed_all(&mut b, &to_b, chunk);
            assert!(used <= to_b.len());
            b_err = e;
        }
        let mut to_a = b.take_output();
        for (i, x) in to_a.iter_mut().enumerate() {
            *x = corrupt(1, sent[1] + i, *x);
        }
        sent[1] += to_a.len();
        if a_err.is_none() && !to_a.is_empty() {
            progressed = true;
            let (e, used) = feed_all(&mut a, &to_a, chunk);
            assert!(used <= to_a.len());
            a_err = e;
        }
        if !progressed {
            break;
        }
    }
    PairOutcome {
        a: match a_err {
            Some(e) => Err(e),
            None => a.finish(),
        },
        b: match b_err {
            Some(e) => Err(e),
            None => b.finish(),
        },
    }
}

/// Check two established ends carry payload to each other.
pub fn check_payload(a: &mut Established, b: &mut Established) {
    assert_eq!(a.method, b.method);
    assert_eq!(a.info_hash, b.info_hash);
    match (a.cipher.as_mut(), b.cipher.as_mut()) {
        (Some(ca), Some(cb)) => {
            let msg = b"\x00\x00\x00\x01\x02 payload after the handshake".to_vec();
            let mut x = msg.clone();
            ca.outgoing.apply(&mut x);
            assert_ne!(x, msg);
            cb.incoming.apply(&mut x);
            assert_eq!(x, msg);
            let mut y = msg.clone();
            cb.outgoing.apply(&mut y);
            ca.incoming.apply(&mut y);
            assert_eq!(y, msg);
        }
        (None, None) => {}
        _ => panic!("one side has a cipher, the other not"),
    }
}

/// What feeding one side produced.
#[derive(Debug)]
pub struct SideOutcome {
    /// The error that stopped it, if any.
    pub error: Option<MseError>,
    /// Bytes it consumed.
    pub used: usize,
    /// Whether it finished.
    pub finished: bool,
}

/// Feed `input` to a responder (Prefer, knowing [`INFO_HASH`]).
pub fn run_responder(input: &[u8], chunk: usize, seed: u64) -> SideOutcome {
    let mut rng = StdRng::seed_from_u64(seed);
    let known = KnownInfoHashes::new([INFO_HASH]);
    let Ok(mut b) = Responder::new(&known, Policy::Prefer, &mut rng) else {
        panic!("responder refused Prefer");
    };
    let (error, used) = feed_all(&mut b, input, chunk);
    assert!(used <= RESPONDER_MAX_INPUT, "responder took {used} bytes");
    let finished = b.is_finished();
    if error.is_none() && input.len() >= RESPONDER_MAX_INPUT {
        assert!(finished, "responder took {used} bytes without deciding");
    }
    SideOutcome {
        error,
        used,
        finished,
    }
}

/// Feed `input` to an initiator (Prefer, for [`INFO_HASH`]) after its Ya.
pub fn run_initiator(input: &[u8], chunk: usize, seed: u64) -> SideOutcome {
    let mut rng = StdRng::seed_from_u64(seed);
    let Ok(mut a) = Initiator::new(INFO_HASH, Policy::Prefer, b"ia", &mut rng) else {
        panic!("initiator refused Prefer");
    };
    let _ = a.take_output();
    let (error, used) = feed_all(&mut a, input, chunk);
    assert!(used <= INITIATOR_MAX_INPUT, "initiator took {used} bytes");
    let finished = a.is_finished();
    if error.is_none() && input.len() >= INITIATOR_MAX_INPUT {
        assert!(finished, "initiator took {used} bytes without deciding");
    }
    SideOutcome {
        error,
        used,
        finished,
    }
}

/// A real handshake (seeded by the first 8 bytes of `input`, PadA length
/// from the next 2) whose streams are corrupted by the (u16 offset, u8
/// xor) triples that follow; offset = 2 * position + direction.
pub fn run_corrupted_pair(input: &[u8], chunk: usize) -> PairOutcome {
    let mut seed = [0u8; 8];
    let n = input.len().min(8);
    seed[..n].copy_from_slice(&input[..n]);
    let mut rng = StdRng::seed_from_u64(u64::from_le_bytes(seed));
    let mut pad = [0u8; 2];
    let m = input.len().min(n + 2);
    pad[..m - n].copy_from_slice(&input[n..m]);
    let padding = Padding {
        after_key: usize::from(u16::from_le_bytes(pad)) % 513,
        encrypted: 100,
    };
    let flips: Vec<(usize, usize, u8)> = input[m..]
        .chunks_exact(3)
        .map(|t| {
            let off = usize::from(u16::from_le_bytes([t[0], t[1]]));
            (off & 1, off >> 1, t[2])
        })
        .collect();
    let known = KnownInfoHashes::new([INFO_HASH, [1; 20], [2; 20]]);
    let (Ok(a), Ok(b)) = (
        Initiator::with_padding(INFO_HASH, Policy::Prefer, b"initial", padding, &mut rng),
        Responder::new(&known, Policy::Prefer, &mut rng),
    ) else {
        panic!("sides refused Prefer");
    };
    let mut corrupted = false;
    let mut out = run_pair(a, b, chunk, |dir, off, x| {
        let y = flips
            .iter()
            .filter(|f| f.0 == dir && f.1 == off)
            .fold(x, |x, f| x ^ f.2);
        corrupted |= y != x;
        y
    });
    if let (Ok(a), Ok(b)) = (out.a.as_mut(), out.b.as_mut()) {
        // MSE has no integrity check: a corrupted PadD length or select
        // field still "finishes", with keystreams out of step. Only an
        // intact exchange must carry payload.
        assert_eq!(a.info_hash, b.info_hash);
        if !corrupted {
            check_payload(a, b);
            assert_eq!(b.initial_payload, b"initial");
        }
    }
    out
}

/// The fuzz entry point: panics on misbehaviour.
pub fn run(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let chunk = 1 + usize::from(rest.first().copied().unwrap_or(0) % 64);
    match mode % 3 {
        0 => {
            run_responder(rest, chunk, u64::from(mode));
        }
        1 => {
            run_initiator(rest, chunk, u64::from(mode));
        }
        _ => {
            run_corrupted_pair(rest, chunk);
        }
    }
}
