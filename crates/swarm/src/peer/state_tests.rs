//! Deterministic tests of [`PeerState`]: every validation rule drops only
//! the offending peer (an error from its own state machine), and the
//! normal flows produce the right messages and effects.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use shoal_wire::{ExtensionHandshake, Message, MessageDecoder};

use super::*;
use crate::bitfield::Bitfield;
use crate::picker::{PickerConfig, PiecePicker, BLOCK_SIZE};

const PIECES: u32 = 8;
const PLEN: u32 = 2 * BLOCK_SIZE;
const TOTAL: u64 = PIECES as u64 * PLEN as u64 - 1000;

fn picker() -> PiecePicker {
    PiecePicker::new(PIECES, PLEN, TOTAL, PickerConfig::default()).unwrap()
}

fn peer(key: u64, fast: bool, now: Instant) -> PeerState {
    PeerState::new(PeerKey(key), PIECES, fast, true, PeerConfig::default(), now)
}

/// Decode everything in the outbox.
fn sent(p: &mut PeerState) -> Vec<Message> {
    let mut buf = BytesMut::from(&p.take_outbox()[..]);
    let mut d = MessageDecoder::new(Some(PIECES));
    let mut out = Vec::new();
    while let Some(m) = d.decode(&mut buf).unwrap() {
        out.push(m);
    }
    assert!(buf.is_empty());
    out
}

fn full_bitfield() -> Message {
    Message::Bitfield(Bytes::copy_from_slice(
        Bitfield::full(PIECES as usize).as_bytes(),
    ))
}

fn feed(
    p: &mut PeerState,
    pk: &mut PiecePicker,
    now: Instant,
    msgs: Vec<Message>,
) -> Result<Vec<Effect>, PeerError> {
    let mut effects = Vec::new();
    for m in msgs {
        p.on_message(m, pk, now, &mut effects)?;
    }
    Ok(effects)
}

/// A peer that has everything, has unchoked us, and to which we are
/// interested.
fn unchoked_seed(pk: &mut PiecePicker, now: Instant) -> PeerState {
    let mut p = peer(1, true, now);
    feed(&mut p, pk, now, vec![full_bitfield(), Message::Unchoke]).unwrap();
    p.update_interest(pk, now);
    assert_eq!(sent(&mut p), vec![Message::Interested]);
    p
}

fn piece_msg(r: &Message) -> Message {
    match *r {
        Message::Request {
            index,
            begin,
            length,
        } => Message::Piece {
            index,
            begin,
            data: Bytes::from(vec![7u8; length as usize]),
        },
        _ => panic!("not a request: {r:?}"),
    }
}

/// The peer's reject of our request `r`.
fn reject_msg(r: &Message) -> Message {
    match *r {
        Message::Request {
            index,
            begin,
            length,
        } => reject(block(index, begin, length)),
        _ => panic!("not a request: {r:?}"),
    }
}

#[test]
fn start_sends_have_none_or_bitfield_and_extension_handshake() {
    let now = Instant::now();
    let ext = ExtensionHandshake {
        reqq: Some(500),
        ..Default::default()
    };
    let mut p = peer(1, true, now);
    p.start(&Bitfield::new(PIECES as usize), Some(&ext), now);
    let m = sent(&mut p);
    assert_eq!(m[0], Message::HaveNone);
    assert!(matches!(m[1], Message::Extended { id: 0, .. }));

    let mut p = peer(1, false, now);
    let mut have = Bitfield::new(PIECES as usize);
    have.set(3, true).unwrap();
    p.start(&have, None, now);
    assert_eq!(
        sent(&mut p),
        vec![Message::Bitfield(Bytes::copy_from_slice(have.as_bytes()))]
    );

    let mut p = peer(1, true, now);
    p.start(&Bitfield::full(PIECES as usize), None, now);
    assert_eq!(sent(&mut p), vec![Message::HaveAll]);
}

