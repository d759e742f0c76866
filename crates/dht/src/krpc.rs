//! KRPC messages (BEP 5, 32, 42, 43, 51): a strict, bounded codec.
//!
//! Decoding never panics: wrong types are errors, unknown keys are ignored,
//! and lists a remote party could make absurdly long are truncated to the
//! `MAX_*` bounds below.

use std::net::SocketAddr;

use shoal_bencode::{Decoder, Dict, Encoder, Value};

use crate::compact::{decode_addr, decode_nodes, encode_addr, encode_nodes, NodeInfo};
use crate::id::NodeId;

/// Largest datagram accepted (KRPC messages fit in one MTU; 8 KiB leaves room).
pub const MAX_DATAGRAM: usize = 8192;
/// Longest transaction id accepted (libtorrent sends 2 bytes, others 4).
pub const MAX_TRANSACTION_ID: usize = 16;
/// `nodes` / `nodes6` entries kept from one response.
pub const MAX_NODES: usize = 16;
/// `values` entries kept from one response.
pub const MAX_VALUES: usize = 128;
/// `samples` kept from one `sample_infohashes` response.
pub const MAX_SAMPLES: usize = 256;
/// Longest token accepted.
pub const MAX_TOKEN: usize = 64;
/// Longest client version string kept.
pub const MAX_VERSION: usize = 16;
/// Longest error message or unknown method name kept (bytes).
pub const MAX_TEXT: usize = 128;

/// KRPC error code 201: generic error.
pub const ERROR_GENERIC: i64 = 201;
/// KRPC error code 202: server error.
pub const ERROR_SERVER: i64 = 202;
/// KRPC error code 203: protocol error (malformed packet, bad token...).
pub const ERROR_PROTOCOL: i64 = 203;
/// KRPC error code 204: method unknown.
pub const ERROR_METHOD_UNKNOWN: i64 = 204;

/// One KRPC message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Transaction id (`t`), echoed in the reply.
    pub transaction_id: Vec<u8>,
    /// Client version (`v`), if any.
    pub version: Option<Vec<u8>>,
    /// BEP 43 read-only flag (`ro`), meaningful on queries.
    pub read_only: bool,
    /// BEP 42 `ip`: the requester's address as the responder saw it.
    pub requester_ip: Option<SocketAddr>,
    /// Query, response or error.
    pub body: Body,
}

/// The three kinds of message (`y` = `q`, `r`, `e`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// A query.
    Query(Query),
    /// A response.
    Response(Response),
    /// An error.
    Error(KrpcError),
}

/// A query: the sender's id and what it asks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    /// The querying node's id (`a.id`).
    pub id: NodeId,
    /// The method and its arguments.
    pub kind: QueryKind,
}

/// BEP 32 `want`: which address families' nodes the querier wants.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Want {
    /// `n4` requested.
    pub v4: bool,
    /// `n6` requested.
    pub v6: bool,
}

/// Query methods and their arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueryKind {
    /// `ping`.
    Ping,
    /// `find_node`.
    FindNode {
        /// The id sought.
        target: NodeId,
        /// BEP 32 `want`, if given.
        want: Option<Want>,
    },
    /// `get_peers`.
    GetPeers {
        /// The torrent.
        info_hash: NodeId,
        /// BEP 32 `want`, if given.
        want: Option<Want>,
    },
    /// `announce_peer`.
    AnnouncePeer {
        /// The torrent.
        info_hash: NodeId,
        /// The announced port (ignored when `implied_port`).
        port: u16,
        /// Use the UDP source port instead of `port` (libtorrent sets it).
        implied_port: bool,
        /// The write token from an earlier `get_peers` response.
        token: Vec<u8>,
    },
    /// BEP 51 `sample_infohashes`.
    SampleInfohashes {
        /// Where in the key space to take the sample's `nodes` from.
        target: NodeId,
        /// BEP 32 `want`, if given.
        want: Option<Want>,
    },
    /// A method we do not know (answered with error 204).
    Unknown {
        /// The method name (truncated).
        method: Vec<u8>,
    },
}

