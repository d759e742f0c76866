//! The engine's side of the BEP 52 hash messages on a live connection:
//! `hash request`s are answered from the torrent's piece layers (or
//! rejected), through the peer's outbox like any message. The hash
//! messages are taken out of the batch before it reaches the peer state,
//! which knows nothing of them.

use std::time::Instant;

use shoal_swarm::hash_request;
use shoal_swarm::PeerKey;
use shoal_wire::{HashMessage, Message};
use tracing::{debug, trace};

use crate::torrent::TorrentShared;

/// Answer the hash requests among `msgs` (and drop the other hash
/// messages, which we never asked for on a live connection). Returns
/// whether anything was queued for the peer (its writer must be woken), or
/// an error for a malformed hash message.
pub(crate) fn serve(
    t: &TorrentShared,
    key: PeerKey,
    msgs: &mut Vec<Message>,
) -> Result<bool, shoal_wire::HashMessageError> {
    if !msgs
        .iter()
        .any(|m| matches!(m, Message::Unknown { id, .. } if HashMessage::is_hash_id(*id)))
    {
        return Ok(false);
    }
    let mut replies = Vec::new();
    let mut error = None;
    msgs.retain(|m| match HashMessage::from_message(m) {
        Ok(None) => true,
        Ok(Some(HashMessage::Request(req))) => {
            let reply = match hash_request::answer(&t.torrent.layout, &req) {
                Some(hashes) => HashMessage::Hashes { range: req, hashes },
                None => {
                    debug!(?req, "hash request rejected");
                    HashMessage::Reject(req)
                }
            };
            replies.push(reply.to_message());
            false
        }
        Ok(Some(other)) => {
            trace!(?other, "unsolicited hash message ignored");
            false
        }
        Err(e) => {
            error.get_or_insert(e);
            false
        }
    });
    if let Some(e) = error {
        return Err(e);
    }
    if replies.is_empty() {
        return Ok(false);
    }
    let now = Instant::now();
    let mut st = t.lock();
    let Some(slot) = st.peers.get_mut(&key) else {
        return Ok(false);
    };
    for r in &replies {
        slot.state.send(r, now);
    }
    Ok(true)
}