#[test]
fn download_flow_requests_blocks_and_stores_them() {
    let now = Instant::now();
    let mut pk = picker();
    let mut p = unchoked_seed(&mut pk, now);
    p.fill_requests(&mut pk, now);
    let reqs = sent(&mut p);
    assert_eq!(reqs.len(), 16, "every block of the torrent requested");
    assert_eq!(p.outstanding(), 16);
    let mut stored = 0;
    let mut completes = 0;
    for r in &reqs {
        let effects = feed(&mut p, &mut pk, now, vec![piece_msg(r)]).unwrap();
        for e in effects {
            if let Effect::Store { completes: c, .. } = e {
                stored += 1;
                completes += usize::from(c);
            }
        }
    }
    assert_eq!(stored, 16);
    assert_eq!(completes, PIECES as usize);
    assert_eq!(p.outstanding(), 0);
    assert_eq!(p.downloaded(), TOTAL);
}

#[test]
fn pipeline_honours_their_reqq() {
    let now = Instant::now();
    let mut pk = picker();
    let mut p = peer(1, true, now);
    let ext = ExtensionHandshake {
        reqq: Some(3),
        ..Default::default()
    };
    feed(
        &mut p,
        &mut pk,
        now,
        vec![ext.to_message(), full_bitfield(), Message::Unchoke],
    )
    .unwrap();
    p.update_interest(&pk, now);
    p.fill_requests(&mut pk, now);
    assert_eq!(p.outstanding(), 3);
    p.on_tick(&mut pk, now + Duration::from_secs(1)).unwrap();
    assert!(p.outstanding() <= 3);
}

#[test]
fn bitfield_after_other_messages_is_a_violation() {
    let now = Instant::now();
    let mut pk = picker();
    let mut p = peer(1, true, now);
    let err = feed(
        &mut p,
        &mut pk,
        now,
        vec![
            Message::Have { piece: 1 },
            Message::Bitfield(Bytes::from_static(&[0b1000_0000])),
        ],
    )
    .unwrap_err();
    assert_eq!(err, PeerError::LateBitfield("bitfield"));
}

#[test]
fn late_superset_bitfield_is_tolerated() {
    // aria2 re-sends its bitfield mid-connection.
    let now = Instant::now();
    let mut pk = picker();
    let mut p = peer(1, true, now);
    feed(
        &mut p,
        &mut pk,
        now,
        vec![
            Message::HaveNone,
            Message::Have { piece: 1 },
            Message::Bitfield(Bytes::from_static(&[0b0110_0000])),
        ],
    )
    .unwrap();
    assert!(pk.peer_has(PeerKey(1), 2));
}

#[test]
fn have_all_and_have_none_only_first() {
    let now = Instant::now();
    for late in [Message::HaveAll, Message::HaveNone] {
        let mut pk = picker();
        let mut p = peer(1, true, now);
        let err = feed(&mut p, &mut pk, now, vec![Message::Interested, late]).unwrap_err();
        assert!(matches!(err, PeerError::LateBitfield(_)), "{err:?}");
    }
    // The extension handshake may come first.
    let mut pk = picker();
    let mut p = peer(1, true, now);
    let ext = ExtensionHandshake::default().to_message();
    feed(&mut p, &mut pk, now, vec![ext, Message::HaveAll]).unwrap();
    assert!(pk.peer_has(PeerKey(1), 7));
}

#[test]
fn second_bitfield_that_drops_pieces_is_a_violation() {
    let now = Instant::now();
    let mut pk = picker();
    let mut p = peer(1, true, now);
    let err = feed(
        &mut p,
        &mut pk,
        now,
        vec![full_bitfield(), Message::Bitfield(Bytes::from_static(&[1]))],
    )
    .unwrap_err();
    assert_eq!(err, PeerError::LateBitfield("bitfield"));
}