impl QueryKind {
    /// The method name as sent in `q`.
    pub fn method(&self) -> &[u8] {
        match self {
            QueryKind::Ping => b"ping",
            QueryKind::FindNode { .. } => b"find_node",
            QueryKind::GetPeers { .. } => b"get_peers",
            QueryKind::AnnouncePeer { .. } => b"announce_peer",
            QueryKind::SampleInfohashes { .. } => b"sample_infohashes",
            QueryKind::Unknown { method } => method,
        }
    }
}

/// A response's arguments (`r`); which are present depends on the query.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Response {
    /// The responder's id.
    pub id: NodeId,
    /// IPv4 nodes (`nodes`, 26 bytes each), truncated to [`MAX_NODES`].
    pub nodes: Vec<NodeInfo>,
    /// IPv6 nodes (`nodes6`, 38 bytes each), truncated to [`MAX_NODES`].
    pub nodes6: Vec<NodeInfo>,
    /// Peers (`values`), truncated to [`MAX_VALUES`]; malformed entries skipped.
    pub values: Vec<SocketAddr>,
    /// Write token (`token`) from `get_peers`.
    pub token: Option<Vec<u8>>,
    /// BEP 51 `samples`, truncated to [`MAX_SAMPLES`].
    pub samples: Vec<NodeId>,
    /// BEP 51 `interval` (seconds).
    pub interval: Option<i64>,
    /// BEP 51 `num`: info-hashes the responder stores.
    pub num: Option<i64>,
}

/// A KRPC error (`e`: a code and a message).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KrpcError {
    /// Error code (201..204 are standard).
    pub code: i64,
    /// Human-readable message (truncated, lossy UTF-8).
    pub message: String,
}

/// Why a datagram is not a valid KRPC message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{kind}")]
pub struct DecodeError {
    /// What was wrong.
    pub kind: DecodeErrorKind,
    /// The transaction id, when it could be read (so a query can get an
    /// error reply).
    pub transaction_id: Option<Vec<u8>>,
    /// Whether the message declared itself a query (`y` = `q`).
    pub is_query: bool,
}

