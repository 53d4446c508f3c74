//! The workers' gate ([`Gate`]): an operator pauses the workers of an
//! inbox, resumes them, or lets them drain a backlog at a bounded rate.
//! Kept in the database beside the table, so every worker of every
//! replica obeys it at its next claim; ingest never looks at it (deliveries
//! are stored and acknowledged while paused).

use std::num::NonZeroU32;

use super::{Inbox, InboxError};

/// Whether an inbox's workers may start jobs, and how fast:
/// [`Inbox::gate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Gate {
    /// Workers claim nothing new (running jobs finish).
    pub paused: bool,
    /// At most this many jobs started per second, across every worker of
    /// the inbox (a burst of at most one second's worth); `None`: as fast
    /// as the workers go.
    pub rate: Option<NonZeroU32>,
}

impl Gate {
    /// Open: no pause, no rate.
    pub const OPEN: Self = Self {
        paused: false,
        rate: None,
    };

    /// Paused.
    pub const PAUSED: Self = Self {
        paused: true,
        rate: None,
    };

    /// Open at most `rate` jobs started per second.
    pub fn rate(rate: NonZeroU32) -> Self {
        Self {
            paused: false,
            rate: Some(rate),
        }
    }
}

impl std::fmt::Display for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.paused, self.rate) {
            (true, _) => f.write_str("paused"),
            (false, None) => f.write_str("open"),
            (false, Some(rate)) => write!(f, "open, at most {rate} jobs/s"),
        }
    }
}

impl Inbox {
    /// Pauses the workers: none claims a new job until
    /// [`resume`](Self::resume); jobs already running finish. Ingest goes
    /// on storing and acknowledging.
    ///
    /// ```no_run
    /// # async fn run(inbox: gemini_webhooks_postgres::inbox::Inbox) -> Result<(), Box<dyn std::error::Error>> {
    /// use std::num::NonZeroU32;
    ///
    /// inbox.pause().await?;
    /// // … the downstream service recovers …
    /// inbox.resume_at(NonZeroU32::new(50).unwrap()).await?; // drain at 50 jobs/s
    /// # Ok(()) }
    /// ```
    pub async fn pause(&self) -> Result<(), InboxError> {
        self.set_gate(Gate::PAUSED).await
    }

    /// Lets the workers claim again, as fast as they go, and wakes them.
    pub async fn resume(&self) -> Result<(), InboxError> {
        self.set_gate(Gate::OPEN).await
    }

    /// Lets the workers claim again, at most `rate` jobs started per second
    /// across all of them, and wakes them: a backlog after an outage drains
    /// without flattening the service downstream.
    pub async fn resume_at(&self, rate: NonZeroU32) -> Result<(), InboxError> {
        self.set_gate(Gate::rate(rate)).await
    }

    /// Sets the gate as `gate` says, logged at INFO.
    pub async fn set_gate(&self, gate: Gate) -> Result<(), InboxError> {
        self.shared.db.set_gate(gate).await?;
        tracing::info!(table = self.table(), %gate, "inbox workers' gate set");
        Ok(())
    }

    /// The gate as it is now.
    pub async fn gate(&self) -> Result<Gate, InboxError> {
        self.shared.db.gate().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gate_says_what_it_lets_through() {
        assert_eq!(Gate::default(), Gate::OPEN);
        assert_eq!(Gate::OPEN.to_string(), "open");
        assert_eq!(Gate::PAUSED.to_string(), "paused");
        let fifty = Gate::rate(NonZeroU32::new(50).unwrap());
        assert_eq!(fifty.to_string(), "open, at most 50 jobs/s");
        assert!(!fifty.paused);
    }
}