#[test]
fn wrong_size_bitfield_is_a_violation() {
    let now = Instant::now();
    let mut pk = picker();
    let mut p = peer(1, true, now);
    let err = feed(
        &mut p,
        &mut pk,
        now,
        vec![Message::Bitfield(Bytes::from_static(&[0xff, 0]))],
    )
    .unwrap_err();
    assert_eq!(err, PeerError::BadBitfield);
}

#[test]
fn unrequested_block_is_a_violation() {
    let now = Instant::now();
    let mut pk = picker();
    let mut p = unchoked_seed(&mut pk, now);
    let err = feed(
        &mut p,
        &mut pk,
        now,
        vec![Message::Piece {
            index: 0,
            begin: 0,
            data: Bytes::from(vec![0u8; BLOCK_SIZE as usize]),
        }],
    )
    .unwrap_err();
    assert!(matches!(err, PeerError::UnrequestedPiece { .. }), "{err:?}");
}

#[test]
fn block_of_wrong_length_is_a_violation() {
    let now = Instant::now();
    let mut pk = picker();
    let mut p = unchoked_seed(&mut pk, now);
    p.fill_requests(&mut pk, now);
    let reqs = sent(&mut p);
    let Message::Request { index, begin, .. } = reqs[0] else {
        panic!()
    };
    let err = feed(
        &mut p,
        &mut pk,
        now,
        vec![Message::Piece {
            index,
            begin,
            data: Bytes::from_static(b"short"),
        }],
    )
    .unwrap_err();
    assert!(matches!(err, PeerError::UnrequestedPiece { .. }), "{err:?}");
}

/// We have every piece and the peer is unchoked.
fn uploader(fast: bool, now: Instant) -> (PiecePicker, PeerState) {
    let mut pk = picker();
    for i in 0..PIECES {
        pk.mark_have(i).unwrap();
    }
    let mut p = peer(1, fast, now);
    feed(&mut p, &mut pk, now, vec![Message::Interested]).unwrap();
    p.set_choking(false, now);
    assert_eq!(sent(&mut p), vec![Message::Unchoke]);
    (pk, p)
}

#[test]
fn valid_requests_are_queued_and_cancel_removes_them() {
    let now = Instant::now();
    let (mut pk, mut p) = uploader(true, now);
    let req = |begin| Message::Request {
        index: 7,
        begin,
        length: 1000,
    };
    feed(&mut p, &mut pk, now, vec![req(0), req(1000)]).unwrap();
    assert_eq!(p.queued_uploads(), 2);
    feed(
        &mut p,
        &mut pk,
        now,
        vec![Message::Cancel {
            index: 7,
            begin: 0,
            length: 1000,
        }],
    )
    .unwrap();
    let mut out = Vec::new();
    p.next_uploads(1 << 20, &mut out);
    assert_eq!(
        out,
        vec![BlockRequest {
            piece: 7,
            begin: 1000,
            length: 1000
        }]
    );
}

#[test]
fn request_beyond_the_piece_is_a_violation() {
    let now = Instant::now();
    // The last piece is 1000 bytes short of PLEN.
    for (index, begin, length) in [
        (7, PLEN - 1000 - 10, 20),
        (0, PLEN, 1),
        (0, 0, 0),
        (0, u32::MAX - 5, 10),
    ] {
        let (mut pk, mut p) = uploader(true, now);
        let err = feed(
            &mut p,
            &mut pk,
            now,
            vec![Message::Request {
                index,
                begin,
                length,
            }],
        )
        .unwrap_err();
        assert!(
            matches!(err, PeerError::RequestOutOfBounds { .. }),
            "{err:?}"
        );
    }
}

#[test]
fn choked_requests_are_rejected_not_fatal() {
    let now = Instant::now();
    let (mut pk, mut p) = uploader(true, now);
    p.set_choking(true, now);
    sent(&mut p);
    let r = Message::Request {
        index: 1,
        begin: 0,
        length: BLOCK_SIZE,
    };
    feed(&mut p, &mut pk, now, vec![r]).unwrap();
    assert_eq!(p.queued_uploads(), 0);
    assert_eq!(
        sent(&mut p),
        vec![Message::RejectRequest {
            index: 1,
            begin: 0,
            length: BLOCK_SIZE
        }]
    );
}

