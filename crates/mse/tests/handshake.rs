//! Both sides of the MSE handshake in-process (sans-I/O), and hand-built
//! peers for the cases our own sides never produce.

#[path = "../fuzz/harness.rs"]
mod harness;

use harness::{feed_all, run_pair};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use shoal_mse::{
    key_a, key_b, obfuscated_req2, req1, CryptoMethod, Handshake, Initiator, KnownInfoHashes,
    MseError, Padding, Policy, PrivateKey, Rc4Stream, Responder, KEY_LEN, VC,
};

const IH: [u8; 20] = [0x11; 20];

fn known() -> KnownInfoHashes {
    KnownInfoHashes::new([[0x01; 20], IH, [0x22; 20], [0x33; 20], [0x44; 20]])
}

fn no_corruption(_: usize, _: usize, x: u8) -> u8 {
    x
}

#[test]
fn random_handshakes_agree() {
    let known = known();
    for seed in 0..24u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        // Each of the known torrents in turn, IA present or not.
        let ih = [[0x01; 20], IH, [0x22; 20], [0x33; 20], [0x44; 20]][seed as usize % 5];
        let ia: Vec<u8> = if seed % 2 == 0 {
            (0..rng.gen_range(1..=68)).map(|_| rng.gen()).collect()
        } else {
            Vec::new()
        };
        let a = Initiator::new(ih, Policy::Prefer, &ia, &mut rng).unwrap();
        let policy = if seed % 3 == 0 {
            Policy::Require
        } else {
            Policy::Prefer
        };
        let b = Responder::new(&known, policy, &mut rng).unwrap();
        let chunk = [1, 7, 100, 5000][seed as usize % 4];
        let out = run_pair(a, b, chunk, no_corruption);
        let (mut a, mut b) = (out.a.unwrap(), out.b.unwrap());
        // Offered both, a preferring responder keeps the payload plain.
        let want = if policy == Policy::Require {
            CryptoMethod::Rc4
        } else {
            CryptoMethod::Plaintext
        };
        assert_eq!(a.method, want, "seed {seed}");
        assert_eq!(b.info_hash, ih);
        assert_eq!(b.initial_payload, ia);
        assert!(a.initial_payload.is_empty());
        harness::check_payload(&mut a, &mut b);
    }
}

#[test]
fn padding_extremes() {
    let known = known();
    for (pa, pb) in [(0, 0), (512, 512), (0, 512), (512, 0), (513, 9999)] {
        let mut rng = StdRng::seed_from_u64(pa as u64);
        let pad = |n: usize| Padding {
            after_key: n,
            encrypted: n,
        };
        let a = Initiator::with_padding(IH, Policy::Require, b"x", pad(pa), &mut rng).unwrap();
        let b = Responder::with_padding(&known, Policy::Prefer, pad(pb), &mut rng).unwrap();
        let out = run_pair(a, b, 13, no_corruption);
        let (mut a, mut b) = (out.a.unwrap(), out.b.unwrap());
        harness::check_payload(&mut a, &mut b);
    }
}

#[test]
fn policies_off_refuse_to_start() {
    let mut rng = StdRng::seed_from_u64(1);
    assert!(matches!(
        Initiator::new(IH, Policy::Off, b"", &mut rng),
        Err(MseError::EncryptionRefused)
    ));
    assert!(matches!(
        Responder::new(known(), Policy::Off, &mut rng),
        Err(MseError::EncryptionRefused)
    ));
    assert!(matches!(
        Initiator::new(IH, Policy::Prefer, &[0; 69], &mut rng),
        Err(MseError::InitialPayloadTooLong(69))
    ));
}

#[test]
fn unknown_info_hash_is_refused() {
    let mut rng = StdRng::seed_from_u64(2);
    let a = Initiator::new([0x99; 20], Policy::Prefer, b"", &mut rng).unwrap();
    let b = Responder::new(known(), Policy::Prefer, &mut rng).unwrap();
    let out = run_pair(a, b, 64, no_corruption);
    assert!(matches!(out.b, Err(MseError::UnknownInfoHash)));
    // The initiator never got step 4.
    assert!(matches!(out.a, Err(MseError::NotFinished)));
}

