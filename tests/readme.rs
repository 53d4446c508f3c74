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

/// The crates of the workspace with a README and guides: this one and the
/// published siblings.
const CRATES: [&str; 4] = [".", "postgres", "api", "bridge"];

/// The guides under `crate_dir/docs/`, sorted.
fn guides(crate_dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(crate_dir.join("docs")) else {
        return Vec::new();
    };
    let mut guides: Vec<_> = entries
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    guides.sort();
    guides
}

/// Each crate's README and guides.
fn documents(root: &Path) -> Vec<std::path::PathBuf> {
    let mut paths = Vec::new();
    for dir in CRATES.map(|dir| root.join(dir)) {
        paths.push(dir.join("README.md"));
        paths.extend(guides(&dir));
    }
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
            // Relative to the repository's root.
            assert!(path.contains("examples/readme/"), "{path}");
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
    let examples: usize = CRATES
        .iter()
        .filter_map(|dir| std::fs::read_dir(root.join(dir).join("examples/readme")).ok())
        .map(Iterator::count)
        .sum();
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
    for dir in CRATES {
        for guide in guides(&root.join(dir)) {
            let name = guide.file_name().unwrap().to_str().unwrap();
            let link = Path::new(dir).join("docs").join(name);
            let link = link
                .strip_prefix(".")
                .unwrap_or(&link)
                .display()
                .to_string();
            assert!(
                readme.contains(&format!("({link})")),
                "README does not link {link}"
            );
            let module = name.trim_end_matches(".md").replace('-', "_");
            let guide_rs = std::fs::read_to_string(root.join(dir).join("src/guide.rs")).unwrap();
            assert!(
                guide_rs.contains(&format!("include_str!(\"../docs/{name}\")"))
                    && guide_rs.contains(&format!("pub mod {module} ")),
                "{link} is not the rustdoc of guide::{module}"
            );
        }
    }
    for sibling in ["postgres", "api"] {
        let front = std::fs::read_to_string(root.join(sibling).join("src/lib.rs")).unwrap();
        assert!(
            front.starts_with("#![doc = include_str!(\"../README.md\")]"),
            "{sibling}/README.md is not its crate's front page"
        );
        assert!(
            readme.contains(&format!("({sibling}/README.md)")),
            "README does not link {sibling}/README.md"
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
