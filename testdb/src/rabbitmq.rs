//! [`OwnVhost`]: a RabbitMQ virtual host of a test's own.

use std::process::Command;

use super::{free_port, on_path, run};

/// A virtual host of the test's own on the machine's RabbitMQ (a private
/// server takes too long to start for a test): created with `rabbitmqctl`,
/// `guest` allowed in it, deleted when dropped. `RABBITMQ_HOST` (default
/// `127.0.0.1:5672`) names the server.
pub struct OwnVhost {
    name: String,
}

impl OwnVhost {
    /// A new, empty virtual host.
    pub fn create() -> Self {
        if !on_path("rabbitmqctl") {
            panic!(
                "these tests need a RabbitMQ server and `rabbitmqctl`: install it (Debian/Ubuntu: \
                 `apt-get install rabbitmq-server`; macOS: `brew install rabbitmq`) and start it"
            );
        }
        let name = format!("gw-test-{}-{}", std::process::id(), free_port());
        run(Command::new("rabbitmqctl").args(["-q", "add_vhost", &name]));
        run(Command::new("rabbitmqctl").args([
            "-q",
            "set_permissions",
            "-p",
            &name,
            "guest",
            ".*",
            ".*",
            ".*",
        ]));
        Self { name }
    }

    /// `host:port` of the server.
    pub fn host() -> String {
        std::env::var("RABBITMQ_HOST").unwrap_or_else(|_| "127.0.0.1:5672".to_owned())
    }

    /// The AMQP URL of this virtual host through `host` (the server's, or
    /// a [`Proxy`](crate::Proxy)'s `127.0.0.1:port`).
    pub fn url_through(&self, host: &str) -> String {
        format!("amqp://guest:guest@{host}/{}", self.name)
    }

    pub fn url(&self) -> String {
        self.url_through(&Self::host())
    }
}

impl Drop for OwnVhost {
    fn drop(&mut self) {
        let _ = Command::new("rabbitmqctl")
            .args(["-q", "delete_vhost", &self.name])
            .output();
    }
}
