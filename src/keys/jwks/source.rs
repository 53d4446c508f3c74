use std::sync::Arc;

use super::JwksKeys;
#[cfg(feature = "jwks-fetch")]
use super::RemoteJwks;

/// Where a verifier's JWKS keys come from.
#[derive(Clone)]
pub(crate) enum JwksSource {
    /// A set given once.
    Static(Arc<JwksKeys>),
    /// A set fetched from a URL, cached and refreshed.
    #[cfg(feature = "jwks-fetch")]
    Remote(Arc<RemoteJwks>),
}

/// The keys as of now, and which load of them they are (for single-flight
/// refreshes: a refresh is skipped if another load happened since).
pub(crate) struct Snapshot {
    pub(crate) keys: Option<Arc<JwksKeys>>,
    pub(crate) generation: u64,
}

impl JwksSource {
    /// The current keys; `None` when none are loaded (or all are too stale).
    pub(crate) fn snapshot(&self) -> Snapshot {
        match self {
            Self::Static(keys) => Snapshot {
                keys: Some(Arc::clone(keys)),
                generation: 0,
            },
            #[cfg(feature = "jwks-fetch")]
            Self::Remote(remote) => remote.snapshot(),
        }
    }
}
