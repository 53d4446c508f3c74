//! Throwaway servers for the tests: a PostgreSQL (`initdb` and `pg_ctl`),
//! a Redis (`redis-server`) and a NATS with JetStream (`nats-server -js`)
//! in a temporary directory, on a free port, stopped when the test process
//! ends. Nothing on the machine is
//! configured: the servers' programs only have to be installed.
//!
//! [`postgres_url`] and [`redis_url`] are what the tests connect to:
//! `DATABASE_URL` / `REDIS_URL` when set, else one server of this process's
//! own, started on first use. Tests that stop or reconfigure a server start
//! an [`OwnPostgres`] or [`OwnRedis`] of their own.
//!
//! Standard library only: a dev-dependency of every crate of the
//! workspace whose tests need a server, the library's unit tests included.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

mod moto;
mod nats;
mod proxy;
mod pubsub;
mod rabbitmq;

pub use moto::OwnMoto;
pub use nats::OwnNats;
pub use proxy::Proxy;
pub use pubsub::OwnPubSub;
pub use rabbitmq::OwnVhost;

/// `DATABASE_URL`, or this process's own throwaway PostgreSQL.
pub fn postgres_url() -> String {
    static SHARED: OnceLock<OwnPostgres> = OnceLock::new();
    match std::env::var("DATABASE_URL") {
        Ok(url) => url,
        Err(_) => SHARED.get_or_init(OwnPostgres::start).url(),
    }
}

/// `REDIS_URL`, or this process's own throwaway Redis.
pub fn redis_url() -> String {
    static SHARED: OnceLock<OwnRedis> = OnceLock::new();
    match std::env::var("REDIS_URL") {
        Ok(url) => url,
        Err(_) => SHARED.get_or_init(OwnRedis::start).url(),
    }
}

/// A PostgreSQL server of a test's own: stopped (immediate shutdown) and
/// its directory removed when dropped, or when the test process ends.
pub struct OwnPostgres {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    /// Extra `-c name=value` settings for every start.
    settings: Vec<String>,
}

impl OwnPostgres {
    /// A new server, started.
    pub fn start() -> Self {
        Self::start_with(|_| Vec::new())
    }

    /// A new server, started with the settings `settings` gives for its
    /// directory (which the server's user owns: put its files there).
    pub fn start_with(settings: impl FnOnce(&Path) -> Vec<String>) -> Self {
        let bin = postgres_bin();
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("gw-own-pg-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let settings = settings(&dir);
        let server = Self {
            bin,
            dir,
            port,
            settings,
        };
        if is_root() {
            // PostgreSQL refuses to run as root: its files belong to the
            // `postgres` user the server packages create.
            run(Command::new("chown")
                .arg("-R")
                .arg("postgres")
                .arg(&server.dir));
        }
        run(server
            .command("initdb")
            .arg("-D")
            .arg(server.dir.join("data"))
            .args(["-A", "trust", "-U", "postgres", "--no-sync"]));
        server.pg_ctl("start");
        watch_until_exit(&server.stop_script());
        server
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if is_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        }
    }

    /// `pg_ctl start` or `stop`, waiting until it is done.
    pub fn pg_ctl(&self, action: &str) {
        let mut options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.display()
        );
        for setting in &self.settings {
            options.push_str(" -c ");
            options.push_str(setting);
        }
        run(self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-o", &options, "-l"])
            .arg(self.dir.join("log"))
            .args(["-m", "fast", "-w", action]));
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// A shell command that stops the server and removes its directory.
    fn stop_script(&self) -> String {
        let pg_ctl = self.bin.join("pg_ctl");
        let as_user = if is_root() {
            "runuser -u postgres -- "
        } else {
            ""
        };
        format!(
            "{as_user}'{}' -D '{}' -m immediate -w stop >/dev/null 2>&1; rm -rf '{}'",
            pg_ctl.display(),
            self.dir.join("data").display(),
            self.dir.display()
        )
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let _ = Command::new("sh")
            .args(["-c", &self.stop_script()])
            .output();
    }
}

