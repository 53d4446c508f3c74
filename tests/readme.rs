//! The Rust code blocks of the README and the guides (`docs/*.md`) are
//! complete programs kept identical to files under `examples/readme/`,
//! which `cargo test` compiles (the guides' blocks are doc tests too): a
//! reader sees clean code, and the code is known to build.
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

/// The README and the guides under `docs/`.
fn documents(root: &Path) -> Vec<std::path::PathBuf> {
    let mut paths = vec![root.join("README.md")];
    let mut guides: Vec<_> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    guides.sort();
    paths.extend(guides);
    paths
}

#[test]
fn every_rust_block_is_an_example_file_verbatim() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut checked = 0;
    for document in documents(root) {
        let text = std::fs::read_to_string(&document).unwrap();
        for (marker, code) in rust_blocks(&text) {
            let path = marker.unwrap_or_else(|| {
                panic!(
                    "a Rust block in {} has no `<!-- examples/readme/… -->` marker:\n{code}",
                    document.display()
                )
            });
            assert!(path.starts_with("examples/readme/"), "{path}");
            let file = std::fs::read_to_string(root.join(&path)).unwrap();
            assert!(
                code == file,
                "the block for {path} in {} differs from the file: paste the file into it",
                document.display()
            );
            checked += 1;
        }
    }
    // Every example file is shown somewhere: axum, actix, any framework,
    // JWKS, Redis, the inbox.
    let examples = std::fs::read_dir(root.join("examples/readme"))
        .unwrap()
        .count();
    assert!(
        checked >= examples,
        "{checked} blocks for {examples} example files"
    );
}

#[test]
fn the_readme_stays_short_and_links_every_guide() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    assert!(
        readme.len() <= 12 * 1024,
        "README.md is {} bytes",
        readme.len()
    );
    for guide in documents(root).iter().skip(1) {
        let name = guide.file_name().unwrap().to_str().unwrap();
        assert!(
            readme.contains(&format!("(docs/{name})")),
            "README does not link docs/{name}"
        );
        let module = name.trim_end_matches(".md").replace('-', "_");
        let guide_rs = std::fs::read_to_string(root.join("src/guide.rs")).unwrap();
        assert!(
            guide_rs.contains(&format!("include_str!(\"../docs/{name}\")"))
                && guide_rs.contains(&format!("pub mod {module} ")),
            "docs/{name} is not the rustdoc of guide::{module}"
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

/// CI runs the README's test command, not a variant of its own.
#[test]
fn ci_runs_the_readme_test_command() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let command = readme
        .lines()
        .skip_while(|line| *line != "# the tests")
        .nth(1)
        .expect("a `# the tests` line in the README's Try it block, the command under it");
    let ci = std::fs::read_to_string(root.join(".ci/run")).unwrap();
    assert!(
        ci.lines().any(|line| line.trim() == command),
        ".ci/run does not run `{command}`"
    );
}
