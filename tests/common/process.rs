//! Examples run as processes: their binaries, which `cargo test` builds
//! next to the tests, and their output read line by line.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

/// The example `name`'s binary; `features` says what builds it, for the
/// failure message.
pub fn example_binary(name: &str, features: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap();
    let path = profile_dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing: `cargo test --features {features}` builds it",
        path.display()
    );
    path
}

/// `stream`'s lines, as a thread reads them.
pub fn lines(stream: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}