/// The directory holding `initdb` and `pg_ctl`: on `PATH` (most
/// distributions), under Debian's `/usr/lib/postgresql/<version>/bin`, or
/// Homebrew's keg-only `postgresql@<version>`.
fn postgres_bin() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    let versioned = |parent: &str, prefix: &str| -> Vec<PathBuf> {
        let Ok(dirs) = std::fs::read_dir(parent) else {
            return Vec::new();
        };
        let mut bins: Vec<(u32, PathBuf)> = dirs
            .filter_map(|entry| {
                let path = entry.ok()?.path();
                let version = path
                    .file_name()?
                    .to_str()?
                    .strip_prefix(prefix)?
                    .parse()
                    .ok()?;
                Some((version, path.join("bin")))
            })
            .collect();
        // The newest version first.
        bins.sort_by_key(|bin| std::cmp::Reverse(bin.0));
        bins.into_iter().map(|(_, bin)| bin).collect()
    };
    on_path
        .into_iter()
        .chain(versioned("/usr/lib/postgresql", ""))
        .chain(versioned("/opt/homebrew/opt", "postgresql@"))
        .chain(versioned("/usr/local/opt", "postgresql@"))
        .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file())
        .unwrap_or_else(|| {
            panic!(
                "these tests start a PostgreSQL of their own and found no `initdb`: install \
                 PostgreSQL's server programs (Debian/Ubuntu: `apt-get install postgresql`; \
                 macOS: `brew install postgresql@17`), or set DATABASE_URL to a server to use"
            )
        })
}

/// A `redis-server` of a test's own: killed when dropped, or when the test
/// process ends.
pub struct OwnRedis {
    port: u16,
    child: Option<Child>,
}

impl OwnRedis {
    /// A new server on a free port, answering `PING`.
    pub fn start() -> Self {
        Self::start_on(free_port())
    }

    /// A new server on `port` (to restart one where another stopped),
    /// answering `PING`.
    pub fn start_on(port: u16) -> Self {
        if !on_path("redis-server") {
            panic!(
                "these tests start a Redis of their own and found no `redis-server`: install it \
                 (Debian/Ubuntu: `apt-get install redis-server`; macOS: `brew install redis`), \
                 or set REDIS_URL to a server to use"
            );
        }
        let child = spawn_watched(&format!(
            "redis-server --port {port} --bind 127.0.0.1 --save '' --appendonly no"
        ));
        let server = Self {
            port,
            child: Some(child),
        };
        // Bounded: 400 tries, 25 ms apart.
        for _ in 0..400 {
            if server.answers() {
                return server;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("redis-server on port {port} did not answer PING");
    }

    fn answers(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let mut reply = [0; 5];
        stream.write_all(b"PING\r\n").is_ok()
            && stream.read_exact(&mut reply).is_ok()
            && &reply == b"+PONG"
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Stops the server now (`SHUTDOWN NOSAVE`), waiting until it is gone.
    /// Once only: a server started since on the same port is not this one.
    pub fn stop(&mut self) {
        if self.child.is_none() {
            return;
        }
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) {
            let _ = stream.write_all(b"SHUTDOWN NOSAVE\r\n");
            let _ = stream.read(&mut [0; 16]);
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts `server` (a shell command line) under a watching shell, so the
/// server ends with this process even when its owner is never dropped;
/// a SIGTERM to the shell ([`terminate`]) ends it now.
fn spawn_watched(server: &str) -> Child {
    let script = format!(
        "{server} >/dev/null 2>&1 & \
         server=$!; trap 'kill $server 2>/dev/null; exit 0' TERM; \
         while kill -0 {} 2>/dev/null && kill -0 $server 2>/dev/null; do sleep 1 & wait $!; done; \
         kill $server 2>/dev/null",
        std::process::id()
    );
    Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("sh")
}

/// Starts `server` (a command line) with [`spawn_watched`] and waits until
/// `port` accepts connections (bounded: 1,200 tries, 25 ms apart); ends it
/// and fails the test if it never does.
fn start_listening(server: &str, port: u16) -> Child {
    let child = spawn_watched(server);
    for _ in 0..1200 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return child;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    terminate(child);
    panic!("`{server}` did not accept connections on port {port}");
}

/// Ends a server started by [`spawn_watched`], waiting for its shell.
fn terminate(mut watcher: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &watcher.id().to_string()])
        .status();
    let _ = watcher.wait();
}

/// Runs `stop` (a shell command) once this process has ended.
// The watcher outlives this process by design: init reaps it.
#[allow(clippy::zombie_processes)]
fn watch_until_exit(stop: &str) {
    let script = format!(
        "while kill -0 {} 2>/dev/null; do sleep 1; done; {stop}",
        std::process::id()
    );
    Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sh");
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn is_root() -> bool {
    static ROOT: OnceLock<bool> = OnceLock::new();
    *ROOT.get_or_init(|| {
        Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|out| out.stdout.trim_ascii() == b"0")
    })
}

/// Runs `command`, failing the test with its error output if it fails.
pub fn run(command: &mut Command) {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{} failed: {}",
        command.get_program().to_string_lossy(),
        String::from_utf8_lossy(&output.stderr)
    );
}