/// What made a message invalid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeErrorKind {
    /// Larger than [`MAX_DATAGRAM`].
    #[error("datagram of {0} bytes is too large")]
    TooLarge(usize),
    /// Not bencode, or not a dictionary.
    #[error("not a bencoded dictionary: {0}")]
    Bencode(String),
    /// A required key is absent.
    #[error("missing key {0}")]
    Missing(&'static str),
    /// A key holds the wrong type or an invalid value.
    #[error("invalid value for key {0}")]
    Invalid(&'static str),
}

fn err(kind: DecodeErrorKind) -> DecodeError {
    DecodeError {
        kind,
        transaction_id: None,
        is_query: false,
    }
}

fn bytes<'a>(d: &Dict<'a>, key: &'static str) -> Result<Option<&'a [u8]>, DecodeErrorKind> {
    match d.get(key.as_bytes()) {
        None => Ok(None),
        Some(Value::Bytes(b)) => Ok(Some(b)),
        Some(_) => Err(DecodeErrorKind::Invalid(key)),
    }
}

fn req_bytes<'a>(d: &Dict<'a>, key: &'static str) -> Result<&'a [u8], DecodeErrorKind> {
    bytes(d, key)?.ok_or(DecodeErrorKind::Missing(key))
}

fn int(d: &Dict<'_>, key: &'static str) -> Result<Option<i64>, DecodeErrorKind> {
    match d.get(key.as_bytes()) {
        None => Ok(None),
        Some(Value::Int(n)) => Ok(Some(*n)),
        Some(_) => Err(DecodeErrorKind::Invalid(key)),
    }
}

fn id(d: &Dict<'_>, key: &'static str) -> Result<NodeId, DecodeErrorKind> {
    NodeId::from_slice(req_bytes(d, key)?).ok_or(DecodeErrorKind::Invalid(key))
}

fn want(d: &Dict<'_>) -> Result<Option<Want>, DecodeErrorKind> {
    match d.get(b"want") {
        None => Ok(None),
        Some(Value::List(items)) => {
            let mut w = Want::default();
            for item in items {
                match item {
                    Value::Bytes(b"n4") => w.v4 = true,
                    Value::Bytes(b"n6") => w.v6 = true,
                    Value::Bytes(_) => {}
                    _ => return Err(DecodeErrorKind::Invalid("want")),
                }
            }
            Ok(Some(w))
        }
        Some(_) => Err(DecodeErrorKind::Invalid("want")),
    }
}

fn truncated_text(b: &[u8]) -> String {
    String::from_utf8_lossy(&b[..b.len().min(MAX_TEXT)]).into_owned()
}

impl Message {
    /// Decode one datagram.
    pub fn decode(input: &[u8]) -> Result<Message, DecodeError> {
        if input.len() > MAX_DATAGRAM {
            return Err(err(DecodeErrorKind::TooLarge(input.len())));
        }
        let value = Decoder::new()
            .max_depth(8)
            .decode(input)
            .map_err(|e| err(DecodeErrorKind::Bencode(e.to_string())))?;
        let Value::Dict(d) = value else {
            return Err(err(DecodeErrorKind::Bencode(
                "top level is not a dictionary".into(),
            )));
        };
        let tid = bytes(&d, "t").ok().flatten();
        let is_query = matches!(d.get(b"y"), Some(Value::Bytes(b"q")));
        Self::decode_dict(&d).map_err(|kind| DecodeError {
            kind,
            transaction_id: tid
                .filter(|t| t.len() <= MAX_TRANSACTION_ID)
                .map(<[u8]>::to_vec),
            is_query,
        })
    }

    fn decode_dict(d: &Dict<'_>) -> Result<Message, DecodeErrorKind> {
        let tid = req_bytes(d, "t")?;
        if tid.len() > MAX_TRANSACTION_ID {
            return Err(DecodeErrorKind::Invalid("t"));
        }
        let version = bytes(d, "v")?.map(|v| v[..v.len().min(MAX_VERSION)].to_vec());
        let read_only = int(d, "ro")?.is_some_and(|n| n == 1);
        let requester_ip = match bytes(d, "ip")? {
            Some(b) => Some(decode_addr(b).ok_or(DecodeErrorKind::Invalid("ip"))?),
            None => None,
        };
        let body = match req_bytes(d, "y")? {
            b"q" => Body::Query(Self::decode_query(d)?),
            b"r" => Body::Response(Self::decode_response(d)?),
            b"e" => Body::Error(Self::decode_error(d)?),
            _ => return Err(DecodeErrorKind::Invalid("y")),
        };
        Ok(Message {
            transaction_id: tid.to_vec(),
            version,
            read_only,
            requester_ip,
            body,
        })
    }

    fn decode_query(d: &Dict<'_>) -> Result<Query, DecodeErrorKind> {
        let method = req_bytes(d, "q")?;
        let a = match d.get(b"a") {
            Some(Value::Dict(a)) => a,
            Some(_) => return Err(DecodeErrorKind::Invalid("a")),
            None => return Err(DecodeErrorKind::Missing("a")),
        };
        let sender = id(a, "id")?;
        let kind = match method {
            b"ping" => QueryKind::Ping,
            b"find_node" => QueryKind::FindNode {
                target: id(a, "target")?,
                want: want(a)?,
            },
            b"get_peers" => QueryKind::GetPeers {
                info_hash: id(a, "info_hash")?,
                want: want(a)?,
            },
            b"announce_peer" => {
                let implied_port = int(a, "implied_port")?.is_some_and(|n| n != 0);
                let port = match int(a, "port")? {
                    Some(p) => u16::try_from(p).map_err(|_| DecodeErrorKind::Invalid("port"))?,
                    None if implied_port => 0,
                    None => return Err(DecodeErrorKind::Missing("port")),
                };
                let token = req_bytes(a, "token")?;
                if token.len() > MAX_TOKEN {
                    return Err(DecodeErrorKind::Invalid("token"));
                }
                QueryKind::AnnouncePeer {
                    info_hash: id(a, "info_hash")?,
                    port,
                    implied_port,
                    token: token.to_vec(),
                }
            }
            b"sample_infohashes" => QueryKind::SampleInfohashes {
                target: id(a, "target")?,
                want: want(a)?,
            },
            other => QueryKind::Unknown {
                method: other[..other.len().min(MAX_TEXT)].to_vec(),
            },
        };
        Ok(Query { id: sender, kind })
    }

    fn decode_response(d: &Dict<'_>) -> Result<Response, DecodeErrorKind> {
        let r = match d.get(b"r") {
            Some(Value::Dict(r)) => r,
            Some(_) => return Err(DecodeErrorKind::Invalid("r")),
            None => return Err(DecodeErrorKind::Missing("r")),
        };
        let mut out = Response {
            id: id(r, "id")?,
            ..Response::default()
        };
        if let Some(b) = bytes(r, "nodes")? {
            out.nodes =
                decode_nodes(b, false, MAX_NODES).ok_or(DecodeErrorKind::Invalid("nodes"))?;
        }
        if let Some(b) = bytes(r, "nodes6")? {
            out.nodes6 =
                decode_nodes(b, true, MAX_NODES).ok_or(DecodeErrorKind::Invalid("nodes6"))?;
        }
        match r.get(b"values") {
            None => {}
            Some(Value::List(items)) => {
                for item in items {
                    let Value::Bytes(b) = item else {
                        return Err(DecodeErrorKind::Invalid("values"));
                    };
                    if out.values.len() < MAX_VALUES {
                        // Entries of the wrong length are skipped, as libtorrent does.
                        if let Some(a) = decode_addr(b) {
                            out.values.push(a);
                        }
                    }
                }
            }
            Some(_) => return Err(DecodeErrorKind::Invalid("values")),
        }
        if let Some(t) = bytes(r, "token")? {
            if t.len() > MAX_TOKEN {
                return Err(DecodeErrorKind::Invalid("token"));
            }
            out.token = Some(t.to_vec());
        }
        if let Some(s) = bytes(r, "samples")? {
            if s.len() % 20 != 0 {
                return Err(DecodeErrorKind::Invalid("samples"));
            }
            out.samples = s
                .chunks_exact(20)
                .take(MAX_SAMPLES)
                .filter_map(NodeId::from_slice)
                .collect();
        }
        out.interval = int(r, "interval")?;
        out.num = int(r, "num")?;
        Ok(out)
    }

    fn decode_error(d: &Dict<'_>) -> Result<KrpcError, DecodeErrorKind> {
        match d.get(b"e") {
            Some(Value::List(items)) => {
                let code = match items.first() {
                    Some(Value::Int(c)) => *c,
                    _ => return Err(DecodeErrorKind::Invalid("e")),
                };
                let message = match items.get(1) {
                    Some(Value::Bytes(m)) => truncated_text(m),
                    None => String::new(),
                    Some(_) => return Err(DecodeErrorKind::Invalid("e")),
                };
                Ok(KrpcError { code, message })
            }
            Some(_) => Err(DecodeErrorKind::Invalid("e")),
            None => Err(DecodeErrorKind::Missing("e")),
        }
    }

    /// Encode to bencode (keys in sorted order).
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        e.begin_dict();
        match &self.body {
            Body::Query(q) => {
                e.key("a");
                encode_query_args(&mut e, q);
            }
            Body::Error(err) => {
                e.key("e")
                    .begin_list()
                    .int(err.code)
                    .bytes(err.message.as_bytes())
                    .end();
            }
            Body::Response(_) => {}
        }
        if let Some(ip) = &self.requester_ip {
            let mut b = Vec::with_capacity(18);
            encode_addr(ip, &mut b);
            e.key("ip").bytes(&b);
        }
        if let Body::Query(q) = &self.body {
            e.key("q").bytes(q.kind.method());
        }
        if let Body::Response(r) = &self.body {
            e.key("r");
            encode_response(&mut e, r);
        }
        if self.read_only {
            e.key("ro").int(1);
        }
        e.key("t").bytes(&self.transaction_id);
        if let Some(v) = &self.version {
            e.key("v").bytes(v);
        }
        let y: &[u8] = match self.body {
            Body::Query(_) => b"q",
            Body::Response(_) => b"r",
            Body::Error(_) => b"e",
        };
        e.key("y").bytes(y);
        e.end();
        e.finish()
    }
}

