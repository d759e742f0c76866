//! The tokio layer: connect_encrypted / accept over in-memory pipes and
//! loopback TCP, EncryptedStream in both modes.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use shoal_mse::{
    accept, accept_with_rng, connect_encrypted, connect_encrypted_with_rng, CryptoMethod,
    KnownInfoHashes, MseError, Policy, PrivateKey,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

const IH: [u8; 20] = [0x42; 20];
const LIMIT: Duration = Duration::from_secs(20);

fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..len).map(|_| rng.gen()).collect()
}

/// Read exactly `n` bytes: first from `head`, then from `stream`.
async fn read_n<R: AsyncReadExt + Unpin>(head: &[u8], stream: &mut R, n: usize) -> Vec<u8> {
    let mut out = head.to_vec();
    let start = out.len();
    out.resize(n, 0);
    stream.read_exact(&mut out[start..]).await.unwrap();
    out
}

/// Both ends over loopback TCP: (dial policy, accept policy) → method.
async fn tcp_pair(dial: Policy, acc: Policy, ia: &[u8]) -> Result<CryptoMethod, MseError> {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let known = KnownInfoHashes::new([[1; 20], IH]);
    let payload_a = data(1 << 20, 1);
    let payload_b = data(300_000, 2);
    let ia_len = ia.len();
    let (pa, pb) = (payload_a.clone(), payload_b.clone());
    let server = tokio::spawn(async move {
        let (sock, _) = listener.accept().await.unwrap();
        let acc = accept(sock, &known, acc).await?;
        let mut s = acc.stream;
        if s.is_mse() {
            assert_eq!(acc.info_hash, Some(IH));
        }
        // The initial payload then the rest of A's stream.
        let got = read_n(&acc.initial_payload, &mut s, ia_len + pa.len()).await;
        assert_eq!(&got[ia_len..], &pa[..]);
        s.write_all(&pb).await.unwrap();
        s.flush().await.unwrap();
        Ok::<_, MseError>((got[..ia_len].to_vec(), s.method()))
    });
    let sock = TcpStream::connect(addr).await.unwrap();
    let dialed = connect_encrypted(sock, IH, dial, ia).await;
    let mut s = match dialed {
        Ok(s) => s,
        Err(e) => {
            let _ = server.await;
            return Err(e);
        }
    };
    s.write_all(&payload_a).await.unwrap();
    s.flush().await.unwrap();
    let got = read_n(&[], &mut s, payload_b.len()).await;
    assert_eq!(got, payload_b);
    let (got_ia, method) = server.await.unwrap()?;
    assert_eq!(got_ia, ia);
    assert_eq!(method, s.method());
    Ok(method)
}

#[tokio::test]
async fn tcp_rc4_both_ways() {
    let ia = data(68, 3);
    let m = timeout(LIMIT, tcp_pair(Policy::Require, Policy::Require, &ia))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m, CryptoMethod::Rc4);
    let m = timeout(LIMIT, tcp_pair(Policy::Prefer, Policy::Prefer, b""))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m, CryptoMethod::Plaintext);
}

#[tokio::test]
async fn tcp_initial_payload_longer_than_ia() {
    // 68 bytes go as IA, the other 132 through the RC4 stream.
    let ia = data(200, 4);
    let m = timeout(LIMIT, tcp_pair(Policy::Prefer, Policy::Require, &ia))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m, CryptoMethod::Rc4);
}

#[tokio::test]
async fn tcp_plaintext_when_off() {
    let mut hs = b"\x13BitTorrent protocol".to_vec();
    hs.extend_from_slice(&[0; 48]);
    let m = timeout(LIMIT, tcp_pair(Policy::Off, Policy::Prefer, &hs))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m, CryptoMethod::Plaintext);
}

