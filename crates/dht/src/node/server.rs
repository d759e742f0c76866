//! Answers to other nodes' queries.

use super::*;

impl Node {
    pub(super) fn reply(&mut self, to: SocketAddr, tid: Vec<u8>, r: Response) {
        self.stats.queries_answered += 1;
        let msg = Message {
            transaction_id: tid,
            version: self.config.version.clone(),
            read_only: false,
            requester_ip: Some(to),
            body: Body::Response(r),
        };
        self.transmit(to, msg.encode());
    }

    pub(super) fn reply_error(&mut self, to: SocketAddr, tid: Vec<u8>, code: i64, text: &str) {
        let msg = Message {
            transaction_id: tid,
            version: self.config.version.clone(),
            read_only: false,
            requester_ip: None,
            body: Body::Error(KrpcError {
                code,
                message: text.to_string(),
            }),
        };
        self.transmit(to, msg.encode());
    }

    pub(super) fn nodes_for(
        &self,
        target: &NodeId,
        from: &SocketAddr,
        want: Option<Want>,
        r: &mut Response,
    ) {
        let want = want.unwrap_or(Want {
            v4: Family::of(from) == Family::V4,
            v6: Family::of(from) == Family::V6,
        });
        if want.v4 && self.config.ipv4 {
            r.nodes = self.table4.closest(target, K, self.now);
        }
        if want.v6 && self.config.ipv6 {
            r.nodes6 = self.table6.closest(target, K, self.now);
        }
    }

    pub(super) fn handle_query(
        &mut self,
        from: SocketAddr,
        tid: Vec<u8>,
        read_only: bool,
        q: Query,
        now: Instant,
    ) {
        let mut r = Response {
            id: self.id,
            ..Response::default()
        };
        match q.kind {
            QueryKind::Ping => {}
            QueryKind::FindNode { target, want } => self.nodes_for(&target, &from, want, &mut r),
            QueryKind::GetPeers { info_hash, want } => {
                self.nodes_for(&info_hash, &from, want, &mut r);
                r.token = Some(self.tokens.issue(from.ip(), &info_hash));
                let max = self.config.max_peers_reply;
                r.values = self
                    .peers
                    .peers(&info_hash, from.ip(), max, now, &mut self.rng);
            }
            QueryKind::AnnouncePeer {
                info_hash,
                port,
                implied_port,
                token,
            } => {
                if !self.tokens.verify(from.ip(), &info_hash, &token) {
                    self.reply_error(from, tid, krpc::ERROR_PROTOCOL, "invalid token");
                    return;
                }
                let port = if implied_port { from.port() } else { port };
                if port == 0 {
                    self.reply_error(from, tid, krpc::ERROR_PROTOCOL, "invalid port");
                    return;
                }
                self.peers
                    .announce(info_hash, SocketAddr::new(from.ip(), port), now);
            }
            QueryKind::SampleInfohashes { target, want } => {
                self.nodes_for(&target, &from, want, &mut r);
                r.samples = self.peers.sample(SAMPLES, &mut self.rng);
                r.num = Some(self.peers.info_hash_count() as i64);
                r.interval = Some(SAMPLE_INTERVAL);
            }
            QueryKind::Unknown { .. } => {
                self.reply_error(from, tid, krpc::ERROR_METHOD_UNKNOWN, "method unknown");
                return;
            }
        }
        self.reply(from, tid, r);
        // BEP 43: read-only nodes stay out of routing tables.
        if !read_only && !self.routers.contains(&from) {
            let f = Family::of(&from);
            let table = self.table(f);
            if !table.heard_query(&q.id, &from, now)
                && table.admissible(&q.id, &from)
                && table.has_room_for(&q.id, now)
            {
                // Not known yet: it enters the table once it answers a ping.
                self.ping(
                    NodeInfo {
                        id: q.id,
                        addr: from,
                    },
                    now,
                );
            }
        }
    }
}