#[test]
fn choking_drops_and_rejects_queued_requests() {
    let now = Instant::now();
    let (mut pk, mut p) = uploader(true, now);
    let r = Message::Request {
        index: 1,
        begin: 0,
        length: BLOCK_SIZE,
    };
    feed(&mut p, &mut pk, now, vec![r]).unwrap();
    p.set_choking(true, now);
    assert_eq!(p.queued_uploads(), 0);
    let m = sent(&mut p);
    assert_eq!(m[0], Message::Choke);
    assert!(matches!(m[1], Message::RejectRequest { .. }));
}

#[test]
fn many_requests_for_missing_pieces_drop_the_peer() {
    let now = Instant::now();
    let mut pk = picker();
    let mut p = peer(1, true, now);
    p.set_choking(false, now);
    let r = Message::Request {
        index: 2,
        begin: 0,
        length: BLOCK_SIZE,
    };
    let mut result = Ok(Vec::new());
    for _ in 0..100 {
        result = feed(&mut p, &mut pk, now, vec![r.clone()]);
        if result.is_err() {
            break;
        }
    }
    assert_eq!(result.unwrap_err(), PeerError::TooManyBadRequests);
}

#[test]
fn request_flood_drops_the_peer() {
    let now = Instant::now();
    let (mut pk, mut p) = uploader(true, now);
    let mut result = Ok(Vec::new());
    for i in 0..10_000u32 {
        let r = Message::Request {
            index: i % PIECES,
            begin: 0,
            length: 1,
        };
        result = feed(&mut p, &mut pk, now, vec![r]);
        if result.is_err() {
            break;
        }
    }
    assert!(matches!(result, Err(PeerError::RequestFlood(_))));
}

#[test]
fn have_flood_drops_the_peer() {
    let now = Instant::now();
    let mut pk = picker();
    let mut p = peer(1, true, now);
    let mut result = Ok(Vec::new());
    for _ in 0..5000 {
        result = feed(&mut p, &mut pk, now, vec![Message::Have { piece: 3 }]);
        if result.is_err() {
            break;
        }
    }
    assert_eq!(result.unwrap_err(), PeerError::HaveFlood);
}

#[test]
fn choke_without_fast_releases_requests_and_accepts_late_blocks() {
    let now = Instant::now();
    let mut pk = picker();
    let mut p = peer(1, false, now);
    feed(
        &mut p,
        &mut pk,
        now,
        vec![full_bitfield(), Message::Unchoke],
    )
    .unwrap();
    p.update_interest(&pk, now);
    p.fill_requests(&mut pk, now);
    let reqs: Vec<Message> = sent(&mut p)
        .into_iter()
        .filter(|m| matches!(m, Message::Request { .. }))
        .collect();
    feed(&mut p, &mut pk, now, vec![Message::Choke]).unwrap();
    assert_eq!(p.outstanding(), 0);
    assert_eq!(pk.outstanding_requests(PeerKey(1)), 0);
    // A block already in flight is not a violation.
    feed(&mut p, &mut pk, now, vec![piece_msg(&reqs[0])]).unwrap();
}

#[test]
fn reject_releases_the_block() {
    let now = Instant::now();
    let mut pk = picker();
    let mut p = unchoked_seed(&mut pk, now);
    p.fill_requests(&mut pk, now);
    let reqs = sent(&mut p);
    let Message::Request {
        index,
        begin,
        length,
    } = reqs[0]
    else {
        panic!()
    };
    feed(
        &mut p,
        &mut pk,
        now,
        vec![Message::RejectRequest {
            index,
            begin,
            length,
        }],
    )
    .unwrap();
    assert_eq!(p.outstanding(), reqs.len() - 1);
}

