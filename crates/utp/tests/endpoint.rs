//! Sans-I/O tests of the endpoint: demultiplexing, accepting, strays,
//! limits.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use shoal_utp::packet::{encode_parts, Header, Packet, PacketType};
use shoal_utp::{DatagramEvent, Endpoint, EndpointConfig, State};

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn raw(ty: PacketType, conn_id: u16, seq_nr: u16) -> Vec<u8> {
    let h = Header {
        ty,
        conn_id,
        timestamp_us: 1,
        timestamp_diff_us: 0,
        wnd_size: 65536,
        seq_nr,
        ack_nr: 0,
    };
    let mut v = Vec::new();
    encode_parts(&h, None, &[], &mut v);
    v
}

/// Deliver everything each endpoint wants to send to the other, until quiet.
fn exchange(
    a: &mut Endpoint,
    a_addr: SocketAddr,
    b: &mut Endpoint,
    b_addr: SocketAddr,
    now: Instant,
) {
    loop {
        let mut moved = false;
        while let Some(t) = a.poll_transmit(now) {
            assert_eq!(t.destination, b_addr);
            b.handle_datagram(a_addr, &t.contents, now);
            moved = true;
        }
        while let Some(t) = b.poll_transmit(now) {
            assert_eq!(t.destination, a_addr);
            a.handle_datagram(b_addr, &t.contents, now);
            moved = true;
        }
        if !moved {
            break;
        }
    }
}

#[test]
fn connect_accept_and_exchange_data() {
    let now = Instant::now();
    let (aa, ba) = (addr(1000), addr(2000));
    let mut a = Endpoint::new(EndpointConfig::default(), 1, now);
    let mut b = Endpoint::new(EndpointConfig::default(), 2, now);
    let ha = a.connect(ba, now).unwrap();
    let hb2 = a.connect(ba, now).unwrap();
    exchange(&mut a, aa, &mut b, ba, now);
    let (hb, peer) = b.accept().unwrap();
    assert_eq!(peer, aa);
    assert!(b.accept().is_some(), "second connection to the same peer");
    assert!(b.accept().is_none());
    assert_eq!(a.connection(ha).unwrap().state(), State::Connected);
    assert_eq!(a.connection(hb2).unwrap().state(), State::Connected);
    assert_eq!(a.connection(ha).unwrap().write(b"ping"), 4);
    exchange(&mut a, aa, &mut b, ba, now);
    let mut buf = [0u8; 16];
    assert_eq!(b.connection(hb).unwrap().read(&mut buf), 4);
    assert_eq!(&buf[..4], b"ping");
    // The second connection has sent nothing since its SYN.
    assert_eq!(b.half_open_count(), 1);
    // Closing both and releasing forgets them after the linger.
    a.release(ha, now);
    exchange(&mut a, aa, &mut b, ba, now);
    b.release(hb, now);
    exchange(&mut a, aa, &mut b, ba, now);
    let later = now + Duration::from_secs(5);
    a.handle_timeout(later);
    b.handle_timeout(later);
    assert_eq!(a.connection_count(), 1);
    assert_eq!(b.connection_count(), 1);
}

#[test]
fn non_utp_datagrams_are_reported() {
    let now = Instant::now();
    let mut e = Endpoint::new(EndpointConfig::default(), 3, now);
    let krpc = b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe";
    assert_eq!(e.handle_datagram(addr(1), krpc, now), DatagramEvent::NotUtp);
    assert_eq!(e.handle_datagram(addr(1), b"", now), DatagramEvent::NotUtp);
    let mut bad = raw(PacketType::Data, 5, 5);
    bad[1] = 1; // a selective ack that is not there
    assert_eq!(
        e.handle_datagram(addr(1), &bad, now),
        DatagramEvent::Invalid
    );
    assert!(e.poll_transmit(now).is_none());
}

