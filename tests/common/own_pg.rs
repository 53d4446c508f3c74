//! A PostgreSQL server of a test's own, in a temporary directory: it can be
//! stopped, or started with settings of its own (TLS), without touching the
//! shared one.

use std::path::{Path, PathBuf};
use std::process::Command;

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
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL's server programs (Debian's `postgresql`; `.ci/run` installs it)")
            .filter_map(|entry| Some(entry.ok()?.path().join("bin")))
            .filter(|bin| bin.join("initdb").exists())
            .max()
            .expect("no initdb under /usr/lib/postgresql/*/bin");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
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
            // PostgreSQL refuses to run as root.
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
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.trim_ascii() == b"0")
}

/// Runs `command`, failing the test with its error output if it fails.
pub fn run(command: &mut Command) {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