#[test]
fn snubbing_peer_loses_its_requests() {
    let now = Instant::now();
    let mut pk = picker();
    let mut p = unchoked_seed(&mut pk, now);
    p.fill_requests(&mut pk, now);
    let n = sent(&mut p).len();
    let later = now + PeerConfig::default().snub_timeout + Duration::from_secs(1);
    // It keeps talking, but sends no block.
    feed(&mut p, &mut pk, later, vec![Message::KeepAlive]).unwrap();
    p.on_tick(&mut pk, later).unwrap();
    assert!(p.is_snubbed());
    let msgs = sent(&mut p);
    let cancels = msgs
        .iter()
        .filter(|m| matches!(m, Message::Cancel { .. }))
        .count();
    assert_eq!(cancels, n);
    // A snubbed peer gets one request at a time.
    assert_eq!(p.outstanding(), 1);
}

#[test]
fn silent_peer_times_out() {
    let now = Instant::now();
    let mut pk = picker();
    let mut p = peer(1, true, now);
    assert!(p.on_tick(&mut pk, now + Duration::from_secs(60)).is_ok());
    let err = p
        .on_tick(&mut pk, now + Duration::from_secs(200))
        .unwrap_err();
    assert!(matches!(err, PeerError::Inactive(_)));
}

#[test]
fn keepalive_after_quiet_period() {
    let now = Instant::now();
    let mut pk = picker();
    let mut p = peer(1, true, now);
    let later = now + Duration::from_secs(115);
    feed(&mut p, &mut pk, later, vec![Message::KeepAlive]).unwrap();
    p.on_tick(&mut pk, later).unwrap();
    assert_eq!(sent(&mut p), vec![Message::KeepAlive]);
}

#[test]
fn endgame_duplicate_cancels_the_other_peer() {
    let now = Instant::now();
    let mut pk = PiecePicker::new(1, BLOCK_SIZE, 100, PickerConfig::default()).unwrap();
    let bits = Message::Bitfield(Bytes::from_static(&[0x80]));
    let mut a = PeerState::new(PeerKey(1), 1, true, true, PeerConfig::default(), now);
    let mut b = PeerState::new(PeerKey(2), 1, true, true, PeerConfig::default(), now);
    for p in [&mut a, &mut b] {
        let mut e = Vec::new();
        p.on_message(bits.clone(), &mut pk, now, &mut e).unwrap();
        p.on_message(Message::Unchoke, &mut pk, now, &mut e)
            .unwrap();
        p.update_interest(&pk, now);
        p.fill_requests(&mut pk, now);
    }
    assert_eq!(a.outstanding(), 1);
    assert_eq!(b.outstanding(), 1, "endgame duplicate");
    let req = sent(&mut a).pop().unwrap();
    let mut effects = Vec::new();
    a.on_message(piece_msg(&req), &mut pk, now, &mut effects)
        .unwrap();
    let block = BlockRequest {
        piece: 0,
        begin: 0,
        length: 100,
    };
    assert!(effects.contains(&Effect::Cancel {
        peer: PeerKey(2),
        block
    }));
    sent(&mut b);
    b.cancel_request(block, now);
    assert_eq!(
        sent(&mut b),
        vec![Message::Cancel {
            index: 0,
            begin: 0,
            length: 100
        }]
    );
    // Its copy arriving anyway is harmless.
    let mut effects = Vec::new();
    b.on_message(piece_msg(&req), &mut pk, now, &mut effects)
        .unwrap();
    assert!(effects.is_empty());
}

#[test]
fn interest_changes_are_reported() {
    let now = Instant::now();
    let mut pk = picker();
    let mut p = peer(1, true, now);
    let e = feed(
        &mut p,
        &mut pk,
        now,
        vec![Message::Interested, Message::NotInterested],
    )
    .unwrap();
    assert_eq!(e, vec![Effect::InterestChanged, Effect::InterestChanged]);
}