#[test]
fn consumes_exactly_the_handshake() {
    let mut rng = StdRng::seed_from_u64(3);
    let mut a = Initiator::new(IH, Policy::Prefer, b"hello", &mut rng).unwrap();
    let mut b = Responder::new(known(), Policy::Prefer, &mut rng).unwrap();
    let mut to_b = a.take_output();
    assert_eq!(b.feed(&to_b).unwrap(), to_b.len());
    let to_a = b.take_output();
    assert_eq!(a.feed(&to_a).unwrap(), to_a.len());
    // Step 3, then 5 bytes of payload in the same segment.
    to_b = a.take_output();
    let step3 = to_b.len();
    to_b.extend_from_slice(b"after");
    assert_eq!(b.feed(&to_b).unwrap(), step3);
    assert!(b.is_finished());
    let mut step4 = b.take_output();
    let len4 = step4.len();
    step4.extend_from_slice(b"payload");
    assert_eq!(a.feed(&step4).unwrap(), len4);
    assert!(a.is_finished());
    // Finished sides take nothing more.
    assert_eq!(a.feed(b"more").unwrap(), 0);
    assert_eq!(b.feed(b"more").unwrap(), 0);
}

/// A hand-built initiator: Ya, PadA, then step 3 with chosen fields.
struct ManualA {
    key: PrivateKey,
    secret: Option<[u8; KEY_LEN]>,
}

#[derive(Clone)]
struct Step3 {
    info_hash: [u8; 20],
    vc: [u8; 8],
    provide: u32,
    pad_len_field: u16,
    pad: Vec<u8>,
    ia: Vec<u8>,
}

impl Default for Step3 {
    fn default() -> Self {
        Step3 {
            info_hash: IH,
            vc: VC,
            provide: 0x03,
            pad_len_field: 0,
            pad: Vec::new(),
            ia: Vec::new(),
        }
    }
}

impl ManualA {
    fn new(seed: u64) -> ManualA {
        let mut rng = StdRng::seed_from_u64(seed);
        ManualA {
            key: PrivateKey::generate(&mut rng),
            secret: None,
        }
    }

    fn step1(&self, pad_a: usize) -> Vec<u8> {
        let mut v = self.key.public_key().to_vec();
        v.extend_from_slice(&vec![0xaa; pad_a]);
        v
    }

    fn on_yb(&mut self, from_b: &[u8]) {
        let yb: [u8; KEY_LEN] = from_b[..KEY_LEN].try_into().unwrap();
        self.secret = Some(self.key.shared_secret(&yb).unwrap());
    }

    fn step3(&self, s: &Step3) -> Vec<u8> {
        let secret = self.secret.unwrap();
        let mut v = req1(&secret).to_vec();
        v.extend_from_slice(&obfuscated_req2(&s.info_hash, &secret));
        let start = v.len();
        v.extend_from_slice(&s.vc);
        v.extend_from_slice(&s.provide.to_be_bytes());
        v.extend_from_slice(&s.pad_len_field.to_be_bytes());
        v.extend_from_slice(&s.pad);
        v.extend_from_slice(&(s.ia.len() as u16).to_be_bytes());
        v.extend_from_slice(&s.ia);
        Rc4Stream::new(&key_a(&secret, &s.info_hash)).apply(&mut v[start..]);
        v
    }
}

/// Run a responder (`policy`) against a hand-built step 3.
fn responder_vs(policy: Policy, s: &Step3) -> (Result<shoal_mse::Established, MseError>, Vec<u8>) {
    let mut rng = StdRng::seed_from_u64(4);
    let mut b = Responder::new(known(), policy, &mut rng).unwrap();
    let mut a = ManualA::new(5);
    b.feed(&a.step1(10)).unwrap();
    let step2 = b.take_output();
    a.on_yb(&step2);
    let r = b.feed(&a.step3(s));
    let step4 = b.take_output();
    match r {
        Ok(_) => (b.finish(), step4),
        Err(e) => (Err(e), step4),
    }
}