/// A dialer and an acceptor that must not agree: (dialer's result,
/// acceptor's result).
async fn refused(dial: Policy, acc: Policy) -> (Result<(), MseError>, Result<(), MseError>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (sock, _) = listener.accept().await.unwrap();
        let known = KnownInfoHashes::new([IH]);
        accept(sock, &known, acc).await.map(|_| ())
    });
    let sock = TcpStream::connect(addr).await.unwrap();
    let mut hs = b"\x13BitTorrent protocol".to_vec();
    hs.extend_from_slice(&[0; 48]);
    let client = match connect_encrypted(sock, IH, dial, &hs).await {
        // Plaintext "succeeds" at once; the refusal shows as a close.
        Ok(mut s) => {
            let mut byte = [0u8; 1];
            match s.read(&mut byte).await {
                Ok(0) => Err(MseError::Closed),
                Ok(_) => Ok(()),
                Err(e) => Err(e.into()),
            }
        }
        Err(e) => Err(e),
    };
    (client, server.await.unwrap())
}

#[tokio::test]
async fn policy_refusals_over_tcp() {
    let (client, server) = timeout(LIMIT, refused(Policy::Off, Policy::Require))
        .await
        .unwrap();
    assert!(
        matches!(server, Err(MseError::PlaintextRefused)),
        "{server:?}"
    );
    assert!(
        matches!(client, Err(MseError::Closed | MseError::Io(_))),
        "{client:?}"
    );
    let (client, server) = timeout(LIMIT, refused(Policy::Require, Policy::Off))
        .await
        .unwrap();
    assert!(
        matches!(server, Err(MseError::EncryptionRefused)),
        "{server:?}"
    );
    assert!(
        matches!(client, Err(MseError::Closed | MseError::Io(_))),
        "{client:?}"
    );
}

#[tokio::test]
async fn accept_reports_each_refusal() {
    let known = KnownInfoHashes::new([IH]);
    let (mut a, b) = tokio::io::duplex(4096);
    a.write_all(b"\x13BitTorrent protocol").await.unwrap();
    let r = accept(b, &known, Policy::Require).await;
    assert!(matches!(r, Err(MseError::PlaintextRefused)));

    let (mut a, b) = tokio::io::duplex(4096);
    a.write_all(&[7u8; 96]).await.unwrap();
    let r = accept(b, &known, Policy::Off).await;
    assert!(matches!(r, Err(MseError::EncryptionRefused)));

    // Plaintext under Prefer: the sniffed bytes come back as the payload.
    let (mut a, b) = tokio::io::duplex(4096);
    a.write_all(b"\x13BitTorrent protocol\0\0").await.unwrap();
    let acc = accept(b, &known, Policy::Prefer).await.unwrap();
    assert_eq!(acc.info_hash, None);
    assert!(!acc.stream.is_mse());
    assert_eq!(acc.stream.method(), CryptoMethod::Plaintext);
    assert_eq!(acc.initial_payload, b"\x13BitTorrent protocol\0\0");
}

#[tokio::test]
async fn endless_padding_is_cut_off() {
    let known = KnownInfoHashes::new([IH]);
    let (mut attacker, b) = tokio::io::duplex(64 * 1024);
    let writer = tokio::spawn(async move {
        let mut rng = StdRng::seed_from_u64(5);
        attacker
            .write_all(&PrivateKey::generate(&mut rng).public_key())
            .await?;
        let junk = [0x33u8; 1024];
        let mut sent = 0usize;
        // Far more than the bound; stops when the responder hangs up.
        while sent < 16 << 20 {
            attacker.write_all(&junk).await?;
            sent += junk.len();
        }
        Ok::<_, std::io::Error>(sent)
    });
    let mut rng = StdRng::seed_from_u64(6);
    let r = timeout(LIMIT, accept_with_rng(b, &known, Policy::Prefer, &mut rng))
        .await
        .unwrap();
    assert!(matches!(r, Err(MseError::Req1NotFound)), "{r:?}");
    // The responder dropped its end: the attacker's writes fail early.
    let sent = writer.await.unwrap();
    assert!(sent.is_err(), "attacker wrote {sent:?}");
}

