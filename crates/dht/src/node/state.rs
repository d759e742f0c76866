//! Saving and restoring the node id and a sample of good nodes.

use super::*;

impl Node {
    /// A node resuming from [`Node::save_state`]: same id (unless
    /// `config.id` overrides it), and the saved nodes to bootstrap from.
    pub fn from_state(mut config: Config, state: &[u8], now: Instant) -> Result<Node, StateError> {
        let v = Decoder::new()
            .max_depth(2)
            .decode(state)
            .map_err(|_| StateError::Invalid("not bencode"))?;
        let Value::Dict(d) = v else {
            return Err(StateError::Invalid("not a dictionary"));
        };
        let id = d
            .get_bytes(b"id")
            .and_then(NodeId::from_slice)
            .ok_or(StateError::Invalid("id"))?;
        // Reuse the saved id unless one is configured, or the configured
        // external address calls for another one (BEP 42).
        let reuse = config.id.is_none()
            && config
                .external_ip
                .is_none_or(|ip| is_exempt(ip) || id.is_secure_for_ip(ip));
        if reuse {
            config.id = Some(id);
        }
        let mut saved = Vec::new();
        for (key, v6) in [(&b"nodes"[..], false), (&b"nodes6"[..], true)] {
            if let Some(b) = d.get_bytes(key) {
                saved.extend(decode_nodes(b, v6, SAVED_NODES).ok_or(StateError::Invalid("nodes"))?);
            }
        }
        let mut node = Node::new(config, now);
        node.id_fixed = false;
        node.saved = saved.into_iter().map(|n| (Some(n.id), n.addr)).collect();
        Ok(node)
    }

    /// Our id and a sample of good nodes, to pass to [`Node::from_state`].
    pub fn save_state(&self) -> Vec<u8> {
        let now = self.now;
        let mut e = Encoder::new();
        e.begin_dict();
        e.key("id").bytes(self.id.0);
        let mut v4 = self.table4.good_nodes(SAVED_NODES, now);
        let mut v6 = self.table6.good_nodes(SAVED_NODES, now);
        // Nothing good yet (a restart right after a restart): keep the old.
        if v4.is_empty() && v6.is_empty() {
            let known = self
                .saved
                .iter()
                .filter_map(|(id, addr)| id.map(|id| NodeInfo { id, addr: *addr }));
            for n in known {
                match Family::of(&n.addr) {
                    Family::V4 => v4.push(n),
                    Family::V6 => v6.push(n),
                }
            }
        }
        e.key("nodes").bytes(encode_nodes(&v4));
        e.key("nodes6").bytes(encode_nodes(&v6));
        e.end();
        e.finish()
    }
}