#[test]
fn responder_selects_plaintext_when_only_plaintext_is_offered() {
    let s = Step3 {
        provide: 0x01,
        ia: b"ia".to_vec(),
        ..Step3::default()
    };
    let (est, step4) = responder_vs(Policy::Prefer, &s);
    let est = est.unwrap();
    assert_eq!(est.method, CryptoMethod::Plaintext);
    assert!(est.cipher.is_none());
    // IA is RC4 whatever the selection.
    assert_eq!(est.initial_payload, b"ia");
    // Step 4 (after Yb, PadB) says plaintext: find it by decrypting the tail.
    assert!(step4.len() >= 14);
    let (est, _) = responder_vs(Policy::Require, &s);
    assert!(matches!(
        est,
        Err(MseError::NoCommonMethod { provided: 1, .. })
    ));
}

#[test]
fn responder_rejects_bad_fields() {
    let bad_vc = Step3 {
        vc: [0, 0, 0, 0, 0, 0, 0, 1],
        ..Step3::default()
    };
    assert!(matches!(
        responder_vs(Policy::Prefer, &bad_vc).0,
        Err(MseError::BadVc)
    ));
    let long_pad = Step3 {
        pad_len_field: 513,
        pad: vec![0; 513],
        ..Step3::default()
    };
    assert!(matches!(
        responder_vs(Policy::Prefer, &long_pad).0,
        Err(MseError::PadTooLong(513))
    ));
    let unknown = Step3 {
        info_hash: [0x77; 20],
        ..Step3::default()
    };
    assert!(matches!(
        responder_vs(Policy::Prefer, &unknown).0,
        Err(MseError::UnknownInfoHash)
    ));
    let nothing_offered = Step3 {
        provide: 0x04,
        ..Step3::default()
    };
    assert!(matches!(
        responder_vs(Policy::Prefer, &nothing_offered).0,
        Err(MseError::NoCommonMethod { provided: 4, .. })
    ));
    let big_ia = Step3 {
        pad_len_field: 512,
        pad: vec![7; 512],
        ia: vec![9; 1000],
        ..Step3::default()
    };
    let est = responder_vs(Policy::Prefer, &big_ia).0.unwrap();
    assert_eq!(est.initial_payload, vec![9; 1000]);
}

#[test]
fn responder_gives_up_after_the_req1_bound() {
    let mut rng = StdRng::seed_from_u64(6);
    let mut b = Responder::new(known(), Policy::Prefer, &mut rng).unwrap();
    let a = ManualA::new(7);
    // Ya then endless padding, fed byte by byte.
    let mut input = a.step1(0);
    input.extend_from_slice(&[0x5c; 100_000]);
    let (err, used) = feed_all(&mut b, &input, 1);
    assert!(matches!(err, Some(MseError::Req1NotFound)), "{err:?}");
    assert_eq!(used, KEY_LEN + 512 + 20 - 1);
    // The same in one big chunk.
    let mut b = Responder::new(known(), Policy::Prefer, &mut rng).unwrap();
    let (err, _) = feed_all(&mut b, &input, input.len());
    assert!(matches!(err, Some(MseError::Req1NotFound)));
}

#[test]
fn req1_found_at_the_last_allowed_offset_only() {
    for (pad_a, ok) in [(512, true), (513, false)] {
        let mut rng = StdRng::seed_from_u64(8);
        let mut b = Responder::new(known(), Policy::Prefer, &mut rng).unwrap();
        let mut a = ManualA::new(9);
        b.feed(&a.step1(pad_a)).unwrap();
        a.on_yb(&b.take_output());
        let r = b.feed(&a.step3(&Step3::default()));
        assert_eq!(r.is_ok() && b.is_finished(), ok, "PadA {pad_a}: {r:?}");
    }
}