/// A peer that unchokes us and rejects every request gets one request at a
/// time once it has rejected a few dozen, and its full pipeline back once
/// it sends a block.
#[test]
fn rejecting_everything_while_unchoking_counts_as_snubbing() {
    let now = Instant::now();
    let mut pk = picker();
    let mut p = unchoked_seed(&mut pk, now);
    let mut last_round = 0;
    for _ in 0..20 {
        p.fill_requests(&mut pk, now);
        let reqs: Vec<Message> = sent(&mut p)
            .into_iter()
            .filter(|m| matches!(m, Message::Request { .. }))
            .collect();
        last_round = reqs.len();
        let rejects = reqs.iter().map(reject_msg).collect();
        feed(&mut p, &mut pk, now, rejects).unwrap();
    }
    assert!(p.is_snubbed());
    assert_eq!(last_round, 1);
    // Unchoking us again does not buy it a full pipeline.
    feed(&mut p, &mut pk, now, vec![Message::Unchoke]).unwrap();
    assert!(p.is_snubbed());
    // It sends data after all: back to a full pipeline.
    p.fill_requests(&mut pk, now);
    let req = sent(&mut p).pop().unwrap();
    feed(&mut p, &mut pk, now, vec![piece_msg(&req)]).unwrap();
    assert!(!p.is_snubbed());
    p.fill_requests(&mut pk, now);
    assert!(p.outstanding() > 1);
}

#[test]
fn allowed_fast_pieces_are_requested_while_choked_until_rejected() {
    let now = Instant::now();
    let mut pk = picker();
    let mut p = peer(1, true, now);
    // A seed that chokes us but allows pieces 2 and 5 (and an index out
    // of range, which is ignored).
    let allowed = vec![
        full_bitfield(),
        Message::AllowedFast { piece: 2 },
        Message::AllowedFast { piece: 5 },
        Message::AllowedFast { piece: PIECES + 3 },
    ];
    feed(&mut p, &mut pk, now, allowed).unwrap();
    p.update_interest(&pk, now);
    assert_eq!(sent(&mut p), vec![Message::Interested]);
    p.fill_requests(&mut pk, now);
    let reqs = sent(&mut p);
    let pieces: Vec<u32> = reqs
        .iter()
        .map(|r| match r {
            Message::Request { index, .. } => *index,
            other => panic!("not a request: {other:?}"),
        })
        .collect();
    assert_eq!(pieces, vec![2, 2, 5, 5], "only allowed-fast pieces");
    // It serves piece 2 and rejects piece 5: piece 5 is not asked again.
    for r in &reqs[..2] {
        feed(&mut p, &mut pk, now, vec![piece_msg(r)]).unwrap();
    }
    let rejects = reqs[2..].iter().map(reject_msg).collect();
    feed(&mut p, &mut pk, now, rejects).unwrap();
    p.fill_requests(&mut pk, now);
    assert_eq!(sent(&mut p), vec![], "nothing more while choked");
    // Once unchoked, everything else is fair game.
    feed(&mut p, &mut pk, now, vec![Message::Unchoke]).unwrap();
    p.fill_requests(&mut pk, now);
    assert_eq!(sent(&mut p).len(), 14);
}

#[test]
fn allowed_fast_without_the_fast_extension_is_ignored() {
    let now = Instant::now();
    let mut pk = picker();
    let mut p = peer(1, false, now);
    let msgs = vec![full_bitfield(), Message::AllowedFast { piece: 2 }];
    feed(&mut p, &mut pk, now, msgs).unwrap();
    p.update_interest(&pk, now);
    p.fill_requests(&mut pk, now);
    assert_eq!(sent(&mut p), vec![Message::Interested]);
}

