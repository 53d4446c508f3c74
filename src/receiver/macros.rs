//! The builder methods shared by everything built on an [`Intake`]
//! (`Receiver`, the tower layer, the actix middleware, the inbox's
//! endpoint), written once.
//!
//! [`Intake`]: super::Intake

/// The intake's settings as builder methods, inside an `impl` block of a
/// type with `fn with_intake(self, impl FnOnce(Intake) -> Intake) -> Self`.
/// Exported (hidden, through `__private`) for the inbox's endpoint in
/// `gemini-webhooks-postgres`: its doc links are written to resolve there too.
#[doc(hidden)]
#[macro_export]
macro_rules! __intake_builder_methods {
    () => {
        /// Sets the largest body accepted, in bytes (default 256 KiB,
        /// `gemini_webhooks::receiver::DEFAULT_BODY_LIMIT`);
        /// larger ones get 413 without being read past the limit.
        pub fn body_limit(self, bytes: usize) -> Self {
            self.with_intake(|intake| intake.body_limit(bytes))
        }

        /// Sets how long a request's body may take to arrive in full, from
        /// the moment its headers have passed the checks (default 10 s:
        /// Gemini's bodies are a few hundred bytes). A slower body gets `408
        /// Request Timeout` and its connection is let go: the headers'
        /// checks need no secret, so without a deadline anyone could hold a
        /// connection open for ever by trickling a body (or announcing a
        /// `Content-Length` larger than what it sends).
        pub fn body_timeout(self, timeout: std::time::Duration) -> Self {
            self.with_intake(|intake| intake.body_timeout(timeout))
        }

        /// Sets how many request bodies this (and its clones) reads at once
        /// (default 1,024). A request arriving while that many are being
        /// read gets `503` (Gemini retries) without a byte of its body read.
        /// Together with `body_timeout` this bounds what unauthenticated
        /// requests can hold: at most this many reads, each for at most the
        /// timeout and the body limit.
        pub fn max_body_reads(self, reads: usize) -> Self {
            self.with_intake(|intake| intake.max_body_reads(reads))
        }

        /// Sets the level at which requests that are not deliveries at all
        /// are logged: missing or malformed `webhook-*` headers, unreadable
        /// or slow bodies (default DEBUG, so a port scan pages nobody).
        /// Signatures that do not verify, and bodies over the limit under
        /// headers that passed the checks, are always logged at WARN.
        pub fn probe_log_level(self, level: tracing::Level) -> Self {
            self.with_intake(|intake| intake.probe_log_level(level))
        }
    };
}
pub(crate) use __intake_builder_methods as intake_builder_methods;

/// The builder methods of an adapter that wraps an `Arc<Receiver<R>>` field
/// named `receiver`: the intake's settings and the replay store.
macro_rules! receiver_builder_methods {
    ($adapter:ident) => {
        impl $adapter<$crate::replay::MemoryReplayStore> {
            /// Verifies with `verifier`: 256 KiB body limit, an in-process
            /// [`MemoryReplayStore`](crate::replay::MemoryReplayStore),
            /// handled ids remembered for 25 hours.
            pub fn new(verifier: $crate::verify::Verifier) -> Self {
                Self::from_receiver($crate::receiver::Receiver::new(verifier))
            }
        }

        impl<R: $crate::replay::ReplayStore> $adapter<R> {
            /// Wraps a configured [`Receiver`](crate::Receiver).
            pub fn from_receiver(receiver: $crate::receiver::Receiver<R>) -> Self {
                Self {
                    receiver: std::sync::Arc::new(receiver),
                }
            }

            fn with_receiver(
                self,
                configure: impl FnOnce($crate::receiver::Receiver<R>) -> $crate::receiver::Receiver<R>,
            ) -> Self {
                Self::from_receiver(configure(std::sync::Arc::unwrap_or_clone(self.receiver)))
            }

            fn with_intake(
                self,
                configure: impl FnOnce($crate::receiver::Intake) -> $crate::receiver::Intake,
            ) -> Self {
                self.with_receiver(|receiver| receiver.with_intake(configure))
            }

            $crate::__intake_builder_methods!();

            /// Uses another replay store, e.g. one shared by several replicas
            /// (how long it remembers handled ids is set on the store).
            pub fn replay_store<S: $crate::replay::ReplayStore>(self, store: S) -> $adapter<S> {
                $adapter::from_receiver(std::sync::Arc::unwrap_or_clone(self.receiver).replay_store(store))
            }

            /// The receiver in use.
            pub fn receiver(&self) -> &$crate::receiver::Receiver<R> {
                &self.receiver
            }
        }

        impl<R> Clone for $adapter<R> {
            fn clone(&self) -> Self {
                Self {
                    receiver: std::sync::Arc::clone(&self.receiver),
                }
            }
        }
    };
}
pub(crate) use receiver_builder_methods;
