//! [`OwnPubSub`]: a Pub/Sub emulator of a test's own.

use std::path::PathBuf;
use std::process::Child;

use super::{free_port, start_listening, terminate};

/// Where Debian's `google-cloud-cli-pubsub-emulator` puts the emulator.
const DEBIAN_EMULATOR: &str =
    "/usr/lib/google-cloud-sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator";

/// The Cloud Pub/Sub emulator (Java, started directly rather than through
/// `gcloud`, which takes a minute to look for updates first) on a free
/// port, killed when dropped or when the test process ends. State is in
/// memory. `PUBSUB_EMULATOR_BIN` names another emulator script.
pub struct OwnPubSub {
    port: u16,
    child: Option<Child>,
}

impl OwnPubSub {
    /// A new emulator, accepting connections.
    pub fn start() -> Self {
        let program = std::env::var_os("PUBSUB_EMULATOR_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEBIAN_EMULATOR));
        if !program.is_file() {
            panic!(
                "these tests start a Pub/Sub emulator of their own and found none at {}: install it \
                 (Debian/Ubuntu: `apt-get install google-cloud-cli-pubsub-emulator`; elsewhere \
                 `gcloud components install pubsub-emulator`) or set PUBSUB_EMULATOR_BIN",
                program.display()
            );
        }
        let port = free_port();
        let server = format!("{} --host=127.0.0.1 --port={port}", program.display());
        // The JVM starts in about a second.
        let child = start_listening(&server, port);
        Self {
            port,
            child: Some(child),
        }
    }

    /// `127.0.0.1:port`, as `PUBSUB_EMULATOR_HOST` takes it.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for OwnPubSub {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            terminate(child);
        }
    }
}