#[test]
fn forged_connection_id_gets_a_reset_and_no_state() {
    let now = Instant::now();
    let (aa, ba) = (addr(1000), addr(2000));
    let mut a = Endpoint::new(EndpointConfig::default(), 4, now);
    let mut b = Endpoint::new(EndpointConfig::default(), 5, now);
    let ha = a.connect(ba, now).unwrap();
    exchange(&mut a, aa, &mut b, ba, now);
    let (hb, _) = b.accept().unwrap();
    let real = b.connection(hb).unwrap().recv_id();
    // An attacker (another port) guessing ids, and the real peer's address
    // with a wrong id.
    for (from, id) in [(addr(6666), real), (aa, real.wrapping_add(7))] {
        let d = raw(PacketType::Data, id, 123);
        assert_eq!(b.handle_datagram(from, &d, now), DatagramEvent::Stray);
        let t = b.poll_transmit(now).unwrap();
        assert_eq!(t.destination, from);
        let p = Packet::parse(&t.contents).unwrap();
        assert_eq!(
            (p.header.ty, p.header.conn_id, p.header.ack_nr),
            (PacketType::Reset, id, 123)
        );
    }
    assert_eq!(b.connection_count(), 1);
    assert_eq!(b.connection(hb).unwrap().state(), State::Connected);
    // A reset is never answered.
    assert_eq!(
        b.handle_datagram(addr(6666), &raw(PacketType::Reset, 9, 1), now),
        DatagramEvent::Stray
    );
    assert!(b.poll_transmit(now).is_none());
    // The real peer's reset (carrying its send id) does end it.
    let send_id = a.connection(ha).unwrap().send_id();
    b.handle_datagram(aa, &raw(PacketType::Reset, send_id, 1), now);
    assert_eq!(b.connection(hb).unwrap().state(), State::Reset);
}

#[test]
fn stray_resets_are_rate_limited() {
    let now = Instant::now();
    let mut e = Endpoint::new(EndpointConfig::default(), 6, now);
    for i in 0..500u16 {
        e.handle_datagram(addr(3000 + i), &raw(PacketType::State, i, 1), now);
    }
    let mut n = 0;
    while e.poll_transmit(now).is_some() {
        n += 1;
    }
    assert_eq!(n, EndpointConfig::default().resets_per_second as usize);
    // A second later there are tokens again.
    let later = now + Duration::from_secs(1);
    e.handle_datagram(addr(9), &raw(PacketType::State, 1, 1), later);
    assert!(e.poll_transmit(later).is_some());
}

#[test]
fn syn_flood_stays_bounded_and_expires() {
    let now = Instant::now();
    let cfg = EndpointConfig::default();
    let mut e = Endpoint::new(cfg.clone(), 7, now);
    let mut refused = 0;
    for i in 0..5000u32 {
        let from = addr(10_000 + (i % 50_000) as u16);
        if e.handle_datagram(from, &raw(PacketType::Syn, i as u16, 1), now)
            == DatagramEvent::Refused
        {
            refused += 1;
        }
    }
    assert_eq!(e.connection_count(), cfg.max_half_open);
    assert_eq!(refused, 5000 - cfg.max_half_open);
    // Answers were sent (one ST_STATE per accepted SYN), bounded.
    let mut answers = 0;
    while e.poll_transmit(now).is_some() {
        answers += 1;
    }
    assert_eq!(answers, cfg.max_half_open);
    // Nobody follows up: after the half-open timeout they are gone (reset).
    let later = now + cfg.half_open_timeout + Duration::from_millis(1);
    e.handle_timeout(later);
    while e.poll_transmit(later).is_some() {}
    e.handle_timeout(later);
    assert_eq!(e.connection_count(), 0);
    assert!(e.accept().is_none());
    // Room again for a real peer.
    assert_eq!(
        e.handle_datagram(addr(5), &raw(PacketType::Syn, 77, 1), later),
        DatagramEvent::Handled
    );
}

#[test]
fn duplicate_syn_is_answered_again_without_a_new_connection() {
    let now = Instant::now();
    let mut e = Endpoint::new(EndpointConfig::default(), 8, now);
    let syn = raw(PacketType::Syn, 500, 42);
    assert_eq!(
        e.handle_datagram(addr(1), &syn, now),
        DatagramEvent::Handled
    );
    let first = e.poll_transmit(now).unwrap();
    assert!(e.poll_transmit(now).is_none());
    assert_eq!(
        e.handle_datagram(addr(1), &syn, now),
        DatagramEvent::Handled
    );
    let again = e.poll_transmit(now).unwrap();
    let (p1, p2) = (
        Packet::parse(&first.contents).unwrap(),
        Packet::parse(&again.contents).unwrap(),
    );
    assert_eq!(p1.header.ty, PacketType::State);
    assert_eq!(
        (p2.header.conn_id, p2.header.ack_nr, p2.header.seq_nr),
        (500, 42, p1.header.seq_nr)
    );
    assert_eq!(e.connection_count(), 1);
}