#[test]
fn rejects_of_requests_made_before_a_choke_keep_the_allowed_fast_set() {
    let now = Instant::now();
    let mut pk = picker();
    let mut p = unchoked_seed(&mut pk, now);
    feed(
        &mut p,
        &mut pk,
        now,
        vec![Message::AllowedFast { piece: 5 }],
    )
    .unwrap();
    p.fill_requests(&mut pk, now);
    let reqs = sent(&mut p);
    assert_eq!(reqs.len(), 16);
    // It chokes us and, as BEP 6 allows, rejects everything we asked.
    let mut msgs = vec![Message::Choke];
    msgs.extend(reqs.iter().map(reject_msg));
    feed(&mut p, &mut pk, now, msgs).unwrap();
    assert_eq!(p.outstanding(), 0);
    // Piece 5 is still allowed: asked for again while choked.
    p.fill_requests(&mut pk, now);
    let again: Vec<u32> = sent(&mut p)
        .iter()
        .map(|r| match r {
            Message::Request { index, .. } => *index,
            other => panic!("not a request: {other:?}"),
        })
        .collect();
    assert_eq!(again, vec![5, 5]);
}

/// The peer's extension handshake offering `ut_metadata` under id 7.
fn ut_metadata_handshake() -> Message {
    let mut hs = ExtensionHandshake::default();
    hs.m.insert(UT_METADATA.into(), 7);
    hs.to_message()
}

/// A request for metadata piece `piece`, as the peer sends it to us.
fn metadata_request(piece: u32) -> Message {
    // Addressed to our id for the extension.
    let request = MetadataMessage::Request { piece };
    request.to_message(UT_METADATA_ID)
}

#[test]
fn metadata_requests_from_a_peer_that_never_reads_stay_bounded() {
    let now = Instant::now();
    let mut pk = picker();
    let mut p = peer(1, true, now);
    // A 100 KiB info dictionary: 7 pieces of 16 KiB.
    let metadata = Bytes::from(vec![b'x'; 100 * 1024]);
    feed(&mut p, &mut pk, now, vec![ut_metadata_handshake()]).unwrap();
    let mut data_replies = 0;
    let mut peak = 0;
    for i in 0..5_000u32 {
        let mut effects = Vec::new();
        match p.on_message(metadata_request(i % 7), &mut pk, now, &mut effects) {
            Ok(()) => {}
            Err(PeerError::NotReading(n)) => {
                assert!(n <= MAX_OUTBOX + 64 * 1024, "outbox grew to {n}");
                break;
            }
            Err(e) => panic!("unexpected error {e}"),
        }
        for e in effects {
            if let Effect::MetadataRequest { piece } = e {
                let before = p.outbox_len();
                p.send_metadata(&metadata, piece, now);
                if p.outbox_len() - before > 1024 {
                    data_replies += 1;
                }
            }
        }
        peak = peak.max(p.outbox_len());
    }
    // Nothing was ever taken from the outbox: only the first few requests
    // got data, the rest were rejected, and the outbox stayed small.
    assert!(data_replies <= 5, "{data_replies} data replies queued");
    assert!(
        peak <= MAX_OUTBOX + 17 * 1024,
        "outbox peaked at {peak} bytes"
    );
    assert!(
        p.memory() < 2 * MAX_OUTBOX,
        "state holds {} bytes",
        p.memory()
    );
}

#[test]
fn choked_requests_from_a_peer_that_never_reads_get_it_dropped() {
    let now = Instant::now();
    let mut pk = picker();
    for piece in 0..PIECES {
        pk.mark_have(piece).unwrap();
    }
    let mut p = peer(1, true, now);
    let request = Message::Request {
        index: 0,
        begin: 0,
        length: BLOCK_SIZE,
    };
    // We choke it; every request is rejected (fast extension), and it
    // never reads the rejects.
    let mut result = Ok(());
    for _ in 0..100_000 {
        let mut effects = Vec::new();
        result = p.on_message(request.clone(), &mut pk, now, &mut effects);
        assert!(p.outbox_len() <= MAX_OUTBOX + 64, "{}", p.outbox_len());
        if result.is_err() {
            break;
        }
    }
    assert!(
        matches!(result, Err(PeerError::NotReading(_))),
        "{result:?}"
    );
}
