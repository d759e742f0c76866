//! SIGINT and SIGTERM, watched from the moment a long-running command
//! starts, so a signal that comes early (while it binds, checks data or
//! prints its address) is seen by the command and not by the default
//! handler, which would end the process without saving anything.

use anyhow::Context;

/// Registered SIGINT/SIGTERM handlers.
pub struct Shutdown {
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
}

impl Shutdown {
    /// Start watching both signals; must be called within a tokio runtime.
    pub fn watch() -> anyhow::Result<Shutdown> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Shutdown {
                int: signal(SignalKind::interrupt()).context("cannot watch SIGINT")?,
                term: signal(SignalKind::terminate()).context("cannot watch SIGTERM")?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Shutdown {})
        }
    }

    /// Resolves when the next SIGINT or SIGTERM arrives (or one that came
    /// since [`Shutdown::watch`] and was not yet received).
    pub async fn recv(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.int.recv() => {}
            _ = self.term.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}
