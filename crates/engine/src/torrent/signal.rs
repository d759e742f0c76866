//! How the torrent's state reaches a peer connection's tasks.

use tokio::sync::{watch, Notify};

/// Wakes a peer's tasks: the writer when there is something to send, both
/// when the connection must close.
#[derive(Debug)]
pub(crate) struct PeerSignal {
    pub wake: Notify,
    close: watch::Sender<bool>,
}

impl Default for PeerSignal {
    fn default() -> Self {
        PeerSignal {
            wake: Notify::new(),
            close: watch::Sender::new(false),
        }
    }
}

impl PeerSignal {
    /// Ask both tasks of the connection to stop.
    pub fn close(&self) {
        self.close.send_replace(true);
        self.wake.notify_one();
    }

    /// Whether [`PeerSignal::close`] was called.
    pub fn is_closed(&self) -> bool {
        *self.close.borrow()
    }

    /// Resolves once [`PeerSignal::close`] has been called (at once if it
    /// already was); any number of tasks may wait.
    pub async fn closed(&self) {
        let mut rx = self.close.subscribe();
        let _ = rx.wait_for(|closed| *closed).await;
    }
}