#[test]
fn garbage_instead_of_ya() {
    let mut rng = StdRng::seed_from_u64(10);
    let mut b = Responder::new(known(), Policy::Prefer, &mut rng).unwrap();
    assert!(matches!(
        b.feed(&[0xff; 200]),
        Err(MseError::InvalidPublicKey)
    ));
    let mut b = Responder::new(known(), Policy::Prefer, &mut rng).unwrap();
    let garbage: Vec<u8> = (0..5000).map(|_| rng.gen()).collect();
    let (err, used) = feed_all(&mut b, &garbage, 33);
    assert!(matches!(err, Some(MseError::Req1NotFound)), "{err:?}");
    assert!(used <= KEY_LEN + 532);
    // Yb garbage on the initiator side.
    let mut a = Initiator::new(IH, Policy::Prefer, b"", &mut rng).unwrap();
    let (err, used) = feed_all(&mut a, &garbage, 1);
    assert!(matches!(err, Some(MseError::VcNotFound)), "{err:?}");
    assert_eq!(used, KEY_LEN + 520 - 1);
}

/// A hand-built responder answering an initiator.
fn initiator_vs(
    policy: Policy,
    pad_b: usize,
    vc: [u8; 8],
    select: u32,
    pad_d: u16,
) -> Result<shoal_mse::Established, MseError> {
    let mut rng = StdRng::seed_from_u64(11);
    let mut a = Initiator::new(IH, policy, b"hs", &mut rng).unwrap();
    let ya: [u8; KEY_LEN] = a.take_output()[..KEY_LEN].try_into().unwrap();
    let key = PrivateKey::generate(&mut rng);
    let secret = key.shared_secret(&ya).unwrap();
    let mut v = key.public_key().to_vec();
    v.extend_from_slice(&vec![0x42; pad_b]);
    let start = v.len();
    v.extend_from_slice(&vc);
    v.extend_from_slice(&select.to_be_bytes());
    v.extend_from_slice(&pad_d.to_be_bytes());
    v.extend_from_slice(&vec![0; usize::from(pad_d).min(600)]);
    let mut enc = Rc4Stream::new(&key_b(&secret, &IH));
    enc.apply(&mut v[start..]);
    let (err, _) = feed_all(&mut a, &v, 17);
    if let Some(e) = err {
        return Err(e);
    }
    let mut est = a.finish()?;
    // The initiator's step 3 decrypts with keyA, and the payload keys line up.
    if let Some(c) = est.cipher.as_mut() {
        let mut probe = *b"ping";
        enc.apply(&mut probe);
        c.incoming.apply(&mut probe);
        assert_eq!(&probe, b"ping");
    }
    Ok(est)
}

#[test]
fn initiator_accepts_plaintext_or_rc4_it_offered() {
    let est = initiator_vs(Policy::Prefer, 0, VC, 0x01, 0).unwrap();
    assert_eq!(est.method, CryptoMethod::Plaintext);
    assert!(est.cipher.is_none());
    let est = initiator_vs(Policy::Prefer, 512, VC, 0x02, 512).unwrap();
    assert_eq!(est.method, CryptoMethod::Rc4);
    assert!(est.cipher.is_some());
}

#[test]
fn initiator_rejects_bad_answers() {
    assert!(matches!(
        initiator_vs(Policy::Require, 0, VC, 0x01, 0),
        Err(MseError::BadCryptoSelect {
            selected: 1,
            provided: 2
        })
    ));
    assert!(matches!(
        initiator_vs(Policy::Prefer, 0, VC, 0x03, 0),
        Err(MseError::BadCryptoSelect { selected: 3, .. })
    ));
    assert!(matches!(
        initiator_vs(Policy::Prefer, 0, VC, 0x02, 513),
        Err(MseError::PadTooLong(513))
    ));
    // PadB past 512: the VC is out of reach.
    assert!(matches!(
        initiator_vs(Policy::Prefer, 513, VC, 0x02, 0),
        Err(MseError::VcNotFound)
    ));
    // A wrong VC never matches the pattern (600 bytes follow it).
    assert!(matches!(
        initiator_vs(Policy::Prefer, 0, [1; 8], 0x02, 600),
        Err(MseError::VcNotFound)
    ));
}