fn encode_want(e: &mut Encoder, want: &Option<Want>) {
    if let Some(w) = want {
        e.key("want").begin_list();
        if w.v4 {
            e.bytes("n4");
        }
        if w.v6 {
            e.bytes("n6");
        }
        e.end();
    }
}

fn encode_query_args(e: &mut Encoder, q: &Query) {
    e.begin_dict();
    e.key("id").bytes(q.id.0);
    match &q.kind {
        QueryKind::Ping | QueryKind::Unknown { .. } => {}
        QueryKind::FindNode { target, want } => {
            e.key("target").bytes(target.0);
            encode_want(e, want);
        }
        QueryKind::GetPeers { info_hash, want } => {
            e.key("info_hash").bytes(info_hash.0);
            encode_want(e, want);
        }
        QueryKind::AnnouncePeer {
            info_hash,
            port,
            implied_port,
            token,
        } => {
            if *implied_port {
                e.key("implied_port").int(1);
            }
            e.key("info_hash").bytes(info_hash.0);
            e.key("port").int(i64::from(*port));
            e.key("token").bytes(token);
        }
        QueryKind::SampleInfohashes { target, want } => {
            e.key("target").bytes(target.0);
            encode_want(e, want);
        }
    }
    e.end();
}

fn encode_response(e: &mut Encoder, r: &Response) {
    e.begin_dict();
    e.key("id").bytes(r.id.0);
    if let Some(i) = r.interval {
        e.key("interval").int(i);
    }
    if !r.nodes.is_empty() {
        e.key("nodes").bytes(encode_nodes(&r.nodes));
    }
    if !r.nodes6.is_empty() {
        e.key("nodes6").bytes(encode_nodes(&r.nodes6));
    }
    if let Some(n) = r.num {
        e.key("num").int(n);
    }
    if !r.samples.is_empty() {
        let mut s = Vec::with_capacity(r.samples.len() * 20);
        for h in &r.samples {
            s.extend_from_slice(&h.0);
        }
        e.key("samples").bytes(s);
    }
    if let Some(t) = &r.token {
        e.key("token").bytes(t);
    }
    if !r.values.is_empty() {
        e.key("values").begin_list();
        for v in &r.values {
            let mut b = Vec::with_capacity(18);
            encode_addr(v, &mut b);
            e.bytes(b);
        }
        e.end();
    }
    e.end();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(body: Body) -> Message {
        Message {
            transaction_id: b"aa".to_vec(),
            version: Some(b"SH01".to_vec()),
            read_only: false,
            requester_ip: None,
            body,
        }
    }

    #[test]
    fn bep5_examples_decode() {
        let ping = b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe";
        let m = Message::decode(ping).unwrap();
        assert_eq!(m.transaction_id, b"aa");
        assert_eq!(
            m.body,
            Body::Query(Query {
                id: NodeId(*b"abcdefghij0123456789"),
                kind: QueryKind::Ping
            })
        );
        let mut again = m.clone();
        again.version = None;
        assert_eq!(again.encode(), ping.to_vec());

        let ann = b"d1:ad2:id20:abcdefghij01234567897:impliedi1e9:info_hash20:mnopqrstuvwxyz1234564:porti6881e5:token8:aoeusnthe1:q13:announce_peer1:t2:aa1:y1:qe";
        // "impliedi1e" is not implied_port: unknown keys are ignored
        let m = Message::decode(ann).unwrap();
        match m.body {
            Body::Query(Query {
                kind:
                    QueryKind::AnnouncePeer {
                        port,
                        implied_port,
                        token,
                        ..
                    },
                ..
            }) => {
                assert_eq!(port, 6881);
                assert!(!implied_port);
                assert_eq!(token, b"aoeusnth");
            }
            other => panic!("{other:?}"),
        }

        let e = b"d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee";
        let m = Message::decode(e).unwrap();
        assert_eq!(
            m.body,
            Body::Error(KrpcError {
                code: 201,
                message: "A Generic Error Ocurred".into()
            })
        );
        assert_eq!(m.encode(), e.to_vec());
    }

    #[test]
    fn every_message_roundtrips() {
        let id = NodeId([1; 20]);
        let bodies = vec![
            Body::Query(Query {
                id,
                kind: QueryKind::Ping,
            }),
            Body::Query(Query {
                id,
                kind: QueryKind::FindNode {
                    target: NodeId([2; 20]),
                    want: Some(Want { v4: true, v6: true }),
                },
            }),
            Body::Query(Query {
                id,
                kind: QueryKind::GetPeers {
                    info_hash: NodeId([3; 20]),
                    want: None,
                },
            }),
            Body::Query(Query {
                id,
                kind: QueryKind::AnnouncePeer {
                    info_hash: NodeId([3; 20]),
                    port: 0,
                    implied_port: true,
                    token: vec![9; 8],
                },
            }),
            Body::Query(Query {
                id,
                kind: QueryKind::SampleInfohashes {
                    target: NodeId([4; 20]),
                    want: None,
                },
            }),
            Body::Response(Response {
                id,
                nodes: vec![NodeInfo {
                    id: NodeId([5; 20]),
                    addr: "1.2.3.4:5".parse().unwrap(),
                }],
                nodes6: vec![NodeInfo {
                    id: NodeId([6; 20]),
                    addr: "[::2]:7".parse().unwrap(),
                }],
                values: vec!["1.1.1.1:1".parse().unwrap(), "[::1]:2".parse().unwrap()],
                token: Some(b"tok".to_vec()),
                samples: vec![NodeId([8; 20]), NodeId([9; 20])],
                interval: Some(21600),
                num: Some(2),
            }),
            Body::Error(KrpcError {
                code: 204,
                message: "Method Unknown".into(),
            }),
        ];
        for body in bodies {
            let mut m = msg(body);
            m.requester_ip = Some("5.6.7.8:9".parse().unwrap());
            m.read_only = true;
            let enc = m.encode();
            // canonical: strict key order holds
            shoal_bencode::Decoder::new()
                .strict_keys(true)
                .decode(&enc)
                .unwrap();
            assert_eq!(Message::decode(&enc).unwrap(), m);
        }
    }

    #[test]
    fn implied_port_without_port() {
        let b = b"d1:ad2:id20:abcdefghij012345678912:implied_porti1e9:info_hash20:mnopqrstuvwxyz1234565:token2:xye1:q13:announce_peer1:t2:aa1:y1:qe";
        let m = Message::decode(b).unwrap();
        assert!(matches!(
            m.body,
            Body::Query(Query {
                kind: QueryKind::AnnouncePeer {
                    implied_port: true,
                    ..
                },
                ..
            })
        ));
    }

    #[test]
    fn wrong_types_are_errors_with_tid() {
        let cases: &[&[u8]] = &[
            b"d1:ad2:idi5ee1:q4:ping1:t2:aa1:y1:qe",
            b"d1:ad2:id20:abcdefghij0123456789e1:q9:find_node1:t2:aa1:y1:qe",
            b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:xe",
            b"d1:a4:spam1:q4:ping1:t2:aa1:y1:qe",
            b"d1:ad2:id20:abcdefghij01234567894:porti70000e5:token1:x9:info_hash20:mnopqrstuvwxyz123456e1:q13:announce_peer1:t2:aa1:y1:qe",
        ];
        for c in cases {
            let e = Message::decode(c).unwrap_err();
            assert_eq!(e.transaction_id.as_deref(), Some(&b"aa"[..]), "{e:?}");
            assert!(e.is_query || c.ends_with(b"1:xe"));
        }
        for c in [
            &b""[..],
            b"le",
            b"d1:t2:aae",
            b"i1e",
            b"d1:y1:re",
            b"d1:rd2:id3:abce1:t2:aa1:y1:re",
        ] {
            assert!(Message::decode(c).is_err());
        }
        let r = b"d1:rd2:id20:abcdefghij01234567896:valuesi3ee1:t2:aa1:y1:re";
        assert!(Message::decode(r).is_err());
        let r = b"d1:rd2:id20:abcdefghij01234567895:nodes3:abce1:t2:aa1:y1:re";
        assert!(Message::decode(r).is_err());
    }

    #[test]
    fn absurd_lists_are_truncated() {
        let mut values = Vec::new();
        for i in 0..500u32 {
            values.push(SocketAddr::from(([10, 0, (i >> 8) as u8, i as u8], 1)));
        }
        let nodes: Vec<_> = (0..100u8)
            .map(|i| NodeInfo {
                id: NodeId([i; 20]),
                addr: SocketAddr::from(([1, 1, 1, i], 1)),
            })
            .collect();
        let m = msg(Body::Response(Response {
            id: NodeId([0; 20]),
            nodes,
            values,
            ..Response::default()
        }));
        let d = Message::decode(&m.encode()).unwrap();
        let Body::Response(r) = d.body else { panic!() };
        assert_eq!(r.values.len(), MAX_VALUES);
        assert_eq!(r.nodes.len(), MAX_NODES);
        assert!(Message::decode(&vec![b'd'; MAX_DATAGRAM + 1]).is_err());
    }
}
