//! [`OwnNats`]: a `nats-server -js` of a test's own.

use std::io::Read as _;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Child;
use std::time::Duration;

use super::{free_port, on_path, spawn_watched};

/// A `nats-server` with JetStream of a test's own, its store in a
/// temporary directory: killed when dropped, or when the test process
/// ends. [`stop`](Self::stop) and [`start_again`](Self::start_again) keep
/// the port and the store, as a broker restarted in production does.
pub struct OwnNats {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl OwnNats {
    /// A new server on a free port, answering with its `INFO` line.
    pub fn start() -> Self {
        if !on_path("nats-server") {
            panic!(
                "these tests start a NATS server of their own and found no `nats-server`: \
                 install it (Debian/Ubuntu: `apt-get install nats-server`; macOS: \
                 `brew install nats-server`)"
            );
        }
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("gw-own-nats-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut server = Self {
            port,
            dir,
            child: None,
        };
        server.start_again();
        server
    }

    /// Starts the stopped server again on its port, with its store.
    pub fn start_again(&mut self) {
        let command = format!(
            "nats-server -js -a 127.0.0.1 -p {} -sd {} -P {}",
            self.port,
            self.dir.join("store").display(),
            self.pid_file().display()
        );
        self.child = Some(spawn_watched(&command));
        // Bounded: 400 tries, 25 ms apart.
        for _ in 0..400 {
            if self.answers() {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("nats-server on port {} did not answer", self.port);
    }

    fn pid_file(&self) -> PathBuf {
        self.dir.join("pid")
    }

    fn answers(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let mut info = [0; 5];
        stream.read_exact(&mut info).is_ok() && &info == b"INFO "
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Stops the server now (SIGKILL: nothing flushed on its way out),
    /// waiting until it is gone. Once only: stopped, it has nothing to stop.
    pub fn stop(&mut self) {
        if self.child.is_none() {
            return;
        }
        if let Ok(pid) = std::fs::read_to_string(self.pid_file()) {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", pid.trim()])
                .status();
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
    }
}

impl Drop for OwnNats {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
