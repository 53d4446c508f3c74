//! The README's Rust code blocks are complete programs kept identical to
//! files under `examples/readme/`, which `cargo test` compiles: a reader
//! sees clean code, and the code is known to build.
//!
//! Each block is preceded by `<!-- examples/readme/NAME.rs -->` (invisible
//! when rendered). When a file changes, paste it into the README block.

use std::path::Path;

/// `(file named by the marker, block's code)` for every Rust block.
fn rust_blocks(readme: &str) -> Vec<(Option<String>, String)> {
    let mut blocks = Vec::new();
    let mut marker = None;
    let mut lines = readme.lines();
    while let Some(line) = lines.next() {
        if let Some(path) = line
            .strip_prefix("<!-- ")
            .and_then(|rest| rest.strip_suffix(" -->"))
        {
            marker = Some(path.to_owned());
        } else if line.starts_with("```rust") {
            let code: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
            blocks.push((marker.take(), code.join("\n") + "\n"));
        } else if !line.trim().is_empty() {
            marker = None;
        }
    }
    blocks
}

#[test]
fn every_rust_block_is_an_example_file_verbatim() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let blocks = rust_blocks(&readme);
    assert!(blocks.len() >= 5, "found {} Rust blocks", blocks.len());
    for (marker, code) in blocks {
        let path = marker.unwrap_or_else(|| {
            panic!("a README Rust block has no `<!-- examples/readme/… -->` marker:\n{code}")
        });
        assert!(path.starts_with("examples/readme/"), "{path}");
        let file = std::fs::read_to_string(root.join(&path)).unwrap();
        assert!(
            code == file,
            "the README block for {path} differs from the file: paste the file into the README"
        );
    }
}

#[test]
fn a_block_without_a_marker_is_found() {
    let blocks =
        rust_blocks("text\n\n```rust\nfn main() {}\n```\n<!-- a.rs -->\n```rust\nx\n```\n");
    assert_eq!(
        blocks,
        vec![
            (None, "fn main() {}\n".to_owned()),
            (Some("a.rs".to_owned()), "x\n".to_owned())
        ]
    );
}