#[tokio::test]
async fn silent_peer_is_bounded_by_the_callers_timeout() {
    let (_a, b) = tokio::io::duplex(4096);
    let known = KnownInfoHashes::new([IH]);
    let r = timeout(
        Duration::from_millis(100),
        accept(b, &known, Policy::Prefer),
    )
    .await;
    assert!(r.is_err(), "accept returned without any byte");
}

#[tokio::test]
async fn duplex_small_reads_and_writes() {
    // A tiny pipe forces partial writes and reads through the RC4 buffer.
    let (a, b) = tokio::io::duplex(7);
    let known = KnownInfoHashes::new([IH]);
    let server = tokio::spawn(async move {
        let mut rng = StdRng::seed_from_u64(8);
        let acc = accept_with_rng(b, &known, Policy::Prefer, &mut rng)
            .await
            .unwrap();
        let mut s = acc.stream;
        let got = read_n(&acc.initial_payload, &mut s, 5 + 50_000).await;
        s.write_all(&got).await.unwrap();
        s.shutdown().await.unwrap();
        got
    });
    let mut rng = StdRng::seed_from_u64(9);
    let mut s = connect_encrypted_with_rng(a, IH, Policy::Prefer, b"hello", &mut rng)
        .await
        .unwrap();
    let body = data(50_000, 10);
    let client = async {
        // Vectored writes go through the same cipher in order.
        let mut sent = 0;
        while sent < body.len() {
            let end = (sent + 3000).min(body.len());
            let mid = (sent + end) / 2;
            let bufs = [
                std::io::IoSlice::new(&body[sent..mid]),
                std::io::IoSlice::new(&body[mid..end]),
            ];
            sent += s.write_vectored(&bufs).await.unwrap();
        }
        s.flush().await.unwrap();
        let mut echo = Vec::new();
        s.read_to_end(&mut echo).await.unwrap();
        echo
    };
    let echo = timeout(LIMIT, client).await.unwrap();
    let got = timeout(LIMIT, server).await.unwrap().unwrap();
    assert_eq!(&got[..5], b"hello");
    assert_eq!(&got[5..], &body[..]);
    assert_eq!(echo, got);
}

#[tokio::test]
async fn in_place_writes_interleave_with_buffered_ones() {
    for (dial, expect) in [
        (Policy::Require, CryptoMethod::Rc4),
        (Policy::Off, CryptoMethod::Plaintext),
    ] {
        let (a, b) = tokio::io::duplex(1000);
        let known = KnownInfoHashes::new([IH]);
        let mut hs = b"\x13BitTorrent protocol".to_vec();
        hs.extend_from_slice(&[0; 48]);
        let expected: Vec<u8> = [&hs[..], b"one", &[7u8; 70_000], b"three"].concat();
        let total = expected.len();
        let server = tokio::spawn(async move {
            let acc = accept(b, &known, Policy::Prefer).await.unwrap();
            let mut s = acc.stream;
            let got = read_n(&acc.initial_payload, &mut s, total).await;
            (got, s.method())
        });
        let mut s = connect_encrypted(a, IH, dial, &hs).await.unwrap();
        let client = async {
            s.write_all(b"one").await.unwrap();
            let mut block = vec![7u8; 70_000];
            s.write_all_in_place(&mut block).await.unwrap();
            if expect == CryptoMethod::Rc4 {
                assert_ne!(block, vec![7u8; 70_000], "not encrypted in place");
            }
            s.write_all(b"three").await.unwrap();
            s.flush().await.unwrap();
        };
        timeout(LIMIT, client).await.unwrap();
        let (got, method) = timeout(LIMIT, server).await.unwrap().unwrap();
        assert_eq!(method, expect);
        assert!(got == expected, "{dial:?}: stream differs");
    }
}
