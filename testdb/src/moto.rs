//! [`OwnMoto`]: a `moto_server` (AWS services emulated, SQS among them)
//! of a test's own.

use std::process::Child;

use super::{free_port, on_path, start_listening, terminate};

/// `moto_server` (PyPI: `moto[server]`) on a free port, state in memory,
/// ended when dropped or when the test process ends.
pub struct OwnMoto {
    port: u16,
    child: Option<Child>,
}

impl OwnMoto {
    /// A new server, accepting connections.
    pub fn start() -> Self {
        if !on_path("moto_server") {
            panic!(
                "these tests start a moto server of their own and found no `moto_server`: \
                 install it with `pip install 'moto[server]'`"
            );
        }
        let port = free_port();
        let child = start_listening(&format!("moto_server -H 127.0.0.1 -p {port}"), port);
        Self {
            port,
            child: Some(child),
        }
    }

    /// `http://127.0.0.1:port`, as `AWS_ENDPOINT_URL` takes it.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for OwnMoto {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            terminate(child);
        }
    }
}
